package session

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// recordStream returns the bytes a client Conn writes for msgs (DATA
// records, then CLOSE), and a function that makes the matching server Conn
// over any reader.
func recordStream(t *testing.T, msgs [][]byte) ([]byte, func(io.Reader) *Conn) {
	t.Helper()
	kc, ks := randomKey(), randomKey()
	s := lookup(t, kem.MLKEM768, "")
	var wire bytes.Buffer
	cli, err := newConn(duplex{bytes.NewReader(nil), &wire}, s, true, bytes.Clone(kc), bytes.Clone(ks), frame.DefaultMaxSize)
	require.NoError(t, err)
	for _, m := range msgs {
		require.NoError(t, cli.Send(m))
	}
	require.NoError(t, cli.CloseWrite())
	return wire.Bytes(), func(r io.Reader) *Conn {
		var rw io.ReadWriter = duplex{r, io.Discard}
		if d, ok := r.(*deadlineReader); ok {
			rw = deadlineRW{d, io.Discard}
		}
		srv, err := newConn(rw, s, false, bytes.Clone(kc), bytes.Clone(ks), frame.DefaultMaxSize)
		require.NoError(t, err)
		return srv
	}
}

// deadlineRW is a deadlineReader with a writer: a frame.ReadDeadliner, so
// SetFrameTimeout takes effect.
type deadlineRW struct {
	*deadlineReader
	io.Writer
}

// countingReader counts Read calls.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// mixedMessages are small and large messages, so that headers and bodies
// fall anywhere relative to the read-ahead buffer.
func mixedMessages() [][]byte {
	var msgs [][]byte
	for i, n := range []int{0, 1, 64, 200, 251, 252, 300, 4000, retainBufSize - 21, retainBufSize - 20, 5000, 70000, 3, 64 << 10, 10, 1} {
		msgs = append(msgs, bytes.Repeat([]byte{byte('a' + i)}, n))
	}
	for range 40 {
		msgs = append(msgs, []byte("a short line of text"))
	}
	return msgs
}

// TestReadAhead: the reader reads ahead, so a burst of small records costs
// fewer reads than records, and records of every size come out whole and in
// order however the stream is cut.
func TestReadAhead(t *testing.T) {
	msgs := mixedMessages()
	wire, server := recordStream(t, msgs)
	for name, r := range map[string]func() io.Reader{
		"whole":       func() io.Reader { return bytes.NewReader(wire) },
		"one byte":    func() io.Reader { return iotest.OneByteReader(bytes.NewReader(wire)) },
		"half":        func() io.Reader { return iotest.HalfReader(bytes.NewReader(wire)) },
		"data at EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(wire)) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := server(r())
			got, err := recvAll(srv)
			require.ErrorIs(t, err, io.EOF)
			require.Len(t, got, len(msgs))
			for i := range msgs {
				require.True(t, bytes.Equal(msgs[i], got[i]), "message %d (%d bytes)", i, len(msgs[i]))
			}
		})
	}

	// 100 small records in one burst: far fewer reads than records.
	small := make([][]byte, 100)
	for i := range small {
		small[i] = []byte(fmt.Sprintf("line %d", i))
	}
	wire, server = recordStream(t, small)
	cr := &countingReader{r: bytes.NewReader(wire)}
	got, err := recvAll(server(cr))
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, got, len(small))
	assert.Less(t, cr.reads, 20, "reads for 101 records")
}

// TestReadAheadTruncated: a stream cut anywhere gives the precise errors,
// read-ahead or not.
func TestReadAheadTruncated(t *testing.T) {
	wire, server := recordStream(t, [][]byte{[]byte("hello"), bytes.Repeat([]byte{'x'}, 9000)})
	first := frame.HeaderSize + RecordOverhead + 5
	cases := []struct {
		cut  int
		want string
	}{
		{first + 2, "got 2 of 4 header bytes"},
		{first + 4 + 100, "got 100 of 9017 payload bytes"},
		{3, "got 3 of 4 header bytes"},
		{10, "got 6 of 22 payload bytes"},
	}
	for _, tc := range cases {
		srv := server(bytes.NewReader(wire[:tc.cut]))
		_, err := recvAll(srv)
		require.ErrorIs(t, err, ErrTruncated, "cut at %d", tc.cut)
		assert.Contains(t, err.Error(), tc.want, "cut at %d", tc.cut)
	}
}

