package kem

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/subtle"
	"fmt"
)

// HPKEPrivateKey returns an X-Wing decapsulation key as a crypto/hpke
// private key of the KEM MLKEM768-X25519 (id 0x647A; draft-ietf-hpke-pq),
// which is X-Wing: made with hpke.NewHybridPrivateKey from the key's two
// halves, so that its ML-KEM-768 half decapsulates on dk's backend (liboqs,
// circl or go). The result opens what hpke.Seal seals to
// hpke.MLKEM768X25519().NewPublicKey(dk.EncapsulationKey().Bytes()).
//
// The key stays dk's: once dk is destroyed, opening with it fails with an
// error wrapping ErrDestroyed. Its Bytes method returns an error (crypto/hpke
// knows no seed for it); use dk.Bytes.
//
// Where the draft leaves the X25519 all-zero check optional (see x25519 in
// xwing.go), crypto/hpke performs it: a ciphertext whose ct_X is a low-order
// point fails to open here, though dk.Decapsulate gives it a shared key.
//
// Other algorithms' keys are refused with an error wrapping ErrUnsupported;
// an ML-KEM-768 or -1024 key goes into crypto/hpke as
// hpke.NewMLKEMPrivateKey(CryptoDecapsulator(dk)).
func HPKEPrivateKey(dk DecapsulationKey) (hpke.PrivateKey, error) {
	k, ok := dk.(*xwingDecapsulationKey)
	if !ok || k == nil {
		return nil, fmt.Errorf("HPKEPrivateKey: %w: it takes an %s key, got %T", ErrUnsupported, XWing, dk)
	}
	sk, err := hpke.NewHybridPrivateKey(CryptoDecapsulator(k.m), xwingKeyExchanger{k})
	if err != nil {
		return nil, fmt.Errorf("%s: crypto/hpke refused the key: %w", XWing, err)
	}
	return sk, nil
}

// xwingKeyExchanger is the X25519 half of an X-Wing key as an
// ecdh.KeyExchanger, with the key's lock held for each exchange so that it
// cannot race with Destroy.
type xwingKeyExchanger struct{ k *xwingDecapsulationKey }

var _ ecdh.KeyExchanger = xwingKeyExchanger{}

// PublicKey is pk_X, always 32 bytes, which crypto/ecdh takes as is.
func (e xwingKeyExchanger) PublicKey() *ecdh.PublicKey {
	pk, _ := ecdh.X25519().NewPublicKey(e.k.ek.pkX)
	return pk
}

func (e xwingKeyExchanger) Curve() ecdh.Curve { return ecdh.X25519() }

// ECDH refuses the all-zero result, as crypto/ecdh's does and crypto/hpke
// expects.
func (e xwingKeyExchanger) ECDH(remote *ecdh.PublicKey) ([]byte, error) {
	if remote.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%s: X25519: the remote key is on %v", XWing, remote.Curve())
	}
	e.k.mu.RLock()
	defer e.k.mu.RUnlock()
	if e.k.destroyed {
		return nil, fmt.Errorf("%s: %w", XWing, ErrDestroyed)
	}
	ss := x25519(&e.k.x, remote.Bytes())
	if subtle.ConstantTimeCompare(ss, make([]byte, x25519Size)) == 1 {
		return nil, fmt.Errorf("%s: X25519: the remote key is a low-order point (all-zero shared secret)", XWing)
	}
	return ss, nil
}
