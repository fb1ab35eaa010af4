package server_test

// PROXY protocol headers in front of the handshake, as kem-server's
// -proxy-protocol wraps its listener: required from a load balancer (and
// its client address used), never read from anyone else.

import (
	"context"
	"net"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// proxyServe serves ts on a PROXY protocol listener that requires a header
// from 127.0.0.2 and reads none from anyone else.
func proxyServe(t *testing.T, ts *testServer, headerTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	pl := &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: headerTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if o.Upstream.(*net.TCPAddr).IP.Equal(net.IPv4(127, 0, 0, 2)) {
				return proxyproto.REQUIRE, nil
			}
			return proxyproto.SKIP, nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	sv := &serving{addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { sv.done <- ts.srv.Serve(ctx, pl) }()
	ts.mu.Lock()
	ts.serves = append(ts.serves, sv)
	ts.mu.Unlock()
	return sv.addr
}

func TestProxyHeader(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := server.NewMetrics(reg, server.BuildInfo{Version: "test"})
	ts := newServer(t, server.Config{Metrics: m, HandshakeTimeout: time.Minute})
	addr := proxyServe(t, ts, 300*time.Millisecond)

	handshake := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(waitLong))
		sc := session.Client(c, ts.clientConfig())
		if err := sc.Handshake(); err != nil {
			return err
		}
		if err := sc.WriteMessage([]byte("hi")); err != nil {
			return err
		}
		_, err := sc.ReadMessage() // the echo
		return err
	}

	// The load balancer's header names the client: its lines and its
	// messages are under that address.
	lb := dialTCP(t, addr, "127.0.0.2")
	h := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
		SourceAddr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 4000}, DestinationAddr: lb.RemoteAddr()}
	_, err := h.WriteTo(lb)
	require.NoError(t, err)
	require.NoError(t, handshake(lb))
	eventually(t, waitLong, "the message", func() bool { return len(ts.delivered("203.0.113.7:4000")) == 1 })

	// A direct client is served at once, under its own address, although
	// the server would wait a minute for a header (its handshake timeout
	// is the deadline here, and the test's is shorter).
	direct := dialTCP(t, addr, "127.0.0.1")
	require.NoError(t, handshake(direct))
	require.Equal(t, []string{"hi"}, ts.delivered(direct.LocalAddr().String()))

	// A direct client's header is not read as one: the handshake fails
	// and says what the bytes were; the address it claims appears nowhere.
	spoof := dialTCP(t, addr, "127.0.0.1")
	h.SourceAddr = &net.TCPAddr{IP: net.IPv4(10, 9, 9, 9), Port: 4242}
	_, err = h.WriteTo(spoof)
	require.NoError(t, err)
	requireClosedByServer(t, spoof)
	ts.requireFailure(spoof.LocalAddr().String(), "handshake", `^ClientHello: frame too large: .* \(the peer sent what looks like a PROXY protocol v2 header, not the kemtcp session protocol\)$`)
	require.NotContains(t, ts.out.String(), "10.9.9.9")

	// The load balancer without a header: the server says nothing to it,
	// and logs the PROXY header stage.
	bare := dialTCP(t, addr, "127.0.0.2")
	requireClosedByServer(t, bare)
	ts.requireFailure(bare.LocalAddr().String(), "PROXY header", `^no PROXY protocol header, which a load balancer's connection must start with$`)
	// ... and with something else where the header belongs.
	junk := dialTCP(t, addr, "127.0.0.2")
	send(t, junk, []byte("GET / HTTP/1.0\r\n\r\n"))
	requireClosedByServer(t, junk)
	ts.requireFailure(junk.LocalAddr().String(), "PROXY header", `^no PROXY protocol header`)

	mfs := scrape(t, reg)
	require.Equal(t, 2.0, metricValue(t, mfs, "kemtcp_handshakes_total", "result", "failed", "stage", "PROXY header"))
	require.Equal(t, 2.0, metricValue(t, mfs, "kemtcp_handshakes_total", "result", "ok", "stage", ""))
	// The failed PROXY headers opened no connection for the handler: only
	// the load balancer's client, the direct client and the spoofer did.
	require.Equal(t, 3.0, metricValue(t, mfs, "kemtcp_connections_total"))
}
