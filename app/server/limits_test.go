package server_test

// The limits: MaxConns and MaxConnsPerSource refuse with a reason the
// client can show, count every listener's connections in one atomic
// reservation, and a slot held by a client that never finishes its key
// exchange comes back after HandshakeTimeout.

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// dialSession dials addr from local IP from ("" for any) and runs the
// client handshake, pinning the test key.
func (ts *testServer) dialSession(addr, from string) (*session.Conn, error) {
	d := &net.Dialer{Timeout: waitLong}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	c, err := (&session.Dialer{NetDialer: d, Config: ts.clientConfig()}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sc := c.(*session.Conn)
	ts.t.Cleanup(func() { sc.Close() })
	return sc, nil
}

// holdHandler is a Handler that counts the connections between their
// acceptance (before the handshake: Accepted) and the end of ServeSession,
// and keeps each until its client closes it.
type holdHandler struct {
	now, peak atomic.Int64
	served    atomic.Int64
}

func (h *holdHandler) Accepted(ev *server.Events) {
	n := h.now.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (h *holdHandler) ServeSession(ctx context.Context, c *session.Conn, ev *server.Events) error {
	defer h.now.Add(-1)
	h.served.Add(1)
	io.Copy(io.Discard, c)
	c.CloseWrite()
	return nil
}

// TestRefusedAtMaxConns: a session client over MaxConns is told the server
// is full (session.ErrRefused), with one line; a legacy client's
// connection is just closed. Once a slot is free, a client gets in again.
func TestRefusedAtMaxConns(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	t.Run("session", func(t *testing.T) {
		ts := startServer(t, server.Config{MaxConns: 1})
		g := ts.dialGood()
		g.exchange(1)
		_, err := ts.dialSession(ts.addr, "")
		require.ErrorIs(t, err, session.ErrRefused)
		require.ErrorContains(t, err, "the server is full")
		require.Len(t, linesFor(ts.out.String(), "Connection from "), 1, ts.out.String())
		require.Contains(t, ts.out.String(), "refused: too many connections (limit 1)\n")
		g.finish()
		eventually(t, waitLong, "the slot back", func() bool { return ts.srv.Active() == 0 })
		g = ts.dialGood()
		g.exchange(1)
		g.finish()
		ts.stop()
	})
	t.Run("legacy", func(t *testing.T) {
		ts := startServer(t, server.Config{Proto: server.ProtoLegacy, MaxConns: 1})
		a := ts.dial()
		sc := legacyConnect(t, a, ts.scheme())
		require.NoError(t, sc.Send([]byte("in")))
		eventually(t, waitLong, "the first message", func() bool { return len(ts.delivered(a.LocalAddr().String())) == 1 })
		b := ts.dial()
		b.SetDeadline(time.Now().Add(waitLong))
		got, err := io.ReadAll(b)
		require.NoError(t, err, "the server closes a refused legacy connection")
		require.Empty(t, got, "a legacy client gets no refusal message: it would not understand one")
		ts.lineFor(b.LocalAddr().String(), "refused: too many connections (limit 1)")
		ts.stop()
	})
	goleak.VerifyNone(t, ign)
}

// TestMaxConnsPerSource: the N+1-th connection from one address is refused
// with its own reason, while another address still gets in (127.0.0.1 and
// 127.0.0.2 are both loopback on Linux).
func TestMaxConnsPerSource(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const perSource = 2
	ts := startServer(t, server.Config{MaxConns: 10, MaxConnsPerSource: perSource})
	var open []*session.Conn
	for range perSource {
		sc, err := ts.dialSession(ts.addr, "127.0.0.1")
		require.NoError(t, err)
		open = append(open, sc)
	}
	_, err := ts.dialSession(ts.addr, "127.0.0.1")
	require.ErrorIs(t, err, session.ErrRefused)
	require.ErrorContains(t, err, "too many connections from this address")
	require.Len(t, linesFor(ts.out.String(), "Connection from 127.0.0.1:"), 1)
	require.Contains(t, ts.out.String(), "refused: too many connections from 127.0.0.1 (limit 2)\n")

	other, err := ts.dialSession(ts.addr, "127.0.0.2")
	require.NoError(t, err, "another address gets in")
	require.NoError(t, other.WriteMessage([]byte("from .2")))
	echo, err := other.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "from .2", string(echo))

	// A slot of 127.0.0.1 freed: 127.0.0.1 gets in again.
	require.NoError(t, open[0].CloseWrite())
	_, err = open[0].ReadMessage()
	require.Equal(t, io.EOF, err)
	open[0].Close()
	eventually(t, waitLong, "the slot back", func() bool { return ts.srv.Active() == perSource })
	sc, err := ts.dialSession(ts.addr, "127.0.0.1")
	require.NoError(t, err)
	sc.Close()
	ts.stop()
	goleak.VerifyNone(t, ign)
}

// TestLimitsAtomicAcrossListeners: many clients dial two listeners of one
// server at once. MaxConns is one reservation over both: never more than
// MaxConns connections are in their handshake or open at once (counted by
// the handler from acceptance on), every client is served or refused with
// the full reason (and retries until served), and the lines match.
func TestLimitsAtomicAcrossListeners(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const limit, clients = 4, 60
	h := &holdHandler{}
	ts := newServer(t, server.Config{Handler: h, MaxConns: limit, HandshakeTimeout: 10 * time.Second})
	addrs := []string{ts.listen("127.0.0.1:0").addr, ts.listen("127.0.0.1:0").addr}
	var served, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			<-start
			// Retry until served: the slots change hands all the time.
			for attempt := 0; ; attempt++ {
				sc, err := ts.dialSession(addrs[(i+attempt)%2], "")
				switch {
				case errors.Is(err, session.ErrRefused) && attempt < 1000:
					if !strings.Contains(err.Error(), "the server is full") {
						t.Errorf("client %d: %v", i, err)
						return
					}
					refused.Add(1)
					time.Sleep(time.Millisecond)
					continue
				case err != nil:
					t.Errorf("client %d: %v", i, err)
					return
				}
				served.Add(1)
				time.Sleep(5 * time.Millisecond) // hold the slot a little
				sc.CloseWrite()
				io.Copy(io.Discard, sc)
				sc.Close()
				return
			}
		})
	}
	close(start)
	wg.Wait()
	eventually(t, waitLong, "every connection ended", func() bool { return ts.srv.Active() == 0 && h.now.Load() == 0 })
	t.Logf("%d served, %d refused, at most %d at once", served.Load(), refused.Load(), h.peak.Load())
	require.Equal(t, int64(clients), served.Load(), "every client served in the end")
	require.Equal(t, served.Load(), h.served.Load())
	require.LessOrEqual(t, h.peak.Load(), int64(limit), "connections in their handshake or open at once")
	require.Positive(t, refused.Load(), "the limit was never reached: the test proves nothing")
	require.Equal(t, int(refused.Load()), strings.Count(ts.out.String(), "refused: too many connections (limit 4)\n"))
	ts.stop()
	goleak.VerifyNone(t, ign)
}

