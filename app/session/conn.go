package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// Conn is a session over a net.Conn: a net.Conn itself, in the manner of
// crypto/tls.Conn. Made by Client or Server (or Dial, Listen), it runs the
// handshake on the first Read or Write, or on Handshake.
//
//   - Write seals p into DATA records: each Write of at most
//     MaxMessageSize bytes is exactly one record; a longer one is split.
//   - Read returns the data of at most one record per call and keeps what
//     p could not take for the next call. It returns io.EOF once the peer's
//     CLOSE has arrived, and an error wrapping both ErrTruncated and
//     io.ErrUnexpectedEOF when the connection ends without it.
//   - Close sends CLOSE (if the handshake is complete and CLOSE is not sent
//     yet) and closes the connection; CloseWrite sends CLOSE and half-closes
//     the connection, and Read goes on until the peer's CLOSE.
//   - Deadlines pass through to the connection. A Read that times out
//     keeps what it has read; a Write that times out partway through a
//     record keeps the rest of it, sends it first on the next Write or
//     Close, and counts it in n: a timeout never breaks the stream.
//   - One goroutine may Read while another Writes; concurrent Writes are
//     serialized, as are concurrent Reads.
//   - Each direction updates its key on its own before a usage limit is
//     near (version 2), so a connection can carry any amount of data.
//
// Errors other than timeouts are sticky: once a record fails to open, Read
// keeps returning that error and Write refuses to send.
type Conn struct {
	conn      net.Conn
	isClient  bool
	serverCfg *ServerConfig
	clientCfg *ClientConfig
	set       settings

	// handshake
	hsMu   sync.Mutex
	hsDone atomic.Bool
	hsErr  error // sticky: the handshake failed

	// Set by the handshake, read-only afterwards.
	version   byte
	serverKey []byte // ek_s
	clientKey []byte // ek_c, with client keys

	// activeCall counts Writes in progress, and its low bit says Close was
	// called (as crypto/tls does): a Close during a Write only closes the
	// connection, to break the Write.
	activeCall atomic.Int32

	out half // sending
	in  half // receiving

	// exporter is exporter_secret; expMu guards it (wiped on Close).
	expMu    sync.Mutex
	exporter []byte

	// peerClose is the reason of the peer's CLOSE, once it arrived.
	peerClose atomic.Int32
	// bytesIn and bytesOut count the application bytes read and written.
	bytesIn, bytesOut atomic.Uint64
	// halfClose half-closes the connection once, after CLOSE.
	halfClose sync.Once
	// readFatal is the sticky read error that ends writing too; writers
	// check it without in.mu, which a blocked Read holds.
	readFatal atomic.Pointer[error]

	// Read deadlines: the caller's, and the frame timeout's while a frame
	// is being waited for; the connection gets the earlier of the two.
	dlMu      sync.Mutex
	readDL    time.Time
	writeDL   time.Time
	frameDL   time.Time
	frameSlow bool // frameDL is active
}

// half is one direction's record state.
type half struct {
	mu     sync.Mutex
	sealer wire.Sealer // out
	opener wire.Opener // in
	// secret is the direction's traffic secret (version 2), from which
	// the next key comes at a key update.
	secret []byte
	// updates counts the key updates of this direction.
	updates atomic.Uint64
	err     error // sticky
	// out: CLOSE sent; the sealed bytes not yet written (after a write
	// timeout) and the buffer they sit in.
	closed  bool
	pending []byte
	buf     []byte
	big     *[]byte
	// in: the reader, the unread part of the current DATA record, and
	// whether CLOSE arrived.
	rd        recordReader
	leftover  []byte
	delivered []byte // the last ReadMessage's body, wiped at the next read
	eof       bool
}

var _ net.Conn = (*Conn)(nil)

