package session

import (
	"crypto/sha256"

	"github.com/kemtcp/kemtcp/app/kem"
)

// Wire constants of the session protocol, version 1 (PROTOCOL.md).
const (
	// ProtocolName is how users choose this protocol (-proto session).
	ProtocolName = "session"
	// Magic opens both hellos.
	Magic = "KEMTCP"
	// Version is the protocol version this package speaks; it follows Magic
	// in both hellos.
	Version = 1
)

// Sizes of the hello header: Magic || Version (1 byte) || kem_id (u16).
const (
	magicSize       = len(Magic)
	versionOffset   = magicSize
	kemIDOffset     = versionOffset + 1
	kemIDSize       = 2
	HelloHeaderSize = kemIDOffset + kemIDSize // 9
)

// Record types: the first byte of a record's plaintext.
const (
	// RecordFinished is the server's first record: an empty body that proves
	// it derived the same keys (key confirmation).
	RecordFinished = 0x01
	// RecordData carries application bytes, in both directions.
	RecordData = 0x02
	// RecordClose ends a direction; nothing may follow it.
	RecordClose = 0x03
)

// MaxRecords is the most records one direction may carry, CLOSE included:
// sequence numbers run from 0 to MaxRecords-1.
const MaxRecords = 1 << 24

// HKDF-Expand labels of the two directional keys.
const (
	LabelClientToServer = "kemtcp v1 client to server"
	LabelServerToClient = "kemtcp v1 server to client"
)

// Sizes of the key schedule and the record layer.
const (
	// HashSize is the size of the transcript hash th (SHA-256).
	HashSize = sha256.Size
	// SharedKeySize is the size of each ML-KEM shared secret, ss_s and ss_e.
	SharedKeySize = kem.SharedKeySize
	// PRKSize is the size of the HKDF pseudorandom key.
	PRKSize = sha256.Size
	// KeySize is the size of each directional AES-256-GCM key.
	KeySize = 32
	// NonceSize is the size of a record nonce: 4 zero bytes || seq (u64).
	NonceSize = 12
	// nonceSeqOffset is where seq starts in the nonce.
	nonceSeqOffset = NonceSize - 8
	// TagSize is the size of the AES-GCM authentication tag.
	TagSize = 16
	// typeSize is the size of the record type.
	typeSize = 1
	// RecordOverhead is what a record adds to its body: type and tag.
	RecordOverhead = typeSize + TagSize
)

// recordName names a record type in error messages.
func recordName(typ byte) string {
	switch typ {
	case RecordFinished:
		return "FINISHED"
	case RecordData:
		return "DATA"
	case RecordClose:
		return "CLOSE"
	}
	return "unknown"
}

// Handshake stages, as error messages name them.
const (
	stageServerHello = "ServerHello"
	stageClientHello = "ClientHello"
	stageFinished    = "FINISHED"
)
