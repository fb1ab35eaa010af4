package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// Conn is an established session: the record layer over the connection the
// handshake ran on. One goroutine may Send (or CloseWrite) while another
// calls Recv; concurrent Sends are serialized.
//
// Record limit: a direction carries at most MaxRecords records, CLOSE
// included. The Send that uses the last sequence number a DATA record may
// have (MaxRecords-2) delivers its data and, in the same write, the CLOSE
// that takes the last one; it returns nil. Every later Send returns an error
// wrapping both ErrRecordLimit and ErrClosed, and CloseWrite returns nil. The
// server's FINISHED counts: it can send MaxRecords-2 DATA records, the
// client MaxRecords-1.
//
// Errors end the Conn: after a record fails to open, or any other receive
// error, Recv keeps returning that error and Send and CloseWrite refuse to
// send; after a write error, Send and CloseWrite keep returning it. The Conn
// sets no deadlines and never closes the underlying connection: the caller
// does both.
type Conn struct {
	rw        io.ReadWriter
	scheme    kem.Scheme
	isClient  bool
	maxFrame  int
	serverKey []byte               // client: ek_s
	static    kem.DecapsulationKey // server: dk_s, whose ek is ek_s

	// fatal holds the first receive error other than io.EOF; Send and
	// CloseWrite check it without taking recvMu.
	fatal atomic.Pointer[error]

	sendMu     sync.Mutex
	sealer     RecordSealer
	sendBuf    recordBuf
	sendClosed bool  // CLOSE sent
	closeCause error // why, when it was not CloseWrite
	sendErr    error // sticky write error

	recvMu     sync.Mutex
	opener     RecordOpener
	rd         recordReader
	peerClosed bool  // CLOSE received
	recvErr    error // sticky
}

// newConn makes a Conn from the two directional keys, and wipes them.
func newConn(rw io.ReadWriter, scheme kem.Scheme, isClient bool, keyC2S, keyS2C []byte, maxFrame int) (*Conn, error) {
	defer clear(keyC2S)
	defer clear(keyS2C)
	c := &Conn{rw: rw, scheme: scheme, isClient: isClient, maxFrame: maxFrame}
	c.rd = recordReader{r: rw, max: maxFrame}
	c.rd.buf.wipe = true
	sendKey, recvKey := keyS2C, keyC2S
	if isClient {
		sendKey, recvKey = keyC2S, keyS2C
	}
	if err := c.sealer.init(sendKey); err != nil {
		return nil, err
	}
	if err := c.opener.init(recvKey); err != nil {
		return nil, err
	}
	return c, nil
}

// Scheme returns the KEM of the session.
func (c *Conn) Scheme() kem.Scheme { return c.scheme }

// ServerKey returns a copy of the server's static encapsulation key ek_s.
func (c *Conn) ServerKey() []byte {
	if c.static != nil {
		return c.static.EncapsulationKey().Bytes()
	}
	return bytes.Clone(c.serverKey)
}

// MaxDataSize is the largest body Send accepts: what fits in one frame of
// the Conn's MaxFrame.
func (c *Conn) MaxDataSize() int { return c.maxFrame - RecordOverhead }

// peer names the other side in error messages.
func (c *Conn) peer() string {
	if c.isClient {
		return "server"
	}
	return "client"
}

// appendRecord appends one frame holding a record to buf.
func (c *Conn) appendRecord(buf []byte, typ byte, body []byte) []byte {
	h := len(buf)
	buf = c.sealer.Seal(buf[:h+frame.HeaderSize], typ, body)
	binary.BigEndian.PutUint32(buf[h:], uint32(len(buf)-h-frame.HeaderSize))
	return buf
}

// Send sends data as one DATA record, in one Write call. In the steady
// state it does not allocate. data may be empty; it may be at most MaxDataSize bytes (a longer
// one is refused with an error wrapping frame.ErrTooLarge, and the Conn
// stays usable). See Conn for the record limit.
func (c *Conn) Send(data []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.sendable("Send"); err != nil {
		return err
	}
	if len(data) > c.MaxDataSize() {
		return fmt.Errorf("session: Send: %w: %d bytes of data, limit %d (frame limit %d)", frame.ErrTooLarge, len(data), c.MaxDataSize(), c.maxFrame)
	}
	if c.sealer.seq > MaxRecords-2 { // unreachable: the last DATA brings CLOSE
		return fmt.Errorf("session: Send: %w: %d records sent", ErrRecordLimit, c.sealer.seq)
	}
	last := c.sealer.seq == MaxRecords-2
	n := frame.HeaderSize + RecordOverhead + len(data)
	if last {
		n += frame.HeaderSize + RecordOverhead
	}
	buf := c.appendRecord(c.sendBuf.get(n)[:0], RecordData, data)
	if last {
		buf = c.appendRecord(buf, RecordClose, nil)
		c.sendClosed = true
		c.closeCause = ErrRecordLimit
	}
	return c.write(buf)
}

// CloseWrite sends CLOSE: the session sends nothing after it. It is
// idempotent: once CLOSE is sent, it returns nil. It does not close or
// half-close the underlying connection.
func (c *Conn) CloseWrite() error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.sendErr != nil {
		return c.sendErr
	}
	if c.sendClosed {
		return nil
	}
	if err := c.sendable("CloseWrite"); err != nil {
		return err
	}
	c.sendClosed = true
	return c.write(c.appendRecord(c.sendBuf.get(frame.HeaderSize + RecordOverhead)[:0], RecordClose, nil))
}

// sendRecord sends one record of any type, with no checks: the server's
// FINISHED, and tests.
func (c *Conn) sendRecord(typ byte, body []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.write(c.appendRecord(c.sendBuf.get(frame.HeaderSize + RecordOverhead + len(body))[:0], typ, body))
}

