package session

import "errors"

// Errors of the session protocol. They are wrapped with the stage
// (ServerHello, ClientHello, FINISHED, or the record and its direction) and
// the values involved, so compare them with errors.Is.
var (
	// ErrBadMagic: a hello does not start with Magic.
	ErrBadMagic = errors.New("bad magic (the peer does not speak the kemtcp session protocol)")
	// ErrLegacyPeer: the first frame from the server is a Python pickle, as the
	// legacy protocol's server sends.
	ErrLegacyPeer = errors.New("server speaks the legacy protocol (pickled key), not session; use -proto legacy")
	// ErrVersion: a hello names a protocol version other than Version.
	ErrVersion = errors.New("unsupported protocol version")
	// ErrUnknownKEM: a hello names a kem_id that is no ML-KEM parameter set.
	ErrUnknownKEM = errors.New("unknown KEM id")
	// ErrKEMMismatch: the peer uses another ML-KEM parameter set.
	ErrKEMMismatch = errors.New("KEM mismatch")
	// ErrLength: a hello's length is not the exact length its kem_id implies.
	ErrLength = errors.New("wrong length")
	// ErrBadKey: an encapsulation key in the ServerHello fails the FIPS 203
	// modulus check (the error also wraps kem.ErrEncapsKey).
	ErrBadKey = errors.New("invalid encapsulation key (FIPS 203 modulus check failed)")
	// ErrServerKeyRefused wraps the error of ClientConfig.VerifyServerKey.
	ErrServerKeyRefused = errors.New("server key refused")
	// ErrKeyConfirmation: the server's FINISHED record does not open, so the
	// server did not derive our keys.
	ErrKeyConfirmation = errors.New("server failed key confirmation: it does not hold the private key for the key it sent")
	// ErrAuth: a record failed to open (tampered, replayed, reordered,
	// dropped, or sealed with another key).
	ErrAuth = errors.New("record failed to authenticate")
	// ErrTruncated: the connection ended without CLOSE, or inside a frame.
	ErrTruncated = errors.New("connection ended without CLOSE (truncated)")
	// ErrUnknownRecordType: a record opened but its type is not one of
	// RecordFinished, RecordData, RecordClose.
	ErrUnknownRecordType = errors.New("unknown record type")
	// ErrUnexpectedRecord: a valid record where the protocol forbids it
	// (DATA before FINISHED, FINISHED twice, anything after CLOSE, a
	// non-empty FINISHED or CLOSE).
	ErrUnexpectedRecord = errors.New("unexpected record")
	// ErrRecordLimit: a direction reached MaxRecords.
	ErrRecordLimit = errors.New("record limit reached")
	// ErrClosed: Send after CloseWrite.
	ErrClosed = errors.New("session closed for sending")
	// ErrConfig: a ServerConfig or ClientConfig is unusable.
	ErrConfig = errors.New("invalid session configuration")
)
