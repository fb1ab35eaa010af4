// Package relay carries bytes between a session and a plain TCP
// connection, both ways at once, for the two ends of a tunnel (kem-server
// -forward, kem-client -listen and -stdio). Half-close is carried both
// ways: the session peer's CLOSE becomes CloseWrite on the plain
// connection, and the plain connection's end of stream becomes CLOSE.
// Copies go through the session's ReadFrom and WriteTo, which seal and open
// records in place.
package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemtcp/kemtcp/app/session"
)

// CloseWait bounds the CLOSE sent after the plain side's end of stream.
const CloseWait = 10 * time.Second

// Relay is one tunnelled connection.
type Relay struct {
	// Session is the encrypted side; Plain the other, e.g. the target
	// service (server side) or the local program (client side).
	Session *session.Conn
	Plain   io.ReadWriteCloser
	// SessionEnd and PlainEnd name the two peers in the reason Run
	// returns: "client" and "target", or "server" and "local program".
	SessionEnd, PlainEnd string
	// Idle, if positive, ends the relay, with a CLOSE that says why, once
	// no byte has moved either way for that long.
	Idle time.Duration
	// PlainFailed, if not CloseNormal, is the reason the CLOSE carries
	// when the plain side fails (the server's target: CloseTarget).
	PlainFailed session.CloseReason

	mu     sync.Mutex
	reason string
	idle   atomic.Bool
}

// Run copies both ways until both directions have ended, closes both
// sides, and says why it ended.
func (r *Relay) Run() string {
	var wg sync.WaitGroup
	var stopIdle func()
	if r.Idle > 0 {
		stopIdle = r.watchIdle()
	}
	wg.Go(func() {
		// Session.WriteTo: a read error is the session end's, a write
		// error the plain end's.
		w := &errWriter{w: r.Plain}
		_, err := io.Copy(w, r.Session)
		switch {
		case err == nil:
			if cw, ok := r.Plain.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		case r.idle.Load():
		case w.err != nil:
			r.end(r.describe(r.PlainEnd, err))
			r.plainFailed()
		default:
			r.end(r.describe(r.SessionEnd, err))
			r.abort()
		}
	})
	wg.Go(func() {
		// Session.ReadFrom: a read error is the plain end's, a write
		// error the session end's.
		rd := &errReader{r: r.Plain}
		_, err := io.Copy(r.Session, rd)
		switch {
		case err == nil:
			r.Session.SetWriteDeadline(time.Now().Add(CloseWait))
			if err := r.Session.CloseWrite(); err != nil {
				r.end(r.describe(r.SessionEnd, err))
				r.abort()
			}
		case r.idle.Load():
		case rd.err != nil:
			r.end(r.describe(r.PlainEnd, err))
			r.plainFailed()
		default:
			r.end(r.describe(r.SessionEnd, err))
			r.abort()
		}
	})
	wg.Wait()
	if stopIdle != nil {
		stopIdle()
	}
	r.Session.Close()
	r.Plain.Close()
	r.end("both sides finished")
	return r.reason
}

// end records why the relay ended, unless a reason is already known.
func (r *Relay) end(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reason == "" {
		r.reason = why
	}
}

// plainFailed ends both directions after the plain side failed: the CLOSE
// says so when PlainFailed is set.
func (r *Relay) plainFailed() {
	if r.PlainFailed != session.CloseNormal {
		r.Session.SetWriteDeadline(time.Now().Add(CloseWait))
		r.Session.CloseWithReason(r.PlainFailed)
	}
	r.abort()
}

// errWriter and errReader remember the error of their side, so that the
// relay knows which end failed. errReader has no WriteTo and errWriter no
// ReadFrom: io.Copy then uses the session's ReadFrom and WriteTo.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// abort ends both directions at once: something went wrong.
func (r *Relay) abort() {
	r.Session.Close()
	r.Plain.Close()
}

// describe says what an error of one end means for the relay.
func (r *Relay) describe(end string, err error) string {
	var reason session.CloseReason
	if end == r.SessionEnd {
		reason = r.Session.ConnectionState().PeerCloseReason
	}
	switch {
	case reason != session.CloseNormal:
		return fmt.Sprintf("the %s: %v", end, reason)
	case errors.Is(err, session.ErrTruncated):
		return fmt.Sprintf("the %s's connection ended without CLOSE", end)
	case errors.Is(err, net.ErrClosed):
		return "closed"
	}
	return fmt.Sprintf("%s error: %v", end, err)
}

// watchIdle ends the relay once no byte has moved either way for Idle. It
// returns a function that stops watching.
func (r *Relay) watchIdle() func() {
	var mu sync.Mutex
	last := uint64(0)
	stopped := false
	var timer *time.Timer
	timer = time.AfterFunc(r.Idle, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		cs := r.Session.ConnectionState()
		if moved := cs.BytesRead + cs.BytesWritten; moved != last {
			last = moved
			timer.Reset(r.Idle)
			return
		}
		r.idle.Store(true)
		r.end(fmt.Sprintf("idle for %v", r.Idle))
		r.Session.SetWriteDeadline(time.Now().Add(CloseWait))
		r.Session.CloseWithReason(session.CloseIdle)
		r.Plain.Close()
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		timer.Stop()
	}
}
