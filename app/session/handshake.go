package session

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// The handshake (PROTOCOL.md, "Handshake"): ServerHello, ClientHello,
// FINISHED. Both sides read the hellos with a limit of the largest hello any
// parameter set has, so a mismatched peer still gets a precise error, and a
// peer cannot make us reserve more.

// ServerConfig configures Server.
type ServerConfig struct {
	Scheme kem.Scheme
	// Static is dk_s; its ek_s goes in every ServerHello. The Conn keeps a
	// reference to it, for ServerKey.
	Static kem.DecapsulationKey
	// MaxFrame limits a record frame's payload; 0 means frame.DefaultMaxSize.
	MaxFrame int

	// sendFirst, set by tests only, replaces the FINISHED record (e.g. with
	// DATA, or nothing).
	sendFirst func(*Conn) error
}

// ClientConfig configures Client.
type ClientConfig struct {
	Scheme kem.Scheme
	// MaxFrame limits a record frame's payload; 0 means frame.DefaultMaxSize.
	MaxFrame int
	// VerifyServerKey, when set, is called with (a copy of) ek_s after the
	// ServerHello checks and before anything is sent; an error aborts the
	// handshake and is wrapped with ErrServerKeyRefused.
	VerifyServerKey func(ekS []byte) error

	// mutateClientHello, set by tests only, changes the ClientHello before
	// it is sent (e.g. a random ct_e, for implicit rejection).
	mutateClientHello func(*ClientHello)
}

// helloMaxSize is the largest hello of any parameter set: the limit on a
// hello frame.
var helloMaxSize = func() int {
	n := 0
	for _, alg := range kem.Algorithms() {
		p, err := kem.ParamsFor(alg)
		if err != nil {
			panic(err)
		}
		n = max(n, ServerHelloSize(p), ClientHelloSize(p))
	}
	return n
}()

// checkConfig returns the parameters of scheme and the frame limit.
func checkConfig(scheme kem.Scheme, maxFrame int) (kem.Params, int, error) {
	if scheme == nil {
		return kem.Params{}, 0, fmt.Errorf("%w: no KEM scheme", ErrConfig)
	}
	p := scheme.Params()
	switch {
	case maxFrame == 0:
		maxFrame = frame.DefaultMaxSize
	case maxFrame < RecordOverhead || uint64(maxFrame) > frame.MaxSize:
		return kem.Params{}, 0, fmt.Errorf("%w: MaxFrame %d is outside [%d, %d]", ErrConfig, maxFrame, RecordOverhead, uint64(frame.MaxSize))
	}
	return p, maxFrame, nil
}

// readHello reads one hello frame. A stream that ends first gives an error
// wrapping ErrTruncated (and frame.ErrTruncated inside a frame).
func readHello(r io.Reader, stage, hint string) ([]byte, error) {
	p, err := frame.NewReader(r, helloMaxSize).Next()
	switch {
	case err == nil:
		return p, nil
	case err == io.EOF:
		return nil, fmt.Errorf("%s: %w: the connection ended before the %s (%s)", stage, ErrTruncated, stage, hint)
	case errors.Is(err, frame.ErrTruncated):
		return nil, fmt.Errorf("%s: %w: %w", stage, ErrTruncated, err)
	case errors.Is(err, frame.ErrTooLarge), errors.Is(err, frame.ErrEmpty):
		return nil, fmt.Errorf("%s: %w (the peer does not speak the kemtcp session protocol)", stage, err)
	}
	return nil, fmt.Errorf("%s: receive: %w", stage, err)
}

// helloFrame returns a buffer with room for a frame header followed by a
// size-byte payload, the header already written.
func helloFrame(size int) []byte {
	return frame.AppendHeader(make([]byte, 0, frame.HeaderSize+size), size)
}

