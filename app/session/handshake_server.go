package session

import (
	"bytes"
	"fmt"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// serverHandshake is the server's side of the handshake (PROTOCOL.md,
// "Handshake"): ServerHello; ClientHello; both decapsulations (the
// ephemeral key destroyed right after); with client keys, CLIENT_KEY in and
// CLIENT_CIPHERTEXT out; FINISHED out; and, version 2, the client's
// FINISHED in. It holds both halves' locks: nothing else reads or writes
// until it is done.
func (c *Conn) serverHandshake() error {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	cfg := c.serverCfg
	set, err := cfg.settings()
	if err != nil {
		return err
	}
	c.set = set
	p := set.params
	ekS := cfg.Static.EncapsulationKey().Bytes()
	c.serverKey = ekS
	clientKeys := cfg.VerifyClientKey != nil

	var dkE kem.DecapsulationKey
	if cfg.ephemeralSeed != nil {
		dkE, err = set.scheme.NewDecapsulationKey(cfg.ephemeralSeed)
	} else {
		dkE, err = set.scheme.GenerateKey()
	}
	if err != nil {
		return fmt.Errorf("%s: ephemeral key: %w", wire.StageServerHello, err)
	}
	live := true
	destroyEphemeral := func() {
		if live {
			dkE.Destroy()
			live = false
		}
	}
	defer destroyEphemeral()

	// 1. ServerHello: version 1 unless client keys are required.
	sh := &wire.ServerHello{Version: wire.Version1, KEMID: p.ID, StaticKey: ekS, EphemeralKey: dkE.EncapsulationKey().Bytes()}
	if clientKeys {
		sh.Version, sh.Flags = wire.Version2, wire.FlagClientKey
	}
	shFrame, err := sh.Append(helloFrame(wire.ServerHelloSize(sh.Version, p)))
	if err != nil {
		return err
	}
	if _, err := c.conn.Write(shFrame); err != nil {
		return fmt.Errorf("%s: send: %w", wire.StageServerHello, err)
	}
	shPayload := shFrame[frame.HeaderSize:]

	// 4. ClientHello.
	chPayload, err := c.readHello(wire.StageClientHello, "the client may have refused the server's key or KEM")
	if err != nil {
		return err
	}
	ch, err := wire.ParseClientHello(chPayload)
	if err != nil {
		return err
	}
	if ch.KEMID != p.ID {
		theirs, _ := kem.ParamsByID(ch.KEMID)
		return &KEMMismatchError{Stage: wire.StageClientHello, Server: describe(p), Client: describe(theirs), ServerName: p.Name}
	}
	if clientKeys && ch.Version != wire.Version2 {
		return fmt.Errorf("%s: %w %d: this server requires client keys, which need version 2", wire.StageClientHello, ErrVersion, ch.Version)
	}
	c.version = ch.Version
	th := wire.TranscriptHash(shPayload, chPayload)
	clientHello := chPayload
	if clientKeys { // th2 needs it after the reader's next frame
		clientHello = bytes.Clone(chPayload)
	}

	ssS, err := cfg.Static.Decapsulate(ch.StaticCiphertext)
	if err != nil {
		return fmt.Errorf("%s: decapsulate ct_s: %w", wire.StageClientHello, err)
	}
	defer clear(ssS)
	ssE, err := dkE.Decapsulate(ch.EphemeralCiphertext)
	destroyEphemeral()
	if err != nil {
		return fmt.Errorf("%s: decapsulate ct_e: %w", wire.StageClientHello, err)
	}
	defer clear(ssE)
	prk, err := wire.Extract(th[:], ssE, ssS)
	if err != nil {
		return err
	}
	defer clear(prk)

	master := prk
	var clientCiphertext []byte // the CLIENT_CIPHERTEXT frame, sent with FINISHED
	if clientKeys {
		if master, clientCiphertext, err = c.serverClientKey(prk, shPayload, clientHello); err != nil {
			return err
		}
		defer clear(master)
	}
	if err := c.trafficKeys(c.version, master); err != nil {
		return err
	}

	// FINISHED, after CLIENT_CIPHERTEXT in the same write.
	send := func(c *Conn) error {
		buf := appendRecord(append(c.outBuffer(len(clientCiphertext)+frame.HeaderSize+wire.RecordOverhead), clientCiphertext...), &c.out.sealer, wire.RecordFinished, nil)
		return c.writeOut(buf)
	}
	if cfg.sendFirst != nil {
		send = cfg.sendFirst
	}
	if err := send(c); err != nil {
		return fmt.Errorf("%s: %w", wire.StageFinished, err)
	}

	// Version 2: the client's FINISHED.
	if c.version >= wire.Version2 {
		typ, body, err := c.readHandshakeRecord(&c.in.opener, wire.StageFinished, "before its FINISHED: it may have refused the server's FINISHED")
		if err != nil {
			return err
		}
		if err := expectRecord(wire.StageFinished, "client", typ, body, wire.RecordFinished, 0); err != nil {
			return err
		}
	}
	c.in.rd.release()
	return nil
}

// serverClientKey runs the server's half of the client key exchange: it
// reads CLIENT_KEY, checks and authorizes ek_c (sending REFUSED if it is
// not authorized), encapsulates to it, and returns master and the
// CLIENT_CIPHERTEXT frame to send.
func (c *Conn) serverClientKey(prk, serverHello, clientHello []byte) (master, frameOut []byte, err error) {
	p := c.set.params
	sealer, opener, err := c.handshakeKeys(prk)
	if err != nil {
		return nil, nil, err
	}
	typ, body, err := c.readHandshakeRecord(opener, wire.StageClientKey, "the client may have no client key, or refused the server's key")
	if err != nil {
		return nil, nil, err
	}
	if err := expectRecord(wire.StageClientKey, "client", typ, body, wire.RecordClientKey, p.EncapsulationKeySize); err != nil {
		return nil, nil, err
	}
	ekC := bytes.Clone(body)
	ek, err := c.set.scheme.NewEncapsulationKey(ekC)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: the client's key ek_c: %w", wire.StageClientKey, ErrBadKey, err)
	}
	if err := c.serverCfg.VerifyClientKey(bytes.Clone(ekC)); err != nil {
		refused := appendRecord(c.outBuffer(frame.HeaderSize+wire.RecordOverhead+1), sealer, wire.RecordRefused, []byte{wire.RefusedClientKey})
		c.writeOut(refused) // best effort: the connection ends either way
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrClientKeyRefused, identity.Fingerprint(ekC), err)
	}
	c.clientKey = ekC
	ssC, ctC, err := encapsulate(ek, c.serverCfg.clientEncapsSeed)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: encapsulate to ek_c: %w", wire.StageClientKey, err)
	}
	defer clear(ssC)
	th2 := wire.TranscriptHash(serverHello, clientHello, ekC, ctC)
	if master, err = wire.Extract(th2[:], prk, ssC); err != nil {
		return nil, nil, err
	}
	return master, appendRecord(nil, sealer, wire.RecordClientCiphertext, ctC), nil
}
