package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// conn is one accepted connection.
type conn struct {
	id     uint64
	raw    net.Conn
	peer   string // the client's address, as the lines show it
	source string // its IP address, for the per-source limit

	mu       sync.Mutex
	sess     *session.Conn // once the session exists
	shutdown bool          // ended at the end of the grace period
}

func (s *Server) newConn(raw net.Conn) *conn {
	c := &conn{id: s.nextID.Add(1), raw: raw, peer: raw.RemoteAddr().String()}
	c.source = c.peer
	if host, _, err := net.SplitHostPort(c.peer); err == nil {
		c.source = host
	}
	return c
}

// endAtShutdown ends the connection at the end of the grace period: a
// session gets a CLOSE that says why.
func (c *conn) endAtShutdown() {
	c.mu.Lock()
	c.shutdown = true
	sess := c.sess
	c.mu.Unlock()
	if sess != nil && sess.ConnectionState().HandshakeComplete {
		sess.CloseWithReason(session.CloseShutdown)
	}
	c.raw.Close()
}

func (c *conn) atShutdown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shutdown
}

// Events is how a handler tells about its connection: its lines carry the
// connection's id, peer and client key.
type Events struct {
	s         *Server
	c         *conn
	clientKey string // the client key's name, once known
}

// Peer is the client's address.
func (e *Events) Peer() string { return e.c.peer }

// ID is the connection's number, unique in this process.
func (e *Events) ID() uint64 { return e.c.id }

// ClientKey names the client's key ("" without one).
func (e *Events) ClientKey() string { return e.clientKey }

// IdleTimeout is the server's idle timeout (0: none).
func (e *Events) IdleTimeout() time.Duration { return e.s.cfg.IdleTimeout }

// HandshakeTimeout is the server's handshake timeout, which also bounds
// writes that must not wait forever.
func (e *Events) HandshakeTimeout() time.Duration { return e.s.cfg.HandshakeTimeout }

// Prefix is what the chat's lines about this connection start with:
// "[peer] " while several clients are connected, as the original demo's
// server shows them, else "". Lines of handlers that name the peer
// themselves (LinePrefixer) have none.
func (e *Events) Prefix() string {
	if p, ok := e.s.cfg.Handler.(LinePrefixer); ok && p.PrefixLines() && e.s.limits.active() > 1 {
		return "[" + e.c.peer + "] "
	}
	return ""
}

func (e *Events) attrs(args []any) []any {
	return e.attrsPrefixed(e.Prefix(), args)
}

// attrsPrefixed are the attributes of a line, with the text format's
// prefix (lines that name the peer themselves have none).
func (e *Events) attrsPrefixed(prefix string, args []any) []any {
	a := []any{slog.String(prefixKey, prefix), "conn", e.c.id, "peer", e.c.peer}
	if e.clientKey != "" {
		a = append(a, "client_key", e.clientKey)
	}
	return append(a, args...)
}

// Info logs one line about the connection.
func (e *Events) Info(msg string, args ...any) { e.s.log.Info(msg, e.attrs(args)...) }

// Line logs one line that names the peer itself: without the text
// format's "[peer] " prefix.
func (e *Events) Line(msg string, args ...any) { e.s.log.Info(msg, e.attrsPrefixed("", args)...) }

// Warn logs one line about something that went wrong with the connection.
func (e *Events) Warn(msg string, args ...any) { e.s.log.Warn(msg, e.attrs(args)...) }

// Moved counts bytes carried for the client (in: from it, out: to it).
func (e *Events) Moved(in, out int64) { e.s.cfg.Metrics.moved(in, out) }

// fail logs the one line of a failed connection: peer, stage, reason.
func (e *Events) fail(stage string, err error) {
	if e.closedAtShutdown() {
		return
	}
	// "failed during session: session: ..." would say it twice.
	msg := strings.TrimPrefix(err.Error(), stage+": ")
	e.s.log.Warn(fmt.Sprintf("Connection from %s failed during %s: %s", e.c.peer, stage, msg), e.attrsPrefixed("", []any{"stage", stage, "error", msg})...)
}

