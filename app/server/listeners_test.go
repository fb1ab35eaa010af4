package server_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/server"
)

// TestServeListenersIndependent: one Server on two listeners (Server's doc
// allows any number). Stopping one Serve waits for and closes only its own
// connections: a client of the other listener goes on, after the grace
// period too, and MaxConns counts both listeners' connections.
//
// Regression: Serve used one WaitGroup and one set of connections for the
// whole Server, so stopping either listener closed the other's clients once
// the grace period was over (and could call WaitGroup.Add concurrently with
// Wait).
func TestServeListenersIndependent(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	s := testScheme(t)
	dk, err := s.NewDecapsulationKey(staticSeed)
	require.NoError(t, err)
	out := &syncBuffer{}
	cfg := server.Config{Proto: server.ProtoSession, Scheme: s, Key: dk, Echo: true, Out: out,
		HandshakeTimeout: hsTimeout, Grace: 100 * time.Millisecond, MaxConns: 2}
	srv, err := server.New(cfg)
	require.NoError(t, err)
	serve := func() (*testServer, context.CancelFunc, chan error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		return &testServer{t: t, srv: srv, cfg: cfg, addr: ln.Addr().String(), out: out, msgs: map[string][]string{}}, cancel, done
	}
	ts1, cancel1, done1 := serve()
	ts2, cancel2, done2 := serve()
	defer cancel1()
	defer cancel2()

	g1 := ts1.dialGood()
	g2 := ts2.dialGood()
	g1.exchange(1)
	g2.exchange(1)
	eventually(t, waitLong, "two connections", func() bool { return srv.Active() == 2 })
	c := ts1.dial() // a third, over MaxConns 2, counted across both listeners
	ts1.lineFor(c.LocalAddr().String(), "refused: too many connections (limit 2, -max-conns)")

	// Stop the first listener: its client is closed after the grace
	// period, the second one's is not.
	cancel1()
	select {
	case err := <-done1:
		require.NoError(t, err)
	case <-time.After(waitLong):
		t.Fatal("the first Serve did not return")
	}
	require.Contains(t, out.String(), "Closed 1 connection(s) still open after the 100ms grace period.")
	requireClosedByServer(t, g1.c)
	time.Sleep(cfg.Grace) // past the grace period of the first Serve
	g2.exchange(3)        // echoes checked
	require.NoError(t, g2.sc.CloseWrite())
	_, err = g2.sc.Recv()
	require.Equal(t, io.EOF, err, "the second listener's client must end cleanly")
	g2.c.Close()

	cancel2()
	require.NoError(t, <-done2)
	require.Equal(t, 2, strings.Count(out.String(), "Server shutting down."))
	goleak.VerifyNone(t, ign)
}
