package cli

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds kem-server and kem-client once, with this test binary's
// build tags, and returns their folder.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the commands; skipped in -short")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "kemtcp-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-tags", buildTags, "-o", binDir+"/", "../cmd/kem-server", "../cmd/kem-client")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("go build: %s", out)
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// process is a running command with its stdout read line by line.
type process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // when start was given no input
	lines chan string
	out   *syncBuffer
	err   *syncBuffer
	done  chan struct{} // closed when the process has exited
}

// start runs bin; with a nil stdin the process gets a pipe in p.stdin.
func start(t *testing.T, bin string, stdin io.Reader, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	p := &process{cmd: cmd, lines: make(chan string, 1000), out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan struct{})}
	if stdin != nil {
		cmd.Stdin = stdin
	} else {
		var err error
		p.stdin, err = cmd.StdinPipe()
		require.NoError(t, err)
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = p.err
	require.NoError(t, cmd.Start())
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.out.Write([]byte(sc.Text() + "\n"))
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	go func() {
		<-scanned // Wait closes stdout: read it all first
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitLine waits for a line starting with prefix and returns it.
func (p *process) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("process ended before %q; stdout:\n%s\nstderr:\n%s", prefix, p.out, p.err)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no line %q; stdout:\n%s\nstderr:\n%s", prefix, p.out, p.err)
		}
	}
}

func (p *process) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatalf("process did not exit; stdout:\n%s\nstderr:\n%s", p.out, p.err)
		return -1
	}
}

// TestProcesses runs the built binaries as a user would.
func TestProcesses(t *testing.T) {
	dir := binaries(t)
	serverBin, clientBin := filepath.Join(dir, "kem-server"), filepath.Join(dir, "kem-client")
	kh := filepath.Join(t.TempDir(), "known_hosts")

	t.Run("session", func(t *testing.T) {
		srv := start(t, serverBin, nil, "-addr", "127.0.0.1:0", "-echo")
		addr := strings.TrimPrefix(srv.waitLine(t, "Server listening on "), "Server listening on ")
		cli := start(t, clientBin, strings.NewReader("hello over session\nsecond\n"), "-addr", addr, "-known-hosts", kh)
		require.Equal(t, 0, cli.exitCode(t), cli.err.String())
		assert.Contains(t, cli.out.String(), "Decrypted from server: hello over session")
		assert.Contains(t, cli.out.String(), "Decrypted from server: second")
		assert.Contains(t, cli.out.String(), "Client exiting.")
		srv.waitLine(t, "Client requested to exit.")
		assert.Contains(t, srv.out.String(), "Decrypted from client: hello over session")

		// Ctrl+C on a client waiting for input ends the session cleanly.
		cli2 := start(t, clientBin, nil, "-addr", addr, "-known-hosts", kh)
		defer cli2.stdin.Close()
		cli2.waitLine(t, "Received server public key.")
		require.NoError(t, cli2.cmd.Process.Signal(syscall.SIGINT))
		assert.Equal(t, 0, cli2.exitCode(t), cli2.err.String())

		// Ctrl+C on the server: exit 0.
		require.NoError(t, srv.cmd.Process.Signal(syscall.SIGINT))
		assert.Equal(t, 0, srv.exitCode(t), srv.err.String())
		assert.Contains(t, srv.out.String(), "Server shutting down.")
	})

	t.Run("legacy", func(t *testing.T) {
		srv := start(t, serverBin, nil, "-addr", "127.0.0.1:0", "-proto", "legacy", "-once")
		addr := strings.TrimPrefix(srv.waitLine(t, "Server listening on "), "Server listening on ")
		cli := start(t, clientBin, strings.NewReader("hello over legacy\nexit\n"), "-addr", addr, "-proto", "legacy")
		require.Equal(t, 0, cli.exitCode(t), cli.err.String())
		assert.Contains(t, cli.err.String(), "does not authenticate the server")
		assert.Equal(t, 0, srv.exitCode(t), srv.err.String())
		out := srv.out.String()
		assert.Contains(t, out, "Public key sent. Waiting for encrypted messages...")
		assert.Contains(t, out, "Decrypted from client: hello over legacy\nDecrypted from client: exit\nClient requested to exit.\nServer shutting down.\n")
	})

	t.Run("bad flag", func(t *testing.T) {
		cli := start(t, clientBin, nil, "-alg", "ML-KEM-2048")
		assert.Equal(t, 2, cli.exitCode(t))
		assert.Equal(t, 1, strings.Count(cli.err.String(), "\n"), cli.err.String())
	})
}
