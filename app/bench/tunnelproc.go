package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is an outside program the tunnel section started: a tunnel end, a
// private sshd, an iperf3 server.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tail
	done chan struct{} // closed when the process has ended
	err  error         // its Wait's, once done
}

// tail keeps the last bytes a process wrote to stdout and stderr, to
// explain a failure.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 2048

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// startProc starts path with args; its output goes to a tail.
func startProc(name, path string, args ...string) (*proc, error) {
	p := &proc{name: name, cmd: exec.Command(path, args...), out: new(tail), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A child of the program (sshd's, or a shell's) may keep the output
	// pipe open after the program ended: stop waiting for it then.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited says why p ended, or returns nil while it runs.
func (p *proc) exited() error {
	select {
	case <-p.done:
		msg := p.out.String()
		if msg == "" {
			msg = "no output"
		}
		return fmt.Errorf("%s ended (%v): %s", p.name, p.err, msg)
	default:
		return nil
	}
}

// stop ends p: SIGTERM, then SIGKILL if it has not ended within 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a loopback port that was free a moment ago, for a
// program that takes its port on the command line.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startupTimeout bounds how long a tunnel end may take to listen.
const startupTimeout = 20 * time.Second

// waitListening waits until something listens on 127.0.0.1:port, while
// none of procs has ended. It watches /proc/net/tcp, so that no connection
// reaches the program before it is measured; where that is missing it
// connects.
func waitListening(port int, procs ...*proc) error {
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range procs {
			if err := p.exited(); err != nil {
				return err
			}
		}
		ok, readable := listening(port)
		if !readable {
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
				c.Close()
				ok = true
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			names := make([]string, len(procs))
			for i, p := range procs {
				names[i] = p.name
			}
			return fmt.Errorf("nothing listens on 127.0.0.1:%d after %v (%s)", port, startupTimeout, strings.Join(names, ", "))
		case <-tick.C:
		}
	}
}

// errNotInstalled marks a tool whose programs are not on PATH.
var errNotInstalled = errors.New("not installed")

// lookAny returns the path of the first of names found on PATH.
func lookAny(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (no %s on PATH)", errNotInstalled, strings.Join(names, " or "))
}

// versionLine runs path with args (which make it print its version) and
// returns the first line of its output that starts with prefix, or "".
func versionLine(prefix, path string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, args...).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
