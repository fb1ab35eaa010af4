package session

import (
	"errors"
	"io"

	"github.com/kemtcp/kemtcp/app/internal/wire"
)

// Errors of the session protocol. They are wrapped with the stage
// (ServerHello, ClientHello, client key, FINISHED, or the record and its
// direction) and the values involved, so compare them with errors.Is. None
// quotes a secret.
var (
	// ErrBadMagic: a hello does not start with "KEMTCP".
	ErrBadMagic = wire.ErrBadMagic
	// ErrLegacyPeer: the server's first frame is a Python pickle, as the
	// original demo's (legacy protocol) server sends.
	ErrLegacyPeer = wire.ErrLegacyPeer
	// ErrVersion: a hello names a protocol version this build does not
	// speak, or one the other hello rules out.
	ErrVersion = wire.ErrVersion
	// ErrFlags: a ServerHello sets a flag this build does not know.
	ErrFlags = wire.ErrFlags
	// ErrUnknownKEM: a hello names a kem_id this build does not know.
	ErrUnknownKEM = wire.ErrUnknownKEM
	// ErrKEMMismatch: the peer uses another KEM.
	ErrKEMMismatch = wire.ErrKEMMismatch
	// ErrLength: a hello or handshake record is not the exact length its
	// kem_id implies.
	ErrLength = wire.ErrLength
	// ErrBadKey: an encapsulation key in a hello or CLIENT_KEY fails its
	// check (the FIPS 203 modulus check; the error also wraps
	// kem.ErrEncapsKey).
	ErrBadKey = wire.ErrBadKey
	// ErrServerKeyRefused wraps the error of ClientConfig.VerifyServerKey.
	ErrServerKeyRefused = wire.ErrServerKeyRefused
	// ErrKeyConfirmation: the server's FINISHED does not open, so the
	// server did not derive our keys.
	ErrKeyConfirmation = wire.ErrKeyConfirmation
	// ErrClientKeyRequired: the server requires a client key and the
	// ClientConfig has none.
	ErrClientKeyRequired = wire.ErrClientKeyRequired
	// ErrClientKeyRefused: the server does not authorize the client's key
	// (on the client), or ServerConfig.VerifyClientKey refused it (on the
	// server, wrapping its error).
	ErrClientKeyRefused = wire.ErrClientKeyRefused
	// ErrRefused: the server refused the connection before the handshake
	// (Refuse); the error says why.
	ErrRefused = wire.ErrRefused
	// ErrAuth: a record failed to open (tampered, replayed, reordered,
	// dropped, or sealed with another key).
	ErrAuth = wire.ErrAuth
	// ErrTruncated: the connection ended without CLOSE, or inside a frame.
	// Such errors also wrap io.ErrUnexpectedEOF.
	ErrTruncated = wire.ErrTruncated
	// ErrUnknownRecordType: a record opened but its type is unknown.
	ErrUnknownRecordType = wire.ErrUnknownRecordType
	// ErrUnexpectedRecord: a valid record where the protocol forbids it
	// (data before FINISHED, a second FINISHED, anything after CLOSE, a
	// body where none is allowed).
	ErrUnexpectedRecord = wire.ErrUnexpectedRecord
	// ErrRecordLimit: the peer went past a key's usage limit without a key
	// update, or (version 1, which has no key update) this side reached it.
	ErrRecordLimit = wire.ErrRecordLimit
	// ErrClosed: Write after CloseWrite, or after the peer closed a
	// version-1 session at its record limit.
	ErrClosed = errors.New("session closed for writing")
	// ErrConfig: a ServerConfig or ClientConfig is unusable.
	ErrConfig = errors.New("invalid session configuration")
	// ErrHandshakeIncomplete: an operation that needs a completed
	// handshake, such as CloseWrite or ExportKeyingMaterial, came first.
	ErrHandshakeIncomplete = errors.New("handshake not complete")
)

// KEMMismatchError is the error of a handshake between two KEMs: it says
// which each side uses, and matches ErrKEMMismatch.
type KEMMismatchError = wire.KEMMismatchError

// truncatedError is a truncation: it matches both ErrTruncated and
// io.ErrUnexpectedEOF, so that programs that know only the io package see
// it as the unexpected end it is.
type truncatedError struct {
	msg   string
	cause error // frame.ErrTruncated inside a frame, or nil
}

func (e *truncatedError) Error() string { return e.msg }
func (e *truncatedError) Unwrap() []error {
	errs := []error{wire.ErrTruncated, io.ErrUnexpectedEOF}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}
