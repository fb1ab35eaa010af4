// Package kem is kemtcp's one interface to ML-KEM (FIPS 203) and to X-Wing,
// the hybrid of ML-KEM-768 and X25519 (draft-connolly-cfrg-xwing-kem-10; see
// xwing.go), with three interchangeable backends:
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
//
// X-Wing is built once, over the ML-KEM-768 Scheme of whichever backend is
// asked for, with X25519 from circl's dh/x25519: kem.Lookup("X-Wing", "liboqs")
// decapsulates its ML-KEM half with liboqs. Its sizes differ from ML-KEM's
// (a 32-byte seed, 64 bytes of encapsulation randomness): take them from
// Params, not from the ML-KEM constants below.
package kem

import (
	"errors"
	"fmt"
	"strings"
)

// Sizes common to every ML-KEM parameter set (FIPS 203, Section 8). X-Wing's
// seed and encapsulation randomness have other sizes, given by its Params;
// its shared key is SharedKeySize bytes too.
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

// Algorithm names, as FIPS 203 and liboqs spell the ML-KEM ones, and as
// draft-connolly-cfrg-xwing-kem spells X-Wing.
const (
	MLKEM512  = "ML-KEM-512"
	MLKEM768  = "ML-KEM-768"
	MLKEM1024 = "ML-KEM-1024"
	XWing     = "X-Wing"
)

// Backend names.
const (
	BackendLiboqs = "liboqs"
	BackendCircl  = "circl"
	BackendGo     = "go"
)

// Params are the sizes of one algorithm: an ML-KEM parameter set (FIPS 203,
// Table 3) or X-Wing (draft-connolly-cfrg-xwing-kem-10, Section 5.1).
type Params struct {
	Name string
	// ID is the wire identifier the session protocol uses: the TLS
	// supported-group code point of ML-KEM, and X-Wing's HPKE KEM
	// identifier 0x647A (draft-connolly-cfrg-xwing-kem-10, Section 7;
	// MLKEM768-X25519 in draft-ietf-hpke-pq).
	ID                   uint16
	EncapsulationKeySize int // ek: ML-KEM 384k+32 bytes; X-Wing pk_M || pk_X, 1216 bytes
	// DecapsulationKeySize is the size of the FIPS 203 expanded dk,
	// 768k+96 bytes, which Expander and ExpandedKeyParser use. It is 0 for
	// X-Wing, which has no expanded form to store or exchange (the draft,
	// Section 5.5.1, forbids transmitting one between implementations): its
	// decapsulation key is the SeedSize-byte seed.
	DecapsulationKeySize int
	CiphertextSize       int // c: ML-KEM 32(du*k+dv) bytes; X-Wing ct_M || ct_X, 1120 bytes
	SeedSize             int // the private key as stored: ML-KEM's 64-byte d||z, X-Wing's 32-byte seed
	EncapsSeedSize       int // EncapsulateDerand's randomness: ML-KEM's 32-byte m, X-Wing's 64-byte eseed
}

// params lists every algorithm, in the order Algorithms returns them.
var params = []Params{
	{Name: MLKEM512, ID: 0x0200, EncapsulationKeySize: 800, DecapsulationKeySize: 1632, CiphertextSize: 768, SeedSize: SeedSize, EncapsSeedSize: EncapsSeedSize},
	{Name: MLKEM768, ID: 0x0201, EncapsulationKeySize: 1184, DecapsulationKeySize: 2400, CiphertextSize: 1088, SeedSize: SeedSize, EncapsSeedSize: EncapsSeedSize},
	{Name: MLKEM1024, ID: 0x0202, EncapsulationKeySize: 1568, DecapsulationKeySize: 3168, CiphertextSize: 1568, SeedSize: SeedSize, EncapsSeedSize: EncapsSeedSize},
	xwingParams,
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

// Scheme is one algorithm (an ML-KEM parameter set, or X-Wing) as
// implemented by one backend. It is safe for concurrent use, as are the keys
// it returns.
type Scheme interface {
	// Name is the algorithm, e.g. "ML-KEM-768" or "X-Wing".
	Name() string
	// Backend is the backend's name, e.g. "circl".
	Backend() string
	// Params returns the sizes and wire identifier of the algorithm.
	Params() Params
	// GenerateKey returns a key pair made from a fresh random seed.
	GenerateKey() (DecapsulationKey, error)
	// NewDecapsulationKey derives the key pair of a seed of Params().SeedSize
	// bytes: ML-KEM's 64-byte d||z (FIPS 203, ML-KEM.KeyGen_internal), or
	// X-Wing's 32-byte decapsulation key.
	NewDecapsulationKey(seed []byte) (DecapsulationKey, error)
	// NewEncapsulationKey parses an encapsulation key, with the modulus check
	// of FIPS 203, Section 7.2 (on X-Wing's ML-KEM-768 half).
	NewEncapsulationKey(ek []byte) (EncapsulationKey, error)
}

// EncapsulationKey is a parsed, checked encapsulation key.
type EncapsulationKey interface {
	// Bytes returns a copy of the encoded key.
	Bytes() []byte
	// Encapsulate makes a fresh shared key and its ciphertext.
	Encapsulate() (sharedKey, ciphertext []byte, err error)
	// EncapsulateDerand encapsulates with the given randomness, of
	// Params().EncapsSeedSize bytes: ML-KEM.Encaps_internal's 32-byte m, or
	// the 64-byte eseed of X-Wing's EncapsulateDerand. It is for
	// known-answer tests only: reusing the randomness breaks security.
	EncapsulateDerand(m []byte) (sharedKey, ciphertext []byte, err error)
}

// DecapsulationKey is a key pair.
type DecapsulationKey interface {
	// Bytes returns a copy of the seed: ML-KEM's 64-byte d||z, or X-Wing's
	// 32-byte decapsulation key.
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

// Algorithms returns the names of the three ML-KEM parameter sets, then
// X-Wing.
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
// case) and returns "ML-KEM-768"; and "X-Wing", "xwing" or "x-wing" (any
// case), returning "X-Wing".
func CanonicalName(alg string) (string, error) {
	s := strings.ToUpper(strings.TrimSpace(alg))
	if s == "X-WING" || s == "XWING" {
		return XWing, nil
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "ML-KEM-"), "MLKEM")
	s = strings.TrimPrefix(s, "-")
	for _, p := range params {
		if p.Name != XWing && s == strings.TrimPrefix(p.Name, "ML-KEM-") {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of %s, or 512, 768, 1024, xwing)", ErrUnknownAlgorithm, alg, strings.Join(Algorithms(), ", "))
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
// "ML-KEM-1024", or "512", "768", "1024"; "X-Wing") on a backend ("liboqs",
// "circl", "go", or "" for DefaultBackend). X-Wing's ML-KEM-768 half is the
// backend's ML-KEM-768 Scheme.
func Lookup(alg, backendName string) (Scheme, error) {
	p, err := ParamsFor(alg)
	if err != nil {
		return nil, err
	}
	b, err := findBackend(backendName)
	if err != nil {
		return nil, err
	}
	if p.Name == XWing {
		return xwingSchemeFor(b)
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
