// Package server is kemtcp's TCP server: it accepts connections, runs the
// chosen protocol's key exchange on each in its own goroutine, and prints
// what clients send, as the original Python demo's kem_server.py does.
//
// Per connection:
//
//	accept ── limit (MaxConns) ── key exchange (HandshakeTimeout)
//	       ── messages: "Decrypted from client: TEXT" (frames must arrive
//	          whole within HandshakeTimeout of their first byte)
//	       ── end: exit / CLOSE / EOF, or one line naming the failure
//
// A failing connection never stops the server; Serve returns when its
// context is cancelled (after a grace period for open connections) or, with
// Once, after its one client.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/display"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// Protocol names, as -proto takes them.
const (
	ProtoSession = session.ProtocolName
	ProtoLegacy  = legacy.ProtocolName
)

// Defaults of the server's limits.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxConns         = 1024
	DefaultGrace            = 5 * time.Second
)

// Config configures a Server.
type Config struct {
	Proto  string     // ProtoSession or ProtoLegacy
	Scheme kem.Scheme // the KEM
	// Key is the server's key pair: the static key of the session protocol,
	// the one key of the legacy protocol. Required.
	Key kem.DecapsulationKey
	// Once serves a single client and returns, as the demo does.
	Once bool
	// Echo (session only) answers every DATA record with the same bytes.
	Echo bool
	// Quiet does not print a line per message (for benchmarks).
	Quiet            bool
	MaxFrame         int           // 0: frame.DefaultMaxSize
	HandshakeTimeout time.Duration // 0: DefaultHandshakeTimeout
	MaxConns         int           // 0: DefaultMaxConns
	Grace            time.Duration // 0: DefaultGrace
	// Out receives the server's lines (nil: discarded).
	Out io.Writer
	// OnMessage, if not nil, is called with the peer's address (as in the
	// server's lines) and every message a client delivers, in order, from
	// that connection's goroutine, before the message is echoed or the
	// next one is read. msg is valid only during the call. For tests and
	// embedding programs; Quiet does not affect it.
	OnMessage func(peer string, msg []byte)
}

// Server serves one Config on any number of listeners, at once or one
// after another. MaxConns counts the connections of all of them; each call
// of Serve waits for, and closes, only the connections it accepted.
type Server struct {
	cfg    Config
	out    *display.Lines
	active atomic.Int64
}

// connSet is the open connections of one call of Serve.
type connSet struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	closing atomic.Bool // the grace period is over: connections are being closed
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	switch cfg.Proto {
	case ProtoSession, ProtoLegacy:
	default:
		return nil, fmt.Errorf("unknown protocol %q (want %s or %s)", cfg.Proto, ProtoSession, ProtoLegacy)
	}
	if cfg.Scheme == nil || cfg.Key == nil {
		return nil, errors.New("server: a KEM scheme and a key are required")
	}
	if cfg.Echo && cfg.Proto != ProtoSession {
		return nil, errors.New("-echo needs -proto session: the legacy protocol has no server-to-client messages")
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = frame.DefaultMaxSize
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
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	return &Server{cfg: cfg, out: display.NewLines(cfg.Out)}, nil
}

// Active returns the number of open connections.
func (s *Server) Active() int { return int(s.active.Load()) }

// Serve accepts connections on ln until ctx is cancelled (or, with Once,
// until its one client is done), then closes ln, gives open connections the
// grace period to finish, closes those left, and returns. It returns nil
// after a shutdown, or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	set := &connSet{conns: make(map[net.Conn]struct{})}
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
			} else if isTemporary(err) {
				s.out.Printf("Accept failed (will retry): %v", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			break
		}
		if n := s.active.Load(); n >= int64(s.cfg.MaxConns) {
			s.out.Printf("Connection from %s refused: too many connections (limit %d, -max-conns)", c.RemoteAddr(), s.cfg.MaxConns)
			c.Close()
			continue
		}
		s.track(set, c, true)
		set.wg.Add(1)
		if s.cfg.Once {
			ln.Close()
			s.handle(set, c)
			break
		}
		go s.handle(set, c)
	}
	s.shutdown(set)
	return err
}

// shutdown waits up to the grace period for the connections of set, then
// closes them.
func (s *Server) shutdown(set *connSet) {
	done := make(chan struct{})
	go func() { set.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.Grace):
		set.closing.Store(true)
		set.mu.Lock()
		n := len(set.conns)
		for c := range set.conns {
			c.Close()
		}
		set.mu.Unlock()
		if n > 0 {
			s.out.Printf("Closed %d connection(s) still open after the %v grace period.", n, s.cfg.Grace)
		}
		<-done
	}
	s.out.Printf("Server shutting down.")
}

