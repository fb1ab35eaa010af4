package session

import (
	"bytes"
	"fmt"
	"io"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// clientHandshake is the client's side of the handshake (PROTOCOL.md,
// "Handshake"): it reads and checks the ServerHello (magic, version, flags,
// KEM, exact length, both keys' checks, then VerifyServerKey), encapsulates
// to both keys, sends the ClientHello (with CLIENT_KEY when the server asks
// for a client key), and returns once the server's FINISHED has opened (key
// confirmation) and its own FINISHED is sent. Nothing but the ClientHello
// (and CLIENT_KEY) is written before FINISHED has opened. It holds both
// halves' locks: nothing else reads or writes until it is done.
func (c *Conn) clientHandshake() error {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	cfg := c.clientCfg
	set, err := cfg.settings()
	if err != nil {
		return err
	}
	c.set = set
	p := set.params

	// 2. ServerHello.
	shPayload, err := c.readHello(wire.StageServerHello, "is it a kemtcp session server? A full one closes new connections too")
	if err != nil {
		return err
	}
	sh, err := wire.ParseServerHello(shPayload)
	if err != nil {
		return err
	}
	if sh.KEMID != p.ID {
		theirs, _ := kem.ParamsByID(sh.KEMID)
		return &KEMMismatchError{Stage: wire.StageServerHello, Server: describe(theirs), Client: describe(p), ServerName: theirs.Name, ClientIsSelf: true}
	}
	clientKeys := sh.Flags&wire.FlagClientKey != 0
	if clientKeys && cfg.ClientKey == nil {
		return fmt.Errorf("%s: %w, and this client has none", wire.StageServerHello, ErrClientKeyRequired)
	}
	ekS, err := set.scheme.NewEncapsulationKey(sh.StaticKey)
	if err != nil {
		return fmt.Errorf("%s: %w: static key ek_s: %w", wire.StageServerHello, ErrBadKey, err)
	}
	ekE, err := set.scheme.NewEncapsulationKey(sh.EphemeralKey)
	if err != nil {
		return fmt.Errorf("%s: %w: ephemeral key ek_e: %w", wire.StageServerHello, ErrBadKey, err)
	}
	if cfg.VerifyServerKey != nil {
		if err := cfg.VerifyServerKey(bytes.Clone(sh.StaticKey)); err != nil {
			return fmt.Errorf("%s: %w: %w", wire.StageServerHello, ErrServerKeyRefused, err)
		}
	}
	c.serverKey = bytes.Clone(sh.StaticKey)
	shPayload = bytes.Clone(shPayload) // the reader reuses its buffer
	c.version = wire.Version2

	// 3. ClientHello.
	ssS, ctS, err := encapsulate(ekS, cfg.encapsSeeds[0])
	if err != nil {
		return fmt.Errorf("%s: encapsulate to ek_s: %w", wire.StageClientHello, err)
	}
	defer clear(ssS)
	ssE, ctE, err := encapsulate(ekE, cfg.encapsSeeds[1])
	if err != nil {
		return fmt.Errorf("%s: encapsulate to ek_e: %w", wire.StageClientHello, err)
	}
	defer clear(ssE)
	ch := &wire.ClientHello{Version: wire.Version2, KEMID: p.ID, StaticCiphertext: ctS, EphemeralCiphertext: ctE}
	if cfg.mutateClientHello != nil {
		cfg.mutateClientHello(ch)
		c.version = ch.Version // tests speak version 1 so
	}
	out, err := ch.Append(helloFrame(wire.ClientHelloSize(p)))
	if err != nil {
		return err
	}
	chPayload := out[frame.HeaderSize:]
	th := wire.TranscriptHash(shPayload, chPayload)
	prk, err := wire.Extract(th[:], ssE, ssS)
	if err != nil {
		return err
	}
	defer clear(prk)

	master := prk
	var opener *wire.Opener
	var ekC []byte
	if clientKeys {
		var sealer *wire.Sealer
		if sealer, opener, err = c.handshakeKeys(prk); err != nil {
			return err
		}
		ekC = cfg.ClientKey.EncapsulationKey().Bytes()
		chPayload = bytes.Clone(chPayload) // out grows below
		out = appendRecord(out, sealer, wire.RecordClientKey, ekC)
	}
	if _, err := c.conn.Write(out); err != nil {
		return fmt.Errorf("%s: send: %w", wire.StageClientHello, err)
	}

	if clientKeys {
		if master, err = c.clientKeyExchange(opener, prk, shPayload, chPayload, ekC); err != nil {
			return err
		}
		defer clear(master)
	}
	if err := c.trafficKeys(c.version, master); err != nil {
		return err
	}

	// FINISHED: key confirmation; then ours.
	if err := c.readFinished(); err != nil {
		return err
	}
	if c.version >= wire.Version2 {
		if err := c.sendRecord(wire.RecordFinished, nil); err != nil {
			return fmt.Errorf("%s: send: %w", wire.StageFinished, err)
		}
	}
	c.in.rd.release()
	return nil
}

// clientKeyExchange runs the client's half of the client key exchange: it
// reads CLIENT_CIPHERTEXT (or REFUSED), decapsulates ct_c and returns
// master.
func (c *Conn) clientKeyExchange(opener *wire.Opener, prk, serverHello, clientHello, ekC []byte) ([]byte, error) {
	fp := identity.Fingerprint(ekC)
	typ, body, err := c.readHandshakeRecord(opener, wire.StageClientKey, "it may not know the client key "+fp)
	if err != nil {
		return nil, err
	}
	if typ == wire.RecordRefused {
		if len(body) == 1 && body[0] == wire.RefusedClientKey {
			return nil, fmt.Errorf("%w: the server does not authorize the client key %s", ErrClientKeyRefused, fp)
		}
		return nil, fmt.Errorf("%w: the server refused the client key %s (reason %x)", ErrClientKeyRefused, fp, body)
	}
	if err := expectRecord(wire.StageClientKey, "server", typ, body, wire.RecordClientCiphertext, c.set.params.CiphertextSize); err != nil {
		return nil, err
	}
	ctC := bytes.Clone(body)
	ssC, err := c.clientCfg.ClientKey.Decapsulate(ctC)
	if err != nil {
		return nil, fmt.Errorf("%s: decapsulate ct_c: %w", wire.StageClientKey, err)
	}
	defer clear(ssC)
	c.clientKey = ekC
	th2 := wire.TranscriptHash(serverHello, clientHello, ekC, ctC)
	return wire.Extract(th2[:], prk, ssC)
}

// readFinished reads and opens the server's first traffic record, which
// must be an empty FINISHED.
func (c *Conn) readFinished() error {
	payload, err := c.in.rd.next(c.set.maxFrame)
	if err != nil {
		if err == io.EOF {
			return &truncatedError{msg: fmt.Sprintf("%s: %v: the server closed the connection before FINISHED (it may have refused the ClientHello, or speak only protocol version 1: see its log)", wire.StageFinished, ErrTruncated)}
		}
		return fmt.Errorf("%s: %w", wire.StageFinished, c.frameError(err))
	}
	typ, body, err := c.in.opener.Open(payload)
	if err != nil {
		return fmt.Errorf("%s: %w (%w)", wire.StageFinished, ErrKeyConfirmation, err)
	}
	if err := expectRecord(wire.StageFinished, "server", typ, body, wire.RecordFinished, 0); err != nil {
		return err
	}
	return nil
}
