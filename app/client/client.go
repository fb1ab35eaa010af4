// Package client is kemtcp's client program. It dials a kem-server, runs
// the key exchange, and then either:
//
//   - Chat: sends every line it reads as one encrypted message, as the
//     original demo's kem_client.py does (session or legacy protocol);
//   - Tunnel: accepts local TCP connections and carries each in its own
//     session (kem-client -listen), as ssh -L does;
//   - Stdio: carries standard input and output over one session
//     (kem-client -stdio), for ssh's ProxyCommand, as ssh -W does.
//
// The server's key is checked before anything is sent (Config.Verify), and
// trusted for later only once the server has proven it holds it (FINISHED).
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// Protocol names, as -proto takes them.
const (
	ProtoSession = "session"
	ProtoLegacy  = "legacy"
)

// Defaults.
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
)

// Config configures the client's connections.
type Config struct {
	Addr   string
	Proto  string // ProtoSession or ProtoLegacy (Chat only)
	Scheme kem.Scheme
	// ClientKey is the client's key, for servers that require one.
	ClientKey kem.DecapsulationKey
	// MaxFrame bounds the frames the client reads and sends (0: 1 MiB).
	MaxFrame    int
	DialTimeout time.Duration // 0: DefaultDialTimeout
	// HandshakeTimeout bounds the key exchange, each write of a message,
	// the closing exchange, and each frame once its first byte has arrived
	// (0: DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// Verify (session only) is called with the server's static key before
	// anything is sent; it returns an error that aborts the connection, or
	// a function to call once the server has proven it holds the key, which
	// returns a line that says how the key was trusted (e.g. after
	// recording it in a known-hosts file).
	Verify func(ek []byte) (trusted func() (string, error), err error)
	Out    io.Writer // lines for the user (nil: discarded)
	Err    io.Writer // warnings (nil: discarded)
}

// defaults fills in the zero values.
func (cfg *Config) defaults() error {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = frame.DefaultMaxSize
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Err == nil {
		cfg.Err = io.Discard
	}
	if cfg.Scheme == nil {
		return errors.New("client: a KEM scheme is required")
	}
	return nil
}

// dial connects to the server.
func (cfg *Config) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: cfg.DialTimeout}
	c, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("connection refused by %s: is kem-server running there?", cfg.Addr)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("connecting to %s: interrupted", cfg.Addr)
		}
		return nil, fmt.Errorf("cannot connect to %s: %w", cfg.Addr, err)
	}
	return c, nil
}

// session dials and runs the session handshake, within the handshake
// timeout (and ctx). It returns the session and the line that says how
// the server's key was trusted.
func (cfg *Config) session(ctx context.Context) (*session.Conn, string, error) {
	raw, err := cfg.dial(ctx)
	if err != nil {
		return nil, "", err
	}
	var trusted func() (string, error)
	sc := session.Client(raw, &session.ClientConfig{
		Scheme:       cfg.Scheme,
		ClientKey:    cfg.ClientKey,
		MaxFrame:     cfg.MaxFrame,
		FrameTimeout: cfg.HandshakeTimeout,
		VerifyServerKey: func(ek []byte) (err error) {
			if cfg.Verify != nil {
				trusted, err = cfg.Verify(ek)
			}
			return err
		},
	})
	sc.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	if err := sc.HandshakeContext(ctx); err != nil {
		raw.Close()
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("handshake with %s: interrupted", cfg.Addr)
		}
		return nil, "", fmt.Errorf("handshake with %s failed: %w", cfg.Addr, err)
	}
	sc.SetDeadline(time.Time{})
	line := ""
	if trusted != nil {
		if line, err = trusted(); err != nil {
			sc.Close()
			return nil, "", err
		}
	}
	return sc, line, nil
}
