package kem

import (
	"crypto/rand"
	"crypto/sha3"
	"fmt"
	"sync"

	circl25519 "github.com/cloudflare/circl/dh/x25519"
)

// X-Wing, the general-purpose hybrid of ML-KEM-768 and X25519 specified by
// draft-connolly-cfrg-xwing-kem-10 ("X-Wing: general-purpose hybrid
// post-quantum KEM", March 2026; its construction has not changed since -05,
// its code points since -06), which is also HPKE's KEM MLKEM768-X25519, id
// 0x647A, in draft-ietf-hpke-pq. Section numbers below are -10's.
//
// It is written once, as a combinator over the ML-KEM-768 Scheme of any
// backend (liboqs, circl or go): that Scheme does ML-KEM.KeyGen_internal,
// the FIPS 203 modulus check, (derandomized) encapsulation and
// decapsulation; X25519 comes from circl's dh/x25519 (see x25519); SHAKE-256
// and SHA3-256 from crypto/sha3.
//
// Keys are stored as the draft stores them (Section 5.1): the decapsulation
// key is its 32-byte seed, the encapsulation key pk_M || pk_X (1216 bytes),
// the ciphertext ct_M || ct_X (1120 bytes). A decapsulation key keeps the
// expansion of its seed (Section 5.5.1 allows caching it): the backend's
// ML-KEM-768 key and the X25519 private key. That expanded form is never
// exported.

// Sizes of X-Wing and of its components (Sections 4 and 5.1).
const (
	xwingSeedSize       = 32   // the decapsulation key sk
	xwingEncapsSeedSize = 64   // eseed of EncapsulateDerand (Section 5.4.1)
	xwingEKSize         = 1216 // pk = pk_M || pk_X
	xwingCTSize         = 1120 // ct = ct_M || ct_X
	xwingExpandedSize   = 96   // SHAKE256(sk, 96*8): d || z || sk_X
	mlkem768EKSize      = 1184
	mlkem768CTSize      = 1088
	x25519Size          = 32
)

// xwingParams are X-Wing's sizes and wire identifier (see Params).
var xwingParams = Params{
	Name:                 XWing,
	ID:                   0x647A, // HPKE KEM identifier, Section 7
	EncapsulationKeySize: xwingEKSize,
	DecapsulationKeySize: 0, // no expanded form (Section 5.5.1)
	CiphertextSize:       xwingCTSize,
	SeedSize:             xwingSeedSize,
	EncapsSeedSize:       xwingEncapsSeedSize,
}