// Server runs the server side of the handshake on rw: it makes a fresh
// ephemeral key pair, sends the ServerHello, reads the ClientHello,
// decapsulates both ciphertexts (destroying the ephemeral key right after),
// derives the keys and sends FINISHED. It sets no deadline and does not
// close rw on error: the caller does.
func Server(rw io.ReadWriter, cfg *ServerConfig) (*Conn, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no ServerConfig", ErrConfig)
	}
	params, maxFrame, err := checkConfig(cfg.Scheme, cfg.MaxFrame)
	if err != nil {
		return nil, err
	}
	if cfg.Static == nil {
		return nil, fmt.Errorf("%w: no static key", ErrConfig)
	}
	ekS := cfg.Static.EncapsulationKey().Bytes()
	if len(ekS) != params.EncapsulationKeySize {
		return nil, fmt.Errorf("%w: the static key has a %d-byte encapsulation key, not the %d bytes of %s", ErrConfig, len(ekS), params.EncapsulationKeySize, params.Name)
	}

	dkE, err := cfg.Scheme.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("%s: ephemeral key: %w", stageServerHello, err)
	}
	live := true
	destroyEphemeral := func() {
		if live {
			dkE.Destroy()
			live = false
		}
	}
	defer destroyEphemeral()

	// 1. ServerHello.
	sh := &ServerHello{KEMID: params.ID, StaticKey: ekS, EphemeralKey: dkE.EncapsulationKey().Bytes()}
	shFrame, err := sh.Append(helloFrame(ServerHelloSize(params)))
	if err != nil {
		return nil, err
	}
	if _, err := rw.Write(shFrame); err != nil {
		return nil, fmt.Errorf("%s: send: %w", stageServerHello, err)
	}
	shPayload := shFrame[frame.HeaderSize:]

	// 4. ClientHello.
	chPayload, err := readHello(rw, stageClientHello, "the client may have refused the server's key or KEM")
	if err != nil {
		return nil, err
	}
	ch, err := ParseClientHello(chPayload)
	if err != nil {
		return nil, err
	}
	if ch.KEMID != params.ID {
		theirs, _ := kem.ParamsByID(ch.KEMID)
		return nil, fmt.Errorf("%s: %w: client uses %s, server is set to %s; the client must use -alg %s",
			stageClientHello, ErrKEMMismatch, describe(theirs), describe(params), params.Name)
	}
	ssS, err := cfg.Static.Decapsulate(ch.StaticCiphertext)
	if err != nil {
		return nil, fmt.Errorf("%s: decapsulate ct_s: %w", stageClientHello, err)
	}
	ssE, err := dkE.Decapsulate(ch.EphemeralCiphertext)
	destroyEphemeral()
	if err != nil {
		clear(ssS)
		return nil, fmt.Errorf("%s: decapsulate ct_e: %w", stageClientHello, err)
	}
	keyC2S, keyS2C, err := deriveKeys(shPayload, chPayload, ssE, ssS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stageClientHello, err)
	}
	c, err := newConn(rw, cfg.Scheme, false, keyC2S, keyS2C, maxFrame)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stageClientHello, err)
	}
	c.static = cfg.Static

	// FINISHED.
	sendFinished := func(c *Conn) error { return c.sendRecord(RecordFinished, nil) }
	if cfg.sendFirst != nil {
		sendFinished = cfg.sendFirst
	}
	if err := sendFinished(c); err != nil {
		return nil, fmt.Errorf("%s: %w", stageFinished, err)
	}
	return c, nil
}

