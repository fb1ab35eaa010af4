package kem

import (
	"crypto/rand"
	"crypto/sha3"
	"crypto/subtle"
	"fmt"
	"runtime/debug"
	"sync"

	circlkem "github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/kem/mlkem/mlkem1024"
	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
)

// The circl backend: github.com/cloudflare/circl's kem/mlkem packages, pure
// Go, all three parameter sets, with the expanded decapsulation key.

var circlBackend = backend{
	name:     BackendCircl,
	compiled: true,
	version:  circlVersion,
	scheme: func(p Params) (Scheme, error) {
		var s circlkem.Scheme
		switch p.Name {
		case MLKEM512:
			s = mlkem512.Scheme()
		case MLKEM768:
			s = mlkem768.Scheme()
		case MLKEM1024:
			s = mlkem1024.Scheme()
		}
		return &circlScheme{p: p, s: s}, nil
	},
}

// circlVersion is "github.com/cloudflare/circl v1.6.5", as built in.
func circlVersion() string {
	const path = "github.com/cloudflare/circl"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return path + " " + m.Version
			}
		}
	}
	return path
}

type circlScheme struct {
	p Params
	s circlkem.Scheme
}

var (
	_ Scheme            = (*circlScheme)(nil)
	_ ExpandedKeyParser = (*circlScheme)(nil)
)

func (s *circlScheme) Name() string    { return s.p.Name }
func (s *circlScheme) Backend() string { return BackendCircl }
func (s *circlScheme) Params() Params  { return s.p }

func (s *circlScheme) GenerateKey() (DecapsulationKey, error) {
	seed := make([]byte, SeedSize)
	rand.Read(seed)
	defer clear(seed)
	return s.NewDecapsulationKey(seed)
}

func (s *circlScheme) NewDecapsulationKey(seed []byte) (DecapsulationKey, error) {
	if err := checkLen(seed, SeedSize, ErrSeedSize, s.p.Name); err != nil {
		return nil, err
	}
	pk, sk := s.s.DeriveKeyPair(seed)
	return &circlDecapsulationKey{
		s:    s,
		seed: [SeedSize]byte(seed),
		sk:   sk,
		ek:   &circlEncapsulationKey{s: s, pk: pk},
	}, nil
}

func (s *circlScheme) NewDecapsulationKeyExpanded(dk []byte) (DecapsulationKey, error) {
	if err := checkLen(dk, s.p.DecapsulationKeySize, ErrDecapsKeySize, s.p.Name); err != nil {
		return nil, err
	}
	if err := checkExpandedHash(s.p, dk); err != nil {
		return nil, err
	}
	sk, err := s.s.UnmarshalBinaryPrivateKey(dk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", s.p.Name, ErrDecapsKey, err)
	}
	ek, err := s.NewEncapsulationKey(expandedEK(s.p, dk))
	if err != nil {
		return nil, err
	}
	return &circlDecapsulationKey{s: s, sk: sk, ek: ek.(*circlEncapsulationKey), noSeed: true}, nil
}

func (s *circlScheme) NewEncapsulationKey(ek []byte) (EncapsulationKey, error) {
	if err := checkLen(ek, s.p.EncapsulationKeySize, ErrEncapsKeySize, s.p.Name); err != nil {
		return nil, err
	}
	pk, err := s.s.UnmarshalBinaryPublicKey(ek)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.p.Name, ErrEncapsKey)
	}
	return &circlEncapsulationKey{s: s, pk: pk}, nil
}

type circlEncapsulationKey struct {
	s  *circlScheme
	pk circlkem.PublicKey
}

var _ EncapsulationKey = (*circlEncapsulationKey)(nil)

func (k *circlEncapsulationKey) Bytes() []byte {
	b, err := k.pk.MarshalBinary()
	if err != nil {
		panic("kem: circl: marshalling a parsed public key failed: " + err.Error())
	}
	return b
}

func (k *circlEncapsulationKey) Encapsulate() (sharedKey, ciphertext []byte, err error) {
	ct, ss, err := k.s.s.Encapsulate(k.pk)
	return ss, ct, err
}

func (k *circlEncapsulationKey) EncapsulateDerand(m []byte) (sharedKey, ciphertext []byte, err error) {
	if err := checkLen(m, EncapsSeedSize, ErrEncapsSeedSize, k.s.p.Name); err != nil {
		return nil, nil, err
	}
	ct, ss, err := k.s.s.EncapsulateDeterministically(k.pk, m)
	return ss, ct, err
}

type circlDecapsulationKey struct {
	s *circlScheme
	// mu makes Destroy wait for the Decapsulate calls under way.
	mu        sync.RWMutex
	seed      [SeedSize]byte
	noSeed    bool // loaded from an expanded key
	destroyed bool
	sk        circlkem.PrivateKey
	ek        *circlEncapsulationKey
}

var (
	_ DecapsulationKey = (*circlDecapsulationKey)(nil)
	_ Expander         = (*circlDecapsulationKey)(nil)
)

func (k *circlDecapsulationKey) Bytes() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.noSeed || k.destroyed {
		return nil
	}
	return append([]byte(nil), k.seed[:]...)
}

func (k *circlDecapsulationKey) EncapsulationKey() EncapsulationKey { return k.ek }

func (k *circlDecapsulationKey) ExpandedBytes() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.destroyed {
		return nil
	}
	b, err := k.sk.MarshalBinary()
	if err != nil {
		panic("kem: circl: marshalling a private key failed: " + err.Error())
	}
	return b
}

func (k *circlDecapsulationKey) Decapsulate(ciphertext []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.destroyed {
		return nil, fmt.Errorf("%s: %w", k.s.p.Name, ErrDestroyed)
	}
	if err := checkLen(ciphertext, k.s.p.CiphertextSize, ErrCiphertextSize, k.s.p.Name); err != nil {
		return nil, err
	}
	return k.s.s.Decapsulate(k.sk, ciphertext)
}

// Destroy overwrites the seed, and the z and H(ek) of the circl private key,
// with zeros, and drops circl's inner K-PKE keys: circl keeps them behind
// pointers to an internal type, which cannot be overwritten from here, so
// the garbage collector frees them. Afterwards Bytes and ExpandedBytes return
// nil and Decapsulate an error.
func (k *circlDecapsulationKey) Destroy() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.destroyed = true
	clear(k.seed[:])
	switch sk := k.sk.(type) {
	case *mlkem512.PrivateKey:
		*sk = mlkem512.PrivateKey{}
	case *mlkem768.PrivateKey:
		*sk = mlkem768.PrivateKey{}
	case *mlkem1024.PrivateKey:
		*sk = mlkem1024.PrivateKey{}
	}
}

// expandedEK returns the ek inside an expanded dk = dk_PKE || ek || H(ek) || z.
func expandedEK(p Params, dk []byte) []byte {
	off := p.DecapsulationKeySize - p.EncapsulationKeySize - 64
	return dk[off : off+p.EncapsulationKeySize]
}

// checkExpandedHash is the hash check of FIPS 203, Section 7.3: the H(ek)
// stored in an expanded dk must be SHA3-256 of the ek stored beside it.
func checkExpandedHash(p Params, dk []byte) error {
	off := p.DecapsulationKeySize - 64
	h := sha3.Sum256(expandedEK(p, dk))
	if subtle.ConstantTimeCompare(h[:], dk[off:off+32]) != 1 {
		return fmt.Errorf("%s: %w", p.Name, ErrDecapsKey)
	}
	return nil
}
