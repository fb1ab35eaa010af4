package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// ServerStopSignals end kem-server gracefully (SIGHUP reloads its
// authorized keys instead).
var ServerStopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// ClientStopSignals end kem-client's session with CLOSE. SIGHUP is one: ssh
// sends it to its ProxyCommand (-stdio) as it exits, as a closed terminal
// does to the chat.
var ClientStopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// Interruptible returns a context cancelled by the first of sigs; a second
// one ends the process at once, as the signal's default does.
func Interruptible(sigs ...os.Signal) context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	go func() { <-ctx.Done(); stop() }()
	return ctx
}
