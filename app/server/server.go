// Package server is kemtcp's server program: it accepts TCP connections,
// enforces the limits, runs each connection's key exchange (the session
// protocol, or the original demo's legacy protocol) in its own goroutine,
// and hands the established connection to a Handler: Chat (print what
// clients send, as the demo's kem_server.py does) or Forward (carry the
// bytes to a TCP service: a tunnel).
//
// Per connection:
//
//	accept ── limits (MaxConns, MaxConnsPerSource: refused with a reason)
//	       ── handshake (HandshakeTimeout; session: until the client's
//	          FINISHED) ── Handler (IdleTimeout) ── end, with one line
//	          naming how it ended
//
// A failing connection never stops the server. Serve returns when its
// context is cancelled, after a grace period for open connections, whose
// sessions are then ended with a CLOSE that says the server is shutting
// down.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// Protocol names, as -proto takes them.
const (
	ProtoSession = "session"
	ProtoLegacy  = "legacy"
)

// Defaults of the server's limits.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxConns         = 1024
	DefaultGrace            = 5 * time.Second
)

// Config configures a Server.
type Config struct {
	Proto string // ProtoSession or ProtoLegacy
	// Session is the session protocol's configuration (KEM, static key,
	// client keys). The legacy protocol uses its Scheme and Static key.
	// Required. SetSession replaces it for the connections to come.
	Session *session.ServerConfig
	// Handler serves each established connection. Required.
	Handler Handler
	// Once serves a single client and returns, as the demo does.
	Once bool
	// HandshakeTimeout bounds the key exchange, and each frame once its
	// first byte has arrived (0: DefaultHandshakeTimeout). The legacy
	// protocol's first message must arrive within it too.
	HandshakeTimeout time.Duration
	// IdleTimeout ends a connection on which nothing has moved for that
	// long (0: never).
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at once, over every listener
	// (0: DefaultMaxConns); MaxConnsPerSource bounds those from one IP
	// address (0: no bound).
	MaxConns          int
	MaxConnsPerSource int
	// Grace is how long open connections get to finish at shutdown (0:
	// DefaultGrace).
	Grace time.Duration
	// DrainDelay, if positive, is how long the server goes on accepting
	// and serving connections once Serve's context is cancelled, while
	// Draining reports true: a load balancer's health check sees it first
	// and stops sending connections, so that none is lost in the closed
	// listener's queue. The grace period follows.
	DrainDelay time.Duration
	// ShutdownNote is appended to the line that announces a shutdown
	// (the command adds how to stop at once).
	ShutdownNote string
	// Log receives the server's events; nil discards them. kem-server's
	// text format prints them as the lines of the original demo.
	Log *slog.Logger
	// Metrics, if not nil, counts what the server does.
	Metrics *Metrics
	// DescribeClientKey, if set, names a client's key in the lines about
	// its connection (the authorized keys' comment); else its fingerprint
	// does.
	DescribeClientKey func(ek []byte) string
}

// Handler serves one established session until it ends, and returns why it
// ended: nil for a clean end. Handlers that also serve the legacy protocol
// implement LegacyHandler.
type Handler interface {
	ServeSession(ctx context.Context, c *session.Conn, ev *Events) error
}

// LegacyHandler serves one connection of the original demo's protocol,
// whose key frame has been sent.
type LegacyHandler interface {
	ServeLegacy(ctx context.Context, c *legacy.ServerConn, raw net.Conn, ev *Events) error
}

// Server serves one Config on any number of listeners, at once or one
// after another. The limits count the connections of all of them; each
// call of Serve waits for, and closes, only the connections it accepted.
type Server struct {
	cfg     Config
	session atomic.Pointer[session.ServerConfig]
	log     *slog.Logger
	limits  limits
	nextID  atomic.Uint64
	drain   atomic.Bool
	// drainLine is the one "still accepting" line of a shutdown, however
	// many listeners the server serves.
	drainLine sync.Once
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	switch cfg.Proto {
	case ProtoSession, ProtoLegacy:
	default:
		return nil, fmt.Errorf("unknown protocol %q (want %s or %s)", cfg.Proto, ProtoSession, ProtoLegacy)
	}
	if cfg.Session == nil || cfg.Session.Scheme == nil || cfg.Session.Static == nil {
		return nil, errors.New("server: a KEM scheme and a static key are required")
	}
	if cfg.Handler == nil {
		return nil, errors.New("server: a handler is required")
	}
	if _, ok := cfg.Handler.(LegacyHandler); cfg.Proto == ProtoLegacy && !ok {
		return nil, fmt.Errorf("server: this handler needs the session protocol: the legacy protocol carries only the client's lines")
	}
	if cfg.Proto == ProtoLegacy {
		if err := legacyScheme(cfg.Session.Scheme); err != nil {
			return nil, err
		}
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Log}
	s.limits.init(cfg.MaxConns, cfg.MaxConnsPerSource)
	s.SetSession(cfg.Session)
	cfg.Metrics.register(s)
	return s, nil
}

// legacyScheme refuses a KEM the original demo's protocol cannot carry.
func legacyScheme(s kem.Scheme) error {
	p := s.Params()
	if p.SeedSize != kem.SeedSize || !strings.HasPrefix(p.Name, "ML-KEM-") {
		return fmt.Errorf("the legacy protocol is the original demo's and speaks ML-KEM only, not %s", p.Name)
	}
	return nil
}

// SetSession makes cfg the session configuration of the connections
// accepted from now on (a reloaded server key or authorized keys); open
// connections keep theirs. Its frame limits and timeouts are the Server's.
func (s *Server) SetSession(cfg *session.ServerConfig) {
	c := *cfg
	if c.MaxFrame == 0 {
		c.MaxFrame = frame.DefaultMaxSize
	}
	c.FrameTimeout = s.cfg.HandshakeTimeout
	s.session.Store(&c)
}

