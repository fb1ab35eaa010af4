package session

import (
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
)

// chunkConn is a memConn whose reads return its chunks one per Read, the
// last one together with io.EOF (as an io.Reader may).
type chunkConn struct {
	memConn
	chunks [][]byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if n < len(c.chunks[0]) {
		c.chunks[0] = c.chunks[0][n:]
		return n, nil
	}
	c.chunks = c.chunks[1:]
	if len(c.chunks) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// TestRecordReaderTruncation: a stream that ends inside a frame says where,
// counting from the frame's start, also after frames already read from the
// same buffer, and also when the last bytes come with io.EOF.
//
// Equivalent mutants (the bytes read are the same; only the buffers' sizes and when they grow or shrink differ):
// reader.go:75 `r.end == len(r.buf)` to `!=`; reader.go:116 `k <= len(r.buf)` to `<`; reader.go:127 `2*len(r.buf)` to `/`;
// reader.go:135 `2*len(r.buf)` to `/` and `have+growChunk` to `-`; reader.go:158 `have > retainBufSize` to `>=`; reader.go:161 `cap(r.small) < have` to `<=`.
func TestRecordReaderTruncation(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail func(rec []byte) []byte // what follows a whole DATA record
		want string
	}{
		{"header cut after a record", func([]byte) []byte { return []byte{0, 0} }, "got 2 of 4 header bytes"},
		{"payload cut after a record", func([]byte) []byte { return append(frame.AppendHeader(nil, 40), 1, 2, 3) }, "got 3 of 40 payload bytes"},
		{"a whole header, then the end", func(rec []byte) []byte { return rec[:frame.HeaderSize] }, "got 0 of 22 payload bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, srv, _, _ := memPair(t, 0)
			rec := appendRecord(nil, &cli.out.sealer, wire.RecordData, []byte("hello"))
			require.Len(t, rec, frame.HeaderSize+22)
			next := appendRecord(nil, &cli.out.sealer, wire.RecordData, []byte("world"))
			srv.conn = &chunkConn{chunks: [][]byte{rec, tc.tail(next)}}
			buf := make([]byte, 10)
			n, err := srv.Read(buf)
			require.NoError(t, err)
			require.Equal(t, "hello", string(buf[:n]))
			_, err = srv.Read(buf)
			require.ErrorIs(t, err, frame.ErrTruncated)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestLargeRecordsFromAnotherProcess: a receiver of large records whose
// sender is in another process (so that no Write of this process feeds the
// buffer pool) allocates nothing per record once the first has arrived, with
// the records coming in pieces as TCP delivers them. It allocated a buffer
// per record when the reader grew one as the bytes arrived and the grown
// buffer was not of a pooled size (records of 32 KiB, what io.Copy writes,
// halved bulk throughput).
func TestLargeRecordsFromAnotherProcess(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector: make test runs this without -race too")
	}
	for _, n := range []int{32 << 10, 64 << 10, readFromChunk} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			cli, srv, _, _ := memPair(t, 0)
			const records = 3 + 1 + 50 // warm-up, AllocsPerRun's own first run, the runs
			msg := randomBytes(n)
			var stream []byte
			for range records {
				stream = appendRecord(stream, &cli.out.sealer, wire.RecordData, msg)
			}
			var chunks [][]byte
			for len(stream) > 0 {
				k := min(len(stream), 16<<10) // as a loopback TCP read returns them
				chunks, stream = append(chunks, stream[:k]), stream[k:]
			}
			srv.conn = &chunkConn{chunks: chunks}
			for getPooled(n+frame.HeaderSize+wire.RecordOverhead) != nil { // as in a process that never wrote one
			}
			got := make([]byte, n)
			for range 3 {
				_, err := io.ReadFull(srv, got)
				require.NoError(t, err)
				require.Equal(t, msg, got)
			}
			var rerr error
			allocs := testing.AllocsPerRun(50, func() {
				if _, err := io.ReadFull(srv, got); err != nil {
					rerr = err
				}
			})
			require.NoError(t, rerr)
			assert.Zero(t, allocs, "allocations per %d-byte record read", n)
		})
	}
}
