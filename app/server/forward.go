package server

import (
	"context"
	"fmt"
	"net"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/kemtcp/kemtcp/app/internal/relay"
	"github.com/kemtcp/kemtcp/app/session"
)

// Forward is the tunnel's server side: each session gets its own new TCP
// connection to Target, and bytes are copied both ways until both sides
// have finished. Half-close is carried both ways: the client's CLOSE
// becomes CloseWrite on the target's socket, and the target's end of
// stream becomes CLOSE. One line at open and one at close tell about each
// tunnelled connection.
type Forward struct {
	// Target is the service's address, host:port.
	Target string
	// DialTimeout bounds connecting to the target (0: the server's
	// handshake timeout).
	DialTimeout time.Duration
	// ProxyProtocol sends the target a PROXY protocol version 2 header
	// first, with the client's address, as HAProxy's send-proxy-v2 does.
	ProxyProtocol bool
}

var _ Handler = (*Forward)(nil)

// ServeSession carries one session to a new connection to the target.
func (f *Forward) ServeSession(ctx context.Context, c *session.Conn, ev *Events) error {
	start := time.Now()
	timeout := f.DialTimeout
	if timeout <= 0 {
		timeout = ev.HandshakeTimeout()
	}
	d := net.Dialer{Timeout: timeout}
	t, err := d.DialContext(ctx, "tcp", f.Target)
	if err != nil {
		ev.Warn(fmt.Sprintf("Tunnel %d from %s%s to %s failed: cannot reach the target: %v", ev.ID(), ev.Peer(), ev.keyNote(), f.Target, err),
			"target", f.Target, "error", err.Error())
		relay.EndSession(c, session.CloseTarget)
		return nil
	}
	defer t.Close()
	if f.ProxyProtocol {
		h := proxyproto.HeaderProxyFromAddrs(2, c.RemoteAddr(), c.LocalAddr())
		t.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := h.WriteTo(t); err != nil {
			ev.Warn(fmt.Sprintf("Tunnel %d from %s to %s failed: sending the PROXY header: %v", ev.ID(), ev.Peer(), f.Target, err), "target", f.Target, "error", err.Error())
			relay.EndSession(c, session.CloseTarget)
			return nil
		}
		t.SetWriteDeadline(time.Time{})
	}
	ev.Info(fmt.Sprintf("Tunnel %d from %s%s to %s opened.", ev.ID(), ev.Peer(), ev.keyNote(), f.Target), "target", f.Target)

	why := (&relay.Relay{Session: c, Plain: t, SessionEnd: "client", PlainEnd: "target", Idle: ev.IdleTimeout(), PlainFailed: session.CloseTarget}).Run()
	if ev.c.atShutdown() {
		why = "closed at shutdown"
	}
	cs := c.ConnectionState()
	up, down := int64(cs.BytesRead), int64(cs.BytesWritten)
	ev.Moved(up, down)
	ev.Info(fmt.Sprintf("Tunnel %d from %s to %s closed after %v: %d bytes up, %d down (%s).",
		ev.ID(), ev.Peer(), f.Target, time.Since(start).Round(time.Millisecond), up, down, why),
		"target", f.Target, "bytes_up", up, "bytes_down", down, "duration", time.Since(start), "reason", why)
	return nil
}

// keyNote is " (key NAME)" when the client used a key, else "".
func (e *Events) keyNote() string {
	if e.clientKey == "" {
		return ""
	}
	return " (key " + e.clientKey + ")"
}
