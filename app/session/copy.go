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
// CLOSE. It holds no lock while it waits for r: Close (which sends CLOSE)
// and other Writes go on. While r is idle it holds a small buffer; a read
// that fills it makes the next one read up to readFromChunk.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	// Like Write, it is a write in progress for Close (which then breaks
	// it rather than wait to send CLOSE) only while it handshakes or
	// writes: a Close while it waits for r sends CLOSE as usual.
	if !c.beginWrite() {
		return 0, net.ErrClosed
	}
	err := c.Handshake()
	c.endWrite()
	if err != nil {
		return 0, err
	}
	// The buffer: room for a KEY_UPDATE record, then the DATA frame
	// (header, type, body, tag), then a CLOSE (version 1's last record).
	const update = frame.HeaderSize + wire.RecordOverhead
	const bodyAt = update + frame.HeaderSize + wire.TypeSize
	const extra = bodyAt + wire.TagSize + update
	bigChunk := min(c.MaxMessageSize(), readFromChunk)
	smallChunk := min(bigChunk, retainBufSize-extra)
	small := make([]byte, smallChunk+extra)
	var total int64
	filled := false
	for {
		buf, big, chunk := small, (*[]byte)(nil), smallChunk
		if filled && bigChunk > smallChunk {
			big, chunk = bigBuffer(bigChunk+extra), bigChunk
			buf = *big
		}
		n, rerr := r.Read(buf[bodyAt : bodyAt+chunk])
		filled = n == chunk
		if n > 0 {
			err := c.sendRead(buf, big, n)
			if err == nil || isTimeout(err) { // sealed: it will be delivered
				total += int64(n)
				c.bytesOut.Add(uint64(n))
			}
			if err != nil {
				return total, err
			}
		} else if big != nil {
			putPooled(big)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// sendRead seals and writes the n bytes ReadFrom read into buf (a pooled
// buffer when big is not nil, which then goes to the pool once written).
func (c *Conn) sendRead(buf []byte, big *[]byte, n int) error {
	if !c.beginWrite() {
		if big != nil {
			putPooled(big)
		}
		return net.ErrClosed
	}
	defer c.endWrite()
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	err := c.writable()
	if err == nil {
		err = c.pastWriteDeadline()
	}
	if err == nil {
		err = c.flush()
	}
	if err != nil {
		if big != nil {
			putPooled(big)
		}
		return err
	}
	if big != nil {
		c.out.big = big // writeOut pools it, or keeps it while pending
		err = c.sendInPlace(buf, n)
	} else {
		// The small buffer is ReadFrom's own, and its next read must not
		// overwrite what a timeout leaves pending: a small record is
		// copied to the Conn's buffer, as Write does.
		const bodyAt = frame.HeaderSize + wire.RecordOverhead + frame.HeaderSize + wire.TypeSize
		err = c.sendRecord(wire.RecordData, buf[bodyAt:bodyAt+n])
	}
	if err != nil {
		return err
	}
	if c.out.closed { // version 1's record limit
		return fmt.Errorf("session: %w: %w: the version-1 record limit was reached, and CLOSE sent", ErrClosed, ErrRecordLimit)
	}
	return nil
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
