package server_test

// Load: a flood of silent connections against MaxConns, and a soak of
// honest, killed and garbage clients at once. Both end with the server's
// goroutines and heap back where they started.

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
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

// soakTime makes TestSoak run longer: go test -run TestSoak ./app/server/ -soak=5m
var soakTime = flag.Duration("soak", 0, "how long TestSoak runs (default 3s)")

// TestConnectionFlood: 2000 connections that never send anything, against
// MaxConns 100, while an honest client talks. The server never serves more
// than 100 at once; every connection gets exactly one line: refused at
// once, or cut at the handshake timeout; the honest client gets every
// message through; afterwards no goroutine or memory is left behind.
func TestConnectionFlood(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const attempts, limit = 2000, 100
	baseG, baseHeap := runtimeBase()
	ts := startServer(t, server.Config{MaxConns: limit, HandshakeTimeout: hsTimeout})

	var maxActive atomic.Int64
	watchDone := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			if n := int64(ts.srv.Active()); n > maxActive.Load() {
				maxActive.Store(n)
			}
			select {
			case <-watchDone:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	g := ts.dialGood()
	g.exchange(5)

	conns := make([]net.Conn, attempts)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= attempts {
					return
				}
				c, err := net.DialTimeout("tcp", ts.addr, waitLong)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	require.False(t, t.Failed())
	g.exchange(5) // during the flood

	// Each connection ends, closed by the server, without sending a byte:
	// refused with a refusal that says the server is full, or cut after
	// its ServerHello.
	start := time.Now()
	refusal := frame.Append(nil, wire.AppendRefusal(nil, wire.RefusedFull))
	gotRefusal := make([]bool, len(conns))
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(waitLong))
		got, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server did not close connection %d", i)
		}
		gotRefusal[i] = bytes.Equal(got, refusal)
		if !gotRefusal[i] && len(got) > 0 {
			p, err := frame.NewReader(bytes.NewReader(got), 0).Next()
			require.NoError(t, err)
			_, err = wire.ParseServerHello(p)
			require.NoError(t, err, "connection %d got neither a refusal nor a ServerHello", i)
		}
	}
	require.Less(t, time.Since(start), waitLong)
	close(watchDone)
	watch.Wait()

	out := ts.out.String()
	refused, cut := 0, 0
	for i, c := range conns {
		peer := c.LocalAddr().String()
		c.Close()
		switch n := strings.Count(out, "Connection from "+peer+" "); {
		case n != 1:
			t.Fatalf("%d lines about %s, want 1", n, peer)
		case strings.Contains(out, "Connection from "+peer+" refused: too many connections (limit 100)\n"):
			require.True(t, gotRefusal[i], "%s was refused without a refusal", peer)
			refused++
		case strings.Contains(out, "Connection from "+peer+" failed during handshake: ClientHello: receive: "):
			require.False(t, gotRefusal[i], "%s was served and got a refusal", peer)
			cut++
		default:
			t.Fatalf("no refusal or timeout line for %s: %q", peer, linesFor(out, "Connection from "+peer+" "))
		}
	}
	t.Logf("%d connections: %d refused, %d cut at the handshake timeout; at most %d served at once", attempts, refused, cut, maxActive.Load())
	require.LessOrEqual(t, maxActive.Load(), int64(limit))
	require.Positive(t, refused)
	require.GreaterOrEqual(t, cut, limit-1)
	require.Equal(t, strings.Count(out, "i/o timeout"), cut)

	g.exchange(5)
	g.finish()
	eventually(t, waitLong, "no connections", func() bool { return ts.srv.Active() == 0 })
	// The server's accept loop is all that is left; the output buffer
	// holds ~4000 lines.
	settle(t, baseG, 4, baseHeap, 1<<20+2*uint64(len(out)))
	ts.stop()
	goleak.VerifyNone(t, ign)
}

// runtimeBase returns the goroutine count and heap before a test starts its
// server.
func runtimeBase() (int, uint64) {
	h := heapInUse()
	return runtime.NumGoroutine(), h
}

// soakTally counts what a soak's clients did and what the server delivered.
// It stays small however long the soak runs: a connection's deliveries are
// a counter, checked as they come, and an honest connection's is dropped
// once it has been checked.
type soakTally struct {
	mu        sync.Mutex
	delivered map[int]*connTally // connection id -> what the server delivered
	honest    int                // honest connections checked
	messages  int                // their messages
	killed    map[int]int        // killed connection id -> messages written whole
	hostile   atomic.Int64       // connections that must end with a failure line
	failures  atomic.Int64       // failure lines the server printed
	lastLines []string
}

