package session

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

func TestSendRecvMem(t *testing.T) {
	cli, srv, _, _ := memPair(t, 0)
	for _, n := range []int{0, 1, 100, retainBufSize, retainBufSize + 1, 64 << 10, 300 << 10, cli.MaxDataSize()} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		require.NoError(t, cli.Send(msg), "%d bytes", n)
		got, err := srv.Recv()
		require.NoError(t, err)
		require.True(t, bytes.Equal(msg, got), "%d bytes", n)
		require.NoError(t, srv.Send(msg))
		got, err = cli.Recv()
		require.NoError(t, err)
		require.True(t, bytes.Equal(msg, got), "%d bytes", n)
	}
}

func TestSendTooLarge(t *testing.T) {
	cli, srv, c2s, _ := memPair(t, 100)
	require.Equal(t, 100-RecordOverhead, cli.MaxDataSize())
	err := cli.Send(make([]byte, cli.MaxDataSize()+1))
	require.ErrorIs(t, err, frame.ErrTooLarge)
	assert.Contains(t, err.Error(), "84 bytes of data, limit 83")
	assert.Empty(t, c2s.buf, "nothing sent")
	require.NoError(t, cli.Send(make([]byte, cli.MaxDataSize())), "the Conn stays usable")
	got, err := srv.Recv()
	require.NoError(t, err)
	assert.Len(t, got, 83)
}

func TestCloseThenEOF(t *testing.T) {
	cli, srv, c2s, _ := memPair(t, 0)
	require.NoError(t, cli.Send([]byte("a")))
	require.NoError(t, cli.CloseWrite())
	require.NoError(t, cli.CloseWrite())
	require.Len(t, frames(t, c2s.buf), 2, "one CLOSE, however many CloseWrite calls")
	err := cli.Send([]byte("b"))
	require.ErrorIs(t, err, ErrClosed)
	assert.Contains(t, err.Error(), "session: Send: session closed for sending: CloseWrite was called")

	got, err := srv.Recv()
	require.NoError(t, err)
	assert.Equal(t, "a", string(got))
	for range 3 {
		_, err = srv.Recv()
		require.Equal(t, io.EOF, err)
	}
	// The server may still send after the client's CLOSE (half-close).
	require.NoError(t, srv.Send([]byte("bye")))
	got, err = cli.Recv()
	require.NoError(t, err)
	assert.Equal(t, "bye", string(got))
}

func TestRecordsAfterClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(cli *Conn, c2s *loopback)
	}{
		{"DATA", func(cli *Conn, _ *loopback) { cli.sendRecord(RecordData, []byte("more")) }},
		{"CLOSE", func(cli *Conn, _ *loopback) { cli.sendRecord(RecordClose, nil) }},
		{"garbage", func(_ *Conn, c2s *loopback) { c2s.Write(frame.Append(nil, []byte("junk"))) }},
		{"half a header", func(_ *Conn, c2s *loopback) { c2s.Write([]byte{0, 0}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, srv, c2s, _ := memPair(t, 0)
			require.NoError(t, cli.CloseWrite())
			tc.after(cli, c2s)
			_, err := srv.Recv()
			require.Equal(t, io.EOF, err, "the CLOSE")
			_, err = srv.Recv()
			require.Error(t, err)
			require.NotEqual(t, io.EOF, err)
			if tc.name == "half a header" {
				require.ErrorIs(t, err, ErrTruncated)
			} else {
				require.ErrorIs(t, err, ErrUnexpectedRecord)
				assert.Contains(t, err.Error(), "after the client's CLOSE")
			}
			_, err2 := srv.Recv()
			require.Equal(t, err, err2, "sticky")
			require.Error(t, srv.Send([]byte("x")), "the session has ended")
		})
	}
}

