//go:build liboqs

package kem

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/kemtcp/kemtcp/oqs"
)

// The liboqs backend: the Open Quantum Safe C library through kemtcp's own
// cgo bindings (package oqs). Compiled in only with the "liboqs" build tag,
// and then the default backend.
//
// One oqs.KeyEncapsulation per parameter set, holding no secret, does every
// encapsulation (liboqs's OQS_KEM descriptor is immutable and shared). Each
// decapsulation key has an oqs.KeyEncapsulation of its own that keeps the
// secret key and its seed in C memory; Destroy wipes and frees them, and so
// does the garbage collector for a key that is dropped without Destroy.
// Encapsulation keys are Go bytes: liboqs has no public key check of its own
// to call, so NewEncapsulationKey does the FIPS 203 modulus check in Go
// (checkModulus), and liboqs checks again inside every encapsulation.

var liboqsBackend = backend{
	name:     BackendLiboqs,
	compiled: true,
	version:  func() string { return "liboqs " + oqs.LiboqsVersion() },
	scheme:   liboqsSchemeFor,
}

// liboqsSchemes caches one *liboqsScheme per parameter set.
var liboqsSchemes sync.Map

func liboqsSchemeFor(p Params) (Scheme, error) {
	if s, ok := liboqsSchemes.Load(p.Name); ok {
		return s.(*liboqsScheme), nil
	}
	if err := oqs.Init(); err != nil {
		return nil, fmt.Errorf("%s: liboqs backend: %w", p.Name, err)
	}
	if !oqs.IsKEMEnabled(p.Name) {
		return nil, fmt.Errorf("%s %w: the linked liboqs %s does not enable it (enabled: %v)", p.Name, ErrUnsupported, oqs.LiboqsVersion(), oqs.EnabledKEMs())
	}
	enc, err := oqs.NewKEM(p.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: liboqs backend: %w", p.Name, err)
	}
	d := enc.Details()
	if d.LengthPublicKey != p.EncapsulationKeySize || d.LengthSecretKey != p.DecapsulationKeySize ||
		d.LengthCiphertext != p.CiphertextSize || d.LengthSharedSecret != SharedKeySize ||
		d.LengthKeypairSeed != SeedSize || d.LengthEncapsSeed != EncapsSeedSize {
		enc.Close()
		return nil, fmt.Errorf("%s %w: liboqs %s reports sizes %+v, which are not FIPS 203's", p.Name, ErrUnsupported, oqs.LiboqsVersion(), d)
	}
	s, loaded := liboqsSchemes.LoadOrStore(p.Name, &liboqsScheme{p: p, enc: enc})
	if loaded {
		enc.Close()
	}
	return s.(*liboqsScheme), nil
}

type liboqsScheme struct {
	p   Params
	enc *oqs.KeyEncapsulation // holds no secret key; encapsulates for every key of the scheme
}

var (
	_ Scheme            = (*liboqsScheme)(nil)
	_ ExpandedKeyParser = (*liboqsScheme)(nil)
)

func (s *liboqsScheme) Name() string    { return s.p.Name }
func (s *liboqsScheme) Backend() string { return BackendLiboqs }
func (s *liboqsScheme) Params() Params  { return s.p }

func (s *liboqsScheme) GenerateKey() (DecapsulationKey, error) {
	var seed [SeedSize]byte
	rand.Read(seed[:])
	defer clear(seed[:])
	return s.NewDecapsulationKey(seed[:])
}

func (s *liboqsScheme) NewDecapsulationKey(seed []byte) (DecapsulationKey, error) {
	if err := checkLen(seed, SeedSize, ErrSeedSize, s.p.Name); err != nil {
		return nil, err
	}
	ke, err := oqs.NewKEM(s.p.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.p.Name, err)
	}
	pk, err := ke.GenerateKeyPairDerand(seed)
	if err != nil {
		ke.Close()
		return nil, fmt.Errorf("%s: %w", s.p.Name, err)
	}
	return &liboqsDecapsulationKey{s: s, ke: ke, ek: &liboqsEncapsulationKey{s: s, ek: pk}}, nil
}

