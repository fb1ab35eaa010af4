// Package kem is kemtcp's one interface to ML-KEM (FIPS 203), with three
// interchangeable backends:
//
//   - "liboqs": the Open Quantum Safe C library, through the cgo bindings in
//     package oqs. Compiled in only with the "liboqs" build tag.
//   - "circl":  github.com/cloudflare/circl, pure Go, all three parameter sets.
//   - "go":     the standard library's crypto/mlkem (ML-KEM-768 and -1024 only).
//
// A Scheme is looked up by algorithm and backend name:
//
//	s, err := kem.Lookup("ML-KEM-768", "")      // default backend
//	dk, err := s.GenerateKey()
//	ek, err := s.NewEncapsulationKey(dk.EncapsulationKey().Bytes())
//	shared, ct, err := ek.Encapsulate()
//	shared2, err := dk.Decapsulate(ct)
//
// Every backend gives the same bytes for the same inputs: keys are derived
// from the 64-byte seed d||z (FIPS 203, Algorithm 16, ML-KEM.KeyGen_internal),
// and EncapsulateDerand takes the 32-byte m of Algorithm 17. The tests hold
// them to that against each other and against public vectors.
package kem

import (
	"errors"
	"fmt"
	"strings"
)

// Sizes common to every ML-KEM parameter set (FIPS 203, Section 8).
const (
	// SeedSize is the size of the seed d||z from which ML-KEM.KeyGen_internal
	// derives a key pair; it is also the form in which decapsulation keys are
	// stored (DecapsulationKey.Bytes).
	SeedSize = 64
	// EncapsSeedSize is the size of the randomness m of ML-KEM.Encaps_internal.
	EncapsSeedSize = 32
	// SharedKeySize is the size of the shared secret key K.
	SharedKeySize = 32
)

// Algorithm names, as FIPS 203 and liboqs spell them.
const (
	MLKEM512  = "ML-KEM-512"
	MLKEM768  = "ML-KEM-768"
	MLKEM1024 = "ML-KEM-1024"
)

// Backend names.
const (
	BackendLiboqs = "liboqs"
	BackendCircl  = "circl"
	BackendGo     = "go"
)

// Params are the sizes of one ML-KEM parameter set (FIPS 203, Table 3).
type Params struct {
	Name                 string
	ID                   uint16 // TLS supported-group code point, used on the wire by the session protocol
	EncapsulationKeySize int    // ek, 384k+32 bytes
	DecapsulationKeySize int    // the expanded dk, 768k+96 bytes
	CiphertextSize       int    // c, 32(du*k+dv) bytes
	SeedSize             int    // the private key as stored: the 64-byte d||z
}

// params lists every algorithm, in the order Algorithms returns them.
var params = []Params{
	{Name: MLKEM512, ID: 0x0200, EncapsulationKeySize: 800, DecapsulationKeySize: 1632, CiphertextSize: 768, SeedSize: SeedSize},
	{Name: MLKEM768, ID: 0x0201, EncapsulationKeySize: 1184, DecapsulationKeySize: 2400, CiphertextSize: 1088, SeedSize: SeedSize},
	{Name: MLKEM1024, ID: 0x0202, EncapsulationKeySize: 1568, DecapsulationKeySize: 3168, CiphertextSize: 1568, SeedSize: SeedSize},
}

// Errors returned by this package and its backends. They are wrapped with
// detail, so compare them with errors.Is.
var (
	ErrUnknownAlgorithm = errors.New("unknown KEM algorithm")
	ErrUnknownBackend   = errors.New("unknown KEM backend")
	ErrNotCompiledIn    = errors.New("backend not compiled into this binary")
	ErrUnsupported      = errors.New("is not supported by this backend")
	ErrSeedSize         = errors.New("wrong decapsulation key seed size")
	ErrEncapsSeedSize   = errors.New("wrong encapsulation randomness size")
	ErrEncapsKeySize    = errors.New("wrong encapsulation key size")
	ErrEncapsKey        = errors.New("invalid encapsulation key (FIPS 203 modulus check failed)")
	ErrDecapsKeySize    = errors.New("wrong expanded decapsulation key size")
	ErrDecapsKey        = errors.New("invalid expanded decapsulation key (FIPS 203 hash check failed)")
	ErrCiphertextSize   = errors.New("wrong ciphertext size")
	ErrDestroyed        = errors.New("decapsulation key used after Destroy")
)

// Scheme is one ML-KEM parameter set as implemented by one backend. It is
// safe for concurrent use, as are the keys it returns.
type Scheme interface {
	// Name is the algorithm, e.g. "ML-KEM-768".
	Name() string
	// Backend is the backend's name, e.g. "circl".
	Backend() string
	// Params returns the sizes and wire identifier of the algorithm.
	Params() Params
	// GenerateKey returns a key pair made from a fresh random seed.
	GenerateKey() (DecapsulationKey, error)
	// NewDecapsulationKey derives the key pair of a 64-byte seed d||z
	// (FIPS 203, ML-KEM.KeyGen_internal).
	NewDecapsulationKey(seed []byte) (DecapsulationKey, error)
	// NewEncapsulationKey parses an encapsulation key, with the modulus check
	// of FIPS 203, Section 7.2.
	NewEncapsulationKey(ek []byte) (EncapsulationKey, error)
}

// EncapsulationKey is a parsed, checked ML-KEM encapsulation key.
type EncapsulationKey interface {
	// Bytes returns a copy of the encoded key.
	Bytes() []byte
	// Encapsulate makes a fresh shared key and its ciphertext.
	Encapsulate() (sharedKey, ciphertext []byte, err error)
	// EncapsulateDerand is ML-KEM.Encaps_internal with the 32-byte
	// randomness m. It is for known-answer tests only: reusing m breaks
	// ML-KEM's security.
	EncapsulateDerand(m []byte) (sharedKey, ciphertext []byte, err error)
}

