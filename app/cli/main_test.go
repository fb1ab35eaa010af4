package cli

import (
	"io"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// program is a command the scripts run as a process of its own: this test
// binary, started under the command's name (testscript.Main).
type program func(args []string, stdin io.Reader, stdout io.Writer) int

// programs are the commands in the scripts' PATH: the two real ones, the
// test-only fake peers, and two wrappers that run another of them in their
// process.
var programs map[string]program

func init() {
	programs = map[string]program{
		"kem-server":   serverMain,
		"kem-client":   clientMain,
		"kem-mitm":     mitmMain,
		"kem-badhello": badHelloMain,
		"kem-dribble":  dribbleMain,
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

// serverMain is app/cmd/kem-server's main.
func serverMain(args []string, _ io.Reader, stdout io.Writer) int {
	return Server(Interruptible(ServerStopSignals...), args, stdout, os.Stderr, nil)
}

// clientMain is app/cmd/kem-client's main.
func clientMain(args []string, stdin io.Reader, stdout io.Writer) int {
	return Client(Interruptible(ClientStopSignals...), args, stdin, stdout, os.Stderr)
}
