package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
)

// recordReader reads record frames (frame's wire format and errors) into a
// recordBuf. It reads exactly one frame per call, with no read-ahead. Like
// frame.Reader, it refuses a zero length or one over max before it reserves
// anything, and, unless a pooled buffer is at hand, it reserves memory as
// the bytes arrive, so a peer that announces a large frame and sends little
// of it makes it hold little. With a frame timeout it gives a begun frame
// that long to arrive whole (frame.Reader.SetFrameTimeout).
type recordReader struct {
	r       io.Reader
	max     int
	timeout time.Duration
	hdr     [frame.HeaderSize]byte
	buf     recordBuf
}

// growChunk is how far ahead of the bytes that have arrived the reader
// reserves memory when it has no pooled buffer for a large frame.
const growChunk = 32 << 10

// next reads one frame and returns its payload, valid until the next call.
// At a clean end of the stream it returns io.EOF; inside a frame, an error
// wrapping frame.ErrTruncated; past the timeout, frame.ErrSlow.
func (rr *recordReader) next() ([]byte, error) {
	rr.buf.release()
	if rr.timeout <= 0 {
		return rr.read(0)
	}
	if _, err := io.ReadFull(rr.r, rr.hdr[:1]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return nil, err
	}
	d := rr.r.(frame.ReadDeadliner)
	if err := d.SetReadDeadline(time.Now().Add(rr.timeout)); err != nil {
		return nil, err
	}
	p, err := rr.read(1)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: frame not complete %v after its first byte", frame.ErrSlow, rr.timeout)
	}
	if err2 := d.SetReadDeadline(time.Time{}); err == nil && err2 != nil {
		err = err2
	}
	return p, err
}

// read reads the rest of a frame whose first have header bytes are in hdr.
func (rr *recordReader) read(have int) ([]byte, error) {
	if got, err := io.ReadFull(rr.r, rr.hdr[have:]); err != nil {
		got += have
		if err == io.EOF && got == 0 {
			return nil, io.EOF
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w (got %d of %d header bytes)", frame.ErrTruncated, got, frame.HeaderSize)
		}
		return nil, err
	}
	n := uint64(binary.BigEndian.Uint32(rr.hdr[:]))
	if n == 0 {
		return nil, frame.ErrEmpty
	}
	if n > uint64(rr.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", frame.ErrTooLarge, n, rr.max)
	}
	var p []byte
	if n <= retainBufSize {
		p = rr.buf.getSmall(int(n))
	} else if p = rr.buf.tryPooled(int(n)); p == nil {
		return rr.grow(int(n))
	}
	if got, err := io.ReadFull(rr.r, p); err != nil {
		return nil, payloadErr(err, got, int(n))
	}
	return p, nil
}

// grow reads an n-byte payload into a buffer that grows as bytes arrive, up
// to the size class of n, and hands it to the pool on release.
func (rr *recordReader) grow(n int) ([]byte, error) {
	_, size := sizeClass(n)
	size = max(size, n)
	var buf []byte
	for len(buf) < n {
		if len(buf) == cap(buf) {
			next := make([]byte, len(buf), min(size, max(2*cap(buf), growChunk)))
			copy(next, buf)
			buf = next
		}
		m := min(n, cap(buf))
		got, err := io.ReadFull(rr.r, buf[len(buf):m])
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, payloadErr(err, len(buf), n)
		}
	}
	rr.buf.adopt(buf, n)
	return buf, nil
}

func payloadErr(err error, got, n int) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w (got %d of %d payload bytes)", frame.ErrTruncated, got, n)
	}
	return err
}
