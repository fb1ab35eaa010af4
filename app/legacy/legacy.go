// Package legacy speaks the wire protocol of the original Python ML-KEM TCP
// demo (PROTOCOL.md in this folder), byte for byte, so that kemtcp's server works with
// the unmodified Python client and kemtcp's client with the Python server.
//
// The pipeline, one TCP connection, one client:
//
//	server → client, once:   frame(pickle(ek))
//	client → server, per line:
//	    (ss, kem_ct) = ML-KEM.Encaps(ek)                 fresh for every message
//	    key          = HKDF-SHA256(ss, salt = none, info = "ml-kem-aesgcm-v1", 32)
//	    nonce        = 12 random bytes
//	    ct           = AES-256-GCM(key, nonce, line, aad)
//	    frame(pickle({"kem_ciphertext": kem_ct, "nonce": nonce, "ciphertext": ct, "aad": aad}))
//
// where frame(p) is a u32 big-endian length and p (package frame) and pickle
// is Python's pickle, protocol 4, as CPython writes it (package pickle, which
// reads only the opcodes of bytes, str and dict, so decoding a message can
// never run code, unlike the original's pickle.loads).
//
// The protocol has no authentication: whoever sits between the client and
// the server can hand the client its own key and read every line. Nothing
// names the KEM on the wire: both sides must be told the same one. Use the
// session protocol (package session) for anything but compatibility with the
// demo.
package legacy

import (
	"errors"
	"fmt"

	"github.com/kemtcp/kemtcp/app/kem"
)

// Protocol constants (PROTOCOL.md in this folder).
const (
	// ProtocolName is how users choose this protocol (-proto legacy).
	ProtocolName = "legacy"
	// Info is the HKDF info string.
	Info = "ml-kem-aesgcm-v1"
	// KeySize is the size of the derived AES-256-GCM key.
	KeySize = 32
	// NonceSize is the size of the AES-GCM nonce.
	NonceSize = 12
	// TagSize is the size of the AES-GCM tag at the end of a ciphertext.
	TagSize = 16
	// PickleProtocol is the pickle protocol this package writes (CPython
	// 3.8 to 3.13's default). It reads protocols 3, 4 and 5.
	PickleProtocol = 4
)

// The keys of a message bundle, in the order the original writes them.
const (
	KeyKEMCiphertext = "kem_ciphertext"
	KeyNonce         = "nonce"
	KeyCiphertext    = "ciphertext"
	KeyAAD           = "aad"
)

// bundleKeys are the four keys, in wire order.
var bundleKeys = [...]string{KeyKEMCiphertext, KeyNonce, KeyCiphertext, KeyAAD}

// sessionMagic starts every handshake message of kemtcp's session protocol.
const sessionMagic = "KEMTCP"

// Errors of this package, wrapped with detail: compare with errors.Is.
// Framing errors are those of package frame (frame.ErrTooLarge, ...).
var (
	// ErrSessionPeer: the peer speaks kemtcp's session protocol.
	ErrSessionPeer = errors.New("peer speaks kemtcp's session protocol, not legacy")
	// ErrKEMMismatch: the peer's key or ciphertext has the size of another
	// ML-KEM parameter set than the one we were told to use.
	ErrKEMMismatch = errors.New("peer uses another ML-KEM parameter set")
	// ErrDecrypt: AES-GCM refused a message (wrong key, or the message was
	// changed on the way).
	ErrDecrypt = errors.New("message failed to decrypt")
	// ErrMalformed: a frame is not a valid legacy message (not a pickle of
	// the right shape, wrong sizes, invalid key). Errors of package pickle
	// are wrapped too.
	ErrMalformed = errors.New("malformed legacy message")
)

// legacyError is an error with a full message of its own that still matches
// its sentinel (and cause) with errors.Is.
type legacyError struct {
	msg  string
	errs []error
}

func (e *legacyError) Error() string   { return e.msg }
func (e *legacyError) Unwrap() []error { return e.errs }

// newError returns an error reading format and wrapping sentinel and, if
// not nil, cause.
func newError(sentinel, cause error, format string, args ...any) error {
	e := &legacyError{msg: fmt.Sprintf(format, args...), errs: []error{sentinel}}
	if cause != nil {
		e.errs = append(e.errs, cause)
	}
	return e
}

// paramsWith returns the parameter set whose size(p) is n.
func paramsWith(n int, size func(kem.Params) int) (kem.Params, bool) {
	for _, alg := range kem.Algorithms() {
		p, err := kem.ParamsFor(alg)
		if err == nil && size(p) == n {
			return p, true
		}
	}
	return kem.Params{}, false
}

func ekSize(p kem.Params) int { return p.EncapsulationKeySize }
func ctSize(p kem.Params) int { return p.CiphertextSize }
