// Package frame reads and writes the length-prefixed frames that both of
// kemtcp's wire protocols use:
//
//	len (u32, big-endian) || payload (len bytes)
//
// A Reader refuses a zero length and a length over its maximum before it
// allocates anything, so a peer cannot make it reserve memory it did not
// send. Its buffer grows to the largest frame it has read and is reused, so
// reading frames does not allocate in the steady state.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

const (
	// HeaderSize is the size of the length prefix.
	HeaderSize = 4
	// DefaultMaxSize is the default limit on a payload's length (1 MiB).
	DefaultMaxSize = 1 << 20
	// MaxSize is the largest length the header can express.
	MaxSize = math.MaxUint32
)

var (
	// ErrEmpty is returned for a frame whose length is zero.
	ErrEmpty = errors.New("zero-length frame")
	// ErrTooLarge is returned for a frame longer than the reader's maximum.
	ErrTooLarge = errors.New("frame too large")
	// ErrTruncated is returned when the stream ends inside a frame.
	ErrTruncated = errors.New("connection closed in the middle of a frame")
	// ErrSlow is returned when a frame does not arrive whole within the
	// reader's frame timeout.
	ErrSlow = errors.New("peer too slow")
)

// Reader reads frames from an io.Reader.
type Reader struct {
	r       io.Reader
	max     int
	timeout time.Duration
	hdr     [HeaderSize]byte
	buf     []byte
	// stale is set when clearing the read deadline after a frame failed:
	// the next frame clears it again before waiting.
	stale bool
}

// ReadDeadliner is implemented by net.Conn.
type ReadDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// SetFrameTimeout makes every frame that has begun arrive whole within d of
// its first byte; waiting for the first byte of a frame stays unbounded. This
// cuts off a peer that dribbles a frame byte by byte without limiting how
// long a connection may sit idle between frames. It takes effect only when
// the underlying reader is a ReadDeadliner (a net.Conn); d <= 0 turns it off.
// The reader then owns the read deadline: it clears it after each frame.
func (r *Reader) SetFrameTimeout(d time.Duration) {
	if _, ok := r.r.(ReadDeadliner); ok {
		r.timeout = d
	}
}

// NewReader returns a Reader that refuses payloads longer than max bytes
// (DefaultMaxSize if max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxSize
	}
	return &Reader{r: r, max: max}
}

// Max returns the reader's limit on a payload's length.
func (r *Reader) Max() int { return r.max }

// Next reads one frame and returns its payload. The payload is only valid
// until the next call. At a clean end of the stream (no byte of a new frame
// read) it returns io.EOF; a stream that ends inside a frame gives an error
// wrapping ErrTruncated.
func (r *Reader) Next() ([]byte, error) {
	if r.timeout > 0 {
		return r.nextWithTimeout()
	}
	return r.next(0)
}

func (r *Reader) nextWithTimeout() ([]byte, error) {
	d := r.r.(ReadDeadliner)
	if r.stale {
		// A failure here is left to the read below, which reports the
		// state of the connection (io.EOF after a clean close).
		r.stale = d.SetReadDeadline(time.Time{}) != nil
	}
	// Wait for the first byte with no deadline, then give the rest of the
	// frame r.timeout.
	if n, err := io.ReadFull(r.r, r.hdr[:1]); err != nil {
		if err == io.EOF || n == 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	if err := d.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
		return nil, fmt.Errorf("setting the frame's read deadline: %w", err)
	}
	p, err := r.next(1)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: frame not complete %v after its first byte", ErrSlow, r.timeout)
	}
	// Clearing the deadline fails only on a connection that is closed
	// (net.ErrClosed; a net.Pipe also once its peer has closed). That is no
	// error of a frame already read whole: return it, and clear the
	// deadline again before the next frame, whose read then reports the
	// connection's state itself.
	r.stale = d.SetReadDeadline(time.Time{}) != nil
	return p, err
}

// next reads the rest of a frame whose first have header bytes are already
// in r.hdr.
func (r *Reader) next(have int) ([]byte, error) {
	if n, err := io.ReadFull(r.r, r.hdr[have:]); err != nil {
		n += have
		if err == io.EOF && n == 0 {
			return nil, io.EOF
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w (got %d of %d header bytes)", ErrTruncated, n, HeaderSize)
		}
		return nil, err
	}
	n := uint64(binary.BigEndian.Uint32(r.hdr[:]))
	if n == 0 {
		return nil, ErrEmpty
	}
	if n > uint64(r.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, r.max)
	}
	if cap(r.buf) >= int(n) {
		p := r.buf[:n]
		if got, err := io.ReadFull(r.r, p); err != nil {
			return nil, payloadErr(err, got, int(n))
		}
		return p, nil
	}
	return r.grow(int(n))
}

// growChunk is how much a Reader allocates ahead of the bytes that have
// actually arrived, so that a peer that announces a large frame and sends
// little of it makes the reader hold little memory.
const growChunk = 32 << 10

// grow reads an n-byte payload into a buffer that grows as bytes arrive.
func (r *Reader) grow(n int) ([]byte, error) {
	buf := r.buf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			want := min(n, max(2*cap(buf), growChunk))
			buf = append(buf[:cap(buf)], make([]byte, want-cap(buf))...)[:len(buf)]
		}
		m := min(n, cap(buf))
		got, err := io.ReadFull(r.r, buf[len(buf):m])
		buf = buf[:len(buf)+got]
		if err != nil {
			r.buf = buf[:0]
			return nil, payloadErr(err, len(buf), n)
		}
	}
	r.buf = buf
	return buf, nil
}

func payloadErr(err error, got, n int) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w (got %d of %d payload bytes)", ErrTruncated, got, n)
	}
	return err
}

// Release drops the reader's buffer, e.g. when a connection goes idle
// after a large frame.
func (r *Reader) Release() { r.buf = nil }

// AppendHeader appends the length prefix of an n-byte payload to dst.
func AppendHeader(dst []byte, n int) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// Append appends a whole frame holding payload to dst.
func Append(dst, payload []byte) []byte {
	return append(AppendHeader(dst, len(payload)), payload...)
}

// Write writes payload as one frame, in a single Write call. It refuses an
// empty payload and one too long for the header.
func Write(w io.Writer, payload []byte) error {
	if len(payload) == 0 {
		return ErrEmpty
	}
	if uint64(len(payload)) > MaxSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), uint64(MaxSize))
	}
	_, err := w.Write(Append(make([]byte, 0, HeaderSize+len(payload)), payload))
	return err
}
