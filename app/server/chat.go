package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kemtcp/kemtcp/app/internal/display"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// Chat is the original demo's server behaviour, for both protocols: every
// message a client sends is printed as "Decrypted from client: TEXT" (the
// program's output, not a log), until the client exits.
type Chat struct {
	// Out receives the program's output lines (nil: discarded). Give it
	// the same *display.Lines as the text logger so that lines never
	// interleave.
	Out io.Writer
	// Echo (session only) answers every message with the same bytes.
	Echo bool
	// Quiet prints no line per message.
	Quiet bool
	// OnMessage, if not nil, is called with the peer's address and every
	// message a client delivers, in order, from that connection's
	// goroutine, before the message is echoed or the next one is read. msg
	// is valid only during the call. For tests and embedding programs;
	// Quiet does not affect it.
	OnMessage func(peer string, msg []byte)

	once sync.Once
	out  *display.Lines
}

var (
	_ Handler       = (*Chat)(nil)
	_ LegacyHandler = (*Chat)(nil)
	_ Accepter      = (*Chat)(nil)
	_ LinePrefixer  = (*Chat)(nil)
)

func (h *Chat) lines() *display.Lines {
	h.once.Do(func() {
		w := h.Out
		if w == nil {
			w = io.Discard
		}
		h.out = display.LinesOf(w)
	})
	return h.out
}

// PrefixLines: the chat's lines start with "[peer] " while several clients
// are connected, as the demo's do.
func (h *Chat) PrefixLines() bool { return true }

// Accepted prints the demo's "Connected by ('127.0.0.1', 54321)" line.
func (h *Chat) Accepted(ev *Events) {
	ev.Info("Connected by " + pythonAddr(ev.c.raw.RemoteAddr()))
}

// ServeSession serves a session client: each DATA record is one message;
// "exit", or the client's CLOSE, ends it, and the server answers with its
// own CLOSE, so the client knows every line arrived.
func (h *Chat) ServeSession(ctx context.Context, c *session.Conn, ev *Events) error {
	out := h.lines()
	// A version-1 client sends no FINISHED: its keys are confirmed by its
	// first record, so the handshake is known complete only then.
	version1 := c.ConnectionState().Version == 1
	ready := "Handshake complete. Waiting for encrypted messages..."
	if k := ev.ClientKey(); k != "" {
		ready = "Handshake complete (client key " + k + "). Waiting for encrypted messages..."
	}
	if !version1 {
		ev.Info(ready)
	}
	idle := ev.IdleTimeout()
	for first := true; ; first = false {
		if idle > 0 {
			c.SetReadDeadline(time.Now().Add(idle))
		}
		msg, err := c.ReadMessage()
		if first && version1 && err == nil {
			ev.Info(ready)
		}
		switch {
		case err == io.EOF && ev.closedAtShutdown(): // the client answered our CLOSE
			return nil
		case err == io.EOF:
			ev.Info("Client requested to exit.")
			return h.closeSession(c, ev)
		case idle > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			return h.idle(c, ev, idle)
		case err != nil:
			return err
		}
		ev.Moved(int64(len(msg)), 0)
		h.delivered(out, ev, msg)
		if isExit(msg) {
			ev.Info("Client requested to exit.")
			return h.closeSession(c, ev)
		}
		if h.Echo {
			c.SetWriteDeadline(time.Now().Add(ev.HandshakeTimeout()))
			if err := c.WriteMessage(msg); err != nil {
				return fmt.Errorf("echo: %w", err)
			}
			ev.Moved(0, int64(len(msg)))
		}
	}
}

// ServeLegacy serves a client of the original demo's protocol: its first
// message must arrive within the handshake timeout, then each message within
// the idle timeout; "exit" or the end of the stream ends it.
func (h *Chat) ServeLegacy(ctx context.Context, c *legacy.ServerConn, raw net.Conn, ev *Events) error {
	out := h.lines()
	ev.Info("Public key sent. Waiting for encrypted messages...")
	idle := ev.IdleTimeout()
	for first := true; ; first = false {
		if !first {
			var deadline time.Time
			if idle > 0 {
				deadline = time.Now().Add(idle)
			}
			raw.SetReadDeadline(deadline)
		}
		msg, err := c.Recv()
		switch {
		case err == io.EOF:
			ev.Info("Client disconnected.")
			return nil
		case first && errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("no message within %v of the key exchange", ev.HandshakeTimeout())
		case idle > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			ev.Line(fmt.Sprintf("Connection from %s closed: idle for %v.", ev.Peer(), idle))
			return nil
		case err != nil:
			return err
		}
		ev.Moved(int64(len(msg)), 0)
		h.delivered(out, ev, msg)
		if isExit(msg) {
			ev.Info("Client requested to exit.")
			return nil
		}
	}
}

// idle ends a session that was idle too long, with a CLOSE that says so.
func (h *Chat) idle(c *session.Conn, ev *Events, idle time.Duration) error {
	ev.Line(fmt.Sprintf("Connection from %s closed: idle for %v.", ev.Peer(), idle))
	c.CloseWithReason(session.CloseIdle)
	return nil
}

// delivered reports a decrypted message: a line unless Quiet, and
// OnMessage.
func (h *Chat) delivered(out *display.Lines, ev *Events, msg []byte) {
	if !h.Quiet {
		out.Printf("%sDecrypted from client: %s", ev.Prefix(), display.Text(msg))
	}
	if h.OnMessage != nil {
		h.OnMessage(ev.Peer(), msg)
	}
}

// closeSession answers the client's CLOSE (or exit) with ours.
func (h *Chat) closeSession(c *session.Conn, ev *Events) error {
	c.SetWriteDeadline(time.Now().Add(ev.HandshakeTimeout()))
	if err := c.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// isExit reports whether a message is the demo's exit command: its text,
// stripped and lower-cased, is "exit".
func isExit(msg []byte) bool {
	return len(msg) < 64 && strings.ToLower(strings.TrimSpace(string(msg))) == "exit"
}

// pythonAddr formats an address as the demo prints it: ('127.0.0.1', 54321).
func pythonAddr(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return fmt.Sprintf("('%s', %d)", t.IP, t.Port)
	}
	return a.String()
}