func (s *Server) track(set *connSet, c net.Conn, add bool) {
	set.mu.Lock()
	defer set.mu.Unlock()
	if add {
		set.conns[c] = struct{}{}
		s.active.Add(1)
	} else {
		delete(set.conns, c)
		s.active.Add(-1)
	}
}

// conn is one client connection being served.
type conn struct {
	s    *Server
	set  *connSet
	c    net.Conn
	peer string
}

// logf prints a line about this connection, prefixed with the peer's
// address when several clients are connected.
func (c *conn) logf(format string, args ...any) {
	if c.s.active.Load() > 1 {
		format = "[" + c.peer + "] " + format
	}
	c.s.out.Printf(format, args...)
}

// fail prints the one line of a failed connection: peer, stage, reason.
func (c *conn) fail(stage string, err error) {
	if c.set.closing.Load() && errors.Is(err, net.ErrClosed) {
		c.s.out.Printf("Connection from %s closed at shutdown (the grace period is over).", c.peer)
		return
	}
	c.s.out.Printf("Connection from %s failed during %s: %v", c.peer, stage, err)
}

func (s *Server) handle(set *connSet, nc net.Conn) {
	defer set.wg.Done()
	defer s.track(set, nc, false)
	defer nc.Close()
	c := &conn{s: s, set: set, c: nc, peer: nc.RemoteAddr().String()}
	c.logf("Connected by %s", pythonAddr(nc.RemoteAddr()))
	switch s.cfg.Proto {
	case ProtoLegacy:
		c.serveLegacy()
	case ProtoSession:
		c.serveSession()
	}
}

func (c *conn) serveLegacy() {
	cfg := &c.s.cfg
	c.c.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	sc, err := legacy.Accept(c.c, cfg.Key, cfg.MaxFrame)
	if err != nil {
		c.fail("key exchange", err)
		return
	}
	c.c.SetDeadline(time.Time{})
	sc.SetFrameTimeout(cfg.HandshakeTimeout)
	c.logf("Public key sent. Waiting for encrypted messages...")
	for {
		msg, err := sc.Recv()
		if err == io.EOF {
			c.logf("Client disconnected.")
			return
		}
		if err != nil {
			c.fail("message", err)
			return
		}
		c.delivered(msg)
		if isExit(msg) {
			c.logf("Client requested to exit.")
			return
		}
	}
}

func (c *conn) serveSession() {
	cfg := &c.s.cfg
	c.c.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	sc, err := session.Server(c.c, &session.ServerConfig{Scheme: cfg.Scheme, Static: cfg.Key, MaxFrame: cfg.MaxFrame})
	if err != nil {
		c.fail("handshake", err)
		return
	}
	c.c.SetDeadline(time.Time{})
	sc.SetFrameTimeout(cfg.HandshakeTimeout)
	c.logf("Handshake complete. Waiting for encrypted messages...")
	for {
		msg, err := sc.Recv()
		if err == io.EOF {
			c.logf("Client requested to exit.")
			c.closeSession(sc)
			return
		}
		if err != nil {
			c.fail("session", err)
			return
		}
		c.delivered(msg)
		if isExit(msg) {
			c.logf("Client requested to exit.")
			c.closeSession(sc)
			return
		}
		if cfg.Echo {
			c.c.SetWriteDeadline(time.Now().Add(cfg.HandshakeTimeout))
			if err := sc.Send(msg); err != nil {
				c.fail("session", fmt.Errorf("echo: %w", err))
				return
			}
		}
	}
}

// delivered reports a decrypted message: a line unless Quiet, and
// OnMessage.
func (c *conn) delivered(msg []byte) {
	if !c.s.cfg.Quiet {
		c.logf("Decrypted from client: %s", display.Text(msg))
	}
	if c.s.cfg.OnMessage != nil {
		c.s.cfg.OnMessage(c.peer, msg)
	}
}

// closeSession answers the client's CLOSE (or exit) with ours.
func (c *conn) closeSession(sc *session.Conn) {
	c.c.SetWriteDeadline(time.Now().Add(c.s.cfg.HandshakeTimeout))
	if err := sc.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
		c.fail("close", err)
	}
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