// xwingLabel is XWingLabel (Section 5.3): the six ASCII bytes \./ and /^\,
// 5c2e2f2f5e5c in hexadecimal.
const xwingLabel = `\./` + `/^\`

// xwingSchemeFor returns X-Wing over the ML-KEM-768 Scheme of backend b.
func xwingSchemeFor(b backend) (Scheme, error) {
	p, err := ParamsFor(MLKEM768)
	if err != nil {
		return nil, err
	}
	m, err := b.scheme(p)
	if err != nil {
		return nil, fmt.Errorf("%s needs ML-KEM-768: %w", XWing, err)
	}
	return &xwingScheme{m: m}, nil
}

// xwingCombiner is Combiner(ss_M, ss_X, ct_X, pk_X) of Section 5.3:
// SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel), the label last.
func xwingCombiner(ssM, ssX, ctX, pkX []byte) []byte {
	h := sha3.New256()
	h.Write(ssM)
	h.Write(ssX)
	h.Write(ctX)
	h.Write(pkX)
	h.Write([]byte(xwingLabel))
	return h.Sum(nil)
}

// x25519 is the function X25519(k, u) that the draft takes from RFC 7748,
// Section 5 (the draft's Section 4, "Cryptographic Dependencies": "X25519(k,
// u): takes 32 byte strings k and u representing a Curve25519 scalar and the
// u-coordinate of a point respectively, and returns the 32 byte string
// representing the u-coordinate of their scalar multiplication").
//
// On the all-zero output, which X25519 gives for the low-order points of
// RFC 7748, Section 7: RFC 7748, Section 6.1 says the parties "MAY check
// ... whether K is the all-zero value and abort if so". The draft does not
// ask for that check anywhere: Section 4 defines X25519 by Section 5 of
// RFC 7748, and Encapsulate (5.4), EncapsulateDerand (5.4.1) and
// Decapsulate (5.5) feed ss_X to the combiner unchecked; pk_X and ct_X are
// taken as any 32 bytes. (The authors confirm it is allowed but not
// required: draft issue #28.) So X-Wing refuses nothing here: an all-zero
// ss_X goes into the combiner like any other value, as in the draft's
// reference code and in circl's kem/xwing, and the shared secret still
// depends on ss_M and on ct_X and pk_X.
//
// X25519 is circl's dh/x25519 (github.com/cloudflare/circl), not
// crypto/ecdh: a handshake does three X25519 key generations (ct_X of two
// encapsulations, pk_X of the server's ephemeral key) and four X25519(k, u),
// and circl's KeyGen, a fixed-base ladder over a precomputed table, takes
// half the time of crypto/ecdh's NewPrivateKey, which runs the generic
// ladder on the base point (and runs it for every private key, also one
// used only for ECDH). circl's keys are arrays, which Destroy and
// Encapsulate wipe; crypto/ecdh's cannot be wiped. circl's Shared reduces u
// mod p and ignores its top bit (RFC 7748, Section 5), reports the all-zero
// output as false, and returns that output all the same: x25519 passes it
// on.
func x25519(k *circl25519.Key, u []byte) []byte {
	var pub, ss circl25519.Key
	copy(pub[:], u)
	circl25519.Shared(&ss, k, &pub)
	return ss[:]
}

// x25519Base is X25519(k, 9), the public key of the private key k.
func x25519Base(k *circl25519.Key) []byte {
	var pub circl25519.Key
	circl25519.KeyGen(&pub, k)
	return pub[:]
}

type xwingScheme struct {
	m Scheme // the backend's ML-KEM-768
}

var _ Scheme = (*xwingScheme)(nil)

func (s *xwingScheme) Name() string    { return XWing }
func (s *xwingScheme) Backend() string { return s.m.Backend() }
func (s *xwingScheme) Params() Params  { return xwingParams }

// GenerateKey is GenerateKeyPair (Section 5.2): a random 32-byte seed.
func (s *xwingScheme) GenerateKey() (DecapsulationKey, error) {
	var seed [xwingSeedSize]byte
	rand.Read(seed[:])
	defer clear(seed[:])
	return s.NewDecapsulationKey(seed[:])
}

// NewDecapsulationKey is GenerateKeyPairDerand (Section 5.2.1): the seed sk
// is expanded by expandDecapsulationKey (Section 5.2) to SHAKE256(sk, 96*8),
// whose bytes 0-31 and 32-63 are the d and z of ML-KEM-768.KeyGen_internal
// and whose bytes 64-95 are the X25519 private key sk_X.
func (s *xwingScheme) NewDecapsulationKey(seed []byte) (DecapsulationKey, error) {
	if err := checkLen(seed, xwingSeedSize, ErrSeedSize, XWing); err != nil {
		return nil, err
	}
	expanded := sha3.SumSHAKE256(seed, xwingExpandedSize)
	defer clear(expanded)
	m, err := s.m.NewDecapsulationKey(expanded[:64])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", XWing, err)
	}
	k := &xwingDecapsulationKey{seed: [xwingSeedSize]byte(seed), m: m, x: circl25519.Key(expanded[64:])}
	k.ek = &xwingEncapsulationKey{m: m.EncapsulationKey(), pkX: x25519Base(&k.x)}
	return k, nil
}

// NewEncapsulationKey parses pk = pk_M || pk_X. pk_M gets the FIPS 203
// modulus check (Section 4 requires it of ML-KEM-768.Encaps) from the
// backend's ML-KEM-768 Scheme, at parse time rather than at each
// encapsulation. pk_X is any 32 bytes (see x25519).
func (s *xwingScheme) NewEncapsulationKey(ek []byte) (EncapsulationKey, error) {
	if err := checkLen(ek, xwingEKSize, ErrEncapsKeySize, XWing); err != nil {
		return nil, err
	}
	m, err := s.m.NewEncapsulationKey(ek[:mlkem768EKSize])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", XWing, err)
	}
	return &xwingEncapsulationKey{m: m, pkX: append([]byte(nil), ek[mlkem768EKSize:]...)}, nil
}

type xwingEncapsulationKey struct {
	m   EncapsulationKey // pk_M, checked
	pkX []byte           // pk_X, 32 bytes
}

var _ EncapsulationKey = (*xwingEncapsulationKey)(nil)

func (k *xwingEncapsulationKey) Bytes() []byte {
	return append(k.m.Bytes(), k.pkX...)
}

// Encapsulate is Encapsulate (Section 5.4): a fresh ephemeral X25519 key
// ek_X, and the backend's ML-KEM-768 encapsulation with its own fresh m.
func (k *xwingEncapsulationKey) Encapsulate() (sharedKey, ciphertext []byte, err error) {
	var ekX circl25519.Key
	rand.Read(ekX[:])
	defer clear(ekX[:])
	ssM, ctM, err := k.m.Encapsulate()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", XWing, err)
	}
	return k.combine(ssM, ctM, &ekX)
}

// EncapsulateDerand is EncapsulateDerand (Section 5.4.1): eseed[0:32] is
// ML-KEM-768's m, eseed[32:64] the ephemeral X25519 private key ek_X.
func (k *xwingEncapsulationKey) EncapsulateDerand(eseed []byte) (sharedKey, ciphertext []byte, err error) {
	if err := checkLen(eseed, xwingEncapsSeedSize, ErrEncapsSeedSize, XWing); err != nil {
		return nil, nil, err
	}
	ekX := circl25519.Key(eseed[32:])
	defer clear(ekX[:])
	ssM, ctM, err := k.m.EncapsulateDerand(eseed[:32])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", XWing, err)
	}
	return k.combine(ssM, ctM, &ekX)
}

// combine finishes an encapsulation: ct_X = X25519(ek_X, X25519_BASE),
// ss_X = X25519(ek_X, pk_X), ss = Combiner(ss_M, ss_X, ct_X, pk_X) and
// ct = ct_M || ct_X.
func (k *xwingEncapsulationKey) combine(ssM, ctM []byte, ekX *circl25519.Key) (sharedKey, ciphertext []byte, err error) {
	ctX := x25519Base(ekX)
	ssX := x25519(ekX, k.pkX)
	sharedKey = xwingCombiner(ssM, ssX, ctX, k.pkX)
	clear(ssM)
	clear(ssX)
	ciphertext = make([]byte, 0, xwingCTSize)
	return sharedKey, append(append(ciphertext, ctM...), ctX...), nil
}

type xwingDecapsulationKey struct {
	// mu makes Destroy wait for the Decapsulate calls under way.
	mu        sync.RWMutex
	destroyed bool
	seed      [xwingSeedSize]byte
	m         DecapsulationKey // sk_M, held by the backend
	x         circl25519.Key   // sk_X
	ek        *xwingEncapsulationKey
}

var _ DecapsulationKey = (*xwingDecapsulationKey)(nil)

// Bytes returns a copy of the 32-byte seed, the X-Wing decapsulation key of
// Section 5.1; nil after Destroy.
func (k *xwingDecapsulationKey) Bytes() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.destroyed {
		return nil
	}
	return append([]byte(nil), k.seed[:]...)
}

func (k *xwingDecapsulationKey) EncapsulationKey() EncapsulationKey { return k.ek }

// Decapsulate is Decapsulate (Section 5.5): ss_M from the backend's
// ML-KEM-768 decapsulation of ct_M (with its implicit rejection), ss_X =
// X25519(sk_X, ct_X), and Combiner(ss_M, ss_X, ct_X, pk_X). Only a
// ciphertext of the wrong size is an error.
func (k *xwingDecapsulationKey) Decapsulate(ciphertext []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.destroyed {
		return nil, fmt.Errorf("%s: %w", XWing, ErrDestroyed)
	}
	if err := checkLen(ciphertext, xwingCTSize, ErrCiphertextSize, XWing); err != nil {
		return nil, err
	}
	ctX := ciphertext[mlkem768CTSize:]
	ssM, err := k.m.Decapsulate(ciphertext[:mlkem768CTSize])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", XWing, err)
	}
	ssX := x25519(&k.x, ctX)
	ss := xwingCombiner(ssM, ssX, ctX, k.ek.pkX)
	clear(ssM)
	clear(ssX)
	return ss, nil
}

// Destroy wipes both halves, once the Decapsulate calls under way are done:
// the seed is overwritten with zeros; the ML-KEM-768 key is destroyed by its
// backend (see the backend's Destroy: OQS_MEM_cleanse for liboqs); the
// X25519 private key is overwritten with zeros. Afterwards Bytes returns
// nil and Decapsulate an error wrapping ErrDestroyed. Destroying twice, or a
// nil key, does nothing.
func (k *xwingDecapsulationKey) Destroy() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.destroyed {
		return
	}
	k.destroyed = true
	clear(k.seed[:])
	k.m.Destroy()
	clear(k.x[:])
}
