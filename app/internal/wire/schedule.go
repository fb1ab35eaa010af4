package wire

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// The key schedule (PROTOCOL.md, "Key schedule"), HKDF-SHA256 (RFC 5869).
// Every function returns fresh slices that the caller wipes with clear once
// it is done with them.

// TranscriptHash returns SHA-256 over parts, in order: th over the two hello
// payloads, th2 over the hellos, ek_c and ct_c.
func TranscriptHash(parts ...[]byte) [HashSize]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var th [HashSize]byte
	h.Sum(th[:0])
	return th
}

// Extract returns HKDF-Extract(salt, a || b): prk (salt th, ikm ss_e ||
// ss_s) and master (salt th2, ikm prk || ss_c).
func Extract(salt, a, b []byte) ([]byte, error) {
	if len(salt) != HashSize {
		return nil, fmt.Errorf("HKDF-Extract: salt is %d bytes, want %d", len(salt), HashSize)
	}
	if len(a) != SecretSize || len(b) != SharedKeySize {
		return nil, fmt.Errorf("HKDF-Extract: inputs are %d and %d bytes, want %d and %d", len(a), len(b), SecretSize, SharedKeySize)
	}
	ikm := make([]byte, 0, len(a)+len(b))
	ikm = append(append(ikm, a...), b...)
	defer clear(ikm)
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, fmt.Errorf("HKDF-Extract: %w", err)
	}
	return prk, nil
}

// Expand returns HKDF-Expand(secret, label, n).
func Expand(secret []byte, label string, n int) ([]byte, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("HKDF-Expand %q: secret is %d bytes, want %d", label, len(secret), SecretSize)
	}
	if n < 0 {
		return nil, fmt.Errorf("HKDF-Expand %q: negative length %d", label, n)
	}
	out, err := hkdf.Expand(sha256.New, secret, label, n)
	if err != nil {
		return nil, fmt.Errorf("HKDF-Expand %q: %w", label, err)
	}
	return out, nil
}

// Export is the exporter of PROTOCOL.md: Expand(Expand(exporter_secret,
// "kemtcp exporter " || label, 32), length (u16) || SHA-256(context),
// length).
func Export(exporterSecret []byte, label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > MaxExport {
		return nil, fmt.Errorf("exporter: length %d is outside [0, %d]", length, MaxExport)
	}
	secret, err := Expand(exporterSecret, LabelExporterPrefix+label, SecretSize)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	h := sha256.Sum256(context)
	info := append([]byte{byte(length >> 8), byte(length)}, h[:]...)
	return Expand(secret, string(info), length)
}
