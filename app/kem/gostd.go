package kem

import (
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
)

// The go backend: the standard library's crypto/mlkem, with
// crypto/mlkem/mlkemtest for derandomized encapsulation. crypto/mlkem
// implements ML-KEM-768 and ML-KEM-1024 only, and keeps the expanded
// decapsulation key to itself.

var goBackend = backend{
	name:     BackendGo,
	compiled: true,
	version:  func() string { return "crypto/mlkem, " + runtime.Version() },
	scheme: func(p Params) (Scheme, error) {
		switch p.Name {
		case MLKEM768:
			return &goScheme[*mlkem.DecapsulationKey768, *mlkem.EncapsulationKey768]{
				p:      p,
				newDK:  mlkem.NewDecapsulationKey768,
				newEK:  mlkem.NewEncapsulationKey768,
				ekOf:   (*mlkem.DecapsulationKey768).EncapsulationKey,
				derand: mlkemtest.Encapsulate768,
				wipe:   func(k *mlkem.DecapsulationKey768) { *k = mlkem.DecapsulationKey768{} },
			}, nil
		case MLKEM1024:
			return &goScheme[*mlkem.DecapsulationKey1024, *mlkem.EncapsulationKey1024]{
				p:      p,
				newDK:  mlkem.NewDecapsulationKey1024,
				newEK:  mlkem.NewEncapsulationKey1024,
				ekOf:   (*mlkem.DecapsulationKey1024).EncapsulationKey,
				derand: mlkemtest.Encapsulate1024,
				wipe:   func(k *mlkem.DecapsulationKey1024) { *k = mlkem.DecapsulationKey1024{} },
			}, nil
		}
		return nil, fmt.Errorf("%s %w: the go backend (crypto/mlkem) implements only ML-KEM-768 and ML-KEM-1024", p.Name, ErrUnsupported)
	},
}

// goDK and goEK are the method sets crypto/mlkem's key types share.
type goDK interface {
	Bytes() []byte
	Decapsulate(ciphertext []byte) ([]byte, error)
}

type goEK interface {
	Bytes() []byte
	Encapsulate() (sharedKey, ciphertext []byte)
}

type goScheme[D goDK, E goEK] struct {
	p      Params
	newDK  func(seed []byte) (D, error)
	newEK  func(ek []byte) (E, error)
	ekOf   func(D) E
	derand func(ek E, m []byte) (sharedKey, ciphertext []byte, err error)
	wipe   func(D)
}

var _ Scheme = (*goScheme[*mlkem.DecapsulationKey768, *mlkem.EncapsulationKey768])(nil)

func (s *goScheme[D, E]) Name() string    { return s.p.Name }
func (s *goScheme[D, E]) Backend() string { return BackendGo }
func (s *goScheme[D, E]) Params() Params  { return s.p }

func (s *goScheme[D, E]) GenerateKey() (DecapsulationKey, error) {
	seed := make([]byte, SeedSize)
	rand.Read(seed)
	defer clear(seed)
	return s.NewDecapsulationKey(seed)
}

func (s *goScheme[D, E]) NewDecapsulationKey(seed []byte) (DecapsulationKey, error) {
	if err := checkLen(seed, SeedSize, ErrSeedSize, s.p.Name); err != nil {
		return nil, err
	}
	dk, err := s.newDK(seed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.p.Name, err)
	}
	return &goDecapsulationKey[D, E]{s: s, dk: dk, ek: &goEncapsulationKey[D, E]{s: s, ek: s.ekOf(dk)}}, nil
}

func (s *goScheme[D, E]) NewEncapsulationKey(ek []byte) (EncapsulationKey, error) {
	if err := checkLen(ek, s.p.EncapsulationKeySize, ErrEncapsKeySize, s.p.Name); err != nil {
		return nil, err
	}
	k, err := s.newEK(ek)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.p.Name, ErrEncapsKey)
	}
	return &goEncapsulationKey[D, E]{s: s, ek: k}, nil
}

type goEncapsulationKey[D goDK, E goEK] struct {
	s  *goScheme[D, E]
	ek E
}

func (k *goEncapsulationKey[D, E]) Bytes() []byte { return k.ek.Bytes() }

func (k *goEncapsulationKey[D, E]) Encapsulate() (sharedKey, ciphertext []byte, err error) {
	sharedKey, ciphertext = k.ek.Encapsulate()
	return sharedKey, ciphertext, nil
}

func (k *goEncapsulationKey[D, E]) EncapsulateDerand(m []byte) (sharedKey, ciphertext []byte, err error) {
	if err := checkLen(m, EncapsSeedSize, ErrEncapsSeedSize, k.s.p.Name); err != nil {
		return nil, nil, err
	}
	return k.s.derand(k.ek, m)
}

type goDecapsulationKey[D goDK, E goEK] struct {
	s *goScheme[D, E]
	// mu makes Destroy wait for the Decapsulate calls under way.
	mu        sync.RWMutex
	dk        D
	ek        *goEncapsulationKey[D, E]
	destroyed bool
}

// Bytes returns the seed, or nil after Destroy.
func (k *goDecapsulationKey[D, E]) Bytes() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.destroyed {
		return nil
	}
	return k.dk.Bytes()
}

func (k *goDecapsulationKey[D, E]) EncapsulationKey() EncapsulationKey { return k.ek }

func (k *goDecapsulationKey[D, E]) Decapsulate(ciphertext []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.destroyed {
		return nil, fmt.Errorf("%s: %w", k.s.p.Name, ErrDestroyed)
	}
	if err := checkLen(ciphertext, k.s.p.CiphertextSize, ErrCiphertextSize, k.s.p.Name); err != nil {
		return nil, err
	}
	return k.dk.Decapsulate(ciphertext)
}

// Destroy drops the crypto/mlkem key: its wrapper is set to the zero value,
// so the secret key it pointed to is no longer reachable from k. crypto/mlkem
// offers no way to overwrite that memory; the garbage collector frees it.
// Afterwards Bytes returns nil and Decapsulate an error.
func (k *goDecapsulationKey[D, E]) Destroy() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.destroyed {
		k.s.wipe(k.dk)
		k.destroyed = true
	}
}