func TestTruncation(t *testing.T) {
	t.Run("clean end without CLOSE", func(t *testing.T) {
		cli, srv, _, _ := memPair(t, 0)
		require.NoError(t, cli.Send([]byte("a")))
		_, err := srv.Recv()
		require.NoError(t, err)
		_, err = srv.Recv()
		require.ErrorIs(t, err, ErrTruncated)
		assert.NotErrorIs(t, err, frame.ErrTruncated)
		assert.Equal(t, "session: connection ended without CLOSE (truncated): the client's stream ended after 1 records", err.Error())
	})
	t.Run("inside a header", func(t *testing.T) {
		cli, srv, c2s, _ := memPair(t, 0)
		require.NoError(t, cli.Send([]byte("a")))
		c2s.buf = c2s.buf[:3]
		_, err := srv.Recv()
		require.ErrorIs(t, err, ErrTruncated)
		require.ErrorIs(t, err, frame.ErrTruncated)
		assert.Contains(t, err.Error(), "got 3 of 4 header bytes")
	})
	t.Run("inside a payload", func(t *testing.T) {
		for _, n := range []int{10, 100 << 10} {
			cli, srv, c2s, _ := memPair(t, 0)
			require.NoError(t, cli.Send(make([]byte, n)))
			c2s.buf = c2s.buf[:len(c2s.buf)-1]
			_, err := srv.Recv()
			require.ErrorIs(t, err, ErrTruncated)
			require.ErrorIs(t, err, frame.ErrTruncated)
			assert.Contains(t, err.Error(), fmt.Sprintf("got %d of %d payload bytes", n+RecordOverhead-1, n+RecordOverhead))
		}
	})
	t.Run("tcp", func(t *testing.T) {
		sc, cc := defaultConfigs(t, kem.MLKEM768)
		srv, cli, srvRaw, cliRaw := handshake(t, sc, cc, "tcp")
		require.NoError(t, cli.Send([]byte("a")))
		cliRaw.(*net.TCPConn).CloseWrite()
		got, err := recvAll(srv)
		require.ErrorIs(t, err, ErrTruncated)
		assert.Len(t, got, 1)
		// And the other way: the server goes away without CLOSE.
		srvRaw.Close()
		_, err = cli.Recv()
		require.ErrorIs(t, err, ErrTruncated)
	})
}

// TestTamperedRecords rearranges the client's frames on the wire.
func TestTamperedRecords(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mangle  func(f [][]byte) [][]byte
		deliver int // DATA records the server gets before the error
	}{
		{"flipped bit", func(f [][]byte) [][]byte { f[1][3] ^= 0x10; return f }, 1},
		{"flipped tag", func(f [][]byte) [][]byte { f[0][len(f[0])-1] ^= 1; return f }, 0},
		{"replayed", func(f [][]byte) [][]byte { return [][]byte{f[0], f[0]} }, 1},
		{"reordered", func(f [][]byte) [][]byte { return [][]byte{f[1], f[0]} }, 0},
		{"dropped", func(f [][]byte) [][]byte { return [][]byte{f[0], f[2]} }, 1},
		{"truncated record", func(f [][]byte) [][]byte { f[2] = f[2][:len(f[2])-1]; return f }, 2},
		{"extended record", func(f [][]byte) [][]byte { f[0] = append(f[0], 0); return f }, 0},
		{"too short to be a record", func(f [][]byte) [][]byte { return [][]byte{f[0][:RecordOverhead-1]} }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, srv, c2s, _ := memPair(t, 0)
			for _, m := range []string{"zero", "one", "two"} {
				require.NoError(t, cli.Send([]byte(m)))
			}
			require.NoError(t, cli.CloseWrite())
			c2s.buf = joinFrames(tc.mangle(frames(t, c2s.buf))...)
			got, err := recvAll(srv)
			require.ErrorIs(t, err, ErrAuth)
			assert.Contains(t, err.Error(), "session: from the client: record ")
			require.Len(t, got, tc.deliver)
			_, err2 := srv.Recv()
			assert.Equal(t, err, err2, "sticky")
			err = srv.Send([]byte("x"))
			require.ErrorIs(t, err, ErrAuth, "the session ended for sending too")
			require.ErrorIs(t, srv.CloseWrite(), ErrAuth)
		})
	}
}