// connTally is what the server delivered from one connection.
type connTally struct {
	next int    // the sequence number the next message must have
	peer string // the peer the server saw
}

// Write takes the server's output: it counts failure lines and keeps the
// last few lines, so that a long soak does not keep its whole output.
func (s *soakTally) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if _, ok := cutLine(l, "Connection from "); ok {
			s.failures.Add(1)
		}
		s.lastLines = append(s.lastLines, l)
		if len(s.lastLines) > 50 {
			s.lastLines = s.lastLines[1:]
		}
	}
	return len(p), nil
}

// message bodies: "id:seq:" and padding.
func soakMessage(id, seq, size int) []byte {
	b := fmt.Appendf(nil, "%d:%d:", id, seq)
	for len(b) < size {
		b = append(b, byte('a'+len(b)%26))
	}
	return b
}

func (s *soakTally) onMessage(t *testing.T) func(string, []byte) {
	return func(peer string, msg []byte) {
		parts := bytes.SplitN(msg, []byte(":"), 3)
		id, err1 := strconv.Atoi(string(parts[0]))
		var seq int
		var err2 error
		if len(parts) == 3 {
			seq, err2 = strconv.Atoi(string(parts[1]))
		}
		if err1 != nil || err2 != nil || len(parts) != 3 {
			t.Errorf("the server delivered a message no client sent: %.40q", msg)
			return
		}
		if want := soakMessage(id, seq, len(msg)); !bytes.Equal(want, msg) {
			t.Errorf("message %d:%d delivered changed", id, seq)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		ct := s.delivered[id]
		if ct == nil {
			ct = &connTally{peer: peer}
			s.delivered[id] = ct
		}
		if ct.peer != peer {
			t.Errorf("connection %d's messages came from %s and %s", id, ct.peer, peer)
		}
		if seq != ct.next {
			t.Errorf("connection %d: message %d delivered where %d was due (lost, duplicated or reordered)", id, seq, ct.next)
		}
		ct.next = seq + 1
	}
}

// TestSoak runs, for a few seconds (or -soak), honest session clients that
// send and check echoes, clients killed mid-stream (closed, or reset with
// SO_LINGER 0, some inside a frame), and garbage clients, all at once.
// Every message of an honest client arrives exactly once and in order; a
// killed client's messages arrive in order, without duplicates, up to where
// it died; nothing else arrives; every killed or garbage connection gets a
// failure line; afterwards goroutines and heap are back to where they were.
func TestSoak(t *testing.T) {
	d := *soakTime
	if d == 0 {
		d = 3 * time.Second
	}
	ign := goleak.IgnoreCurrent()
	baseG, baseHeap := runtimeBase()
	tally := &soakTally{delivered: map[int]*connTally{}, killed: map[int]int{}}
	ts := startServer(t, server.Config{
		Handler:          &server.Chat{Echo: true, Quiet: true, OnMessage: tally.onMessage(t)},
		Log:              server.NewTextLogger(tally),
		HandshakeTimeout: 3 * time.Second, // honest handshakes under load and -race
	})
	scheme := ts.scheme()
	var ids atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	worker := func(seed uint64, f func(r *rand.Rand, id int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for time.Now().Before(deadline) && !t.Failed() {
				if err := f(r, int(ids.Add(1))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	dial := func() (net.Conn, error) { return net.DialTimeout("tcp", ts.addr, waitLong) }
	size := func(r *rand.Rand) int {
		if r.IntN(20) == 0 {
			return 4<<10 + r.IntN(60<<10) // pooled record buffers
		}
		return 10 + r.IntN(200)
	}

	// Honest clients: a writer and an echo reader per connection.
	honest := func(r *rand.Rand, id int) error {
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLong))
		sc := session.Client(c, &session.ClientConfig{Scheme: scheme})
		if err := sc.Handshake(); err != nil {
			return fmt.Errorf("honest client %d: handshake: %w", id, err)
		}
		n := 1 + r.IntN(60)
		sent := make(chan []byte, n)
		echoErr := make(chan error, 1)
		go func() {
			for want := range sent {
				got, err := sc.ReadMessage()
				if err != nil || !bytes.Equal(got, want) {
					echoErr <- fmt.Errorf("honest client %d: echo: %v", id, err)
					return
				}
			}
			_, err := sc.ReadMessage()
			if err != io.EOF {
				echoErr <- fmt.Errorf("honest client %d: the server's CLOSE: %v", id, err)
				return
			}
			echoErr <- nil
		}()
		for seq := range n {
			m := soakMessage(id, seq, size(r))
			sent <- m
			if err := sc.WriteMessage(m); err != nil {
				return fmt.Errorf("honest client %d: send: %w", id, err)
			}
		}
		close(sent)
		if err := sc.CloseWrite(); err != nil {
			return err
		}
		if err := <-echoErr; err != nil {
			return err
		}
		// The server's CLOSE came after it delivered everything.
		tally.mu.Lock()
		defer tally.mu.Unlock()
		got := 0
		if ct := tally.delivered[id]; ct != nil {
			got = ct.next
		}
		if got != n {
			return fmt.Errorf("honest connection %d: %d of its %d messages delivered", id, got, n)
		}
		delete(tally.delivered, id)
		tally.honest++
		tally.messages += n
		return nil
	}

	// Killed clients: some messages, then death: a close, or a reset,
	// between records or inside one, or before the ClientHello.
	killed := func(r *rand.Rand, id int) error {
		c, err := dial()
		if err != nil {
			return err
		}
		tc := c.(*net.TCPConn)
		c.SetDeadline(time.Now().Add(waitLong))
		tally.hostile.Add(1)
		written := 0
		defer func() {
			tally.mu.Lock()
			tally.killed[id] = written
			tally.mu.Unlock()
			if r.IntN(2) == 0 {
				tc.SetLinger(0) // RST
			}
			c.Close()
		}()
		if r.IntN(8) == 0 {
			readServerHello(t, c) // dies before its ClientHello
			return nil
		}
		version := byte(wire.Version2)
		if r.IntN(4) == 0 {
			version = wire.Version1
		}
		rs := rawHandshake(t, c, scheme, handshakeOpts{version: version})
		if rs.finOpen != nil {
			return rs.finOpen
		}
		go io.Copy(io.Discard, c) // echoes
		n := r.IntN(40)
		for seq := range n {
			rec := rs.data(string(soakMessage(id, seq, size(r))))
			if _, err := c.Write(rec); err != nil {
				return fmt.Errorf("killed client %d: %w", id, err)
			}
			written++
		}
		if r.IntN(2) == 0 { // inside a frame
			rec := rs.data(string(soakMessage(id, n, size(r))))
			c.Write(rec[:1+r.IntN(len(rec)-1)])
		}
		return nil
	}

	// Garbage: random bytes or nothing, then a close or a reset.
	garbage := func(r *rand.Rand, id int) error {
		c, err := dial()
		if err != nil {
			return err
		}
		tally.hostile.Add(1)
		if n := r.IntN(3000); n > 0 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			if r.IntN(2) == 0 {
				b = append(frame.AppendHeader(nil, r.IntN(4000)), b...)
			}
			c.Write(b)
		}
		if r.IntN(2) == 0 {
			c.(*net.TCPConn).SetLinger(0)
		}
		time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		return c.Close()
	}

	for i := range 4 {
		worker(uint64(i), honest)
	}
	worker(10, killed)
	worker(11, killed)
	worker(20, garbage)
	wg.Wait()
	require.False(t, t.Failed())

	// Every hostile connection gets its line (the honest ones none).
	eventually(t, waitLong, "a failure line per hostile connection", func() bool {
		return tally.failures.Load() == tally.hostile.Load()
	})
	eventually(t, waitLong, "no connections", func() bool { return ts.srv.Active() == 0 })
	ts.stop()

	tally.mu.Lock()
	defer tally.mu.Unlock()
	for id, ct := range tally.delivered {
		written, ok := tally.killed[id]
		require.True(t, ok, "messages delivered for connection %d, which is neither killed nor unchecked", id)
		require.LessOrEqual(t, ct.next, written, "killed connection %d: more delivered than written", id)
	}
	t.Logf("soak of %v: %d honest connections (%d messages), %d killed, %d hostile in all; last lines:\n%s",
		d, tally.honest, tally.messages, len(tally.killed), tally.hostile.Load(), strings.Join(tally.lastLines[max(0, len(tally.lastLines)-5):], "\n"))
	require.Positive(t, tally.honest)
	require.NotEmpty(t, tally.killed)

	goleak.VerifyNone(t, ign)
	// What is left is the tally of the killed connections.
	settle(t, baseG, 2, baseHeap, 2<<20+256*uint64(len(tally.killed)))
}
