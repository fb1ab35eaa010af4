// Command kem-client is kemtcp's client; see `kem-client -h` and the README.
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
	os.Exit(cli.Client(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