func TestUnexpectedRecords(t *testing.T) {
	for _, tc := range []struct {
		name     string
		toServer bool
		typ      byte
		body     []byte
		want     error
		msg      string
	}{
		{"unknown type", true, 0x07, []byte("x"), ErrUnknownRecordType, "session: unknown record type 0x07 in the client's record 0"},
		{"type zero", false, 0x00, nil, ErrUnknownRecordType, "0x00 in the server's record 0"},
		{"type 0xff", true, 0xff, nil, ErrUnknownRecordType, "0xff"},
		{"FINISHED from the client", true, RecordFinished, nil, ErrUnexpectedRecord, "the client's record 0 is FINISHED, which only the server sends"},
		{"second FINISHED", false, RecordFinished, nil, ErrUnexpectedRecord, "the server's record 0 is a second FINISHED"},
		{"CLOSE with a body", true, RecordClose, []byte{0}, ErrUnexpectedRecord, "CLOSE (record 0) has a 1-byte body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, srv, _, _ := memPair(t, 0)
			from, to := srv, cli
			if tc.toServer {
				from, to = cli, srv
			}
			require.NoError(t, from.sendRecord(tc.typ, tc.body))
			_, err := to.Recv()
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestBadFrames(t *testing.T) {
	_, srv, c2s, _ := memPair(t, 1000)
	c2s.Write(frame.AppendHeader(nil, 1001))
	_, err := srv.Recv()
	require.ErrorIs(t, err, frame.ErrTooLarge)
	assert.Contains(t, err.Error(), "session: from the client: frame too large: 1001 bytes, limit 1000")

	_, srv, c2s, _ = memPair(t, 0)
	c2s.Write([]byte{0, 0, 0, 0})
	_, err = srv.Recv()
	require.ErrorIs(t, err, frame.ErrEmpty)
}

// TestRecordLimit starts the sequence numbers near MaxRecords.
func TestRecordLimit(t *testing.T) {
	t.Run("sender", func(t *testing.T) {
		cli, srv, c2s, _ := memPair(t, 0)
		cli.sealer.seq, srv.opener.seq = MaxRecords-3, MaxRecords-3
		require.NoError(t, cli.Send([]byte("third to last")))
		require.Len(t, frames(t, c2s.buf), 1)
		require.NoError(t, cli.Send([]byte("last DATA")), "the last DATA is delivered")
		require.Len(t, frames(t, c2s.buf), 3, "with CLOSE after it")
		assert.Equal(t, uint64(MaxRecords), cli.sealer.Seq())
		err := cli.Send([]byte("one too many"))
		require.ErrorIs(t, err, ErrRecordLimit)
		require.ErrorIs(t, err, ErrClosed)
		assert.Contains(t, err.Error(), fmt.Sprintf("CLOSE was sent after %d records", MaxRecords-1))
		require.NoError(t, cli.CloseWrite(), "CLOSE was already sent")
		require.Len(t, frames(t, c2s.buf), 3)

		got, err := recvAll(srv)
		require.Equal(t, io.EOF, err)
		require.Len(t, got, 2)
		assert.Equal(t, "last DATA", string(got[1]))
	})
	t.Run("receiver: DATA in the last slot", func(t *testing.T) {
		cli, srv, _, _ := memPair(t, 0)
		cli.sealer.seq, srv.opener.seq = MaxRecords-1, MaxRecords-1
		require.NoError(t, cli.sendRecord(RecordData, []byte("x")))
		_, err := srv.Recv()
		require.ErrorIs(t, err, ErrRecordLimit)
		assert.Contains(t, err.Error(), "the last record of a direction must be CLOSE")
	})
	t.Run("receiver: CLOSE in the last slot", func(t *testing.T) {
		cli, srv, _, _ := memPair(t, 0)
		cli.sealer.seq, srv.opener.seq = MaxRecords-1, MaxRecords-1
		require.NoError(t, cli.CloseWrite())
		_, err := srv.Recv()
		require.Equal(t, io.EOF, err)
	})
	t.Run("receiver: past the limit", func(t *testing.T) {
		cli, srv, _, _ := memPair(t, 0)
		cli.sealer.seq, srv.opener.seq = MaxRecords, MaxRecords
		require.NoError(t, cli.sendRecord(RecordClose, nil))
		_, err := srv.Recv()
		require.ErrorIs(t, err, ErrRecordLimit)
	})
	t.Run("server counts FINISHED", func(t *testing.T) {
		sc, cc := defaultConfigs(t, kem.MLKEM768)
		srv, cli, _, _ := handshake(t, sc, cc, "pipe")
		assert.Equal(t, uint64(1), srv.sealer.Seq())
		assert.Equal(t, uint64(1), cli.opener.Seq())
		assert.Equal(t, uint64(0), cli.sealer.Seq())
	})
}

// TestConcurrentSendRecv: both sides send and receive at once, with several
// goroutines sending on each side, over TCP, under -race.
func TestConcurrentSendRecv(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli, _, _ := handshake(t, sc, cc, "tcp")
	const senders, perSender = 4, 200
	run := func(c *Conn, tag string) (sent chan error, got chan map[string]int) {
		sent, got = make(chan error, 1), make(chan map[string]int, 1)
		go func() {
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			for s := range senders {
				wg.Go(func() {
					for i := range perSender {
						if err := c.Send(fmt.Appendf(nil, "%s %d %d %s", tag, s, i, bytes.Repeat([]byte("x"), i*37))); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				sent <- err
				return
			}
			sent <- c.CloseWrite()
		}()
		go func() {
			seen := map[string]int{}
			for {
				b, err := c.Recv()
				if err != nil {
					if err != io.EOF {
						seen["error: "+err.Error()]++
					}
					got <- seen
					return
				}
				var from string
				var s, i int
				fmt.Sscanf(string(b), "%s %d %d", &from, &s, &i)
				if len(b) != len(fmt.Sprintf("%s %d %d ", from, s, i))+i*37 {
					seen["bad length"]++
				}
				seen[fmt.Sprintf("%s %d", from, s)]++
			}
		}()
		return sent, got
	}
	cSent, cGot := run(cli, "client")
	sSent, sGot := run(srv, "server")
	require.NoError(t, <-cSent)
	require.NoError(t, <-sSent)
	want := func(tag string) map[string]int {
		m := map[string]int{}
		for s := range senders {
			m[fmt.Sprintf("%s %d", tag, s)] = perSender
		}
		return m
	}
	assert.Equal(t, want("client"), <-sGot)
	assert.Equal(t, want("server"), <-cGot)
}

// TestSteadyStateAllocs: Send and Recv allocate nothing once warm.
func TestSteadyStateAllocs(t *testing.T) {
	for _, n := range []int{0, 64, 1 << 10, retainBufSize, 64 << 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if n+frame.HeaderSize+RecordOverhead > retainBufSize && raceEnabled {
				t.Skip("sync.Pool drops items at random under the race detector")
			}
			cli, srv, _, _ := memPair(t, 0)
			msg := make([]byte, n)
			for range 3 {
				require.NoError(t, cli.Send(msg))
				_, err := srv.Recv()
				require.NoError(t, err)
			}
			var sendErr, recvErr error
			allocs := testing.AllocsPerRun(200, func() {
				if err := cli.Send(msg); err != nil {
					sendErr = err
				}
				if _, err := srv.Recv(); err != nil {
					recvErr = err
				}
			})
			require.NoError(t, sendErr)
			require.NoError(t, recvErr)
			assert.Zero(t, allocs, "allocations per Send+Recv of %d bytes", n)
		})
	}
}

// TestBuffersReleased: after a large record, neither direction keeps a
// large buffer, and the retained ones stay within retainBufSize.
func TestBuffersReleased(t *testing.T) {
	cli, srv, _, _ := memPair(t, 0)
	big := bytes.Repeat([]byte{0x5A}, 200<<10)
	require.NoError(t, cli.Send(big))
	assert.Nil(t, cli.sendBuf.big, "the send buffer went back to the pool")
	got, err := srv.Recv()
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got))
	require.NotNil(t, srv.rd.buf.big, "the body lives until the next Recv")
	held := srv.rd.buf.big

	require.NoError(t, cli.Send([]byte("small")))
	_, err = srv.Recv()
	require.NoError(t, err)
	assert.Nil(t, srv.rd.buf.big, "the large receive buffer went back to the pool")
	assert.Equal(t, make([]byte, len(big)+RecordOverhead), (*held)[:len(big)+RecordOverhead], "and was wiped first")
	assert.LessOrEqual(t, cap(srv.rd.buf.small), retainBufSize)
	assert.LessOrEqual(t, cap(cli.sendBuf.small), retainBufSize)
	assert.Equal(t, minBufSize, cap(cli.sendBuf.small), "sized to the records seen")
}

// TestGrowAsBytesArrive: without a pooled buffer, a large frame is read into
// a buffer that grows with the bytes, so a peer that announces 1 MiB and
// sends 10 bytes does not make the reader reserve 1 MiB.
func TestGrowAsBytesArrive(t *testing.T) {
	rd := recordReader{r: bytes.NewReader(make([]byte, 10)), max: 1 << 20}
	var ms1, ms2 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	_, err := rd.grow(1 << 20)
	runtime.ReadMemStats(&ms2)
	require.ErrorIs(t, err, frame.ErrTruncated)
	assert.Contains(t, err.Error(), "got 10 of 1048576 payload bytes")
	assert.Less(t, ms2.TotalAlloc-ms1.TotalAlloc, uint64(64<<10))

	// A whole frame read that way is right, and its buffer is pooled.
	msg := bytes.Repeat([]byte("0123456789"), 30000)
	rd = recordReader{r: bytes.NewReader(msg), max: 1 << 20}
	got, err := rd.grow(len(msg))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(msg, got))
	_, size := sizeClass(len(msg))
	assert.Equal(t, size, cap(*rd.buf.big))
	assert.GreaterOrEqual(t, rd.buf.class, 0)
}

// TestFrameTimeout: a begun frame must arrive whole in time; an idle
// session is not cut off.
func TestFrameTimeout(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli, srvRaw, cliRaw := handshake(t, sc, cc, "tcp")
	srvRaw.SetDeadline(time.Time{})
	srv.SetFrameTimeout(200 * time.Millisecond)

	go func() {
		time.Sleep(400 * time.Millisecond) // idle longer than the timeout
		cli.Send([]byte("after a pause"))
	}()
	got, err := srv.Recv()
	require.NoError(t, err)
	assert.Equal(t, "after a pause", string(got))

	cliRaw.Write([]byte{0, 0}) // half a header, then nothing
	start := time.Now()
	_, err = srv.Recv()
	require.ErrorIs(t, err, frame.ErrSlow)
	assert.Contains(t, err.Error(), "frame not complete 200ms after its first byte")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestIdleMemory measures what an idle session costs the server: a server
// Conn after the handshake and one line, with its end of a net.Pipe. The
// target for the whole server is 64 KiB per idle connection; the session's
// share must stay far below it.
func TestIdleMemory(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory accounting is skewed by the race detector")
	}
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	const n = 100
	conns := make([]*Conn, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		srv, cli, _, _ := handshake(t, sc, cc, "pipe")
		done := make(chan error)
		go func() {
			_, err := srv.Recv()
			done <- err
		}()
		require.NoError(t, cli.Send([]byte("hello")))
		require.NoError(t, <-done)
		conns = append(conns, srv)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("heap per idle server session (Conn, AEADs, buffers, net.Pipe; the peer's pipe end too): %d bytes", perConn)
	assert.Less(t, perConn, int64(16<<10))
	for _, c := range conns {
		assert.Nil(t, c.rd.buf.big)
		assert.LessOrEqual(t, cap(c.rd.buf.small), minBufSize)
		assert.LessOrEqual(t, cap(c.sendBuf.small), minBufSize)
	}
	runtime.KeepAlive(conns)
}

func TestLoopbackHelper(t *testing.T) {
	var l loopback
	l.Write([]byte("abc"))
	b := make([]byte, 2)
	n, err := l.Read(b)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, _ = l.Read(b)
	assert.Equal(t, 1, n)
	_, err = l.Read(b)
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, uint32(3), binary.BigEndian.Uint32(frame.AppendHeader(nil, 3)))
}