// Active returns the number of open connections.
func (s *Server) Active() int { return s.limits.active() }

// Draining reports whether the server is shutting down (for health checks).
func (s *Server) Draining() bool { return s.drain.Load() }

// connSet is the open connections of one call of Serve.
type connSet struct {
	mu    sync.Mutex
	conns map[*conn]struct{}
	wg    sync.WaitGroup
}

// Serve accepts connections on ln until ctx is cancelled (or, with Once,
// until its one client is done), then closes ln, gives open connections the
// grace period to finish, ends those left, and returns. It returns nil
// after a shutdown, or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	closed := make(chan struct{})
	defer close(closed)
	stop := context.AfterFunc(ctx, func() {
		s.drain.Store(true)
		if d := s.cfg.DrainDelay; d > 0 {
			s.drainLine.Do(func() {
				s.log.Info(fmt.Sprintf("Shutting down: still accepting connections for %v, while the health check says so to the load balancers%s.", d, s.cfg.ShutdownNote), "drain_delay", d)
			})
			select {
			case <-time.After(d):
			case <-closed: // Serve returned meanwhile (Once, a listener error)
			}
		}
		ln.Close()
	})
	defer stop()
	// The connections' context outlives ctx: they are served through the
	// drain delay and the grace period (a tunnel accepted then still
	// reaches its target), and ended at its end.
	connCtx, endConns := context.WithCancel(context.WithoutCancel(ctx))
	defer endConns()
	set := &connSet{conns: make(map[*conn]struct{})}
	var err error
	for {
		var raw net.Conn
		raw, err = ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
			} else if isTemporary(err) {
				s.log.Warn(fmt.Sprintf("Accept failed (will retry): %v", err), "error", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			break
		}
		set.wg.Add(1)
		if s.cfg.Once {
			ln.Close()
			s.admit(connCtx, set, raw)
			break
		}
		go s.admit(connCtx, set, raw)
	}
	s.shutdown(set, endConns)
	return err
}

// admit takes a place for an accepted connection under the limits and
// serves it, or refuses it. Finding the client's address may mean reading a
// PROXY protocol header, so it runs in the connection's own goroutine.
func (s *Server) admit(ctx context.Context, set *connSet, raw net.Conn) {
	c := s.newConn(raw)
	if err := proxyHeaderError(raw); err != nil {
		s.log.Warn(fmt.Sprintf("Connection from %s failed during %s: %v", c.peer, stageProxyHeader, err), "conn", c.id, "peer", c.peer, "stage", stageProxyHeader, "error", err.Error())
		s.cfg.Metrics.proxyHeaderFailed()
		raw.Close()
		set.wg.Done()
		return
	}
	if reason, ok := s.limits.reserve(c.source); !ok {
		s.refuse(c, reason)
		set.wg.Done()
		return
	}
	set.mu.Lock()
	set.conns[c] = struct{}{}
	set.mu.Unlock()
	s.handle(ctx, set, c)
}

// refuse turns a connection away at a limit: a session client is told why
// (session.Refuse), a legacy client's connection is just closed.
func (s *Server) refuse(c *conn, reason session.RefusalReason) {
	what := map[session.RefusalReason]string{
		session.RefusedFull:      fmt.Sprintf("too many connections (limit %d)", s.cfg.MaxConns),
		session.RefusedPerSource: fmt.Sprintf("too many connections from %s (limit %d)", c.source, s.cfg.MaxConnsPerSource),
	}[reason]
	s.log.Warn(fmt.Sprintf("Connection from %s refused: %s", c.peer, what), "conn", c.id, "peer", c.peer, "reason", reason.String())
	s.cfg.Metrics.refused(reason)
	if s.cfg.Proto == ProtoSession {
		c.raw.SetWriteDeadline(time.Now().Add(time.Second))
		session.Refuse(c.raw, reason)
	}
	c.raw.Close()
}

// shutdown waits up to the grace period for the connections of set, then
// ends them: each session gets a CLOSE that says the server is shutting
// down.
func (s *Server) shutdown(set *connSet, endConns context.CancelFunc) {
	done := make(chan struct{})
	go func() { set.wg.Wait(); close(done) }()
	grace := time.NewTimer(s.cfg.Grace)
	defer grace.Stop()
	// Connections already ending (their peer has just said goodbye) are
	// given a moment, so that the line announces only those still in use.
	select {
	case <-done:
	case <-time.After(min(announceAfter, s.cfg.Grace)):
		set.mu.Lock()
		n := len(set.conns)
		set.mu.Unlock()
		if n > 0 {
			s.log.Info(fmt.Sprintf("Shutting down: waiting up to %v for %d connection%s to finish%s.", s.cfg.Grace, n, plural(n), s.cfg.ShutdownNote), "connections", n, "grace", s.cfg.Grace)
		}
	}
	select {
	case <-done:
	case <-grace.C:
		set.mu.Lock()
		left := len(set.conns)
		for c := range set.conns {
			c.endAtShutdown()
		}
		set.mu.Unlock()
		endConns()
		if left > 0 {
			s.log.Info(fmt.Sprintf("Closed %d connection%s still open after the %v grace period.", left, plural(left), s.cfg.Grace), "connections", left)
		}
		<-done
	}
	s.log.Info("Server shutting down.")
}

// announceAfter is how long a shutdown waits for the connections that are
// ending anyway before it says how many it waits for.
const announceAfter = 200 * time.Millisecond

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// isTemporary reports whether an Accept error passes, e.g. running out of
// file descriptors while many connections are open.
func isTemporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// discard is an io.Writer for tests and defaults.
var discard io.Writer = io.Discard