// DecapsulationKey is an ML-KEM key pair.
type DecapsulationKey interface {
	// Bytes returns a copy of the 64-byte seed d||z.
	Bytes() []byte
	EncapsulationKey() EncapsulationKey
	// Decapsulate returns the shared key of a ciphertext of the right size.
	// A wrong ciphertext of the right size gives the implicit-rejection key,
	// not an error (FIPS 203, Algorithm 18). After Destroy it returns an
	// error wrapping ErrDestroyed.
	Decapsulate(ciphertext []byte) (sharedKey []byte, err error)
	// Destroy wipes the secret key material the key holds (best effort for
	// the Go backends, OQS_MEM_cleanse for liboqs). It is safe to call more
	// than once, and concurrently with Decapsulate: a Decapsulate that has
	// begun completes first; one that begins later fails with ErrDestroyed,
	// and Bytes returns nil.
	Destroy()
}

// Expander is implemented by the decapsulation keys of backends that can give
// the FIPS 203 expanded decapsulation key dk = dk_PKE || ek || H(ek) || z
// (liboqs, circl).
type Expander interface {
	ExpandedBytes() []byte
}

// ExpandedKeyParser is implemented by Schemes that can load an expanded
// decapsulation key (liboqs, circl). The key is checked as FIPS 203,
// Section 7.3 asks: its length and the hash H(ek) it holds. The returned key
// has no seed: its Bytes method returns nil.
type ExpandedKeyParser interface {
	NewDecapsulationKeyExpanded(dk []byte) (DecapsulationKey, error)
}

// backend makes the Schemes of one backend.
type backend struct {
	name string
	// compiled is false for a backend that this binary was built without
	// (liboqs without the build tag); missing then says why.
	compiled bool
	missing  string
	// scheme returns the backend's implementation of p, or an error wrapping
	// ErrUnsupported.
	scheme func(p Params) (Scheme, error)
	// version describes the implementation, e.g. "liboqs 0.16.0".
	version func() string
}

// registry lists every backend kemtcp knows, in order of preference: the
// first one compiled in is the default. Each comes from its own file
// (liboqs.go or liboqs_missing.go, circl.go, gostd.go).
var registry = [...]backend{liboqsBackend, circlBackend, goBackend}

// Algorithms returns the names of the three ML-KEM parameter sets.
func Algorithms() []string {
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
	}
	return names
}

// Backends returns the backends compiled into this binary, the default first.
func Backends() []string {
	var names []string
	for _, b := range registry {
		if b.compiled {
			names = append(names, b.name)
		}
	}
	return names
}

// AllBackends returns every backend kemtcp knows, compiled in or not.
func AllBackends() []string {
	names := make([]string, len(registry))
	for i, b := range registry {
		names[i] = b.name
	}
	return names
}

// DefaultBackend is the backend Lookup uses when none is named: liboqs when
// it is compiled in, else circl.
func DefaultBackend() string {
	return Backends()[0]
}

// BackendVersion describes the implementation behind a backend, e.g.
// "liboqs 0.16.0" or "circl"; "" for an unknown backend.
func BackendVersion(name string) string {
	b, err := findBackend(name)
	if err != nil {
		return ""
	}
	return b.version()
}

// ParamsFor returns the sizes of an algorithm, named as Lookup accepts it.
func ParamsFor(alg string) (Params, error) {
	name, err := CanonicalName(alg)
	if err != nil {
		return Params{}, err
	}
	for _, p := range params {
		if p.Name == name {
			return p, nil
		}
	}
	panic("unreachable")
}

// ParamsByID returns the parameter set with the given TLS code point.
func ParamsByID(id uint16) (Params, bool) {
	for _, p := range params {
		if p.ID == id {
			return p, true
		}
	}
	return Params{}, false
}

// CanonicalName accepts "ML-KEM-768", "MLKEM768", "mlkem768" or "768" (any
// case) and returns "ML-KEM-768".
func CanonicalName(alg string) (string, error) {
	s := strings.ToUpper(strings.TrimSpace(alg))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "ML-KEM-"), "MLKEM")
	s = strings.TrimPrefix(s, "-")
	for _, p := range params {
		if s == strings.TrimPrefix(p.Name, "ML-KEM-") {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of %s, or 512, 768, 1024)", ErrUnknownAlgorithm, alg, strings.Join(Algorithms(), ", "))
}

func findBackend(name string) (backend, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		name = DefaultBackend()
	}
	for _, b := range registry {
		switch {
		case b.name != name:
		case !b.compiled:
			return backend{}, fmt.Errorf("%w: %q: %s", ErrNotCompiledIn, name, b.missing)
		default:
			return b, nil
		}
	}
	return backend{}, fmt.Errorf("%w %q (want one of %s)", ErrUnknownBackend, name, strings.Join(AllBackends(), ", "))
}

// Lookup returns the Scheme for an algorithm ("ML-KEM-512", "ML-KEM-768",
// "ML-KEM-1024", or "512", "768", "1024") on a backend ("liboqs", "circl",
// "go", or "" for DefaultBackend).
func Lookup(alg, backendName string) (Scheme, error) {
	p, err := ParamsFor(alg)
	if err != nil {
		return nil, err
	}
	b, err := findBackend(backendName)
	if err != nil {
		return nil, err
	}
	return b.scheme(p)
}

// checkLen returns an error wrapping sentinel and quoting the sizes when
// len(b) != want.
func checkLen(b []byte, want int, sentinel error, alg string) error {
	if len(b) != want {
		return fmt.Errorf("%s: %w: got %d bytes, want %d", alg, sentinel, len(b), want)
	}
	return nil
}
