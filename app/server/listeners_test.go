package server_test

import (
	"io"
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
	ts := newServer(t, server.Config{Grace: 100 * time.Millisecond, MaxConns: 2})
	sv1, sv2 := ts.listen("127.0.0.1:0"), ts.listen("127.0.0.1:0")
	ts.addr = sv1.addr
	g1 := ts.dialGood()
	ts.addr = sv2.addr
	g2 := ts.dialGood()
	g1.exchange(1)
	g2.exchange(1)
	eventually(t, waitLong, "two connections", func() bool { return ts.srv.Active() == 2 })
	c := dialTCP(t, sv1.addr, "") // a third, over MaxConns 2, counted across both listeners
	require.Equal(t, "", ts.lineFor(c.LocalAddr().String(), "refused: too many connections (limit 2)"))
	requireClosedByServer(t, c)

	// Stop the first listener: its client is closed after the grace
	// period, the second one's is not.
	ts.stopServing(sv1)
	require.Contains(t, ts.out.String(), "Closed 1 connection still open after the 100ms grace period.")
	requireClosedByServer(t, g1.c)
	time.Sleep(ts.cfg.Grace) // past the grace period of the first Serve
	g2.exchange(3)           // echoes checked
	require.NoError(t, g2.sc.CloseWrite())
	_, err := g2.sc.ReadMessage()
	require.Equal(t, io.EOF, err, "the second listener's client must end cleanly")
	g2.c.Close()

	ts.stopServing(sv2)
	require.Equal(t, 2, strings.Count(ts.out.String(), "Server shutting down."))
	goleak.VerifyNone(t, ign)
}
