package session

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// The key schedule (PROTOCOL.md, "Key schedule"), HKDF-SHA256 (RFC 5869):
//
//	th      = SHA-256(ServerHello payload || ClientHello payload)
//	prk     = HKDF-Extract(salt = th, ikm = ss_e || ss_s)
//	key_c2s = HKDF-Expand(prk, LabelClientToServer, KeySize)
//	key_s2c = HKDF-Expand(prk, LabelServerToClient, KeySize)

// TranscriptHash returns th, the SHA-256 of the two hello payloads (without
// their frame headers).
func TranscriptHash(serverHello, clientHello []byte) [HashSize]byte {
	h := sha256.New()
	h.Write(serverHello)
	h.Write(clientHello)
	var th [HashSize]byte
	h.Sum(th[:0])
	return th
}

// ExtractPRK returns prk = HKDF-Extract(salt = th, ikm = ssE || ssS). The
// caller wipes the result with clear once the keys exist.
func ExtractPRK(th, ssE, ssS []byte) ([]byte, error) {
	if len(th) != HashSize {
		return nil, fmt.Errorf("session: transcript hash is %d bytes, want %d", len(th), HashSize)
	}
	if len(ssE) != SharedKeySize || len(ssS) != SharedKeySize {
		return nil, fmt.Errorf("session: shared secrets are %d and %d bytes, want %d", len(ssE), len(ssS), SharedKeySize)
	}
	var ikm [2 * SharedKeySize]byte
	defer clear(ikm[:])
	copy(ikm[:], ssE)
	copy(ikm[SharedKeySize:], ssS)
	prk, err := hkdf.Extract(sha256.New, ikm[:], th)
	if err != nil {
		return nil, fmt.Errorf("session: HKDF-Extract: %w", err)
	}
	return prk, nil
}

// ExpandKeys returns the two directional keys of prk. The caller wipes them
// with clear once the record sealer and opener exist.
func ExpandKeys(prk []byte) (keyC2S, keyS2C []byte, err error) {
	if len(prk) != PRKSize {
		return nil, nil, fmt.Errorf("session: prk is %d bytes, want %d", len(prk), PRKSize)
	}
	keyC2S, err = hkdf.Expand(sha256.New, prk, LabelClientToServer, KeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("session: HKDF-Expand %q: %w", LabelClientToServer, err)
	}
	keyS2C, err = hkdf.Expand(sha256.New, prk, LabelServerToClient, KeySize)
	if err != nil {
		clear(keyC2S)
		return nil, nil, fmt.Errorf("session: HKDF-Expand %q: %w", LabelServerToClient, err)
	}
	return keyC2S, keyS2C, nil
}

// deriveKeys runs the whole schedule and wipes ssE, ssS and prk: the
// shared secrets are dead once this returns, whatever happens. The caller
// wipes the two keys.
func deriveKeys(serverHello, clientHello, ssE, ssS []byte) (keyC2S, keyS2C []byte, err error) {
	defer clear(ssE)
	defer clear(ssS)
	th := TranscriptHash(serverHello, clientHello)
	prk, err := ExtractPRK(th[:], ssE, ssS)
	if err != nil {
		return nil, nil, err
	}
	defer clear(prk)
	return ExpandKeys(prk)
}
