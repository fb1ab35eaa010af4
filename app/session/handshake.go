package session

import (
	"errors"
	"fmt"
	"io"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
)

// Pieces both handshakes share (PROTOCOL.md, "Handshake" and "Key
// schedule"). Each side's state machine is in handshake_server.go and
// handshake_client.go.

// readHello reads one hello frame (at most wire.MaxHelloSize). A stream
// that ends first gives a truncation error; hint says what that may mean.
func (c *Conn) readHello(stage, hint string) ([]byte, error) {
	p, err := c.in.rd.next(wire.MaxHelloSize)
	switch {
	case err == nil:
		return p, nil
	case err == io.EOF:
		return nil, &truncatedError{msg: fmt.Sprintf("%s: %v: the connection ended before the %s (%s)", stage, ErrTruncated, stage, hint)}
	case errors.Is(err, frame.ErrTruncated):
		return nil, &truncatedError{msg: fmt.Sprintf("%s: %v: %v", stage, ErrTruncated, err), cause: err}
	case errors.Is(err, frame.ErrTooLarge), errors.Is(err, frame.ErrEmpty):
		if what := c.in.rd.lookalike(); what != "" {
			return nil, fmt.Errorf("%s: %w (the peer sent what looks like %s, not the kemtcp session protocol)", stage, err, what)
		}
		return nil, fmt.Errorf("%s: %w (the peer does not speak the kemtcp session protocol)", stage, err)
	}
	return nil, fmt.Errorf("%s: receive: %w", stage, err)
}

// helloFrame returns a buffer with a frame header for a size-byte payload
// and room for it.
func helloFrame(size int) []byte {
	return frame.AppendHeader(make([]byte, 0, frame.HeaderSize+size+2*(frame.HeaderSize+wire.RecordOverhead)+4096), size)
}

// trafficKeys installs the traffic keys of a version-1 session (from prk),
// or of version 2 (from master), and the exporter secret. It wipes what it
// derives on the way; the caller wipes prk or master.
func (c *Conn) trafficKeys(version byte, secret []byte) error {
	var c2s, s2c []byte
	var err error
	if version == wire.Version1 {
		if c2s, err = wire.Expand(secret, wire.LabelV1ClientToServer, wire.KeySize); err != nil {
			return err
		}
		defer clear(c2s)
		if s2c, err = wire.Expand(secret, wire.LabelV1ServerToClient, wire.KeySize); err != nil {
			return err
		}
		defer clear(s2c)
		if c.exporter, err = wire.Expand(secret, wire.LabelV1Exporter, wire.SecretSize); err != nil {
			return err
		}
	} else {
		tsC2S, err := wire.Expand(secret, wire.LabelClientToServer, wire.SecretSize)
		if err != nil {
			return err
		}
		tsS2C, err := wire.Expand(secret, wire.LabelServerToClient, wire.SecretSize)
		if err != nil {
			clear(tsC2S)
			return err
		}
		if c2s, err = wire.Expand(tsC2S, wire.LabelKey, wire.KeySize); err != nil {
			return err
		}
		defer clear(c2s)
		if s2c, err = wire.Expand(tsS2C, wire.LabelKey, wire.KeySize); err != nil {
			return err
		}
		defer clear(s2c)
		if c.exporter, err = wire.Expand(secret, wire.LabelExporter, wire.SecretSize); err != nil {
			return err
		}
		if c.isClient {
			c.out.secret, c.in.secret = tsC2S, tsS2C
		} else {
			c.out.secret, c.in.secret = tsS2C, tsC2S
		}
	}
	send, recv := s2c, c2s
	if c.isClient {
		send, recv = c2s, s2c
	}
	if err := c.out.sealer.SetKey(send); err != nil {
		return err
	}
	return c.in.opener.SetKey(recv)
}

// handshakeKeys returns a sealer and an opener for the client key
// handshake records (hs_c, hs_s), this side's way round.
func (c *Conn) handshakeKeys(prk []byte) (*wire.Sealer, *wire.Opener, error) {
	hsC, err := wire.Expand(prk, wire.LabelClientHandshake, wire.KeySize)
	if err != nil {
		return nil, nil, err
	}
	defer clear(hsC)
	hsS, err := wire.Expand(prk, wire.LabelServerHandshake, wire.KeySize)
	if err != nil {
		return nil, nil, err
	}
	defer clear(hsS)
	send, recv := hsS, hsC
	if c.isClient {
		send, recv = hsC, hsS
	}
	s, o := new(wire.Sealer), new(wire.Opener)
	if err := s.SetKey(send); err != nil {
		return nil, nil, err
	}
	if err := o.SetKey(recv); err != nil {
		return nil, nil, err
	}
	return s, o, nil
}

// readHandshakeRecord reads the next record frame and opens it with o,
// which is the traffic opener or a handshake one. The body aliases the
// reader's buffer. What may end the connection cleanly at this point is a
// truncation with hint.
func (c *Conn) readHandshakeRecord(o *wire.Opener, stage, hint string) (byte, []byte, error) {
	payload, err := c.in.rd.next(c.set.maxFrame)
	if err != nil {
		if err == io.EOF {
			return 0, nil, &truncatedError{msg: fmt.Sprintf("%s: %v: the %s closed the connection (%s)", stage, ErrTruncated, c.peer(), hint)}
		}
		return 0, nil, fmt.Errorf("%s: %w", stage, c.frameError(err))
	}
	typ, body, err := o.Open(payload)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: from the %s: %w", stage, c.peer(), err)
	}
	return typ, body, nil
}

// expectRecord checks a handshake record's type and body length.
func expectRecord(stage, from string, typ byte, body []byte, wantTyp byte, wantLen int) error {
	switch {
	case typ != wantTyp && wire.RecordName(typ) == "unknown":
		return fmt.Errorf("%s: %w 0x%02x from the %s, want %s", stage, ErrUnknownRecordType, typ, from, wire.RecordName(wantTyp))
	case typ != wantTyp:
		return fmt.Errorf("%s: %w: the %s sent %s, want %s", stage, ErrUnexpectedRecord, from, wire.RecordName(typ), wire.RecordName(wantTyp))
	case len(body) != wantLen:
		return fmt.Errorf("%s: %w: the %s's %s has a %d-byte body, want %d", stage, ErrUnexpectedRecord, from, wire.RecordName(typ), len(body), wantLen)
	}
	return nil
}

// describe names an algorithm as error messages do: "ML-KEM-768 (0x0201)".
var describe = wire.Describe
