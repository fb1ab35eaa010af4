package session

import (
	"fmt"
	"io"
	"net"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
)

// readFromChunk is the most ReadFrom reads at once, and so the largest
// record it makes (when MaxFrame allows).
const readFromChunk = 256 << 10

// ReadFrom reads r to its end and writes what it reads as DATA records,
// one per read, sealed in place in the buffer r's bytes were read into, so
// that no byte is copied on the way. io.Copy(conn, r) uses it. It returns
// the bytes read from r (and sealed), and nil at r's end; it does not send
// CLOSE.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	for {
		x := c.activeCall.Load()
		if x&1 != 0 {
			return 0, net.ErrClosed
		}
		if c.activeCall.CompareAndSwap(x, x+2) {
			break
		}
	}
	defer c.activeCall.Add(-2)
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if err := c.writable(); err != nil {
		return 0, err
	}
	if err := c.pastWriteDeadline(); err != nil {
		return 0, err
	}
	if err := c.flush(); err != nil {
		return 0, err
	}
	chunk := min(c.MaxMessageSize(), readFromChunk)
	// The buffer: room for a KEY_UPDATE record, then the DATA frame
	// (header, type, body, tag), then a CLOSE (version 1's last record).
	const update = frame.HeaderSize + wire.RecordOverhead
	bodyAt := update + frame.HeaderSize + wire.TypeSize
	var total int64
	for {
		buf := c.outBuffer(bodyAt + chunk + wire.TagSize + update)
		buf = buf[:cap(buf)]
		n, rerr := r.Read(buf[bodyAt : bodyAt+chunk])
		if n > 0 {
			err := c.sendInPlace(buf, n)
			if err == nil || isTimeout(err) { // sealed: it will be delivered
				total += int64(n)
				c.bytesOut.Add(uint64(n))
			}
			if err != nil {
				return total, err
			}
			if c.out.closed { // version 1's record limit
				return total, fmt.Errorf("session: %w: %w: the version-1 record limit was reached, and CLOSE sent", ErrClosed, ErrRecordLimit)
			}
		} else {
			c.releaseOut()
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// sendInPlace seals the n-byte body that sits in buf at its place for
// sendRecord's layout (after room for a KEY_UPDATE, a frame header and the
// type) as one DATA record, and writes it. The caller holds out.mu.
func (c *Conn) sendInPlace(buf []byte, n int) error {
	const update = frame.HeaderSize + wire.RecordOverhead
	body := buf[update+frame.HeaderSize+wire.TypeSize:][:n]
	// sendRecord seals the KEY_UPDATE (if due) at buf[0:update] and the
	// DATA right after it, where the body already is; without a key
	// update the records start at update instead.
	start := update
	s, lim := &c.out.sealer, &c.set.limits
	if c.version >= wire.Version2 && (s.Seq >= lim.UpdateAtRecords || s.Blocks+wire.Blocks(n) > lim.UpdateAtBlocks) {
		start = 0
	}
	return c.sendRecordInto(buf[start:start], wire.RecordData, body)
}
