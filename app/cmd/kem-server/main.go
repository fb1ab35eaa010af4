// Command kem-server is kemtcp's server; see `kem-server -h` and the README.
package main

import (
	"os"

	"github.com/kemtcp/kemtcp/app/cli"
)

func main() {
	ctx := cli.Interruptible(cli.ServerStopSignals...)
	os.Exit(cli.Server(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}
