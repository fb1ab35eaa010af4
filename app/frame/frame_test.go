package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	payloads := [][]byte{{1}, bytes.Repeat([]byte{2}, 300), bytes.Repeat([]byte{3}, 70000), {4, 5}}
	for _, p := range payloads {
		require.NoError(t, Write(&buf, p))
	}
	require.Equal(t, []byte{0, 0, 0, 1, 1}, buf.Bytes()[:5])
	r := NewReader(&buf, 0)
	for _, p := range payloads {
		got, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	_, err := r.Next()
	require.Equal(t, io.EOF, err)
}

func TestAppend(t *testing.T) {
	assert.Equal(t, []byte{9, 0, 0, 0, 2, 7, 8}, Append([]byte{9}, []byte{7, 8}))
	assert.Equal(t, []byte{0, 1, 0, 0}, AppendHeader(nil, 65536))
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		max   int
		want  error
	}{
		{"empty frame", header(0), 0, ErrEmpty},
		{"over max", header(11), 10, ErrTooLarge},
		{"over default max", header(DefaultMaxSize + 1), 0, ErrTooLarge},
		{"max uint32", header(0xffffffff), 0, ErrTooLarge},
		{"cut in header 1", []byte{0}, 0, ErrTruncated},
		{"cut in header 3", []byte{0, 0, 0}, 0, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.input), tt.max)
			_, err := r.Next()
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, r.buf, "no buffer may be allocated for a refused frame")
		})
	}
}

func TestTruncatedPayload(t *testing.T) {
	for _, tt := range []struct {
		name     string
		declared uint32
		sent     int
	}{
		{"no payload", 10, 0},
		{"cut in payload", 10, 3},
		{"large declared, little sent", DefaultMaxSize, 10},
		{"large declared, 100 KiB sent", DefaultMaxSize, 100 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(append(header(tt.declared), make([]byte, tt.sent)...)), 0)
			_, err := r.Next()
			require.ErrorIs(t, err, ErrTruncated)
			require.Contains(t, err.Error(), fmt.Sprintf("got %d of %d payload bytes", tt.sent, tt.declared))
			// Memory follows what arrived, not what was announced.
			require.LessOrEqual(t, cap(r.buf), max(2*tt.sent, growChunk))
		})
	}
}

func TestExactlyMax(t *testing.T) {
	r := NewReader(bytes.NewReader(append(header(10), make([]byte, 10)...)), 10)
	p, err := r.Next()
	require.NoError(t, err)
	require.Len(t, p, 10)
}

func TestWriteRefusesEmpty(t *testing.T) {
	require.ErrorIs(t, Write(io.Discard, nil), ErrEmpty)
}

func TestNoAllocSteadyState(t *testing.T) {
	frame := Append(nil, make([]byte, 1000))
	rd := bytes.NewReader(nil)
	r := NewReader(rd, 0)
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(frame)
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func TestFrameTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	r := NewReader(a, 0)
	r.SetFrameTimeout(100 * time.Millisecond)

	// Idle before a frame is not cut off.
	go func() {
		time.Sleep(300 * time.Millisecond)
		b.Write(Append(nil, []byte("hello")))
		// Then a frame that starts and never finishes.
		b.Write([]byte{0, 0})
	}()
	p, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "hello", string(p))

	start := time.Now()
	_, err = r.Next()
	require.ErrorIs(t, err, ErrSlow)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestFrameTimeoutCleanEOF(t *testing.T) {
	a, b := net.Pipe()
	r := NewReader(a, 0)
	r.SetFrameTimeout(time.Second)
	go func() {
		b.Write(Append(nil, []byte("x")))
		b.Close()
	}()
	_, err := r.Next()
	require.NoError(t, err)
	_, err = r.Next()
	require.True(t, errors.Is(err, io.EOF), "got %v", err)
}

// closingConn is a ReadDeadliner over a byte stream whose SetReadDeadline
// fails once every byte has been read, as a net.Pipe's does once its peer
// has written its last frame and closed.
type closingConn struct {
	r         *bytes.Reader
	deadlines int // successful SetReadDeadline calls
}

func (c *closingConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *closingConn) SetReadDeadline(time.Time) error {
	if c.r.Len() == 0 {
		return io.ErrClosedPipe
	}
	c.deadlines++
	return nil
}

// A frame read whole is returned even though clearing the deadline after it
// fails because the peer has closed; the next Next is a clean io.EOF.
func TestFrameTimeoutDeadlineFailsAfterPeerClose(t *testing.T) {
	var stream []byte
	stream = Append(stream, []byte("first"))
	stream = Append(stream, []byte("last"))
	c := &closingConn{r: bytes.NewReader(stream)}
	r := NewReader(c, 0)
	r.SetFrameTimeout(time.Second)

	p, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "first", string(p))
	p, err = r.Next()
	require.NoError(t, err, "the frame arrived whole before the peer closed")
	require.Equal(t, "last", string(p))
	_, err = r.Next()
	require.Equal(t, io.EOF, err)
	require.Equal(t, 3, c.deadlines, "set and clear for the first frame, set for the last")
}

// flakyDeadlineConn is a ReadDeadliner whose SetReadDeadline fails the
// first time it is asked to clear the deadline, and that records the
// deadline in force at each Read.
type flakyDeadlineConn struct {
	r         *bytes.Reader
	deadline  time.Time
	failed    bool
	deadlines []time.Time // the deadline in force at each Read
}

func (c *flakyDeadlineConn) Read(p []byte) (int, error) {
	c.deadlines = append(c.deadlines, c.deadline)
	return c.r.Read(p)
}

func (c *flakyDeadlineConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() && !c.failed {
		c.failed = true
		return errors.New("transient failure")
	}
	c.deadline = t
	return nil
}

// A deadline that could not be cleared after a frame is cleared before the
// next frame's wait for its first byte, which must have no deadline.
func TestFrameTimeoutStaleDeadlineCleared(t *testing.T) {
	c := &flakyDeadlineConn{r: bytes.NewReader(Append(Append(nil, []byte("a")), []byte("b")))}
	r := NewReader(c, 0)
	r.SetFrameTimeout(time.Minute)
	for _, want := range []string{"a", "b"} {
		p, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, want, string(p))
	}
	require.True(t, c.failed)
	// Reads per frame: the first byte, the rest of the header, the payload.
	require.Len(t, c.deadlines, 6)
	require.True(t, c.deadlines[0].IsZero())
	require.True(t, c.deadlines[3].IsZero(), "the second frame's first byte is awaited without the first frame's deadline")
	require.False(t, c.deadlines[4].IsZero())
	require.True(t, c.deadline.IsZero(), "no deadline left after the last frame")
}
