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

// Equivalent mutant, frame.go:146 `cap(r.buf) >= int(n)` to `>`: a buffer of exactly n bytes then goes through grow, which reads into the same buffer.
func TestExactlyMax(t *testing.T) {
	r := NewReader(bytes.NewReader(append(header(10), make([]byte, 10)...)), 10)
	p, err := r.Next()
	require.NoError(t, err)
	require.Len(t, p, 10)
}

// Living mutant, not equivalent: frame.go:208 `> MaxSize` to `>=` refuses a payload of exactly 4 GiB - 1; a test would write 8 GiB (35 s here).
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

// errConn is a ReadDeadliner whose reads fail with err before any byte.
type errConn struct{ err error }

func (c errConn) Read([]byte) (int, error)        { return 0, c.err }
func (c errConn) SetReadDeadline(time.Time) error { return nil }

// A read error before the first byte of a frame is the caller's to see: only
// io.EOF there is a clean end of the stream, with or without a frame timeout.
func TestReadErrorBeforeFrame(t *testing.T) {
	boom := errors.New("connection reset")
	for _, timeout := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("timeout ", timeout), func(t *testing.T) {
			r := NewReader(errConn{fmt.Errorf("read: %w", boom)}, 0)
			r.SetFrameTimeout(timeout)
			_, err := r.Next()
			require.ErrorIs(t, err, boom)
			require.NotErrorIs(t, err, io.EOF)
		})
	}
}

// With a frame timeout, the first byte is read on its own: a stream that
// ends after it, or after two or three header bytes, ends inside a frame
// (ErrTruncated, never a clean io.EOF that would lose the bytes read).
func TestFrameTimeoutCutInHeader(t *testing.T) {
	for n := 1; n < HeaderSize; n++ {
		t.Run(fmt.Sprint(n, " bytes"), func(t *testing.T) {
			r := NewReader(&scriptedConn{steps: []any{make([]byte, n)}}, 0)
			r.SetFrameTimeout(time.Minute)
			_, err := r.Next()
			require.ErrorIs(t, err, ErrTruncated)
			require.Contains(t, err.Error(), fmt.Sprintf("got %d of %d header bytes", n, HeaderSize))
		})
	}
}

// With a frame timeout, a reader that reports io.ErrUnexpectedEOF before any
// byte of a new frame (as a reader that itself reads whole records may, when
// its stream ends between them) has given no byte of a frame: a clean end,
// io.EOF, as the doc of Next says.
func TestFrameTimeoutUnexpectedEOFBeforeFrame(t *testing.T) {
	r := NewReader(errConn{fmt.Errorf("record: %w", io.ErrUnexpectedEOF)}, 0)
	r.SetFrameTimeout(time.Minute)
	_, err := r.Next()
	require.Equal(t, io.EOF, err)
}

// scriptedConn is a ReadDeadliner that plays a script: each Read takes the
// next step (bytes or an error), each clearing of the deadline fails while
// clearFails is positive, and the deadline in force at each Read is kept.
type scriptedConn struct {
	steps      []any // []byte or error
	clearFails int
	deadline   time.Time
	deadlines  []time.Time // the deadline in force at each Read
}

func (c *scriptedConn) Read(p []byte) (int, error) {
	c.deadlines = append(c.deadlines, c.deadline)
	if len(c.steps) == 0 {
		return 0, io.EOF
	}
	switch s := c.steps[0].(type) {
	case error:
		c.steps = c.steps[1:]
		return 0, s
	case []byte:
		n := copy(p, s)
		if n == len(s) {
			c.steps = c.steps[1:]
		} else {
			c.steps[0] = s[n:]
		}
		return n, nil
	}
	panic("bad step")
}

func (c *scriptedConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() && c.clearFails > 0 {
		c.clearFails--
		return errors.New("transient failure")
	}
	c.deadline = t
	return nil
}

// A deadline that could not be cleared stays to be cleared until clearing
// succeeds, even across a Next that fails before its frame: no frame's
// first byte is ever awaited under an earlier frame's deadline.
func TestFrameTimeoutStaleDeadlineRetried(t *testing.T) {
	glitch := errors.New("glitch")
	c := &scriptedConn{
		steps:      []any{Append(nil, []byte("a")), glitch, Append(nil, []byte("b"))},
		clearFails: 2, // after frame "a", and again before the glitch
	}
	r := NewReader(c, 0)
	r.SetFrameTimeout(time.Minute)
	p, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "a", string(p))
	_, err = r.Next()
	require.ErrorIs(t, err, glitch)
	p, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, "b", string(p))
	// Reads: "a" (first byte, header, payload), the glitch (under the
	// deadline that could not be cleared), "b" (first byte, header, payload).
	require.Len(t, c.deadlines, 7)
	require.True(t, c.deadlines[0].IsZero())
	require.True(t, c.deadlines[4].IsZero(), "b's first byte is awaited under a's deadline")
	require.True(t, c.deadline.IsZero(), "no deadline left after the last frame")
}