// Client returns the client side of a session over conn. The handshake
// runs on the first Read or Write, or on Handshake. cfg must not be nil.
func Client(conn net.Conn, cfg *ClientConfig) *Conn {
	c := &Conn{conn: conn, isClient: true, clientCfg: cfg}
	c.in.rd.c = c
	return c
}

// Server returns the server side of a session over conn. The handshake
// runs on the first Read or Write, or on Handshake. cfg must not be nil.
func Server(conn net.Conn, cfg *ServerConfig) *Conn {
	c := &Conn{conn: conn, serverCfg: cfg}
	c.in.rd.c = c
	return c
}

// NetConn returns the underlying connection. Writing to it, or reading
// from it, corrupts the session.
func (c *Conn) NetConn() net.Conn { return c.conn }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets the read and write deadlines, as net.Conn does.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline. A Read that times out keeps what
// it has read: the next Read carries on.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.readDL = t
	return c.conn.SetReadDeadline(c.effectiveReadDeadline())
}

// SetWriteDeadline sets the write deadline. A Write that times out keeps
// the unsent rest of its record, to send first on the next Write or Close.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.dlMu.Lock()
	c.writeDL = t
	c.dlMu.Unlock()
	return c.conn.SetWriteDeadline(t)
}

// pastWriteDeadline returns a timeout error if the write deadline has
// passed: a Write then seals nothing, and so sends nothing, ever.
func (c *Conn) pastWriteDeadline() error {
	c.dlMu.Lock()
	dl := c.writeDL
	c.dlMu.Unlock()
	if dl.IsZero() || time.Now().Before(dl) {
		return nil
	}
	return &net.OpError{Op: "write", Net: c.conn.LocalAddr().Network(), Source: c.conn.LocalAddr(), Addr: c.conn.RemoteAddr(), Err: os.ErrDeadlineExceeded}
}

// effectiveReadDeadline is the earlier of the caller's deadline and the
// frame timeout's. The caller holds dlMu.
func (c *Conn) effectiveReadDeadline() time.Time {
	if c.frameSlow && (c.readDL.IsZero() || c.frameDL.Before(c.readDL)) {
		return c.frameDL
	}
	return c.readDL
}