// Client runs the client side of the handshake on rw: it reads and checks
// the ServerHello (magic, version, KEM, exact length, the FIPS 203 modulus
// check of both keys, then VerifyServerKey), encapsulates to both keys,
// sends the ClientHello and returns once the server's FINISHED has opened
// (key confirmation). Nothing but the ClientHello is written before then.
// It sets no deadline and does not close rw on error: the caller does.
func Client(rw io.ReadWriter, cfg *ClientConfig) (*Conn, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no ClientConfig", ErrConfig)
	}
	params, maxFrame, err := checkConfig(cfg.Scheme, cfg.MaxFrame)
	if err != nil {
		return nil, err
	}

	// 2. ServerHello.
	shPayload, err := readHello(rw, stageServerHello, "is it a kemtcp session server?")
	if err != nil {
		return nil, err
	}
	sh, err := ParseServerHello(shPayload)
	if err != nil {
		return nil, err
	}
	if sh.KEMID != params.ID {
		theirs, _ := kem.ParamsByID(sh.KEMID)
		return nil, fmt.Errorf("%s: %w: server uses %s, client is set to %s; use -alg %s",
			stageServerHello, ErrKEMMismatch, describe(theirs), describe(params), theirs.Name)
	}
	ekS, err := cfg.Scheme.NewEncapsulationKey(sh.StaticKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: static key ek_s: %w", stageServerHello, ErrBadKey, err)
	}
	ekE, err := cfg.Scheme.NewEncapsulationKey(sh.EphemeralKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: ephemeral key ek_e: %w", stageServerHello, ErrBadKey, err)
	}
	if cfg.VerifyServerKey != nil {
		if err := cfg.VerifyServerKey(bytes.Clone(sh.StaticKey)); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", stageServerHello, ErrServerKeyRefused, err)
		}
	}

	// 3. ClientHello.
	ssS, ctS, err := ekS.Encapsulate()
	if err != nil {
		return nil, fmt.Errorf("%s: encapsulate to ek_s: %w", stageClientHello, err)
	}
	ssE, ctE, err := ekE.Encapsulate()
	if err != nil {
		clear(ssS)
		return nil, fmt.Errorf("%s: encapsulate to ek_e: %w", stageClientHello, err)
	}
	ch := &ClientHello{KEMID: params.ID, StaticCiphertext: ctS, EphemeralCiphertext: ctE}
	if cfg.mutateClientHello != nil {
		cfg.mutateClientHello(ch)
	}
	chFrame, err := ch.Append(helloFrame(ClientHelloSize(params)))
	if err != nil {
		clear(ssS)
		clear(ssE)
		return nil, err
	}
	keyC2S, keyS2C, err := deriveKeys(shPayload, chFrame[frame.HeaderSize:], ssE, ssS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stageClientHello, err)
	}
	c, err := newConn(rw, cfg.Scheme, true, keyC2S, keyS2C, maxFrame)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stageClientHello, err)
	}
	c.serverKey = bytes.Clone(sh.StaticKey)
	if _, err := rw.Write(chFrame); err != nil {
		return nil, fmt.Errorf("%s: send: %w", stageClientHello, err)
	}

	// FINISHED: key confirmation.
	if err := c.readFinished(); err != nil {
		return nil, err
	}
	return c, nil
}

// readFinished reads and opens the server's first record, which must be an
// empty FINISHED.
func (c *Conn) readFinished() error {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	defer c.rd.buf.release()
	payload, err := c.readFrame()
	if err != nil {
		if errors.Is(err, ErrTruncated) && !errors.Is(err, frame.ErrTruncated) {
			return fmt.Errorf("%s: %w: the server closed the connection before FINISHED (it may have refused the ClientHello: see its log)", stageFinished, ErrTruncated)
		}
		return fmt.Errorf("%s: %w", stageFinished, err)
	}
	typ, body, err := c.opener.Open(payload)
	if err != nil {
		return fmt.Errorf("%s: %w (%w)", stageFinished, ErrKeyConfirmation, err)
	}
	switch {
	case typ != RecordFinished && recordName(typ) == "unknown":
		return fmt.Errorf("%s: %w 0x%02x in the server's first record", stageFinished, ErrUnknownRecordType, typ)
	case typ != RecordFinished:
		return fmt.Errorf("%s: %w: the server's first record is %s, want FINISHED", stageFinished, ErrUnexpectedRecord, recordName(typ))
	case len(body) != 0:
		return fmt.Errorf("%s: %w: FINISHED has a %d-byte body, want none", stageFinished, ErrUnexpectedRecord, len(body))
	}
	return nil
}
