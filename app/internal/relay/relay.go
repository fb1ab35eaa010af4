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
	"syscall"
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

	mu       sync.Mutex
	reason   string
	idle     atomic.Bool
	ending   atomic.Bool // abort or plainFailed ended the relay
	draining atomic.Bool // plainFailed sent CLOSE: the session is read and discarded
	failOnce sync.Once
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
		w := &errWriter{w: r.Plain, discard: &r.draining}
		_, err := io.Copy(w, r.Session)
		switch {
		case err == nil:
			// The peer's CLOSE. With a reason, the peer is gone: that is
			// why the relay ends, whatever the other direction meets
			// next, and it stops sending too.
			if reason := r.Session.ConnectionState().PeerCloseReason; reason != session.CloseNormal {
				r.end(fmt.Sprintf("the %s: %v", r.SessionEnd, reason))
				r.abort()
			} else if cw, ok := r.Plain.(interface{ CloseWrite() error }); ok && !r.ending.Load() {
				cw.CloseWrite()
			}
		case r.idle.Load():
		case w.err != nil:
			r.end(r.describe(r.PlainEnd, err))
			r.plainFailed()
			if r.draining.Load() {
				io.Copy(io.Discard, r.Session)
			}
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
		case r.idle.Load(), r.ending.Load(): // the relay is ending: errors are its own doing
		case err == nil:
			r.Session.SetWriteDeadline(time.Now().Add(CloseWait))
			if err := r.Session.CloseWrite(); err != nil {
				r.end(r.describe(r.SessionEnd, err))
				r.abort()
			}
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

// plainFailed ends the relay after the plain side failed. With PlainFailed
// set, the session's peer gets a CLOSE that says why, and the session is
// read on, and what it brings discarded, until the peer's CLOSE or end, for
// at most CloseWait: closing at once, with the peer's bytes unread, would
// reset the connection, and the reset could destroy the CLOSE before the
// peer reads it. The session's reader (Run's first direction) drains it.
func (r *Relay) plainFailed() {
	r.failOnce.Do(func() {
		r.ending.Store(true)
		if r.PlainFailed == session.CloseNormal {
			r.abort()
			return
		}
		r.draining.Store(true)
		r.Plain.Close() // ends the other direction's wait on the plain side
		r.Session.SetWriteDeadline(time.Now().Add(CloseWait))
		r.Session.CloseWriteWithReason(r.PlainFailed)
		r.Session.SetReadDeadline(time.Now().Add(CloseWait))
	})
}

// errWriter and errReader remember the error of their side, so that the
// relay knows which end failed. errReader has no WriteTo and errWriter no
// ReadFrom: io.Copy then uses the session's ReadFrom and WriteTo.
type errWriter struct {
	w       io.Writer
	err     error
	discard *atomic.Bool // once set, Write drops what it is given
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.discard.Load() {
		return len(p), nil
	}
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
	r.ending.Store(true)
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
	case end == r.SessionEnd && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ENOTCONN)):
		// The peer vanished: "shutdown: transport endpoint is not
		// connected" would say little.
		return fmt.Sprintf("the %s's connection was cut without CLOSE", end)
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

// EndSession ends a session that carries nothing more, whose peer may
// still be sending (a tunnel whose target cannot be reached): CLOSE with
// reason, then what the peer sends is read and dropped until its CLOSE or
// end, for at most CloseWait, then the connection is closed. Closing at
// once, with the peer's bytes unread, would reset the connection, and the
// reset could destroy the CLOSE before the peer reads it.
func EndSession(sc *session.Conn, reason session.CloseReason) {
	sc.SetDeadline(time.Now().Add(CloseWait))
	if sc.CloseWriteWithReason(reason) == nil {
		io.Copy(io.Discard, sc)
	}
	sc.Close()
}
