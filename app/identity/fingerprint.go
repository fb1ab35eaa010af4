package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// FingerprintPrefix starts every fingerprint, as in OpenSSH.
const FingerprintPrefix = "SHA256:"

// fingerprintB64Len is the length of the unpadded base64 of a SHA-256 digest.
const fingerprintB64Len = (sha256.Size*8 + 5) / 6 // 43

// Errors of this file, compared with errors.Is.
var (
	// ErrMalformedFingerprint is returned for a pin or known-hosts entry that
	// is not "SHA256:" followed by 43 base64 characters.
	ErrMalformedFingerprint = errors.New("malformed fingerprint")
	// ErrPinMismatch is returned by CheckPin when the server's key is not the
	// pinned one; the error is a *PinMismatchError.
	ErrPinMismatch = errors.New("server key does not match the pinned fingerprint")
)

// Fingerprint is "SHA256:" + unpadded standard base64 of SHA-256(ek), as
// OpenSSH prints key fingerprints (PROTOCOL.md, "Server identity"). ek is
// the raw encapsulation key of any KEM (ML-KEM's ek, X-Wing's 1216-byte
// pk_M || pk_X), not its SubjectPublicKeyInfo.
func Fingerprint(ek []byte) string {
	sum := sha256.Sum256(ek)
	return fingerprintOfDigest(sum[:])
}

func fingerprintOfDigest(sum []byte) string {
	return FingerprintPrefix + base64.RawStdEncoding.EncodeToString(sum)
}

// ParseFingerprint checks that s is a fingerprint as Fingerprint writes it
// and returns the SHA-256 digest it holds. Surrounding spaces are ignored;
// the prefix is case-sensitive and the base64 must be unpadded and canonical.
func ParseFingerprint(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	want := fmt.Sprintf("want %q followed by %d base64 characters", FingerprintPrefix, fingerprintB64Len)
	b64, ok := strings.CutPrefix(s, FingerprintPrefix)
	if !ok {
		if len(s) >= len(FingerprintPrefix) && strings.EqualFold(s[:len(FingerprintPrefix)], FingerprintPrefix) {
			return nil, fmt.Errorf("%w %q: the prefix must be written %q", ErrMalformedFingerprint, s, FingerprintPrefix)
		}
		return nil, fmt.Errorf("%w %q: %s", ErrMalformedFingerprint, s, want)
	}
	if strings.HasSuffix(b64, "=") {
		return nil, fmt.Errorf("%w %q: fingerprints are unpadded base64; remove the trailing '='", ErrMalformedFingerprint, s)
	}
	if len(b64) != fingerprintB64Len {
		return nil, fmt.Errorf("%w %q: %d base64 characters after %q, %s", ErrMalformedFingerprint, s, len(b64), FingerprintPrefix, want)
	}
	sum, err := base64.RawStdEncoding.Strict().DecodeString(b64)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("%w %q: not valid base64 (%v); %s", ErrMalformedFingerprint, s, err, want)
	}
	return sum, nil
}

// PinMismatchError is the error of CheckPin when the presented key is not
// the pinned one. It matches ErrPinMismatch with errors.Is.
type PinMismatchError struct {
	Pin string // the pinned fingerprint
	Got string // the fingerprint of the key the server presented
}

func (e *PinMismatchError) Error() string {
	return fmt.Sprintf("%v: the server presented %s but the pin is %s; refusing to talk to it "+
		"(someone may be impersonating the server, or its key was changed: check the fingerprint "+
		"the server prints at start-up)", ErrPinMismatch, e.Got, e.Pin)
}

// Is makes errors.Is(err, ErrPinMismatch) true.
func (e *PinMismatchError) Is(target error) bool { return target == ErrPinMismatch }

// CheckPin returns nil if ek's fingerprint is pin. A pin that is not a
// fingerprint gives an error wrapping ErrMalformedFingerprint; a different
// key gives a *PinMismatchError (ErrPinMismatch) showing both fingerprints.
func CheckPin(pin string, ek []byte) error {
	want, err := ParseFingerprint(pin)
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	got := sha256.Sum256(ek)
	if subtle.ConstantTimeCompare(want, got[:]) != 1 {
		return &PinMismatchError{Pin: fingerprintOfDigest(want), Got: fingerprintOfDigest(got[:])}
	}
	return nil
}
