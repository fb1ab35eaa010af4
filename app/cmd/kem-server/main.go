// Command kem-server is kemtcp's server; see `kem-server -h` and the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kemtcp/kemtcp/app/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second Ctrl+C ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(cli.Server(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}
