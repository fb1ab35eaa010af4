package legacy

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/kemtcp/kemtcp/app/kem"
)

// DeriveKey returns the AES-256-GCM key of a message:
// HKDF-SHA256(ikm = sharedSecret, salt = none, info = Info, length = 32)
// (RFC 5869; no salt means HashLen zero bytes). sharedSecret must be the
// 32-byte ML-KEM shared secret.
func DeriveKey(sharedSecret []byte) ([]byte, error) {
	if len(sharedSecret) != kem.SharedKeySize {
		return nil, fmt.Errorf("legacy: shared secret is %d bytes, want %d", len(sharedSecret), kem.SharedKeySize)
	}
	return hkdf.Key(sha256.New, sharedSecret, nil, Info, KeySize)
}

// newAEAD returns AES-256-GCM with the standard 12-byte nonce and 16-byte
// tag. The cipher keeps its own copy of the key schedule, which Go offers no
// way to wipe.
func newAEAD(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("legacy: AES key of the wrong size: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("legacy: " + err.Error())
	}
	return aead
}

// Seal makes one message to the server's key ek, as the original client
// does: a fresh ML-KEM encapsulation, a key derived from its shared secret,
// a random nonce, and AES-256-GCM of plaintext with aad (the demo uses an
// empty aad). The shared secret and the derived key are wiped before it
// returns.
func Seal(ek kem.EncapsulationKey, plaintext, aad []byte) (*Bundle, error) {
	nonce := make([]byte, NonceSize)
	rand.Read(nonce)
	return seal(ek.Encapsulate, nonce, plaintext, aad)
}

// seal is Seal with the encapsulation and the nonce given, so that the tests
// can reproduce known answers with EncapsulateDerand.
func seal(encapsulate func() (sharedKey, ciphertext []byte, err error), nonce, plaintext, aad []byte) (*Bundle, error) {
	if err := checkNonce(nonce); err != nil {
		return nil, err
	}
	ss, ct, err := encapsulate()
	if err != nil {
		return nil, fmt.Errorf("legacy: encapsulating to the server's key: %w", err)
	}
	key, err := DeriveKey(ss)
	clear(ss)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return &Bundle{
		KEMCiphertext: ct,
		Nonce:         nonce,
		Ciphertext:    newAEAD(key).Seal(nil, nonce, plaintext, aad),
		AAD:           bytes.Clone(aad),
	}, nil
}

// Open decrypts a message with the server's key pair, as the original
// server does, and returns the plaintext. A kem_ciphertext of the wrong size
// is refused naming the KEM it would be for (ErrKEMMismatch); a message that
// does not decrypt gives ErrDecrypt. The shared secret and the derived key
// are wiped before it returns.
func Open(dk kem.DecapsulationKey, b *Bundle) ([]byte, error) {
	if dk == nil || b == nil {
		return nil, fmt.Errorf("legacy: Open with a nil key or bundle")
	}
	p, ok := paramsWith(len(dk.EncapsulationKey().Bytes()), ekSize)
	if !ok {
		return nil, fmt.Errorf("legacy: decapsulation key of an unknown ML-KEM parameter set")
	}
	return open(dk, p, b, nil)
}

// open decrypts b and appends the plaintext to dst, which may be
// b.Ciphertext[:0] to decrypt in place (crypto/cipher.AEAD.Open).
func open(dk kem.DecapsulationKey, p kem.Params, b *Bundle, dst []byte) ([]byte, error) {
	if err := checkNonce(b.Nonce); err != nil {
		return nil, err
	}
	if n := len(b.KEMCiphertext); n != p.CiphertextSize {
		if other, ok := paramsWith(n, ctSize); ok {
			return nil, newError(ErrKEMMismatch, nil, "kem_ciphertext is %d bytes: the client uses %s, not %s", n, other.Name, p.Name)
		}
		return nil, newError(ErrMalformed, nil, "kem_ciphertext is %d bytes, want %d for %s", n, p.CiphertextSize, p.Name)
	}
	if n := len(b.Ciphertext); n < TagSize {
		return nil, newError(ErrDecrypt, nil, "message failed to decrypt: ciphertext is %d bytes, shorter than the %d-byte tag", n, TagSize)
	}
	ss, err := dk.Decapsulate(b.KEMCiphertext)
	if err != nil {
		return nil, newError(ErrMalformed, err, "decapsulating kem_ciphertext: %v", err)
	}
	key, err := DeriveKey(ss)
	clear(ss)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	plaintext, err := newAEAD(key).Open(dst, b.Nonce, b.Ciphertext, b.AAD)
	if err != nil {
		return nil, newError(ErrDecrypt, err, "message failed to decrypt: %v (a wrong key, or the message was changed on the way)", err)
	}
	return plaintext, nil
}
