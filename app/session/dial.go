package session

import (
	"context"
	"net"
)

// Dial connects to addr on network and runs the client handshake, as
// tls.Dial does. The returned Conn's handshake is complete.
func Dial(network, addr string, cfg *ClientConfig) (*Conn, error) {
	return (&Dialer{Config: cfg}).dial(context.Background(), network, addr)
}

// Dialer dials sessions, as tls.Dialer does. NetDialer, if set, makes the
// connections (its Timeout then bounds the connect and the handshake
// together); Config is required.
type Dialer struct {
	NetDialer *net.Dialer
	Config    *ClientConfig
}

// Dial is DialContext with context.Background.
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// DialContext connects to addr and runs the handshake, both bounded by ctx.
// The net.Conn it returns is a *Conn whose handshake is complete.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return c, nil
}

func (d *Dialer) dial(ctx context.Context, network, addr string) (*Conn, error) {
	nd := d.NetDialer
	if nd == nil {
		nd = new(net.Dialer)
	}
	if nd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, nd.Timeout)
		defer cancel()
	}
	raw, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := Client(raw, d.Config)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// Listen listens on laddr and returns a listener whose Accept returns
// sessions (*Conn, not yet handshaken), as tls.Listen does.
func Listen(network, laddr string, cfg *ServerConfig) (net.Listener, error) {
	inner, err := net.Listen(network, laddr)
	if err != nil {
		return nil, err
	}
	return NewListener(inner, cfg), nil
}

// NewListener returns a listener whose Accept takes connections from inner
// and returns them as the server side of sessions (*Conn), whose handshake
// runs on their first Read or Write, or on Handshake.
func NewListener(inner net.Listener, cfg *ServerConfig) net.Listener {
	return &listener{Listener: inner, cfg: cfg}
}

type listener struct {
	net.Listener
	cfg *ServerConfig
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Server(c, l.cfg), nil
}