// startFrameTimer starts the frame timeout, if there is one and it is not
// running: the reader is about to wait for the rest of a begun frame.
func (c *Conn) startFrameTimer() error {
	if c.set.frameTimeout <= 0 {
		return nil
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.frameSlow {
		return nil
	}
	c.frameSlow, c.frameDL = true, time.Now().Add(c.set.frameTimeout)
	return c.conn.SetReadDeadline(c.effectiveReadDeadline())
}

// stopFrameTimer stops the frame timeout, if it runs.
func (c *Conn) stopFrameTimer() error {
	if c.set.frameTimeout <= 0 {
		return nil
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if !c.frameSlow {
		return nil
	}
	c.frameSlow = false
	return c.conn.SetReadDeadline(c.readDL)
}

// frameTimerExpired returns an error wrapping frame.ErrSlow if a read
// deadline error was the frame timeout's, not the caller's.
func (c *Conn) frameTimerExpired() error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if !c.frameSlow || time.Now().Before(c.frameDL) || !c.readDL.IsZero() && c.readDL.Before(c.frameDL) {
		return nil
	}
	return fmt.Errorf("%w: frame not complete %v after the reader began waiting for it", frame.ErrSlow, c.set.frameTimeout)
}

// peer names the other side in error messages.
func (c *Conn) peer() string {
	if c.isClient {
		return "server"
	}
	return "client"
}

// MaxMessageSize is the most data one record carries: a Write of at most
// this many bytes is sent as one record, which ReadMessage returns whole.
// It is the Conn's MaxFrame less the record overhead; before the handshake
// and with an invalid config it is 0.
func (c *Conn) MaxMessageSize() int {
	if c.set.maxFrame == 0 {
		return 0
	}
	return c.set.maxFrame - wire.RecordOverhead
}

// Handshake runs the handshake if it has not run yet, and returns its
// result. Read and Write call it; call it directly to find out about a bad
// peer before using the connection, or to bound the handshake with
// deadlines of its own. A client's Handshake returns once the server has
// proven it holds the keys (FINISHED); a server's, once the client has
// proven it derived the same keys (its FINISHED, version 2), or once the
// server has sent FINISHED (version 1, whose client sends none).
func (c *Conn) Handshake() error { return c.HandshakeContext(context.Background()) }

// HandshakeContext is Handshake bounded by ctx: if ctx ends first, the
// connection is closed and the handshake fails with an error wrapping
// ctx's.
func (c *Conn) HandshakeContext(ctx context.Context) error {
	if c.hsDone.Load() {
		return nil
	}
	c.hsMu.Lock()
	defer c.hsMu.Unlock()
	if c.hsErr != nil {
		return c.hsErr
	}
	if c.hsDone.Load() {
		return nil
	}
	if ctx.Done() != nil {
		done := make(chan struct{})
		interrupted := make(chan struct{})
		defer func() {
			close(done)
			<-interrupted
		}()
		go func() {
			defer close(interrupted)
			select {
			case <-ctx.Done():
				c.conn.Close()
			case <-done:
			}
		}()
	}
	var err error
	if c.isClient {
		err = c.clientHandshake()
	} else {
		err = c.serverHandshake()
	}
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil {
		err = fmt.Errorf("session: handshake interrupted: %w", ctxErr)
	}
	if err != nil {
		c.hsErr = err
		return err
	}
	c.hsDone.Store(true)
	return nil
}

// Write writes p as DATA records; see Conn.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.beginWrite() {
		return 0, net.ErrClosed
	}
	defer c.endWrite()
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
	n := 0
	maxData := c.MaxMessageSize()
	for len(p) > 0 {
		chunk := p[:min(len(p), maxData)]
		if err := c.sendRecord(wire.RecordData, chunk); err != nil {
			if isTimeout(err) { // sealed: it will be delivered
				n += len(chunk)
				c.bytesOut.Add(uint64(len(chunk)))
			}
			return n, err
		}
		n += len(chunk)
		c.bytesOut.Add(uint64(len(chunk)))
		p = p[len(chunk):]
		if c.out.closed { // version 1's record limit: CLOSE went with it
			if len(p) > 0 {
				return n, fmt.Errorf("session: %w: %w: the version-1 record limit (%d) was reached, and CLOSE sent", ErrClosed, ErrRecordLimit, c.set.limits.MaxRecords)
			}
			break
		}
	}
	return n, nil
}

// beginWrite counts a Write (or ReadFrom) in progress, unless Close was
// called: Close and Write interlock as in crypto/tls, so that a Close during
// a blocked Write only closes the connection, to break the Write.
func (c *Conn) beginWrite() bool {
	for {
		x := c.activeCall.Load()
		if x&1 != 0 {
			return false
		}
		if c.activeCall.CompareAndSwap(x, x+2) {
			return true
		}
	}
}

// endWrite ends what beginWrite began.
func (c *Conn) endWrite() { c.activeCall.Add(-2) }

