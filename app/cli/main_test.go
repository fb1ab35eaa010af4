package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// program is a command the scripts run as a process of its own: this test
// binary, started under the command's name (testscript.Main).
type program func(args []string, stdin io.Reader, stdout io.Writer) int

// programs are the commands in the scripts' PATH: the two real ones, the
// test-only fake servers, and two wrappers that run another of them in
// their process.
var programs map[string]program

func init() {
	programs = map[string]program{
		"kem-server":   serverMain,
		"kem-client":   clientMain,
		"kem-mitm":     mitmMain,
		"kem-badhello": badHelloMain,
		"teeout":       teeoutMain,
		"exitcode":     exitcodeMain,
	}
}

// TestMain makes this test binary one of programs when it is started under
// its name.
func TestMain(m *testing.M) {
	cmds := map[string]func(){}
	for name, p := range programs {
		cmds[name] = func() { os.Exit(p(os.Args[1:], os.Stdin, os.Stdout)) }
	}
	testscript.Main(m, cmds)
}

// interruptible returns a context cancelled by the first Ctrl+C (SIGINT) or
// SIGTERM, as app/cmd/kem-server and kem-client set it up: a second one
// ends the process at once.
func interruptible() context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	return ctx
}

// serverMain is app/cmd/kem-server's main.
func serverMain(args []string, _ io.Reader, stdout io.Writer) int {
	return Server(interruptible(), args, stdout, os.Stderr, nil)
}

// clientMain is app/cmd/kem-client's main.
func clientMain(args []string, stdin io.Reader, stdout io.Writer) int {
	return Client(interruptible(), args, stdin, stdout, os.Stderr)
}