// closedAtShutdown logs the one line of a connection that the server ended
// at the end of the grace period, and reports whether it was one: its
// failure, or the client's answering CLOSE, is that and nothing else.
func (e *Events) closedAtShutdown() bool {
	if !e.c.atShutdown() {
		return false
	}
	e.s.log.Info(fmt.Sprintf("Connection from %s closed at shutdown (the grace period is over).", e.c.peer), e.attrsPrefixed("", nil)...)
	return true
}

// LinePrefixer is implemented by handlers whose lines start with the
// peer's address while several clients are connected (the chat).
type LinePrefixer interface {
	PrefixLines() bool
}

// Accepter is implemented by handlers that have something to say as soon
// as a connection is accepted, before its handshake (the chat's "Connected
// by" line).
type Accepter interface {
	Accepted(ev *Events)
}

func (s *Server) handle(ctx context.Context, set *connSet, c *conn) {
	defer set.wg.Done()
	defer func() {
		set.mu.Lock()
		delete(set.conns, c)
		set.mu.Unlock()
		c.raw.Close()
		s.limits.release(c.source)
	}()
	s.cfg.Metrics.opened()
	ev := &Events{s: s, c: c}
	if a, ok := s.cfg.Handler.(Accepter); ok {
		a.Accepted(ev)
	}
	switch s.cfg.Proto {
	case ProtoLegacy:
		s.serveLegacy(ctx, c, ev)
	default:
		s.serveSession(ctx, c, ev)
	}
}

func (s *Server) serveSession(ctx context.Context, c *conn, ev *Events) {
	cfg := s.session.Load()
	sc := session.Server(c.raw, cfg)
	c.mu.Lock()
	c.sess = sc
	c.mu.Unlock()
	start := time.Now()
	sc.SetDeadline(start.Add(s.cfg.HandshakeTimeout))
	if err := sc.Handshake(); err != nil {
		s.cfg.Metrics.handshake(false, handshakeStage(err), time.Since(start))
		ev.fail("handshake", err)
		return
	}
	sc.SetDeadline(time.Time{})
	cs := sc.ConnectionState()
	s.cfg.Metrics.handshake(true, "", time.Since(start))
	if cs.ClientKey != nil {
		ev.clientKey = cs.ClientKeyFingerprint
		if s.cfg.DescribeClientKey != nil {
			ev.clientKey = s.cfg.DescribeClientKey(cs.ClientKey)
		}
	}
	err := s.cfg.Handler.ServeSession(ctx, sc, ev)
	end := sc.ConnectionState()
	s.cfg.Metrics.keyUpdates(end.KeyUpdatesSent + end.KeyUpdatesReceived)
	if err != nil {
		ev.fail("session", err)
	}
}

func (s *Server) serveLegacy(ctx context.Context, c *conn, ev *Events) {
	cfg := s.session.Load()
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	c.raw.SetDeadline(deadline)
	lc, err := legacy.Accept(c.raw, cfg.Static, cfg.MaxFrame)
	if err != nil {
		ev.fail("key exchange", err)
		return
	}
	// The first message must arrive within the handshake timeout too: a
	// connection that never sends holds no slot for long.
	c.raw.SetWriteDeadline(time.Time{})
	lc.SetFrameTimeout(s.cfg.HandshakeTimeout)
	defer lc.Wipe()
	h := s.cfg.Handler.(LegacyHandler)
	if err := h.ServeLegacy(ctx, lc, c.raw, ev); err != nil {
		ev.fail("message", err)
	}
}

// handshakeStage names where a handshake failed, for the metrics: the
// stage its error names (ServerHello, ClientHello, client key, FINISHED),
// or "other".
func handshakeStage(err error) string {
	if errors.Is(err, session.ErrClientKeyRefused) { // "client key refused: ..."
		return wire.StageClientKey
	}
	msg := err.Error()
	for _, stage := range []string{wire.StageServerHello, wire.StageClientHello, wire.StageClientKey, wire.StageFinished} {
		if strings.HasPrefix(msg, stage+":") {
			return stage
		}
	}
	return "other"
}
