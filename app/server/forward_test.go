package server_test

// server.Forward, the tunnel's server side, against real local TCP
// targets: bytes both ways with half-close, a target that refuses, dies or
// reads slowly, a client that dies, the PROXY protocol header, many
// tunnels at once, and the lines about each.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// target is a local TCP service that runs serve on each connection.
type target struct {
	ln   net.Listener
	addr string
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// startTarget listens on 127.0.0.1 (or at addr) and serves each
// connection with serve in its own goroutine until the test ends.
func startTarget(t testing.TB, addr string, serve func(c net.Conn)) *target {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	tg := &target{ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	tg.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.mu.Lock()
			tg.conns[c] = true
			tg.mu.Unlock()
			tg.wg.Go(func() {
				defer func() {
					tg.mu.Lock()
					delete(tg.conns, c)
					tg.mu.Unlock()
				}()
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * waitLong))
				serve(c)
			})
		}
	})
	t.Cleanup(tg.close)
	return tg
}

// closeConns closes the target's open connections, to unblock what waits
// on them after a test has failed.
func (tg *target) closeConns() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	for c := range tg.conns {
		c.Close()
	}
}

// close stops accepting and waits for the connections' goroutines.
func (tg *target) close() {
	tg.ln.Close()
	tg.wg.Wait()
}

// startForward serves a Forward to f.Target (completed with test defaults).
func startForward(t testing.TB, f *server.Forward, cfg server.Config) *testServer {
	t.Helper()
	cfg.Handler = f
	return startServer(t, cfg)
}

// tunnelLine matches the close line of tunnel id from peer.
func closeLine(id int, peer, target string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`^(\[[^]]+\] )?Tunnel %d from %s to %s closed after [0-9.]+(ms|s|µs): (\d+) bytes up, (\d+) down \((.*)\)\.$`,
		id, regexp.QuoteMeta(peer), regexp.QuoteMeta(target)))
}

// waitCloseLine waits for the close line of tunnel id and returns bytes
// up, down and the reason.
func (ts *testServer) waitCloseLine(id int, peer, target string) (up, down int, reason string) {
	ts.t.Helper()
	re := closeLine(id, peer, target)
	eventually(ts.t, waitLong, fmt.Sprintf("the close line of tunnel %d", id), func() bool {
		for _, l := range ts.out.Lines() {
			if m := re.FindStringSubmatch(l); m != nil {
				up, _ = strconv.Atoi(m[3])
				down, _ = strconv.Atoi(m[4])
				reason = m[5]
				return true
			}
		}
		return false
	})
	return up, down, reason
}