// deadlineReader is a reader with read deadlines that records how they are
// set, and can hold back the rest of the stream after cut bytes until
// released.
type deadlineReader struct {
	data    []byte
	cut     int           // bytes available before release
	release chan struct{} // closed to make the rest available
	sets    []time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if len(d.data) == 0 {
		return 0, io.EOF
	}
	if d.cut == 0 && d.release != nil {
		timeout := time.After(time.Second)
		if len(d.sets) > 0 && !d.sets[len(d.sets)-1].IsZero() {
			select {
			case <-d.release:
			case <-timeout:
				return 0, os.ErrDeadlineExceeded
			}
		} else {
			<-d.release
		}
		d.release = nil
		d.cut = len(d.data)
	}
	n := len(p)
	if d.release != nil {
		n = min(n, d.cut)
	}
	n = copy(p, d.data[:min(n, len(d.data))])
	d.data = d.data[n:]
	d.cut -= n
	return n, nil
}

func (d *deadlineReader) SetReadDeadline(t time.Time) error {
	d.sets = append(d.sets, t)
	return nil
}

// TestFrameTimeoutOnlyWhenWaiting: with a frame timeout, a frame that has
// arrived whole costs no deadline calls; a frame that must be waited for
// sets the deadline once and clears it; a frame that never completes gives
// frame.ErrSlow.
func TestFrameTimeoutOnlyWhenWaiting(t *testing.T) {
	wire, server := recordStream(t, [][]byte{[]byte("one"), []byte("two"), []byte("three")})
	d := &deadlineReader{data: wire, cut: len(wire)}
	srv := server(d)
	srv.SetFrameTimeout(time.Minute)
	require.Positive(t, srv.rd.timeout, "the frame timeout is on")
	got, err := recvAll(srv)
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, got, 3)
	assert.Empty(t, d.sets, "no deadline for frames that arrived whole")

	// The second record arrives in two parts.
	split := frame.HeaderSize + RecordOverhead + 3 + 5 // "one", then 5 bytes of "two"
	d = &deadlineReader{data: wire, cut: split, release: make(chan struct{})}
	srv = server(d)
	srv.SetFrameTimeout(time.Minute)
	_, err = srv.Recv()
	require.NoError(t, err)
	assert.Empty(t, d.sets)
	close(d.release)
	m, err := srv.Recv()
	require.NoError(t, err)
	assert.Equal(t, "two", string(m))
	require.Len(t, d.sets, 2, "set for the rest of the frame, then cleared")
	assert.False(t, d.sets[0].IsZero())
	assert.True(t, d.sets[1].IsZero())

	// The rest never comes: ErrSlow, and the deadline is cleared.
	d = &deadlineReader{data: wire, cut: split, release: make(chan struct{})}
	srv = server(d)
	srv.SetFrameTimeout(time.Minute)
	_, err = srv.Recv()
	require.NoError(t, err)
	_, err = srv.Recv()
	require.ErrorIs(t, err, frame.ErrSlow)
	assert.False(t, errors.Is(err, ErrTruncated))
	require.Len(t, d.sets, 2)
	assert.True(t, d.sets[1].IsZero(), "the deadline does not outlive the frame")
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// errClass names the error kinds a frame stream can end with.
func errClass(err error) string {
	switch {
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, frame.ErrTruncated):
		return "truncated"
	case errors.Is(err, frame.ErrEmpty):
		return "empty"
	case errors.Is(err, frame.ErrTooLarge):
		return "too large"
	}
	return fmt.Sprintf("other: %v", err)
}

// FuzzRecordReader checks the read-ahead reader against frame.Reader, which
// reads one frame at a time with no read-ahead: for any byte stream cut into
// reads of any size, both give the same frames and end the same way.
func FuzzRecordReader(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x03abc\x00\x00\x00\x01z"), uint8(1), uint16(100))
	f.Add([]byte("\x00\x00\x00\x00"), uint8(7), uint16(100))
	f.Add([]byte("\x00\x00\x10\x01"), uint8(255), uint16(0xffff))
	f.Add(append(frame.Append(nil, bytes.Repeat([]byte{1}, 5000)), frame.Append(nil, []byte("tail"))...), uint8(200), uint16(0xffff))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, max uint16) {
		if len(data) > 1<<17 {
			return
		}
		limit := int(max) + 1
		want := frame.NewReader(bytes.NewReader(data), limit)
		rr := recordReader{r: chunkReader{bytes.NewReader(data), int(chunk) + 1}, max: limit}
		rr.buf.wipe = true
		for i := 0; ; i++ {
			wp, werr := want.Next()
			gp, gerr := rr.next()
			if werr != nil || gerr != nil {
				require.Equal(t, errClass(werr), errClass(gerr), "frame %d", i)
				return
			}
			require.True(t, bytes.Equal(wp, gp), "frame %d", i)
		}
	})
}
