package kem

import (
	"crypto"
	"crypto/mlkem"
)

// Adapters to the standard library's KEM interfaces, crypto.Encapsulator and
// crypto.Decapsulator (Go 1.26). kemtcp's own key methods return errors
// (liboqs can fail in C), which crypto.Encapsulator's Encapsulate cannot, so
// the keys are adapted rather than made to implement the interfaces.

// CryptoEncapsulator returns ek as a crypto.Encapsulator: Bytes and
// Encapsulate are ek's, so encapsulation runs on ek's backend.
//
// Encapsulate panics if ek's Encapsulate returns an error, since
// crypto.Encapsulator has no way to report one. No input can cause that (ek
// was checked when it was parsed); only a failure inside the backend can,
// such as liboqs failing in C, or X25519 refused in FIPS 140-only mode.
//
// crypto/hpke (Go 1.26) accepts only crypto/mlkem's own encapsulation keys
// in NewHybridPublicKey and NewMLKEMPublicKey; to use an ML-KEM key there,
// pass the Encapsulator of CryptoDecapsulator, or parse ek.Bytes() with
// crypto/mlkem.
func CryptoEncapsulator(ek EncapsulationKey) crypto.Encapsulator {
	return encapsulator{ek}
}

type encapsulator struct{ ek EncapsulationKey }

func (e encapsulator) Bytes() []byte { return e.ek.Bytes() }

func (e encapsulator) Encapsulate() (sharedKey, ciphertext []byte) {
	sharedKey, ciphertext, err := e.ek.Encapsulate()
	if err != nil {
		panic("kem: Encapsulate failed, which crypto.Encapsulator cannot report: " + err.Error())
	}
	return sharedKey, ciphertext
}

// CryptoDecapsulator returns dk as a crypto.Decapsulator whose Decapsulate
// is dk's, so decapsulation runs on dk's backend (and fails with
// ErrDestroyed once dk is destroyed).
//
// Its Encapsulator, for an ML-KEM-768 or ML-KEM-1024 key, is dk's
// encapsulation key parsed by crypto/mlkem (*mlkem.EncapsulationKey768 or
// *mlkem.EncapsulationKey1024): crypto/hpke's NewHybridPrivateKey and
// NewMLKEMPrivateKey accept no other type there, so this is what lets a
// liboqs or circl ML-KEM key decapsulate inside crypto/hpke. For other
// algorithms it is CryptoEncapsulator(dk.EncapsulationKey()).
func CryptoDecapsulator(dk DecapsulationKey) crypto.Decapsulator {
	ek := dk.EncapsulationKey()
	d := decapsulator{dk: dk, ek: CryptoEncapsulator(ek)}
	// The errors are nil for keys kemtcp made: they passed the same modulus
	// check. The lengths tell the parameter sets apart.
	switch b := ek.Bytes(); len(b) {
	case mlkem.EncapsulationKeySize768:
		if std, err := mlkem.NewEncapsulationKey768(b); err == nil {
			d.ek = std
		}
	case mlkem.EncapsulationKeySize1024:
		if std, err := mlkem.NewEncapsulationKey1024(b); err == nil {
			d.ek = std
		}
	}
	return d
}

type decapsulator struct {
	dk DecapsulationKey
	ek crypto.Encapsulator
}

func (d decapsulator) Encapsulator() crypto.Encapsulator { return d.ek }

func (d decapsulator) Decapsulate(ciphertext []byte) ([]byte, error) {
	return d.dk.Decapsulate(ciphertext)
}
