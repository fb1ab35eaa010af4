// Command kem-client is kemtcp's client; see `kem-client -h` and the README.
package main

import (
	"os"

	"github.com/kemtcp/kemtcp/app/cli"
)

func main() {
	ctx := cli.Interruptible(cli.ClientStopSignals...)
	os.Exit(cli.Client(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