// WriteMessage sends b as one DATA record: the peer's ReadMessage returns
// it whole. b may be empty; longer than MaxMessageSize, it is refused with
// an error wrapping frame.ErrTooLarge, and the Conn stays usable.
func (c *Conn) WriteMessage(b []byte) error {
	if err := c.Handshake(); err != nil {
		return err
	}
	if len(b) > c.MaxMessageSize() {
		return fmt.Errorf("session: WriteMessage: %w: %d bytes, limit %d (MaxFrame %d)", frame.ErrTooLarge, len(b), c.MaxMessageSize(), c.set.maxFrame)
	}
	if len(b) > 0 {
		_, err := c.Write(b)
		return err
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	return c.sendRecord(wire.RecordData, nil)
}

// writable says why nothing may be written, if so. The caller holds out.mu.
func (c *Conn) writable() error {
	switch {
	case c.out.err != nil:
		return c.out.err
	case c.out.closed:
		return fmt.Errorf("session: %w: CLOSE was sent", ErrClosed)
	}
	if p := c.readFatal.Load(); p != nil {
		return fmt.Errorf("session: the session ended on a receive error: %w", *p)
	}
	return nil
}

// sendRecord seals one record of type typ and writes it, preceded by a
// KEY_UPDATE when one is due (version 2), or followed by CLOSE when version
// 1's limits are reached. The caller holds out.mu.
func (c *Conn) sendRecord(typ byte, body []byte) error {
	return c.sendRecordInto(c.outBuffer(2*(frame.HeaderSize+wire.RecordOverhead)+len(body)), typ, body)
}

// sendRecordInto is sendRecord appending to buf, which has room for the
// records (and may already hold body where the DATA record's body goes).
func (c *Conn) sendRecordInto(buf []byte, typ byte, body []byte) error {
	s, lim := &c.out.sealer, &c.set.limits
	blocks := s.Blocks + wire.Blocks(len(body))
	if c.version >= wire.Version2 {
		if typ != wire.RecordFinished && (s.Seq >= lim.UpdateAtRecords || blocks > lim.UpdateAtBlocks) {
			buf = appendRecord(buf, s, wire.RecordKeyUpdate, nil)
			if err := c.updateKey(&c.out, s.SetKey); err != nil {
				return c.failWrite(err)
			}
		}
		return c.writeOut(appendRecord(buf, s, typ, body))
	}
	// Version 1 has no key update: the DATA that brings a limit near
	// brings CLOSE with it.
	if typ == wire.RecordData && (s.Seq+2 >= lim.MaxRecords || blocks+wire.Blocks(0) >= lim.MaxBlocks) {
		c.out.closed = true
		if blocks+wire.Blocks(0) > lim.MaxBlocks { // not even this one fits
			if err := c.writeOut(appendRecord(buf, s, wire.RecordClose, nil)); err != nil {
				return err
			}
			return fmt.Errorf("session: %w: %w: version 1's usage limit was reached, and CLOSE sent", ErrClosed, ErrRecordLimit)
		}
		buf = appendRecord(buf, s, typ, body)
		return c.writeOut(appendRecord(buf, s, wire.RecordClose, nil))
	}
	return c.writeOut(appendRecord(buf, s, typ, body))
}

// appendRecord appends one frame holding a record to buf.
func appendRecord(buf []byte, s *wire.Sealer, typ byte, body []byte) []byte {
	h := len(buf)
	buf = s.Seal(append(buf, 0, 0, 0, 0), typ, body)
	binary.BigEndian.PutUint32(buf[h:], uint32(len(buf)-h-frame.HeaderSize))
	return buf
}

// outBuffer returns an empty buffer with room for n bytes: the retained
// one, or a pooled one for a large record. The caller holds out.mu.
func (c *Conn) outBuffer(n int) []byte {
	if n <= retainBufSize {
		if cap(c.out.buf) < n {
			c.out.buf = make([]byte, 0, smallSize(n))
		}
		return c.out.buf[:0]
	}
	c.out.big = bigBuffer(n)
	return (*c.out.big)[:0]
}

// writeOut writes buf in one call. After a timeout the unwritten rest is
// pending, for flush; any other error is sticky. The caller holds out.mu.
func (c *Conn) writeOut(buf []byte) error {
	m, err := c.conn.Write(buf)
	if err != nil && isTimeout(err) {
		c.out.pending = buf[m:]
		return err
	}
	c.out.pending = nil
	c.releaseOut()
	if err != nil {
		return c.failWrite(fmt.Errorf("session: send to the %s: %w", c.peer(), err))
	}
	return nil
}

// flush writes what a timed-out write left. The caller holds out.mu.
func (c *Conn) flush() error {
	if len(c.out.pending) == 0 {
		return nil
	}
	return c.writeOut(c.out.pending)
}

// releaseOut gives a large send buffer back to the pool.
func (c *Conn) releaseOut() {
	if c.out.big != nil {
		putPooled(c.out.big)
		c.out.big = nil
	}
}

// failWrite makes err the sticky write error.
func (c *Conn) failWrite(err error) error {
	c.out.err = err
	return err
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// updateKey moves one direction to its next traffic secret and key
// (version 2), wiping the old ones; setKey installs the key.
func (c *Conn) updateKey(h *half, setKey func([]byte) error) error {
	next, err := wire.Expand(h.secret, wire.LabelKeyUpdate, wire.SecretSize)
	if err != nil {
		return err
	}
	clear(h.secret)
	h.secret = next
	h.updates.Add(1)
	key, err := wire.Expand(next, wire.LabelKey, wire.KeySize)
	if err != nil {
		return err
	}
	defer clear(key)
	return setKey(key)
}

// wipePlaintext clears delivered plaintext from the receive buffers
// (BenchmarkWipe measures what it costs; only a benchmark turns it off).
var wipePlaintext = true

// Read reads data; see Conn.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	for len(c.in.leftover) == 0 {
		body, err := c.readData()
		if err != nil {
			return 0, err
		}
		c.in.leftover = body
	}
	n := copy(p, c.in.leftover)
	if wipePlaintext {
		clear(c.in.leftover[:n]) // the plaintext is the caller's now
	}
	c.in.leftover = c.in.leftover[n:]
	c.bytesIn.Add(uint64(n))
	return n, nil
}

