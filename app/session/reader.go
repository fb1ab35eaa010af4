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
// recordBuf. Like frame.Reader, it refuses a zero length or one over max
// before it reserves anything, and, unless a pooled buffer is at hand, it
// reserves memory for a large frame as the bytes arrive, so a peer that
// announces a large frame and sends little of it makes it hold little. With
// a frame timeout it gives a begun frame that long to arrive whole
// (frame.Reader.SetFrameTimeout).
//
// It reads ahead into the retained small buffer: one read takes whatever
// has arrived, up to the buffer's size, so a small record usually costs one
// read call, and a burst of small records fewer reads than records. The
// buffer starts at minBufSize, holds at most retainBufSize, and grows only
// while reads keep filling it. A large frame's payload is read into its own
// buffer; when that buffer comes from the pool, the read also takes what has
// arrived of the next frames into its spare room (at most retainBufSize),
// and moves it to the small buffer. When a frame arrives whole in one
// read, the frame timeout costs nothing: the read deadline is set only when
// the reader must wait for the rest of a begun frame.
type recordReader struct {
	r       io.Reader
	max     int
	timeout time.Duration
	buf     recordBuf
	// buf.small[pos:end] are bytes read and not yet consumed: the start of
	// the next frames.
	pos, end int
	// filled records that the last read filled the read-ahead buffer: the
	// peer is sending faster than we read, so the buffer may grow.
	filled bool
	// deadline records that a read deadline is set and must be cleared.
	deadline bool
}

// growChunk is how far ahead of the bytes that have arrived the reader
// reserves memory when it has no pooled buffer for a large frame.
const growChunk = 32 << 10

// next reads one frame and returns its payload, valid until the next call.
// At a clean end of the stream it returns io.EOF; inside a frame, an error
// wrapping frame.ErrTruncated; past the timeout, frame.ErrSlow.
func (rr *recordReader) next() (p []byte, err error) {
	rr.buf.release()
	if rr.buf.small == nil { // dropped, or never used
		rr.pos, rr.end = 0, 0
	}
	p, err = rr.frame()
	if !rr.deadline {
		return p, err
	}
	// The frame timeout ran: it explains a deadline error, and the
	// deadline must not outlive the frame.
	rr.deadline = false
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: frame not complete %v after its first byte", frame.ErrSlow, rr.timeout)
	}
	if err2 := rr.r.(frame.ReadDeadliner).SetReadDeadline(time.Time{}); err == nil && err2 != nil {
		return nil, err2
	}
	return p, err
}

// frame reads the next frame; next clears the deadline it may set.
func (rr *recordReader) frame() ([]byte, error) {
	if rr.end == rr.pos {
		// Wait, with no deadline, for the first bytes of a frame.
		rr.room(frame.HeaderSize)
		if err := rr.fill(1); err != nil {
			if err == io.ErrUnexpectedEOF {
				return nil, io.EOF
			}
			return nil, err
		}
	}
	if rr.end-rr.pos < frame.HeaderSize {
		rr.room(frame.HeaderSize)
		if err := rr.fillBegun(frame.HeaderSize); err != nil {
			if err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("%w (got %d of %d header bytes)", frame.ErrTruncated, rr.end-rr.pos, frame.HeaderSize)
			}
			return nil, err
		}
	}
	n := uint64(binary.BigEndian.Uint32(rr.buf.small[rr.pos:]))
	if n == 0 {
		return nil, frame.ErrEmpty
	}
	if n > uint64(rr.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", frame.ErrTooLarge, n, rr.max)
	}
	if total := frame.HeaderSize + int(n); total <= retainBufSize {
		rr.room(total)
		if err := rr.fillBegun(total); err != nil {
			return nil, payloadErr(err, rr.end-rr.pos-frame.HeaderSize, int(n))
		}
		p := rr.buf.small[rr.pos+frame.HeaderSize : rr.pos+total]
		rr.pos += total
		return p, nil
	}
	// A large frame: the bytes read ahead are all its own (they fit in
	// the small buffer, the frame does not). Its payload goes to a pooled
	// buffer, or one that grows as the bytes arrive.
	rr.pos += frame.HeaderSize
	p := rr.buf.tryPooled(int(n))
	if p == nil {
		return rr.grow(int(n))
	}
	have := copy(p, rr.buf.small[rr.pos:rr.end])
	rr.pos, rr.end = 0, 0
	if err := rr.begin(); err != nil {
		return nil, err
	}
	// Read the rest and, into the pooled buffer's spare room, whatever of
	// the next frames has arrived too (at most what the small buffer
	// holds), so that the next frame usually needs no read of its own.
	space := (*rr.buf.big)[:min(cap(*rr.buf.big), int(n)+retainBufSize)]
	got, err := io.ReadAtLeast(rr.r, space[have:], int(n)-have)
	if err != nil {
		return nil, payloadErr(err, have+got, int(n))
	}
	if extra := space[int(n) : have+got]; len(extra) > 0 {
		rr.stash(extra)
	}
	return p, nil
}