// TestForwardHalfClose: bytes go both ways, and each side's end of stream
// reaches the other while the other direction goes on: the target answers
// after the client's EOF, or finishes first and still reads the client.
// One line at open, one at close, with the bytes each way.
func TestForwardHalfClose(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	up := bytes.Repeat([]byte("client to target "), 6000) // ~100 KB
	t.Run("target answers after the client's EOF", func(t *testing.T) {
		tg := startTarget(t, "", func(c net.Conn) {
			got, err := io.ReadAll(c)
			if err != nil {
				return
			}
			sum := sha256.Sum256(got)
			fmt.Fprintf(c, "%d bytes, sha256 %x", len(got), sum)
		})
		ts := startForward(t, &server.Forward{Target: tg.addr}, server.Config{})
		sc, err := ts.dialSession(ts.addr, "")
		require.NoError(t, err)
		peer := sc.LocalAddr().String()
		require.Equal(t, "", ts.waitLine(fmt.Sprintf("Tunnel 1 from %s to %s opened.", peer, tg.addr)))
		_, err = sc.Write(up)
		require.NoError(t, err)
		require.NoError(t, sc.CloseWrite())
		got, err := io.ReadAll(sc)
		require.NoError(t, err, "the server's CLOSE ends the answer")
		want := fmt.Sprintf("%d bytes, sha256 %x", len(up), sha256.Sum256(up))
		require.Equal(t, want, string(got))
		u, d, reason := ts.waitCloseLine(1, peer, tg.addr)
		require.Equal(t, len(up), u)
		require.Equal(t, len(want), d)
		require.Equal(t, "both sides finished", reason)
		require.Len(t, linesFor(ts.out.String(), "Tunnel 1 "), 2, "one line at open, one at close")
		sc.Close()
		ts.stop()
		tg.close()
	})
	t.Run("target finishes first", func(t *testing.T) {
		received := make(chan []byte, 1)
		tg := startTarget(t, "", func(c net.Conn) {
			io.WriteString(c, "banner")
			c.(*net.TCPConn).CloseWrite()
			got, _ := io.ReadAll(c)
			received <- got
		})
		ts := startForward(t, &server.Forward{Target: tg.addr}, server.Config{})
		sc, err := ts.dialSession(ts.addr, "")
		require.NoError(t, err)
		got, err := io.ReadAll(sc)
		require.NoError(t, err)
		require.Equal(t, "banner", string(got))
		// The target's end of stream came as CLOSE; this side still sends.
		_, err = sc.Write(up)
		require.NoError(t, err)
		require.NoError(t, sc.CloseWrite())
		require.Equal(t, up, <-received)
		u, d, reason := ts.waitCloseLine(1, sc.LocalAddr().String(), tg.addr)
		require.Equal(t, []any{len(up), len("banner"), "both sides finished"}, []any{u, d, reason})
		sc.Close()
		ts.stop()
		tg.close()
	})
	goleak.VerifyNone(t, ign)
}

// freeAddr returns a loopback address on which nothing listens.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestForwardTargetRefused: a target that refuses the connection: the
// client gets a CLOSE with the reason session.CloseTarget, the server says
// so in one line, and keeps serving: once the target is up, the next
// tunnel works.
func TestForwardTargetRefused(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	addr := freeAddr(t)
	ts := startForward(t, &server.Forward{Target: addr}, server.Config{})
	for i := 1; i <= 2; i++ {
		sc, err := ts.dialSession(ts.addr, "")
		require.NoError(t, err)
		_, err = sc.ReadMessage()
		require.Equal(t, io.EOF, err)
		require.Equal(t, session.CloseTarget, sc.ConnectionState().PeerCloseReason)
		peer := sc.LocalAddr().String()
		line := ts.waitLine(fmt.Sprintf("Tunnel %d from %s to %s failed: cannot reach the target: ", i, peer, addr))
		require.Contains(t, line, "connection refused")
		require.Len(t, linesFor(ts.out.String(), fmt.Sprintf("Tunnel %d ", i)), 1, "one line")
		sc.Close()
	}
	tg := startTarget(t, addr, func(c net.Conn) { io.Copy(c, c) })
	sc, err := ts.dialSession(ts.addr, "")
	require.NoError(t, err)
	_, err = sc.Write([]byte("up now"))
	require.NoError(t, err)
	require.NoError(t, sc.CloseWrite())
	got, err := io.ReadAll(sc)
	require.NoError(t, err)
	require.Equal(t, "up now", string(got))
	sc.Close()
	ts.stop()
	tg.close()
	goleak.VerifyNone(t, ign)
}