func (s *liboqsScheme) NewDecapsulationKeyExpanded(dk []byte) (DecapsulationKey, error) {
	if err := checkLen(dk, s.p.DecapsulationKeySize, ErrDecapsKeySize, s.p.Name); err != nil {
		return nil, err
	}
	if err := checkExpandedHash(s.p, dk); err != nil {
		return nil, err
	}
	ek, err := s.NewEncapsulationKey(expandedEK(s.p, dk))
	if err != nil {
		return nil, err
	}
	ke, err := oqs.NewKEM(s.p.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.p.Name, err)
	}
	if err := ke.ImportSecretKey(dk); err != nil {
		ke.Close()
		return nil, fmt.Errorf("%s: %w: %w", s.p.Name, ErrDecapsKey, err)
	}
	return &liboqsDecapsulationKey{s: s, ke: ke, ek: ek.(*liboqsEncapsulationKey), noSeed: true}, nil
}

func (s *liboqsScheme) NewEncapsulationKey(ek []byte) (EncapsulationKey, error) {
	if err := checkModulus(s.p, ek); err != nil {
		return nil, err
	}
	return s.newEncapsulationKey(ek), nil
}

// newEncapsulationKey copies ek, of a length already checked, into a new
// liboqsEncapsulationKey.
func (s *liboqsScheme) newEncapsulationKey(ek []byte) *liboqsEncapsulationKey {
	return &liboqsEncapsulationKey{s: s, ek: slices.Clone(ek)}
}

type liboqsEncapsulationKey struct {
	s  *liboqsScheme
	ek []byte // checked by checkModulus, or made by liboqs
}

var _ EncapsulationKey = (*liboqsEncapsulationKey)(nil)

func (k *liboqsEncapsulationKey) Bytes() []byte { return append([]byte(nil), k.ek...) }

func (k *liboqsEncapsulationKey) Encapsulate() (sharedKey, ciphertext []byte, err error) {
	ct, ss, err := k.s.enc.EncapSecret(k.ek)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %w", k.s.p.Name, ErrEncapsKey, err)
	}
	return ss, ct, nil
}

func (k *liboqsEncapsulationKey) EncapsulateDerand(m []byte) (sharedKey, ciphertext []byte, err error) {
	if err := checkLen(m, EncapsSeedSize, ErrEncapsSeedSize, k.s.p.Name); err != nil {
		return nil, nil, err
	}
	ct, ss, err := k.s.enc.EncapSecretDerand(k.ek, m)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %w", k.s.p.Name, ErrEncapsKey, err)
	}
	return ss, ct, nil
}

type liboqsDecapsulationKey struct {
	s      *liboqsScheme
	ke     *oqs.KeyEncapsulation // holds the secret key (and seed) in C memory
	ek     *liboqsEncapsulationKey
	noSeed bool // loaded from an expanded key
}

var (
	_ DecapsulationKey = (*liboqsDecapsulationKey)(nil)
	_ Expander         = (*liboqsDecapsulationKey)(nil)
)

// Bytes returns a copy of the seed d||z, or nil for a key loaded from an
// expanded key or destroyed.
func (k *liboqsDecapsulationKey) Bytes() []byte {
	if k.noSeed {
		return nil
	}
	seed, err := k.ke.ExportSeed()
	if err != nil {
		return nil
	}
	return seed
}

func (k *liboqsDecapsulationKey) EncapsulationKey() EncapsulationKey { return k.ek }

// ExpandedBytes returns a copy of liboqs's secret key, which is the FIPS 203
// expanded decapsulation key dk = dk_PKE || ek || H(ek) || z; nil once the
// key is destroyed.
func (k *liboqsDecapsulationKey) ExpandedBytes() []byte {
	dk, err := k.ke.ExportSecretKey()
	if err != nil {
		return nil
	}
	return dk
}

func (k *liboqsDecapsulationKey) Decapsulate(ciphertext []byte) ([]byte, error) {
	if err := checkLen(ciphertext, k.s.p.CiphertextSize, ErrCiphertextSize, k.s.p.Name); err != nil {
		return nil, err
	}
	ss, err := k.ke.DecapSecret(ciphertext)
	if errors.Is(err, oqs.ErrClosed) {
		return nil, fmt.Errorf("%s: %w", k.s.p.Name, ErrDestroyed)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.s.p.Name, err)
	}
	return ss, nil
}

// Destroy wipes (OQS_MEM_cleanse) and frees the secret key and seed held in C
// memory, once the Decapsulate calls under way are done (oqs's Close waits
// for them). Afterwards Decapsulate fails with an error wrapping ErrDestroyed,
// and Bytes and ExpandedBytes return nil. Destroying twice, or a nil key, does
// nothing.
func (k *liboqsDecapsulationKey) Destroy() {
	if k != nil {
		k.ke.Close()
	}
}