// stash makes b, read past the end of a large frame, the unread bytes of
// the small buffer, which is empty.
func (rr *recordReader) stash(b []byte) {
	if cap(rr.buf.small) < len(b) {
		if rr.buf.wipe {
			clear(rr.buf.small)
		}
		rr.buf.small = make([]byte, smallSize(len(b)))
	}
	rr.buf.small = rr.buf.small[:cap(rr.buf.small)]
	rr.pos, rr.end = 0, copy(rr.buf.small, b)
}

// room makes the small buffer able to hold need bytes from pos: it moves
// the unread bytes to its start and, if the buffer is still too small or
// reads keep filling it, gives it a larger one (at most retainBufSize).
func (rr *recordReader) room(need int) {
	b := &rr.buf
	size := cap(b.small)
	if rr.filled {
		size = min(retainBufSize, 2*size)
	}
	size = max(size, smallSize(need))
	if size > cap(b.small) {
		next := make([]byte, size)
		copy(next, b.small[rr.pos:rr.end])
		if b.wipe {
			clear(b.small)
		}
		b.small = next
		rr.end -= rr.pos
		rr.pos = 0
		return
	}
	b.small = b.small[:cap(b.small)]
	if rr.pos+need > cap(b.small) || rr.pos == rr.end {
		rr.end = copy(b.small, b.small[rr.pos:rr.end])
		rr.pos = 0
	}
}

// fill reads until at least need bytes are unread. room must have made
// space for them. A stream that ends first gives io.ErrUnexpectedEOF.
func (rr *recordReader) fill(need int) error {
	for rr.end-rr.pos < need {
		space := rr.buf.small[rr.end:cap(rr.buf.small)]
		m, err := rr.r.Read(space)
		rr.end += m
		rr.filled = m == len(space)
		if rr.end-rr.pos >= need {
			return nil
		}
		switch {
		case err == io.EOF:
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		case m == 0:
			// A Reader that returns nothing and no error: try again, as
			// io.ReadFull does.
		}
	}
	return nil
}

// fillBegun is fill for a frame that has begun: under the frame timeout.
func (rr *recordReader) fillBegun(need int) error {
	if rr.end-rr.pos >= need {
		return nil
	}
	if err := rr.begin(); err != nil {
		return err
	}
	return rr.fill(need)
}

// begin starts the frame timeout, if there is one and it is not running:
// the reader is about to wait for the rest of a begun frame.
func (rr *recordReader) begin() error {
	if rr.timeout <= 0 || rr.deadline {
		return nil
	}
	if err := rr.r.(frame.ReadDeadliner).SetReadDeadline(time.Now().Add(rr.timeout)); err != nil {
		return err
	}
	rr.deadline = true
	return nil
}

// grow reads an n-byte payload into a buffer that grows as bytes arrive, up
// to the size class of n, and hands it to the pool on release. It starts
// with the bytes read ahead, all of which are the payload's.
func (rr *recordReader) grow(n int) ([]byte, error) {
	_, size := sizeClass(n)
	size = max(size, n)
	ahead := rr.buf.small[rr.pos:rr.end]
	buf := make([]byte, len(ahead), min(size, max(len(ahead), growChunk)))
	copy(buf, ahead)
	rr.pos, rr.end = 0, 0
	if err := rr.begin(); err != nil {
		return nil, err
	}
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
