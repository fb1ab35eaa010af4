package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kemtcp/kemtcp/app/frame"
)

// recordReader reads frames (package frame's wire format and errors) for a
// Conn. It refuses a zero length or one over the limit before it reserves
// anything; for a large frame it reserves memory as the bytes arrive
// (unless the pool has a buffer ready), so a peer that announces a large
// frame and sends little of it makes it hold little.
//
// It reads ahead: one read takes whatever has arrived, up to the buffer's
// size, so a small record usually costs one read call and a burst of small
// records fewer reads than records. Every error leaves it consistent: after
// a deadline error, the bytes already read are kept and the next call
// carries on where this one stopped.
//
// A frame that has begun must arrive whole within the Conn's frame timeout,
// counted from when the reader starts waiting for its rest (startFrameTimer).
type recordReader struct {
	c      *Conn
	buf    []byte  // the current buffer: small, or big; len == cap
	small  []byte  // the retained buffer, <= retainBufSize (may be nil)
	big    *[]byte // the borrowed buffer when buf is big
	pos    int     // buf[pos:end] are read and not yet consumed
	end    int
	filled bool // the last read filled buf: the peer sends faster than we read
}

// next reads one frame of at most max bytes and returns its payload, which
// stays valid (and may be written to) until the next call. At a clean end
// of the stream it returns io.EOF; inside a frame, an error wrapping
// frame.ErrTruncated; a frame that is too slow, frame.ErrSlow.
func (r *recordReader) next(max int) ([]byte, error) {
	r.settle()
	if err := r.fill(frame.HeaderSize); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(r.buf[r.pos:])
	switch {
	case n == 0:
		return nil, frame.ErrEmpty
	case uint64(n) > uint64(max):
		return nil, fmt.Errorf("%w: %d bytes, limit %d", frame.ErrTooLarge, n, max)
	}
	total := frame.HeaderSize + int(n)
	if err := r.fill(total); err != nil {
		return nil, err
	}
	p := r.buf[r.pos+frame.HeaderSize : r.pos+total]
	r.pos += total
	return p, r.c.stopFrameTimer()
}

// fill reads until buf[pos:] holds at least k bytes.
func (r *recordReader) fill(k int) error {
	for r.end-r.pos < k {
		if r.end == len(r.buf) { // no room left: make some
			r.room(k)
		}
		if r.end > r.pos { // inside a frame: bounded by the frame timeout
			if err := r.c.startFrameTimer(); err != nil {
				return err
			}
		}
		m, err := r.c.conn.Read(r.buf[r.end:])
		r.end += m
		r.filled = r.end == len(r.buf)
		if r.end-r.pos >= k {
			return nil
		}
		if err != nil {
			return r.readError(err, k)
		}
	}
	return nil
}

// readError explains an error of the underlying Read.
func (r *recordReader) readError(err error, k int) error {
	switch {
	case err == io.EOF && r.end == r.pos:
		return io.EOF
	case err == io.EOF && k == frame.HeaderSize:
		return fmt.Errorf("%w (got %d of %d header bytes)", frame.ErrTruncated, r.end-r.pos, frame.HeaderSize)
	case err == io.EOF:
		return fmt.Errorf("%w (got %d of %d payload bytes)", frame.ErrTruncated, r.end-r.pos-frame.HeaderSize, k-frame.HeaderSize)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if slow := r.c.frameTimerExpired(); slow != nil {
			return slow
		}
		// The caller's deadline: keep what was read, and let the next
		// read wait afresh.
		if err2 := r.c.stopFrameTimer(); err2 != nil {
			return err2
		}
	}
	return err
}

// room makes buf able to take more bytes towards a k-byte frame at pos: it
// moves the unread bytes to the start of the buffer and, if that is not
// enough, gives it a larger one. For a small frame that is a retained buffer
// (grown while reads keep filling it); for a large one, a pooled buffer of
// the frame's class, or one that grows as the bytes arrive, up to that
// class.
func (r *recordReader) room(k int) {
	have := r.end - r.pos
	if k <= len(r.buf) {
		r.end = copy(r.buf, r.buf[r.pos:r.end])
		r.pos = 0
		return
	}
	var next []byte
	var big *[]byte
	switch {
	case k <= retainBufSize:
		size := smallSize(k)
		if r.filled {
			size = min(retainBufSize, max(size, 2*len(r.buf)))
		}
		next = make([]byte, size)
	default:
		if p := getPooled(k); p != nil {
			big = p
		} else {
			_, class := sizeClass(k)
			size := min(max(class, k), max(2*len(r.buf), have+growChunk))
			if size >= k {
				// This buffer takes the rest of the frame: give it the
				// class's size, so that it goes back to the pool and the
				// next frame of this class borrows it instead of growing
				// a buffer again (at most 1/classSteps more memory).
				size = max(class, k)
			}
			b := make([]byte, size)
			big = &b
		}
		next = *big
	}
	copy(next, r.buf[r.pos:r.end])
	r.dropBig()
	r.buf, r.pos, r.end = next, 0, have
	if big != nil {
		r.big = big
	} else {
		r.small = next
	}
}

// settle gives back a big buffer once the frames in it are consumed: the
// bytes read ahead move to the retained buffer when they fit.
func (r *recordReader) settle() {
	if r.big == nil {
		return
	}
	have := r.end - r.pos
	if have > retainBufSize {
		return
	}
	if cap(r.small) < have || r.small == nil {
		r.small = make([]byte, smallSize(max(have, 1)))
	}
	r.small = r.small[:cap(r.small)]
	copy(r.small, r.buf[r.pos:r.end])
	r.dropBig()
	r.buf, r.pos, r.end = r.small, 0, have
}

// dropBig hands the borrowed buffer back to the pool.
func (r *recordReader) dropBig() {
	if r.big != nil {
		putPooled(r.big)
		r.big = nil
	}
}

// release gives back every buffer (the Conn reads no more, or is idle
// after its handshake): the retained one is dropped, a big one pooled.
// Unread bytes are kept.
func (r *recordReader) release() {
	if r.end > r.pos {
		return
	}
	r.dropBig()
	r.buf, r.small, r.pos, r.end = nil, nil, 0, 0
}