// streamUp writes from sc until it fails, in its own goroutine; it
// returns a function that waits for it and returns its error.
func streamUp(sc *session.Conn) func() error {
	done := make(chan error, 1)
	go func() {
		buf := bytes.Repeat([]byte{'u'}, 32<<10)
		for {
			if _, err := sc.Write(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	return func() error { return <-done }
}

// TestForwardTargetDies: a target that resets the connection in the
// middle of the stream. The client's session ends (it is told, or cut), no
// goroutine or file descriptor is left, and, once the target had finished
// its own direction, the close line says the target ended the tunnel.
func TestForwardTargetDies(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	t.Run("both directions open", func(t *testing.T) {
		tg := startTarget(t, "", func(c net.Conn) {
			io.CopyN(io.Discard, c, 100<<10)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		})
		ts := startForward(t, &server.Forward{Target: tg.addr}, server.Config{})
		fds := openFDs(t)
		sc, err := ts.dialSession(ts.addr, "")
		require.NoError(t, err)
		wait := streamUp(sc)
		sc.SetReadDeadline(time.Now().Add(waitLong))
		_, err = io.ReadAll(sc)
		t.Logf("the client's read ended with %v", err)
		require.False(t, isTimeout(err), "the client's session did not end")
		sc.Close()
		require.Error(t, wait())
		_, _, reason := ts.waitCloseLine(1, sc.LocalAddr().String(), tg.addr)
		t.Logf("reason: %s", reason)
		eventually(t, waitLong, "the file descriptors back", func() bool { return openFDs(t) <= fds })
		ts.stop()
		tg.close()
	})
	t.Run("after its answer", func(t *testing.T) {
		// The target answers, ends its direction (FIN), then resets while
		// the client is still sending: only the copy towards the target
		// fails, and its error is the target's.
		tg := startTarget(t, "", func(c net.Conn) {
			io.WriteString(c, "bye")
			c.(*net.TCPConn).CloseWrite()
			io.CopyN(io.Discard, c, 100<<10)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		})
		ts := startForward(t, &server.Forward{Target: tg.addr}, server.Config{})
		sc, err := ts.dialSession(ts.addr, "")
		require.NoError(t, err)
		got, err := io.ReadAll(sc)
		require.NoError(t, err)
		require.Equal(t, "bye", string(got))
		require.Error(t, streamUp(sc)(), "the client's writes end")
		sc.Close()
		_, _, reason := ts.waitCloseLine(1, sc.LocalAddr().String(), tg.addr)
		require.Regexp(t, `^target`, reason, "the reason names the target, whose connection failed")
		ts.stop()
		tg.close()
	})
	goleak.VerifyNone(t, ign)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestForwardClientDies: a client that resets its connection in the middle
// of the stream. The target's connection is closed, the close line says
// the client ended it, and no goroutine or file descriptor is left.
func TestForwardClientDies(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	targetDone := make(chan int64, 1)
	tg := startTarget(t, "", func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		targetDone <- n
	})
	ts := startForward(t, &server.Forward{Target: tg.addr}, server.Config{})
	fds := openFDs(t)
	sc, err := ts.dialSession(ts.addr, "")
	require.NoError(t, err)
	wait := streamUp(sc)
	eventually(t, waitLong, "bytes through", func() bool { return sc.ConnectionState().BytesWritten > 1<<20 })
	raw := sc.NetConn().(*net.TCPConn)
	raw.SetLinger(0)
	raw.Close()
	require.Error(t, wait())
	select {
	case n := <-targetDone:
		require.Positive(t, n)
	case <-time.After(5 * time.Second):
		// Known bug: the relay's abort calls Session.Close first, which
		// waits for the lock that ReadFrom holds while it is blocked
		// reading the target; Plain.Close is never reached.
		t.Errorf("the target's connection was not closed 5s after the client died (the tunnel hangs until the target sends or closes)")
		tg.closeConns()
		<-targetDone
	}
	_, _, reason := ts.waitCloseLine(1, sc.LocalAddr().String(), tg.addr)
	require.Regexp(t, `client`, reason)
	sc.Close()
	eventually(t, waitLong, "the file descriptors back", func() bool { return openFDs(t) <= fds })
	eventually(t, waitLong, "no connections", func() bool { return ts.srv.Active() == 0 })
	ts.stop()
	tg.close()
	goleak.VerifyNone(t, ign)
}

// TestForwardSlowTarget: a target that does not read. The client's writes
// block once the buffers on the way are full (backpressure), and the
// server's memory does not grow with what the client tries to send; once
// the target reads, every byte arrives intact.
func TestForwardSlowTarget(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const total = 48 << 20
	release := make(chan struct{})
	received := make(chan string, 1)
	tg := startTarget(t, "", func(c net.Conn) {
		c.(*net.TCPConn).SetReadBuffer(16 << 10)
		<-release
		c.(*net.TCPConn).SetReadBuffer(4 << 20)
		h := sha256.New()
		n, _ := io.Copy(h, c)
		received <- fmt.Sprintf("%d %x", n, h.Sum(nil))
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ts := startForward(t, &server.Forward{Target: tg.addr}, server.Config{})
	sc, err := ts.dialSession(ts.addr, "")
	require.NoError(t, err)
	sc.NetConn().(*net.TCPConn).SetWriteBuffer(16 << 10)
	heap0 := heapInUse()

	var written atomic.Int64
	sent := make(chan string, 1)
	go func() {
		r := rand.NewChaCha8([32]byte{1})
		h := sha256.New()
		buf := make([]byte, 64<<10)
		for written.Load() < total {
			r.Read(buf)
			h.Write(buf)
			if _, err := sc.Write(buf); err != nil {
				sent <- err.Error()
				return
			}
			written.Add(int64(len(buf)))
		}
		sc.CloseWrite()
		sent <- fmt.Sprintf("%d %x", written.Load(), h.Sum(nil))
	}()
	// Wait until the writes stall: no progress for 500 ms.
	var stalled int64
	for last, since := int64(-1), time.Now(); ; time.Sleep(50 * time.Millisecond) {
		n := written.Load()
		if n != last {
			last, since = n, time.Now()
			continue
		}
		if time.Since(since) > 500*time.Millisecond {
			stalled = n
			break
		}
	}
	heap1 := heapInUse()
	t.Logf("the client's writes stalled after %d bytes; heap %d -> %d", stalled, heap0, heap1)
	require.Less(t, stalled, int64(total), "the client's writes never blocked")
	require.Less(t, int64(heap1)-int64(heap0), int64(16<<20), "the heap grew with the stalled stream")

	close(release)
	sc.NetConn().(*net.TCPConn).SetWriteBuffer(4 << 20)
	want := <-sent
	require.Equal(t, want, <-received, "bytes and sha256 at the target")
	require.Contains(t, want, strconv.Itoa(total)+" ")
	io.ReadAll(sc)
	sc.Close()
	ts.stop()
	tg.close()
	goleak.VerifyNone(t, ign)
}

// TestForwardProxyProtocol: with ProxyProtocol, the target gets a PROXY
// protocol version 2 header first, with the client's address as source and
// the server's as destination, then the bytes.
func TestForwardProxyProtocol(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	type seen struct {
		h    *proxyproto.Header
		data string
		err  error
	}
	got := make(chan seen, 2)
	tg := startTarget(t, "", func(c net.Conn) {
		br := bufio.NewReader(c)
		h, err := proxyproto.Read(br)
		if err != nil {
			got <- seen{err: err}
			return
		}
		data, err := io.ReadAll(br)
		got <- seen{h: h, data: string(data), err: err}
	})
	ts := startForward(t, &server.Forward{Target: tg.addr, ProxyProtocol: true}, server.Config{})
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		sc, err := ts.dialSession(ts.addr, from)
		require.NoError(t, err)
		_, err = sc.Write([]byte("after the header"))
		require.NoError(t, err)
		require.NoError(t, sc.CloseWrite())
		s := <-got
		require.NoError(t, s.err)
		require.Equal(t, byte(2), s.h.Version)
		require.Equal(t, proxyproto.PROXY, s.h.Command)
		require.Equal(t, proxyproto.TCPv4, s.h.TransportProtocol)
		src, dst, ok := s.h.TCPAddrs()
		require.True(t, ok)
		require.Equal(t, sc.LocalAddr().String(), src.String(), "the client's address")
		require.Equal(t, from, src.IP.String())
		require.Equal(t, ts.addr, dst.String(), "the server's address")
		require.Equal(t, "after the header", s.data)
		io.ReadAll(sc)
		sc.Close()
	}
	ts.stop()
	tg.close()
	goleak.VerifyNone(t, ign)
}

// TestForwardManyTunnels: 200 tunnels at once through one server to an
// echoing target, each with its own random size: every byte arrives, hashed
// at both ends, and each tunnel gets its open and close lines with its byte
// counts.
func TestForwardManyTunnels(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const tunnels = 200
	var mu sync.Mutex
	targetSums := map[string]int{} // sha256 of what the target received -> count
	tg := startTarget(t, "", func(c net.Conn) {
		h := sha256.New()
		if _, err := io.Copy(c, io.TeeReader(c, h)); err != nil {
			return
		}
		c.(*net.TCPConn).CloseWrite()
		mu.Lock()
		targetSums[hex.EncodeToString(h.Sum(nil))]++
		mu.Unlock()
	})
	ts := startForward(t, &server.Forward{Target: tg.addr}, server.Config{HandshakeTimeout: waitLong})
	type result struct {
		peer string
		size int
		sum  string
	}
	results := make([]result, tunnels)
	var wg sync.WaitGroup
	for i := range tunnels {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			size := r.IntN(64 << 10)
			if i%10 == 0 {
				size = 0
			}
			data := make([]byte, size)
			for j := range data {
				data[j] = byte(r.Uint32())
			}
			sc, err := ts.dialSession(ts.addr, "")
			if err != nil {
				t.Errorf("tunnel %d: %v", i, err)
				return
			}
			defer sc.Close()
			sc.SetDeadline(time.Now().Add(waitLong))
			werr := make(chan error, 1)
			go func() {
				_, err := sc.Write(data)
				if err == nil {
					err = sc.CloseWrite()
				}
				werr <- err
			}()
			echo, err := io.ReadAll(sc)
			if err := <-werr; err != nil {
				t.Errorf("tunnel %d: write: %v", i, err)
				return
			}
			if err != nil {
				t.Errorf("tunnel %d: read: %v", i, err)
				return
			}
			sum := sha256.Sum256(data)
			if !bytes.Equal(echo, data) {
				t.Errorf("tunnel %d: %d bytes back of %d, sha256 %x, want %x", i, len(echo), size, sha256.Sum256(echo), sum)
				return
			}
			results[i] = result{peer: sc.LocalAddr().String(), size: size, sum: hex.EncodeToString(sum[:])}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	eventually(t, waitLong, "every tunnel closed", func() bool { return ts.srv.Active() == 0 })

	want := map[string]int{}
	for _, r := range results {
		want[r.sum]++
	}
	mu.Lock()
	require.Equal(t, want, targetSums, "what the target received, by sha256")
	mu.Unlock()

	// Lines: each tunnel's open and close, with its sizes.
	bySize := map[string]int{}
	for _, r := range results {
		bySize[r.peer] = r.size
	}
	open := regexp.MustCompile(`Tunnel (\d+) from (\S+) to ` + regexp.QuoteMeta(tg.addr) + ` opened\.$`)
	ids := map[string]int{}
	for _, l := range ts.out.Lines() {
		if m := open.FindStringSubmatch(l); m != nil {
			id, _ := strconv.Atoi(m[1])
			ids[m[2]] = id
		}
	}
	require.Len(t, ids, tunnels, "one open line per tunnel")
	for peer, size := range bySize {
		up, down, reason := ts.waitCloseLine(ids[peer], peer, tg.addr)
		require.Equal(t, []any{size, size, "both sides finished"}, []any{up, down, reason}, "tunnel from %s", peer)
	}
	ts.stop()
	tg.close()
	goleak.VerifyNone(t, ign)
}