// TestLegacySilentDropped: a legacy client that takes the server's key and
// never sends is dropped after HandshakeTimeout, with one line, and its
// slot comes back.
func TestLegacySilentDropped(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	ts := startServer(t, server.Config{Proto: server.ProtoLegacy, MaxConns: 1, HandshakeTimeout: hsTimeout})
	c := ts.dial()
	start := time.Now()
	legacyConnect(t, c, ts.scheme())
	eventually(t, waitLong, "the connection served", func() bool { return ts.srv.Active() == 1 })
	requireClosedByServer(t, c)
	took := time.Since(start)
	require.GreaterOrEqual(t, took, hsTimeout*9/10)
	require.Less(t, took, hsTimeout+5*time.Second)
	ts.requireFailure(c.LocalAddr().String(), "message", `^no message within 1s of the key exchange$`)
	eventually(t, waitLong, "the slot back", func() bool { return ts.srv.Active() == 0 })
	c2 := ts.dial()
	sc := legacyConnect(t, c2, ts.scheme())
	require.NoError(t, sc.Send([]byte("in")))
	eventually(t, waitLong, "a message from the next client", func() bool { return len(ts.delivered(c2.LocalAddr().String())) == 1 })
	ts.stop()
	goleak.VerifyNone(t, ign)
}

// TestRandomClientHelloHoldsSlotUntilTimeout: a client that sends a
// ClientHello of the right length with random ciphertexts (which decapsulate,
// by implicit rejection, to keys it does not have) and nothing else holds
// its slot only until HandshakeTimeout; the server never says its handshake
// completed.
func TestRandomClientHelloHoldsSlotUntilTimeout(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	ts := startServer(t, server.Config{MaxConns: 1, HandshakeTimeout: hsTimeout})
	p := ts.scheme().Params()
	c := ts.dial()
	start := time.Now()
	readServerHello(t, c)
	send(t, c, frame.Append(nil, clientHello(wire.Magic, wire.Version2, p.ID, wire.ClientHelloSize(p))))
	fin, err := readFrame(c) // the server's FINISHED, under keys nobody has
	require.NoError(t, err)
	require.Len(t, fin, wire.RecordOverhead)

	// The slot is held meanwhile: another client is refused.
	_, err = ts.dialSession(ts.addr, "")
	require.ErrorIs(t, err, session.ErrRefused)

	requireClosedByServer(t, c)
	took := time.Since(start)
	require.GreaterOrEqual(t, took, hsTimeout*9/10, "cut before the handshake timeout")
	require.Less(t, took, hsTimeout+5*time.Second)
	ts.requireFailure(c.LocalAddr().String(), "handshake", `^FINISHED: .*i/o timeout$`)
	eventually(t, waitLong, "the slot back", func() bool { return ts.srv.Active() == 0 })
	g := ts.dialGood()
	g.exchange(1)
	g.finish()
	ts.stop()
	require.Equal(t, 1, strings.Count(ts.out.String(), "Handshake complete."), "only the honest client's handshake completed:\n%s", ts.out)
	goleak.VerifyNone(t, ign)
}
