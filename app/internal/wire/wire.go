// Package wire is the session protocol's wire format (app/session/PROTOCOL.md):
// constants, the hellos, the key schedule and the record layer's AEAD. It is
// internal: package session is its one real user, and the hostile tests of
// session, server, client and cli use it to speak the protocol badly on
// purpose. Nothing here does I/O.
package wire

import (
	"crypto/sha256"

	"github.com/kemtcp/kemtcp/app/kem"
)

// Hello header: Magic || version (1 byte) || kem_id (u16), and for a
// version-2 ServerHello one flags byte more.
const (
	// Magic opens both hellos and the refusal.
	Magic = "KEMTCP"
	// Version1 is the protocol kemtcp spoke before client keys and key
	// update; a current server still serves it.
	Version1 = 1
	// Version2 adds the client's FINISHED, KEY_UPDATE, a reason in CLOSE
	// and client keys.
	Version2 = 2
	// VersionRefusal in a ServerHello's version byte makes it a refusal:
	// Magic || 0xFF || reason.
	VersionRefusal = 0xFF

	MagicSize     = len(Magic)
	VersionOffset = MagicSize
	KEMIDOffset   = VersionOffset + 1
	// HelloHeaderSize is the size of Magic || version || kem_id.
	HelloHeaderSize = KEMIDOffset + 2 // 9
	// FlagsSize is the size of the version-2 ServerHello's flags.
	FlagsSize = 1
	// RefusalSize is the size of a refusal: Magic || 0xFF || reason.
	RefusalSize = MagicSize + 2
)

// ServerHello flags (version 2).
const (
	// FlagClientKey: the server requires a client key.
	FlagClientKey = 0x01
	knownFlags    = FlagClientKey
)

// Refusal reasons, in a refusal before the handshake.
const (
	RefusedFull         = 0x01 // too many connections
	RefusedPerSource    = 0x02 // too many connections from the client's address
	RefusedShuttingDown = 0x03 // the server is shutting down
)

// Record types: the first byte of a record's plaintext.
const (
	RecordFinished         = 0x01
	RecordData             = 0x02
	RecordClose            = 0x03
	RecordKeyUpdate        = 0x04 // version 2
	RecordClientKey        = 0x05 // version 2, client key handshake
	RecordClientCiphertext = 0x06 // version 2, client key handshake
	RecordRefused          = 0x07 // version 2, client key handshake
)

// RecordName names a record type in error messages.
func RecordName(typ byte) string {
	switch typ {
	case RecordFinished:
		return "FINISHED"
	case RecordData:
		return "DATA"
	case RecordClose:
		return "CLOSE"
	case RecordKeyUpdate:
		return "KEY_UPDATE"
	case RecordClientKey:
		return "CLIENT_KEY"
	case RecordClientCiphertext:
		return "CLIENT_CIPHERTEXT"
	case RecordRefused:
		return "REFUSED"
	}
	return "unknown"
}

// CLOSE reasons (version 2; an empty body is a plain CLOSE).
const (
	CloseShutdown = 0x01 // the server is shutting down
	CloseIdle     = 0x02 // the connection was idle too long
	CloseTarget   = 0x03 // the service it forwards to failed or could not be reached
)

// REFUSED reasons (version 2 client key handshake).
const (
	RefusedClientKey = 0x01 // the client key is not authorized
)

// Sizes of the key schedule and the record layer.
const (
	HashSize      = sha256.Size
	SharedKeySize = kem.SharedKeySize
	// SecretSize is the size of prk, master, traffic and exporter secrets.
	SecretSize = sha256.Size
	// KeySize is the size of an AES-256-GCM key.
	KeySize   = 32
	NonceSize = 12
	TagSize   = 16
	TypeSize  = 1
	// RecordOverhead is what a record adds to its body: type and tag.
	RecordOverhead = TypeSize + TagSize
	// MaxExport is the longest output ExportKeyingMaterial gives
	// (HKDF-SHA256's 255 blocks).
	MaxExport = 255 * sha256.Size
)

// Limits per key and direction (PROTOCOL.md, "Key update and usage
// limits"). Blocks count q + s: one per record plus the 16-byte blocks of
// its plaintext.
const (
	MaxRecords      = 1 << 24
	MaxBlocks       = 1<<36 - 1
	UpdateAtRecords = 1 << 23
	UpdateAtBlocks  = 1 << 35
)

// Limits are the usage limits of one key (tests lower them).
type Limits struct {
	MaxRecords, MaxBlocks           uint64 // the receiver refuses beyond
	UpdateAtRecords, UpdateAtBlocks uint64 // the sender updates on reaching
}

// DefaultLimits are the protocol's limits.
var DefaultLimits = Limits{MaxRecords, MaxBlocks, UpdateAtRecords, UpdateAtBlocks}

// Blocks is what one record of an n-byte body adds to q + s.
func Blocks(n int) uint64 { return uint64(TypeSize+n+15)/16 + 1 }

// HKDF labels.
const (
	LabelV1ClientToServer = "kemtcp v1 client to server"
	LabelV1ServerToClient = "kemtcp v1 server to client"
	LabelV1Exporter       = "kemtcp v1 exporter"
	LabelClientHandshake  = "kemtcp v2 client handshake"
	LabelServerHandshake  = "kemtcp v2 server handshake"
	LabelClientToServer   = "kemtcp v2 client to server"
	LabelServerToClient   = "kemtcp v2 server to client"
	LabelKey              = "kemtcp v2 key"
	LabelKeyUpdate        = "kemtcp v2 key update"
	LabelExporter         = "kemtcp v2 exporter"
	LabelExporterPrefix   = "kemtcp exporter "
)
