package server_test

// A connection's end: idle too long, or still open at the end of the
// shutdown's grace period. Each gets a CLOSE that says why, and one line.

import (
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// TestIdleTimeout: a session on which nothing moves for IdleTimeout gets a
// CLOSE with the reason session.CloseIdle and one line; one that keeps
// talking is not cut, however long it lasts. A legacy connection is closed
// (its protocol has no CLOSE), with the same line.
func TestIdleTimeout(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const idle = 300 * time.Millisecond
	t.Run("session", func(t *testing.T) {
		ts := startServer(t, server.Config{IdleTimeout: idle})
		busy, quiet := ts.dialGood(), ts.dialGood()
		start := time.Now()
		// busy talks every idle/3 for 3 idle periods.
		for time.Since(start) < 3*idle {
			busy.exchange(1)
			time.Sleep(idle / 3)
		}
		// quiet said nothing: its session ended with CLOSE (idle).
		_, err := quiet.sc.ReadMessage()
		require.Equal(t, io.EOF, err, "the server's CLOSE")
		require.Equal(t, session.CloseIdle, quiet.sc.ConnectionState().PeerCloseReason)
		require.Equal(t, "", ts.lineFor(quiet.peer, "closed: idle for 300ms."))
		require.Len(t, linesFor(ts.out.String(), "Connection from "+quiet.peer+" "), 1, "one line")
		requireClosedByServer(t, quiet.c)

		// busy was never cut.
		require.Empty(t, linesFor(ts.out.String(), "Connection from "+busy.peer+" "))
		busy.exchange(1)
		busy.finish()
		ts.stop()
	})
	t.Run("legacy", func(t *testing.T) {
		ts := startServer(t, server.Config{Proto: server.ProtoLegacy, IdleTimeout: idle})
		c := ts.dial()
		sc := legacyConnect(t, c, ts.scheme())
		require.NoError(t, sc.Send([]byte("one")))
		start := time.Now()
		requireClosedByServer(t, c)
		require.GreaterOrEqual(t, time.Since(start), idle*9/10)
		require.Equal(t, "", ts.lineFor(c.LocalAddr().String(), "closed: idle for 300ms."))
		require.Equal(t, []string{"one"}, ts.delivered(c.LocalAddr().String()))
		ts.stop()
	})
	goleak.VerifyNone(t, ign)
}

// TestShutdownGrace: a shutdown announces itself at the start of the grace
// period, with the number of open connections; they are still served during
// it; at its end each open session gets a CLOSE with the reason
// session.CloseShutdown, and one line says how many were closed.
func TestShutdownGrace(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const grace = time.Second
	ts := newServer(t, server.Config{Grace: grace, ShutdownNote: " (NOTE)"})
	sv := ts.listen("127.0.0.1:0")
	ts.addr = sv.addr
	a, b := ts.dialGood(), ts.dialGood()
	a.exchange(1)
	b.exchange(1)

	stopped := make(chan time.Time, 1)
	start := time.Now()
	go func() {
		sv.cancel()
		<-sv.done
		stopped <- time.Now()
	}()
	line := ts.waitLine("Shutting down: ")
	require.Equal(t, "waiting up to 1s for 2 connections to finish (NOTE).", line)
	require.Less(t, time.Since(start), grace, "the line comes at the start of the grace period")
	require.True(t, ts.srv.Draining())

	// Still served during the grace period.
	a.exchange(2)
	b.exchange(2)

	// At its end: CLOSE (shutdown) for both.
	for _, g := range []*goodClient{a, b} {
		_, err := g.sc.ReadMessage()
		require.Equal(t, io.EOF, err, "the server's CLOSE")
		require.Equal(t, session.CloseShutdown, g.sc.ConnectionState().PeerCloseReason)
		requireClosedByServer(t, g.c)
		require.Equal(t, g.sent, ts.delivered(g.peer))
	}
	end := <-stopped
	require.GreaterOrEqual(t, end.Sub(start), grace)
	sv.done <- nil // for ts.stop
	out := ts.out.String()
	require.Contains(t, out, "Closed 2 connections still open after the 1s grace period.\n")
	require.Regexp(t, regexp.MustCompile(`(?s)Shutting down: .*Closed 2 connections .*Server shutting down\.\n$`), out)
	for _, g := range []*goodClient{a, b} {
		require.Len(t, linesFor(out, "Connection from "+g.peer+" "), 1, "one line for %s:\n%s", g.peer, out)
		require.Equal(t, "", ts.lineFor(g.peer, "closed at shutdown (the grace period is over)."))
	}
	require.NotContains(t, out, "failed")
	goleak.VerifyNone(t, ign)
}

// TestShutdownQuick: connections that end within the grace period end
// normally, and Serve returns as soon as they have; one connection is
// counted as one.
func TestShutdownQuick(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	ts := newServer(t, server.Config{Grace: waitLong})
	sv := ts.listen("127.0.0.1:0")
	ts.addr = sv.addr
	g := ts.dialGood()
	g.exchange(1)
	sv.cancel()
	require.Equal(t, "waiting up to 20s for 1 connection to finish.", ts.waitLine("Shutting down: "))
	g.exchange(1)
	g.finish()
	select {
	case err := <-sv.done:
		require.NoError(t, err)
		sv.done <- err
	case <-time.After(waitLong / 2):
		t.Fatal("Serve did not return once its connection ended")
	}
	require.False(t, strings.Contains(ts.out.String(), "Closed "))
	goleak.VerifyNone(t, ign)
}

// TestDrainDelay: once Serve's context is cancelled, a server with a
// DrainDelay reports Draining at once (its health check fails) and goes
// on accepting and serving for the delay: a tunnel that arrives then
// reaches its target (the connections' context is not the cancelled one).
// Only after the delay does it close its listener and begin the grace
// period.
func TestDrainDelay(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const delay = 2 * time.Second
	tg := startTarget(t, "", func(c net.Conn) { io.Copy(c, c) })
	ts := startServer(t, server.Config{Handler: &server.Forward{Target: tg.addr}, DrainDelay: delay})
	require.False(t, ts.srv.Draining())

	ts.mu.Lock()
	sv := ts.serves[0]
	ts.mu.Unlock()
	cancelled := time.Now()
	sv.cancel()
	ts.waitLine("Shutting down: still accepting connections for 2s, while the health check says so to the load balancers.")

	require.True(t, ts.srv.Draining(), "the health check fails")

	// A client that comes during the delay is served, through to the target.
	c := ts.dial()
	c.SetDeadline(time.Now().Add(waitLong))
	sc := session.Client(c, ts.clientConfig())
	_, err := sc.Write([]byte("during the drain"))
	require.NoError(t, err)
	require.NoError(t, sc.CloseWrite())
	got, err := io.ReadAll(sc)
	require.NoError(t, err)
	require.Equal(t, "during the drain", string(got))
	require.Less(t, time.Since(cancelled), delay, "the client was served within the delay (the test's premise)")

	// Then the listener closes, and Serve returns.
	select {
	case err := <-sv.done:
		sv.done <- err
		require.NoError(t, err)
	case <-time.After(waitLong):
		t.Fatal("Serve did not return after the drain delay")
	}
	require.GreaterOrEqual(t, time.Since(cancelled), delay, "the listener stayed open for the delay")
	// (The kernel may complete a connection while the socket closes, and
	// then reset it.)
	eventually(t, waitLong, "the listener to be closed", func() bool {
		c, err := net.DialTimeout("tcp", ts.addr, waitLong)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	require.Contains(t, ts.out.String(), "Server shutting down.")
	tg.close()
	goleak.VerifyNone(t, ign)
}
