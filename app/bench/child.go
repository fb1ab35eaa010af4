package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// ChildServerFlag is the hidden flag with which kem-bench runs the scale
// section's server in a child process (ServeChild).
const ChildServerFlag = "child-server"

// childStats is what the child server reports on each "stats" line.
type childStats struct {
	Active     int    `json:"active"`
	Goroutines int    `json:"goroutines"`
	RSSRaw     uint64 `json:"rss_raw"`
	RSS        uint64 `json:"rss"`
	GoBytes    uint64 `json:"go_bytes"`
}

// ServeChild is the child process of the scale section: a session server
// (session.Listen, a goroutine per connection that completes the handshake
// and then waits in io.Copy(io.Discard, conn), which reads with the
// session's own buffer) on a loopback port, with a fresh static key. It
// takes -alg and -backend flags in args, writes "addr HOST:PORT EK_HEX" to
// out, then answers each "stats" line of in with one JSON line
// (childStats), and returns when in ends.
func ServeChild(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet(ChildServerFlag, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	alg := fs.String("alg", kem.MLKEM768, "KEM")
	backend := fs.String("backend", "", "KEM backend")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := kem.Lookup(*alg, *backend)
	if err != nil {
		return err
	}
	key, err := s.GenerateKey()
	if err != nil {
		return err
	}
	ln, err := session.Listen("tcp", "127.0.0.1:0", &session.ServerConfig{Scheme: s, Static: key})
	if err != nil {
		return err
	}
	var active atomic.Int64
	srv := &server{ln: ln}
	srv.serve(func(c net.Conn) error {
		// Counted from the start to the end of the goroutine, so that a
		// count of 0 has no connection's goroutine left behind.
		active.Add(1)
		defer active.Add(-1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		if err := c.(*session.Conn).Handshake(); err != nil {
			return err
		}
		c.SetDeadline(time.Time{})
		_, err := io.Copy(io.Discard, c)
		return err
	})
	defer srv.Close()
	ek := key.EncapsulationKey().Bytes()
	if _, err := fmt.Fprintf(out, "addr %s %x\n", ln.Addr(), ek); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		switch sc.Text() {
		case "stats":
			st := childStats{Active: int(active.Load()), Goroutines: runtime.NumGoroutine(), RSSRaw: vmRSS()}
			runtime.GC()
			debug.FreeOSMemory()
			st.RSS, st.GoBytes = vmRSS(), goMappedBytes()
			if err := enc.Encode(st); err != nil {
				return err
			}
		default:
			return fmt.Errorf("child server: unknown command %q", sc.Text())
		}
	}
	return sc.Err()
}

// vmRSS returns the process's resident memory from /proc/self/status, or 0.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// goMappedBytes is the memory the Go runtime holds and has not returned
// to the OS.
func goMappedBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// child is a running child server.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string
	ek   []byte
}

func (c *Config) startChild(s kem.Scheme) (*child, error) {
	cmd, err := c.childCommand("-alg", s.Name(), "-backend", s.Backend())
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the child server: %w", err)
	}
	ch := &child{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	line, err := ch.out.ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 || f[0] != "addr" {
		ch.stop()
		return nil, fmt.Errorf("child server: unexpected first line %q (%v)", line, err)
	}
	ch.addr = f[1]
	if _, err := fmt.Sscanf(f[2], "%x", &ch.ek); err != nil {
		ch.stop()
		return nil, fmt.Errorf("child server: bad key in %q", line)
	}
	return ch, nil
}

func (ch *child) stats() (childStats, error) {
	var st childStats
	if _, err := io.WriteString(ch.in, "stats\n"); err != nil {
		return st, fmt.Errorf("child server: %w", err)
	}
	line, err := ch.out.ReadBytes('\n')
	if err != nil {
		return st, fmt.Errorf("child server: %w", err)
	}
	if err := json.Unmarshal(line, &st); err != nil {
		return st, fmt.Errorf("child server: %q: %w", line, err)
	}
	return st, nil
}