// WriteTo writes the plaintext of every DATA record to w, straight from
// the buffer it was decrypted in, until the peer's CLOSE (then it returns
// nil) or an error. io.Copy(w, conn) uses it.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	var total int64
	for {
		if len(c.in.leftover) == 0 {
			body, err := c.readData()
			if err == io.EOF {
				return total, nil
			}
			if err != nil {
				return total, err
			}
			c.in.leftover = body
		}
		n, err := w.Write(c.in.leftover)
		if wipePlaintext {
			clear(c.in.leftover[:n])
		}
		c.in.leftover = c.in.leftover[n:]
		total += int64(n)
		c.bytesIn.Add(uint64(n))
		if err != nil {
			return total, err
		}
	}
}

// ReadMessage returns the body of the next DATA record whole: what one
// Write (or WriteMessage) of at most MaxMessageSize bytes sent. The body is
// valid until the next Read or ReadMessage. It returns io.EOF once the
// peer's CLOSE has arrived. It is for protocols that need message
// boundaries, such as kemtcp's chat; after a Read that left part of a
// record unread, it returns that part.
func (c *Conn) ReadMessage() ([]byte, error) {
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	if len(c.in.leftover) > 0 {
		body := c.in.leftover
		c.in.leftover = nil
		return body, nil
	}
	body, err := c.readData()
	if err != nil {
		return nil, err
	}
	c.bytesIn.Add(uint64(len(body)))
	// Clear the plaintext when the next read begins: until then the
	// caller may use it.
	c.in.leftover = body[len(body):]
	c.in.delivered = body
	return body, nil
}