// sendable reports why nothing may be sent, if so. The caller holds sendMu.
func (c *Conn) sendable(op string) error {
	if c.sendErr != nil {
		return c.sendErr
	}
	if p := c.fatal.Load(); p != nil {
		return fmt.Errorf("session: %s: the session ended on a receive error: %w", op, *p)
	}
	if c.sendClosed {
		if c.closeCause != nil {
			return fmt.Errorf("session: %s: %w: %w: CLOSE was sent after %d records", op, ErrClosed, c.closeCause, c.sealer.seq-1)
		}
		return fmt.Errorf("session: %s: %w: CloseWrite was called", op, ErrClosed)
	}
	return nil
}

// write writes buf in one call; a failure is sticky. The caller holds sendMu.
func (c *Conn) write(buf []byte) error {
	_, err := c.rw.Write(buf)
	c.sendBuf.release()
	if err != nil {
		c.sendErr = fmt.Errorf("session: send to the %s: %w", c.peer(), err)
		return c.sendErr
	}
	return nil
}

// Recv returns the body of the next DATA record. The body is valid until
// the next Recv. It returns io.EOF once the peer's CLOSE arrives. A later
// Recv reads on: io.EOF at the end of the stream, an error wrapping
// ErrUnexpectedRecord if anything follows the CLOSE (so it blocks while the
// peer keeps the connection open). A stream that ends without CLOSE gives an
// error wrapping ErrTruncated; a record that does not open, ErrAuth; a
// record of unknown type, ErrUnknownRecordType; a FINISHED, DATA in the last
// slot of the record limit (ErrRecordLimit), or an oversized frame
// (frame.ErrTooLarge) also end the session. Only one goroutine may call
// Recv at a time.
func (c *Conn) Recv() ([]byte, error) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if c.recvErr != nil {
		return nil, c.recvErr
	}
	payload, err := c.readFrame()
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("session: %w", err)
		}
		return nil, c.recvFail(err)
	}
	if c.peerClosed {
		return nil, c.recvFail(fmt.Errorf("session: %w: a %d-byte frame after the %s's CLOSE", ErrUnexpectedRecord, len(payload), c.peer()))
	}
	seq := c.opener.seq
	if seq >= MaxRecords {
		return nil, c.recvFail(fmt.Errorf("session: %w: the %s sent more than %d records", ErrRecordLimit, c.peer(), MaxRecords))
	}
	typ, body, err := c.opener.Open(payload)
	if err != nil {
		return nil, c.recvFail(fmt.Errorf("session: from the %s: %w", c.peer(), err))
	}
	switch typ {
	case RecordData:
		if seq == MaxRecords-1 {
			return nil, c.recvFail(fmt.Errorf("session: %w: the %s's record %d is DATA, but the last record of a direction must be CLOSE", ErrRecordLimit, c.peer(), seq))
		}
		return body, nil
	case RecordClose:
		if len(body) != 0 {
			return nil, c.recvFail(fmt.Errorf("session: %w: the %s's CLOSE (record %d) has a %d-byte body, want none", ErrUnexpectedRecord, c.peer(), seq, len(body)))
		}
		c.peerClosed = true
		c.rd.buf.release()
		return nil, io.EOF
	case RecordFinished:
		what := "a second FINISHED"
		if !c.isClient {
			what = "FINISHED, which only the server sends"
		}
		return nil, c.recvFail(fmt.Errorf("session: %w: the %s's record %d is %s", ErrUnexpectedRecord, c.peer(), seq, what))
	default:
		return nil, c.recvFail(fmt.Errorf("session: %w 0x%02x in the %s's record %d", ErrUnknownRecordType, typ, c.peer(), seq))
	}
}

// recvFail makes err sticky and, unless it is io.EOF, ends sending too. The
// caller holds recvMu.
func (c *Conn) recvFail(err error) error {
	c.recvErr = err
	c.rd.buf.drop()
	if err != io.EOF {
		c.fatal.CompareAndSwap(nil, &err)
	}
	return err
}

// SetFrameTimeout makes every record frame that has begun arrive whole
// within d of its first byte, as frame.Reader.SetFrameTimeout does: waiting
// for a frame's first byte stays unbounded, so an idle session is not cut
// off, but a peer that dribbles a frame is (an error wrapping
// frame.ErrSlow). It takes effect only when the connection is a
// frame.ReadDeadliner (a net.Conn), whose read deadline Recv then owns; d <= 0
// turns it off. Call it before Recv, not concurrently with it.
func (c *Conn) SetFrameTimeout(d time.Duration) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if _, ok := c.rw.(frame.ReadDeadliner); ok {
		c.rd.timeout = d
	}
}

// readFrame reads the next record frame. It returns io.EOF at a clean end
// of the stream after CLOSE and an error wrapping ErrTruncated before (and
// frame.ErrTruncated inside a frame). Its errors have no "session: " prefix:
// the caller adds its context. The caller holds recvMu.
func (c *Conn) readFrame() ([]byte, error) {
	p, err := c.rd.next()
	switch {
	case err == nil:
		return p, nil
	case err == io.EOF && c.peerClosed:
		return nil, io.EOF
	case err == io.EOF:
		return nil, fmt.Errorf("%w: the %s's stream ended after %d records", ErrTruncated, c.peer(), c.opener.seq)
	case errors.Is(err, frame.ErrTruncated):
		return nil, fmt.Errorf("%w: %w", ErrTruncated, err)
	case errors.Is(err, frame.ErrEmpty), errors.Is(err, frame.ErrTooLarge), errors.Is(err, frame.ErrSlow):
		return nil, fmt.Errorf("from the %s: %w", c.peer(), err)
	}
	return nil, fmt.Errorf("receive from the %s: %w", c.peer(), err)
}