// waitActive polls until the child has n open connections.
func (ch *child) waitActive(n int) (childStats, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := ch.stats()
		if err != nil || st.Active == n {
			return st, err
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("child server has %d connections, want %d", st.Active, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ch *child) stop() error {
	ch.in.Close()
	done := make(chan error, 1)
	go func() { done <- ch.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		ch.cmd.Process.Kill()
		<-done
		return errors.New("child server did not exit; killed")
	}
}

// idleRun is one run of the idle figures: the stats with no connection and
// at each count.
func (c *Config) idleRun(s kem.Scheme, counts []int) (base childStats, at []childStats, err error) {
	ch, err := c.startChild(s)
	if err != nil {
		return base, nil, err
	}
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
		if serr := ch.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	// Warm up: a few sessions come and go, so that the baseline includes
	// the code and pools every connection uses.
	cfg := pinnedConfig(s, ch.ek, 0)
	for range 4 {
		sc, err := dialSession(ch.addr, cfg)
		if err != nil {
			return base, nil, err
		}
		if err := finish(sc); err != nil {
			return base, nil, err
		}
	}
	if base, err = ch.waitActive(0); err != nil {
		return base, nil, err
	}
	for _, n := range counts {
		more, err := openIdle(ch.addr, s, ch.ek, n-len(conns))
		conns = append(conns, more...)
		if err != nil {
			return base, nil, err
		}
		st, err := ch.waitActive(n)
		if err != nil {
			return base, nil, err
		}
		at = append(at, st)
	}
	return base, at, nil
}

// openIdle opens n session connections (a few at a time) and leaves them
// idle after the handshake.
func openIdle(addr string, s kem.Scheme, ek []byte, n int) ([]net.Conn, error) {
	const parallel = 4
	cfg := pinnedConfig(s, ek, 0)
	var mu sync.Mutex
	var conns []net.Conn
	var firstErr error
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				nc, err := dialSession(addr, cfg)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					nc.SetDeadline(time.Time{})
					conns = append(conns, nc)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return conns, firstErr
}

// measureIdle fills r.Idle.
func (c *Config) measureIdle(r *Report) error {
	s, err := streamScheme()
	if err != nil {
		return err
	}
	counts := append([]int(nil), c.IdleConns...)
	sort.Ints(counts)
	per := make([][]childStats, len(counts))
	var bases []childStats
	for run := range c.Runs {
		c.progress("scale: idle session connections %v (run %d of %d, server in a child process)", counts, run+1, c.Runs)
		base, at, err := c.idleRun(s, counts)
		if err != nil {
			return fmt.Errorf("idle connections: %w", err)
		}
		bases = append(bases, base)
		for i := range counts {
			per[i] = append(per[i], at[i])
		}
	}
	pick := func(sts []childStats, f func(childStats) float64) *Stat {
		v := make([]float64, len(sts))
		for i, st := range sts {
			v[i] = f(st)
		}
		return NewStat(v)
	}
	r.Idle = append(r.Idle, IdleResult{Conns: 0,
		RSSBytes:    pick(bases, func(st childStats) float64 { return float64(st.RSS) }),
		RSSRawBytes: pick(bases, func(st childStats) float64 { return float64(st.RSSRaw) }),
		GoBytes:     pick(bases, func(st childStats) float64 { return float64(st.GoBytes) }),
		Goroutines:  pick(bases, func(st childStats) float64 { return float64(st.Goroutines) }),
	})
	for i, n := range counts {
		perConn := make([]float64, len(per[i]))
		for run, st := range per[i] {
			perConn[run] = (float64(st.RSS) - float64(bases[run].RSS)) / float64(n)
		}
		r.Idle = append(r.Idle, IdleResult{Conns: n,
			RSSBytes:     pick(per[i], func(st childStats) float64 { return float64(st.RSS) }),
			RSSRawBytes:  pick(per[i], func(st childStats) float64 { return float64(st.RSSRaw) }),
			GoBytes:      pick(per[i], func(st childStats) float64 { return float64(st.GoBytes) }),
			Goroutines:   pick(per[i], func(st childStats) float64 { return float64(st.Goroutines) }),
			PerConnBytes: NewStat(perConn),
		})
	}
	return nil
}
