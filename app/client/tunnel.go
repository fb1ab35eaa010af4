package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemtcp/kemtcp/app/internal/relay"
)

// Tunnel is kem-client -listen: it accepts local TCP connections and
// carries each in a session of its own to the server, whose kem-server
// -forward passes it on to the service. One line at open and one at close
// tell about each connection.
type Tunnel struct {
	Config
	// Log receives the tunnel's lines (nil: discarded).
	Log *slog.Logger
	// Grace is how long open connections get to finish once ctx is
	// cancelled (0: 5 s).
	Grace time.Duration

	trustOnce sync.Once
	nextID    atomic.Uint64
}

// Serve accepts on ln until ctx is cancelled, then waits up to the grace
// period for the open connections and closes those left.
func (t *Tunnel) Serve(ctx context.Context, ln net.Listener) error {
	if err := t.defaults(); err != nil {
		return err
	}
	if t.Log == nil {
		t.Log = slog.New(slog.DiscardHandler)
	}
	if t.Grace <= 0 {
		t.Grace = 5 * time.Second
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	var wg sync.WaitGroup
	var err error
	for {
		var local net.Conn
		local, err = ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
			}
			break
		}
		mu.Lock()
		open[local] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			t.carry(ctx, local)
			mu.Lock()
			delete(open, local)
			mu.Unlock()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(t.Grace):
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		<-done
	}
	return err
}

// carry tunnels one local connection.
func (t *Tunnel) carry(ctx context.Context, local net.Conn) {
	defer local.Close()
	id := t.nextID.Add(1)
	from := local.RemoteAddr().String()
	start := time.Now()
	sc, trust, err := t.session(ctx)
	if err != nil {
		t.Log.Warn(fmt.Sprintf("Connection %d from %s: %v", id, from, err), "conn", id, "peer", from, "error", err.Error())
		return
	}
	if trust != "" {
		t.trustOnce.Do(func() { t.Log.Info(trust) })
	}
	t.Log.Info(fmt.Sprintf("Connection %d from %s carried to %s.", id, from, t.Addr), "conn", id, "peer", from, "server", t.Addr)
	why := (&relay.Relay{Session: sc, Plain: local, SessionEnd: "server", PlainEnd: "local program"}).Run()
	cs := sc.ConnectionState()
	t.Log.Info(fmt.Sprintf("Connection %d from %s closed after %v: %d bytes up, %d down (%s).",
		id, from, time.Since(start).Round(time.Millisecond), cs.BytesWritten, cs.BytesRead, why),
		"conn", id, "bytes_up", cs.BytesWritten, "bytes_down", cs.BytesRead, "reason", why)
}

// Stdio is kem-client -stdio: one session carries standard input to the
// server and the server's data to standard output, for ssh's ProxyCommand
// (as ssh -W and nc do). It ends when the server ends the session.
type Stdio struct {
	Config
}

// Run carries in and out over one session until the server closes it.
// When ctx ends (kem-client's SIGHUP from ssh as it exits, Ctrl+C), the
// session ends as if in had ended: CLOSE goes to the server, whose data is
// then read to its CLOSE (and dropped: out's reader has gone), for at most
// relay.CloseWait, so that the server sees a clean end rather than a
// connection cut with its bytes unread.
func (s *Stdio) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	if err := s.defaults(); err != nil {
		return err
	}
	sc, _, err := s.session(ctx)
	if err != nil {
		return err
	}
	defer sc.Close()
	stop := context.AfterFunc(ctx, func() {
		sc.SetDeadline(time.Now().Add(relay.CloseWait))
		sc.CloseWrite() // ReadFrom, waiting for in, then stops at its next read
	})
	defer stop()
	errc := make(chan error, 1)
	go func() {
		_, err := sc.ReadFrom(in) // stdin to the server, then CLOSE
		if err == nil {
			sc.SetWriteDeadline(time.Now().Add(relay.CloseWait))
			err = sc.CloseWrite()
		}
		errc <- err
	}()
	_, err = sc.WriteTo(&lenientWriter{ctx: ctx, w: out}) // the server's data, to its CLOSE
	if err != nil && ctx.Err() == nil {
		return inSession(err, "session with %s", s.Addr)
	}
	select {
	case werr := <-errc:
		if werr != nil && !errors.Is(werr, net.ErrClosed) && ctx.Err() == nil {
			return inSession(werr, "session with %s", s.Addr)
		}
	default: // stdin is still open: the server is done, so are we
	}
	return nil
}

// lenientWriter writes to w until ctx ends, then drops what it is given:
// the program reading kem-client's output has gone (a write to its closed
// pipe would end kem-client with SIGPIPE), and the session is still read
// to the server's CLOSE.
type lenientWriter struct {
	ctx context.Context
	w   io.Writer
}

func (l *lenientWriter) Write(p []byte) (int, error) {
	if l.ctx.Err() != nil {
		return len(p), nil
	}
	return l.w.Write(p)
}