// readData returns the body of the next DATA record (which may be empty),
// handling KEY_UPDATE on the way; io.EOF after the peer's CLOSE. The caller
// holds in.mu.
func (c *Conn) readData() ([]byte, error) {
	clear(c.in.delivered)
	c.in.delivered = nil
	for {
		if c.in.err != nil {
			return nil, c.in.err
		}
		if c.in.eof {
			return nil, io.EOF
		}
		typ, body, err := c.readRecord()
		if err != nil {
			return nil, c.failRead(err)
		}
		switch typ {
		case wire.RecordData:
			return body, nil
		case wire.RecordClose:
			if err := c.peerClosed(body); err != nil {
				return nil, c.failRead(err)
			}
			return nil, io.EOF
		case wire.RecordKeyUpdate:
			if len(body) != 0 {
				return nil, c.failRead(fmt.Errorf("session: %w: the %s's KEY_UPDATE has a %d-byte body, want none", ErrUnexpectedRecord, c.peer(), len(body)))
			}
			if err := c.updateKey(&c.in, c.in.opener.SetKey); err != nil {
				return nil, c.failRead(err)
			}
		case wire.RecordFinished:
			return nil, c.failRead(fmt.Errorf("session: %w: a FINISHED from the %s after the handshake", ErrUnexpectedRecord, c.peer()))
		default:
			return nil, c.failRead(fmt.Errorf("session: %w: a %s record from the %s after the handshake", ErrUnexpectedRecord, wire.RecordName(typ), c.peer()))
		}
	}
}

// peerClosed takes the peer's CLOSE. The caller holds in.mu.
func (c *Conn) peerClosed(body []byte) error {
	switch {
	case len(body) == 0:
	case len(body) == 1 && c.version >= wire.Version2:
		c.peerClose.Store(int32(body[0]))
	default:
		return fmt.Errorf("session: %w: the %s's CLOSE has a %d-byte body", ErrUnexpectedRecord, c.peer(), len(body))
	}
	c.in.eof = true
	c.in.rd.release()
	return nil
}

// readRecord reads and opens the next record, with every check of the
// record layer: the usage limits, authentication, known type (version 2
// types only in version 2). The body aliases the reader's buffer. The caller
// holds in.mu.
func (c *Conn) readRecord() (byte, []byte, error) {
	payload, err := c.in.rd.next(c.set.maxFrame)
	if err != nil {
		return 0, nil, c.frameError(err)
	}
	o := &c.in.opener
	lim := &c.set.limits
	if o.Seq >= lim.MaxRecords || o.Blocks+wire.Blocks(max(0, len(payload)-wire.RecordOverhead)) > lim.MaxBlocks {
		return 0, nil, fmt.Errorf("session: %w: the %s sent %d records (%d blocks) under one key, past the limit of %d (%d)", ErrRecordLimit, c.peer(), o.Seq, o.Blocks, lim.MaxRecords, lim.MaxBlocks)
	}
	typ, body, err := o.Open(payload)
	if err != nil {
		return 0, nil, fmt.Errorf("session: from the %s: %w", c.peer(), err)
	}
	if typ > wire.RecordRefused || typ == 0 || c.version < wire.Version2 && typ > wire.RecordClose {
		return 0, nil, fmt.Errorf("session: %w 0x%02x in the %s's record %d", ErrUnknownRecordType, typ, c.peer(), o.Seq-1)
	}
	return typ, body, nil
}

// frameError explains a reader error: io.EOF is a truncation unless CLOSE
// came first (it did not: readRecord is not called after it).
func (c *Conn) frameError(err error) error {
	switch {
	case err == io.EOF:
		return &truncatedError{msg: fmt.Sprintf("session: %v: the %s's TCP stream ended", ErrTruncated, c.peer())}
	case errors.Is(err, frame.ErrTruncated):
		return &truncatedError{msg: fmt.Sprintf("session: %v: %v", ErrTruncated, err), cause: err}
	case errors.Is(err, frame.ErrEmpty), errors.Is(err, frame.ErrTooLarge), errors.Is(err, frame.ErrSlow):
		return fmt.Errorf("session: from the %s: %w", c.peer(), err)
	case isTimeout(err):
		return err
	}
	return fmt.Errorf("session: receive from the %s: %w", c.peer(), err)
}

// failRead makes err the sticky read error, unless it is a timeout. The
// caller holds in.mu.
func (c *Conn) failRead(err error) error {
	if isTimeout(err) {
		return err
	}
	c.in.err = err
	c.readFatal.CompareAndSwap(nil, &err)
	c.in.rd.release()
	return err
}

