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
)

// Reader reads frames from an io.Reader.
type Reader struct {
	r   io.Reader
	max int
	hdr [HeaderSize]byte
	buf []byte
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
	if n, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
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
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if got, err := io.ReadFull(r.r, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w (got %d of %d payload bytes)", ErrTruncated, got, n)
		}
		return nil, err
	}
	return p, nil
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
