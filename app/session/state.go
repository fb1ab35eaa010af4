package session

import (
	"bytes"
	"fmt"
	"net"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/internal/wire"
)

// ConnectionState describes a session, as tls.ConnectionState does a TLS
// connection.
type ConnectionState struct {
	// Version is the protocol version the session speaks, 1 or 2 (0
	// before the handshake).
	Version int
	// HandshakeComplete is true once Handshake has succeeded.
	HandshakeComplete bool
	// KEM is the canonical name of the session's KEM, e.g. "ML-KEM-768".
	KEM string
	// ServerKey is the server's static encapsulation key ek_s, and
	// ServerKeyFingerprint its "SHA256:..." fingerprint.
	ServerKey            []byte
	ServerKeyFingerprint string
	// ClientKey is the client's encapsulation key ek_c when the session
	// used client keys (nil otherwise), and ClientKeyFingerprint its
	// fingerprint ("" without).
	ClientKey            []byte
	ClientKeyFingerprint string
	// PeerCloseReason is the reason the peer gave in its CLOSE, once that
	// has arrived (CloseNormal if none).
	PeerCloseReason CloseReason
	// BytesRead and BytesWritten count the application bytes read from
	// and written to the session so far.
	BytesRead, BytesWritten uint64
	// KeyUpdatesSent and KeyUpdatesReceived count the key updates of
	// each direction so far (PROTOCOL.md, "Key update").
	KeyUpdatesSent, KeyUpdatesReceived uint64

	c *Conn
}

// ConnectionState returns the session's state. Before the handshake it
// has only the KEM, when the config names one.
func (c *Conn) ConnectionState() ConnectionState {
	cs := ConnectionState{
		c:                  c,
		PeerCloseReason:    CloseReason(c.peerClose.Load()),
		KeyUpdatesSent:     c.out.updates.Load(),
		KeyUpdatesReceived: c.in.updates.Load(),
		BytesRead:          c.bytesIn.Load(),
		BytesWritten:       c.bytesOut.Load(),
	}
	if c.set.scheme != nil {
		cs.KEM = c.set.scheme.Name()
	}
	if !c.hsDone.Load() {
		return cs
	}
	cs.HandshakeComplete = true
	cs.Version = int(c.version)
	cs.ServerKey = bytes.Clone(c.serverKey)
	cs.ServerKeyFingerprint = identity.Fingerprint(c.serverKey)
	if c.clientKey != nil {
		cs.ClientKey = bytes.Clone(c.clientKey)
		cs.ClientKeyFingerprint = identity.Fingerprint(c.clientKey)
	}
	return cs
}

// ExportKeyingMaterial returns length bytes (at most 8160) bound to this
// session, label and context, that only its two ends can compute: the
// exporter of RFC 8446, Section 7.5, in kemtcp's key schedule (PROTOCOL.md,
// "Exporter"). A nil context is the empty one. It fails before the
// handshake has completed and after Close.
func (cs ConnectionState) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if cs.c == nil || !cs.HandshakeComplete {
		return nil, fmt.Errorf("session: ExportKeyingMaterial: %w", ErrHandshakeIncomplete)
	}
	c := cs.c
	c.expMu.Lock()
	defer c.expMu.Unlock()
	if c.exporter == nil {
		return nil, fmt.Errorf("session: ExportKeyingMaterial: %w", net.ErrClosed)
	}
	out, err := wire.Export(c.exporter, label, context, length)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return out, nil
}

// CloseReason says why a side sent CLOSE (version 2; version 1's CLOSE
// carries none).
type CloseReason uint8

const (
	// CloseNormal is a CLOSE without a reason: the sender is done.
	CloseNormal CloseReason = 0
	// CloseShutdown: the server is shutting down.
	CloseShutdown CloseReason = wire.CloseShutdown
	// CloseIdle: the connection was idle for too long.
	CloseIdle CloseReason = wire.CloseIdle
	// CloseTarget: the service the server forwards to failed or could not be
	// reached.
	CloseTarget CloseReason = wire.CloseTarget
)

func (r CloseReason) String() string {
	switch r {
	case CloseNormal:
		return "closed"
	case CloseShutdown:
		return "the server is shutting down"
	case CloseIdle:
		return "idle for too long"
	case CloseTarget:
		return "the service it forwards to failed or could not be reached"
	}
	return fmt.Sprintf("close reason 0x%02x", uint8(r))
}