// CloseWrite sends CLOSE and half-closes the connection (when it has a
// CloseWrite method, as *net.TCPConn has): the peer reads to io.EOF, and
// this side's Read goes on until the peer's CLOSE. It is idempotent, and
// needs a completed handshake.
func (c *Conn) CloseWrite() error { return c.CloseWriteWithReason(0) }

// CloseWriteWithReason is CloseWrite whose CLOSE carries reason (version
// 2; a version-1 peer gets a plain CLOSE). It suits an end that must stop
// because something failed and still reads what the peer has in flight
// until the peer's CLOSE: closing at once, with unread bytes, would reset
// the connection, and a reset may destroy the CLOSE before the peer reads
// it.
func (c *Conn) CloseWriteWithReason(reason CloseReason) error {
	if !c.hsDone.Load() {
		return fmt.Errorf("session: CloseWrite: %w", ErrHandshakeIncomplete)
	}
	if err := c.closeWrite(reason); err != nil {
		return err
	}
	var err error
	c.halfClose.Do(func() {
		if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
			err = cw.CloseWrite()
		}
	})
	return err
}

// closeWrite sends CLOSE (with a reason byte when reason is not 0 and the
// session speaks version 2) unless it was sent.
func (c *Conn) closeWrite(reason CloseReason) error {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if c.out.closed {
		return c.flush()
	}
	if c.out.err != nil {
		return c.out.err
	}
	if err := c.flush(); err != nil {
		return err
	}
	c.out.closed = true
	var body []byte
	if reason != 0 && c.version >= wire.Version2 {
		body = []byte{byte(reason)}
	}
	return c.sendRecord(wire.RecordClose, body)
}

// closeTimeout bounds the CLOSE that Close sends, as crypto/tls bounds its
// close_notify.
const closeTimeout = 5 * time.Second

// Close sends CLOSE, if the handshake is complete and CLOSE was not sent,
// and closes the connection. A Close while a Write is blocked closes the
// connection without CLOSE, to break the Write. The session's secrets are
// wiped.
func (c *Conn) Close() error { return c.CloseWithReason(0) }

// CloseWithReason is Close whose CLOSE carries reason (version 2; a
// version-1 peer gets a plain CLOSE). The peer finds the reason in
// ConnectionState.PeerCloseReason.
func (c *Conn) CloseWithReason(reason CloseReason) error {
	var x int32
	for {
		x = c.activeCall.Load()
		if x&1 != 0 {
			return net.ErrClosed
		}
		if c.activeCall.CompareAndSwap(x, x|1) {
			break
		}
	}
	if x != 0 { // a Write is in progress: break it
		err := c.conn.Close()
		c.wipe()
		return err
	}
	var closeErr error
	if c.hsDone.Load() {
		c.SetWriteDeadline(time.Now().Add(closeTimeout))
		if err := c.closeWrite(reason); err != nil {
			closeErr = fmt.Errorf("session: sending CLOSE failed (the connection is closed anyway): %w", err)
		}
	}
	err := c.conn.Close()
	c.wipe()
	if err != nil {
		return err
	}
	return closeErr
}

// wipe erases the secrets the Conn keeps after Close.
func (c *Conn) wipe() {
	c.expMu.Lock()
	clear(c.exporter)
	c.exporter = nil
	c.expMu.Unlock()
	c.out.mu.Lock()
	clear(c.out.secret)
	c.releaseOut()
	c.out.mu.Unlock()
	c.in.mu.Lock()
	clear(c.in.secret)
	clear(c.in.leftover)
	clear(c.in.delivered)
	c.in.leftover, c.in.delivered = nil, nil
	c.in.rd.release()
	c.in.mu.Unlock()
}

// Scheme is the session's KEM.
func (c *Conn) Scheme() kem.Scheme { return c.set.scheme }
