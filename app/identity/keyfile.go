package identity

import (
	"bytes"
	"crypto/subtle"
	encasn1 "encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kemtcp/kemtcp/app/kem"
)

// The encodings of this file:
//
//   - RFC 5958, OneAsymmetricKey (PKCS#8 PrivateKeyInfo when version is 0):
//     SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier,
//     privateKey OCTET STRING, attributes [0] IMPLICIT SET OPTIONAL, ...,
//     [[2: publicKey [1] IMPLICIT BIT STRING OPTIONAL ]], ... }.
//   - RFC 5280, SubjectPublicKeyInfo: SEQUENCE { algorithm
//     AlgorithmIdentifier, subjectPublicKey BIT STRING }.
//   - RFC 9935 (draft-ietf-lamps-kyber-certificates, ASN.1 module
//     X509-ML-KEM-2025, DEFINITIONS IMPLICIT TAGS): the ML-KEM OIDs below
//     with parameters absent, the public key as the raw ek in the BIT
//     STRING, and the ML-KEM-x-PrivateKey CHOICE (see PrivateKey).
//   - OpenSSL 3.5, providers/implementations/encode_decode/ml_kem_codecs.c:
//     the same structures byte for byte ("seed-only", "priv-only",
//     "seed-priv"), plus the untagged "bare-seed" and "bare-priv" forms.
//   - draft-connolly-cfrg-xwing-kem-10, Section 5.8 and Appendix E (ASN.1
//     module XWing-KEM-2024): id-XWing with parameters absent, the raw
//     1216-byte encapsulation key in the BIT STRING (5.8.1), the raw
//     32-byte decapsulation key in the privateKey OCTET STRING and no
//     publicKey field (5.8.2).

// PEM block types (RFC 7468).
const (
	pemTypePrivateKey          = "PRIVATE KEY"
	pemTypePublicKey           = "PUBLIC KEY"
	pemTypeEncryptedPrivateKey = "ENCRYPTED PRIVATE KEY"
)

// OneAsymmetricKey versions (RFC 5958): v1 (0) is PKCS#8 PrivateKeyInfo; v2
// (1) may carry the publicKey field.
const (
	versionV1 = 0
	versionV2 = 1
)

// Tags of the ML-KEM private key CHOICE and of OneAsymmetricKey's optional
// fields, all IMPLICIT.
const (
	tagSeed         = asn1.Tag(0x80)    // seed [0] OCTET STRING, primitive
	tagSeedExplicit = asn1.Tag(0xa0)    // [0] constructed: EXPLICIT tagging, not RFC 9935
	tagExpandedKey  = asn1.OCTET_STRING // expandedKey OCTET STRING
	tagBoth         = asn1.SEQUENCE     // both SEQUENCE { seed, expandedKey }
	tagAttributes   = asn1.Tag(0xa0)    // attributes [0] IMPLICIT SET OF, constructed
	tagPublicKey    = asn1.Tag(0x81)    // publicKey [1] IMPLICIT BIT STRING, primitive
)

// The NIST algorithm identifiers of ML-KEM (RFC 9935, Section 3; CSOR):
// nistAlgorithms(4) kems(4) 1, 2, 3.
var (
	oidMLKEM512  = encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1}
	oidMLKEM768  = encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 2}
	oidMLKEM1024 = encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 3}
)

// oidXWing is id-XWing, { iso(1) identified-organization(3) dod(6)
// internet(1) private(4) enterprise(1) 62253 25722 }
// (draft-connolly-cfrg-xwing-kem-10, Section 5.8).
var oidXWing = encasn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 62253, 25722}

// oidCompositeMLKEM768X25519 is id-MLKEM768-X25519-SHA3-256 of LAMPS'
// composite ML-KEM (draft-ietf-lamps-pq-composite-kem-17, Sections 6 and
// 8.1.2): ML-KEM-768 with X25519, but not X-Wing's keys (see PrivateKey).
// Keys under it are refused, naming it.
var oidCompositeMLKEM768X25519 = encasn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 6, 58}

// keyOIDs are the algorithm identifiers this package reads and writes.
var keyOIDs = []struct {
	alg string
	oid encasn1.ObjectIdentifier
}{
	{kem.MLKEM512, oidMLKEM512},
	{kem.MLKEM768, oidMLKEM768},
	{kem.MLKEM1024, oidMLKEM1024},
	{kem.XWing, oidXWing},
}

// otherOIDs names some algorithm identifiers people may feed us by mistake,
// so that the error can say what the file holds.
var otherOIDs = map[string]string{
	"1.2.840.113549.1.1.1":    "RSA",
	"1.2.840.10045.2.1":       "EC",
	"1.3.101.110":             "X25519",
	"1.3.101.111":             "X448",
	"1.3.101.112":             "Ed25519",
	"1.3.101.113":             "Ed448",
	"2.16.840.1.101.3.4.3.17": "ML-DSA-44",
	"2.16.840.1.101.3.4.3.18": "ML-DSA-65",
	"2.16.840.1.101.3.4.3.19": "ML-DSA-87",
}

// Errors of this file, compared with errors.Is. Parse errors wrap
// ErrMalformedKey and quote what was found; consistency failures wrap
// ErrInconsistentKey.
var (
	ErrMalformedKey    = errors.New("malformed KEM key")
	ErrInconsistentKey = errors.New("inconsistent ML-KEM private key")
	// ErrExpandedKeyUnsupported is returned by PrivateKey.DecapsulationKey
	// when the key has no seed and the backend cannot load expanded keys.
	ErrExpandedKeyUnsupported = errors.New("backend cannot load an expanded-only ML-KEM private key")
	// ErrWrongAlgorithm is returned by PrivateKey.DecapsulationKey for a
	// scheme of another algorithm than the key's.
	ErrWrongAlgorithm = errors.New("key of another algorithm")
)

// Form is the encoding of the privateKey field of a private key file.
type Form string

// The forms ParsePrivateKeyDER reads. MarshalPrivateKeyPEM writes FormSeed.
//
// OpenSSL 3.5 writes ML-KEM keys in FormBoth by default ("seed-priv" in its
// providers/implementations/encode_decode/ml_kem_codecs.c), wrapped as
// version 0 with no attributes and no publicKey field (PKCS8_pkey_set0 in
// encode_key2any.c); its "seed-only" and "priv-only" output formats are
// FormSeed and FormExpanded. It also reads and, on request
// (-provparam ml-kem.output_formats=bare-seed|bare-priv), writes two
// pre-standard forms in which the privateKey OCTET STRING holds the raw
// 64-byte seed or the raw expanded key with no inner tag; no well-formed
// DER form has their lengths, so they are read too (FormBareSeed,
// FormBareExpanded). A field of such a length that is itself one whole DER
// element of the CHOICE, e.g. a seed [0] of 62 bytes (64 bytes with its
// header), is malformed, not bare, and is refused: OpenSSL would load it
// silently as another key.
const (
	// FormSeed is the seed alone: for ML-KEM, RFC 9935's seed [0] (OpenSSL's
	// "seed-only"); for X-Wing, the raw 32-byte seed, its only form
	// (draft-connolly-cfrg-xwing-kem-10, Section 5.8.2).
	FormSeed     Form = "seed"
	FormExpanded Form = "expandedKey" // RFC 9935 expandedKey; OpenSSL "priv-only"
	FormBoth     Form = "both"        // RFC 9935 both; OpenSSL "seed-priv", its default
	// FormBareSeed is OpenSSL's "bare-seed": the raw 64-byte ML-KEM seed
	// with no inner tag (earlier drafts of RFC 9935).
	FormBareSeed Form = "bare-seed"
	// FormBareExpanded is OpenSSL's "bare-priv": the raw expanded key with
	// no inner tag.
	FormBareExpanded Form = "bare-priv"
)

// PrivateKey is what a private key file holds, already checked. The file
// is a PEM "PRIVATE KEY" block holding a PKCS#8 OneAsymmetricKey (RFC
// 5958) whose algorithm identifier, with parameters absent, names the
// algorithm, and whose privateKey OCTET STRING holds the key in that
// algorithm's format.
//
// ML-KEM follows RFC 9935 (draft-ietf-lamps-kyber-certificates; the
// section numbers cited in this package are those of the draft at
// github.com/lamps-wg/kyber-certificates commit b013568: Section 3
// identifiers, 6 private key format, 8 consistency testing, Appendix C.4
// bad keys): the NIST identifiers id-alg-ml-kem-512/768/1024
// (2.16.840.1.101.3.4.4.1, .2, .3), and a privateKey holding one of
//
//	ML-KEM-768-PrivateKey ::= CHOICE {
//	  seed [0] OCTET STRING (SIZE (64)),          -- DEFINITIONS IMPLICIT TAGS: 0x80 0x40
//	  expandedKey OCTET STRING (SIZE (2400)),     -- 0x04 0x82 0x09 0x60
//	  both SEQUENCE {                             -- 0x30 0x82 0x09 0xa6
//	    seed OCTET STRING (SIZE (64)),
//	    expandedKey OCTET STRING (SIZE (2400)) } }
//
// (the ASN.1 module X509-ML-KEM-2025; sizes 1632 and 3168 for ML-KEM-512
// and ML-KEM-1024), or one of OpenSSL's bare forms (see Form). kemtcp
// writes the seed form, the 64-byte d||z of FIPS 203, Algorithm 16, as the
// RFC recommends. A OneAsymmetricKey version 1 (v2) with the optional
// publicKey [1] field, as other toolkits write it, is read, and the public
// key is checked against the private key. On reading, the checks of RFC
// 9935, Section 8 and FIPS 203, Section 7.3 are made: a seed and an
// expanded key in one file must agree (the seed is expanded again and
// compared in constant time); an expanded key alone must pass the FIPS 203
// hash check (H(ek) stored in it) and a pairwise consistency test
// (encapsulate to its ek, decapsulate, compare).
//
// X-Wing follows draft-connolly-cfrg-xwing-kem-10, Section 5.8.2: the
// identifier id-XWing (1.3.6.1.4.1.62253.25722), a privateKey OCTET STRING
// holding the raw 32-byte X-Wing decapsulation key (the seed of Section
// 5.2, no inner tag), and no publicKey field ("MUST be absent"). X-Wing
// has no expanded form to store (Section 5.5.1). The draft's Appendix D
// has an example, which the tests load.
//
// LAMPS' composite ML-KEM (draft-ietf-lamps-pq-composite-kem-17) has its
// own identifier for ML-KEM-768 with X25519, id-MLKEM768-X25519-SHA3-256
// (1.3.6.1.5.5.7.6.58), with a 96-byte private key: a 64-byte ML-KEM seed
// followed by a separately generated X25519 private key (Section 4.2).
// kemtcp follows the X-Wing draft's encoding because X-Wing is what it
// implements (package kem): its private key is the 32-byte seed from which
// X-Wing derives both halves, whereas the composite's halves are generated
// separately, so neither key can be turned into the other. A key under the
// composite identifier is refused with an error that names it.
//
// Seed and Expanded have the sizes of the algorithm's kem.Params (SeedSize,
// DecapsulationKeySize). Call Wipe when done.
type PrivateKey struct {
	Algorithm string // canonical name: "ML-KEM-768", "X-Wing", etc.
	Seed      []byte // ML-KEM's 64-byte d||z or X-Wing's 32-byte seed; nil when the file held only an expanded key
	Expanded  []byte // FIPS 203 expanded dk (ML-KEM only); nil when the file held only the seed
	Form      Form   // the encoding the file used
}

// DecapsulationKey makes the key pair of k on scheme s: from the seed if k
// has one, else from the expanded key through kem.ExpandedKeyParser. It
// fails if s is not k's algorithm, or if k has no seed and s's backend
// cannot load expanded keys (the go backend: crypto/mlkem keeps its
// expanded key to itself; X-Wing has no expanded form on any backend).
func (k *PrivateKey) DecapsulationKey(s kem.Scheme) (kem.DecapsulationKey, error) {
	if k == nil || (k.Seed == nil && k.Expanded == nil) {
		return nil, errors.New("private key holds no key material (was it wiped?)")
	}
	if s.Name() != k.Algorithm {
		return nil, fmt.Errorf("%w: the key file holds an %s key, but %s was asked for", ErrWrongAlgorithm, k.Algorithm, s.Name())
	}
	if k.Seed != nil {
		return s.NewDecapsulationKey(k.Seed)
	}
	params := s.Params()
	if params.DecapsulationKeySize == 0 {
		return nil, fmt.Errorf("%w: the %s private key holds no seed, and %s has no expanded key form", ErrMalformedKey, k.Algorithm, k.Algorithm)
	}
	p, ok := s.(kem.ExpandedKeyParser)
	if !ok {
		return nil, fmt.Errorf("%w: the key file holds only the expanded %s decapsulation key (no %d-byte seed), "+
			"which the %s backend cannot load", ErrExpandedKeyUnsupported, k.Algorithm, params.SeedSize, s.Backend())
	}
	return p.NewDecapsulationKeyExpanded(k.Expanded)
}

// Wipe overwrites the secret bytes of k with zeros and drops them.
func (k *PrivateKey) Wipe() {
	if k == nil {
		return
	}
	clear(k.Seed)
	clear(k.Expanded)
	k.Seed, k.Expanded = nil, nil
}

// MarshalPEM encodes k as a PEM "PRIVATE KEY" in the form that holds what
// k holds: for ML-KEM the RFC 9935 seed, expandedKey or both form; for
// X-Wing the raw seed (see PrivateKey).
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	if k == nil {
		return nil, errors.New("nil private key")
	}
	der, err := marshalPrivateKeyDER(k.Algorithm, k.Seed, k.Expanded)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePrivateKey, Bytes: der}), nil
}

// MarshalPrivateKeyPEM encodes a seed of the algorithm's kem.Params
// SeedSize (ML-KEM's 64-byte d||z, X-Wing's 32-byte seed) as a PEM
// "PRIVATE KEY": PKCS#8 version 0, the algorithm's OID with absent
// parameters, and the seed in its format, the RFC 9935 seed [0] for
// ML-KEM, the raw seed for X-Wing (see PrivateKey). A seed of another size
// is an error wrapping kem.ErrSeedSize.
func MarshalPrivateKeyPEM(alg string, seed []byte) ([]byte, error) {
	p, err := kem.ParamsFor(alg)
	if err != nil {
		return nil, err
	}
	if err := checkSeedSize(p, seed); err != nil {
		return nil, err
	}
	return (&PrivateKey{Algorithm: p.Name, Seed: seed}).MarshalPEM()
}

// checkSeedSize refuses a seed whose size is not p's SeedSize.
func checkSeedSize(p kem.Params, seed []byte) error {
	if len(seed) != p.SeedSize {
		return fmt.Errorf("%s private key: %w: the seed is %d bytes, want %d", p.Name, kem.ErrSeedSize, len(seed), p.SeedSize)
	}
	return nil
}

// marshalPrivateKeyDER builds the OneAsymmetricKey of a seed, an expanded
// key, or both (the RFC 9935 CHOICE follows from which are non-nil), or of
// an X-Wing seed. The builder has a fixed buffer, so the secret is never
// copied by a reallocation.
func marshalPrivateKeyDER(alg string, seed, expanded []byte) ([]byte, error) {
	p, oid, err := algParams(alg)
	if err != nil {
		return nil, err
	}
	if seed == nil && expanded == nil {
		return nil, errors.New("private key holds no key material (was it wiped?)")
	}
	if seed != nil {
		if err := checkSeedSize(p, seed); err != nil {
			return nil, err
		}
	}
	if expanded != nil && p.DecapsulationKeySize == 0 {
		return nil, fmt.Errorf("%w: %s has no expanded key form; its private key is the %d-byte seed alone", ErrMalformedKey, p.Name, p.SeedSize)
	}
	if expanded != nil && len(expanded) != p.DecapsulationKeySize {
		return nil, fmt.Errorf("%s: %w: got %d bytes, want %d", p.Name, kem.ErrDecapsKeySize, len(expanded), p.DecapsulationKeySize)
	}
	xwing := p.Name == kem.XWing
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, len(seed)+len(expanded)+64))
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(versionV1)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
		})
		b.AddASN1(asn1.OCTET_STRING, func(b *cryptobyte.Builder) {
			switch {
			case xwing:
				b.AddBytes(seed)
			case seed != nil && expanded != nil:
				b.AddASN1(tagBoth, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(seed)
					b.AddASN1OctetString(expanded)
				})
			case seed != nil:
				b.AddASN1(tagSeed, func(b *cryptobyte.Builder) { b.AddBytes(seed) })
			default:
				b.AddASN1(tagExpandedKey, func(b *cryptobyte.Builder) { b.AddBytes(expanded) })
			}
		})
	})
	return b.Bytes()
}

// ParsePrivateKeyPEM parses a PEM "PRIVATE KEY" holding an ML-KEM private
// key in any form of RFC 9935 (seed, expandedKey, both) or OpenSSL's bare
// forms, or an X-Wing private key, and checks it (see PrivateKey). data
// must hold exactly one PEM block, with nothing but white space around it:
// text before the block, a second block or other data after it, PEM
// headers (an encrypted key) and other block types are refused.
func ParsePrivateKeyPEM(data []byte) (*PrivateKey, error) {
	der, err := decodeOnePEM(data, pemTypePrivateKey)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	return ParsePrivateKeyDER(der)
}

// ParsePrivateKeyDER parses the DER of a OneAsymmetricKey (version 0 or 1)
// holding an ML-KEM or X-Wing private key, as ParsePrivateKeyPEM does.
// Anything else, another algorithm (the composite
// id-MLKEM768-X25519-SHA3-256 included), parameters, wrong sizes, trailing
// data, another version, a publicKey field in version 0 or in an X-Wing
// key, is refused with an error wrapping ErrMalformedKey that names what
// was found; a key that fails the checks of PrivateKey gives one wrapping
// ErrInconsistentKey.
func ParsePrivateKeyDER(der []byte) (*PrivateKey, error) {
	in := cryptobyte.String(der)
	var oak cryptobyte.String
	var tag asn1.Tag
	if !in.ReadAnyASN1(&oak, &tag) {
		return nil, malformed("private key: not DER: cannot read the outer PKCS#8 SEQUENCE (%s)", describeStart(der))
	}
	if tag != asn1.SEQUENCE {
		return nil, malformed("private key: the outer element has tag 0x%02x, want a PKCS#8 SEQUENCE (0x30)", uint8(tag))
	}
	if !in.Empty() {
		return nil, malformed("private key: %d bytes of trailing data after the PKCS#8 structure", len(in))
	}
	var version int64
	if !oak.ReadASN1Integer(&version) {
		return nil, malformed("private key: the PKCS#8 version is not a DER INTEGER")
	}
	if version != versionV1 && version != versionV2 {
		return nil, malformed("private key: unsupported PKCS#8 (OneAsymmetricKey) version %d, want 0 or 1", version)
	}
	p, err := readAlgorithmIdentifier(&oak, "private key")
	if err != nil {
		return nil, err
	}
	var priv cryptobyte.String
	if !oak.ReadASN1(&priv, asn1.OCTET_STRING) {
		return nil, malformed("private key: the privateKey field is not an OCTET STRING (%s)", describeStart(oak))
	}
	if !oak.SkipOptionalASN1(tagAttributes) {
		return nil, malformed("private key: malformed attributes [0] field")
	}
	var pubField cryptobyte.String
	var hasPub bool
	if !oak.ReadOptionalASN1(&pubField, &hasPub, tagPublicKey) {
		return nil, malformed("private key: malformed publicKey [1] field")
	}
	if !oak.Empty() {
		return nil, malformed("private key: unexpected field with tag 0x%02x after the PKCS#8 fields", oak[0])
	}
	var pub []byte
	if hasPub {
		if p.Name == kem.XWing {
			return nil, malformed("%s private key: the OneAsymmetricKey has a publicKey [1] field, which draft-connolly-cfrg-xwing-kem-10, Section 5.8.2 requires to be absent", p.Name)
		}
		if version != versionV2 {
			return nil, malformed("private key: the publicKey [1] field needs OneAsymmetricKey version 1 (RFC 5958), found version %d", version)
		}
		if len(pubField) == 0 || pubField[0] != 0 {
			return nil, malformed("private key: the publicKey [1] BIT STRING is empty or not a whole number of bytes")
		}
		pub = pubField[1:]
		if len(pub) != p.EncapsulationKeySize {
			return nil, malformed("private key: the publicKey field holds %d bytes, want the %d of an %s encapsulation key", len(pub), p.EncapsulationKeySize, p.Name)
		}
	}

	parse := parseChoice
	if p.Name == kem.XWing {
		parse = parseXWingSeed
	}
	k, err := parse(p, priv)
	if err != nil {
		return nil, err
	}
	if err := checkPrivateKey(k, pub); err != nil {
		k.Wipe()
		return nil, err
	}
	return k, nil
}

// parseChoice decodes the privateKey OCTET STRING's contents: the RFC 9935
// CHOICE, told apart by its tag as Section 6 asks, or one of OpenSSL's bare
// forms, told apart by a length no DER form can have (a DER seed is 66
// bytes, a DER expanded key 4 more than the key). The key material is copied
// out, so the caller may wipe the DER.
func parseChoice(p kem.Params, priv cryptobyte.String) (*PrivateKey, error) {
	k := &PrivateKey{Algorithm: p.Name}
	if tag, ok := wholeDERElement(priv); ok && (len(priv) == p.SeedSize && tag == tagSeed || len(priv) == p.DecapsulationKeySize) {
		return nil, malformedBareLength(p, priv, tag)
	}
	switch {
	case len(priv) == p.SeedSize:
		k.Seed, k.Form = bytes.Clone(priv), FormBareSeed
		return k, nil
	case len(priv) == p.DecapsulationKeySize:
		k.Expanded, k.Form = bytes.Clone(priv), FormBareExpanded
		return k, nil
	case len(priv) == 0:
		return nil, malformed("%s private key: the privateKey OCTET STRING is empty", p.Name)
	}
	in := priv
	var v cryptobyte.String
	switch tag := asn1.Tag(in[0]); tag {
	case tagSeed:
		if !in.ReadASN1(&v, tagSeed) {
			return nil, malformed("%s private key: malformed seed [0] element", p.Name)
		}
		if len(v) != p.SeedSize {
			return nil, malformed("%s private key: the seed is %d bytes, want %d", p.Name, len(v), p.SeedSize)
		}
		k.Seed, k.Form = bytes.Clone(v), FormSeed
	case tagExpandedKey:
		if !in.ReadASN1(&v, tagExpandedKey) {
			return nil, malformed("%s private key: malformed expandedKey OCTET STRING", p.Name)
		}
		if len(v) == p.DecapsulationKeySize+p.EncapsulationKeySize {
			return nil, malformed("%s private key: the expandedKey holds %d bytes, the expanded key followed by the public key: "+
				"that is OpenSSL's legacy \"oqskeypair\" form; convert it with: openssl pkey -in OLD -out NEW -provparam ml-kem.output_formats=seed-priv", p.Name, len(v))
		}
		if len(v) != p.DecapsulationKeySize {
			return nil, malformed("%s private key: the expandedKey is %d bytes, want %d", p.Name, len(v), p.DecapsulationKeySize)
		}
		k.Expanded, k.Form = bytes.Clone(v), FormExpanded
	case tagBoth:
		if !in.ReadASN1(&v, tagBoth) {
			return nil, malformed("%s private key: malformed both SEQUENCE", p.Name)
		}
		var seed, expanded cryptobyte.String
		if !v.ReadASN1(&seed, asn1.OCTET_STRING) {
			return nil, malformed("%s private key: the both SEQUENCE does not start with the seed OCTET STRING (%s)", p.Name, describeStart(v))
		}
		if len(seed) != p.SeedSize {
			return nil, malformed("%s private key: the seed in the both SEQUENCE is %d bytes, want %d", p.Name, len(seed), p.SeedSize)
		}
		if !v.ReadASN1(&expanded, asn1.OCTET_STRING) {
			return nil, malformed("%s private key: the both SEQUENCE has no expandedKey OCTET STRING after the seed (%s)", p.Name, describeStart(v))
		}
		if len(expanded) != p.DecapsulationKeySize {
			return nil, malformed("%s private key: the expandedKey in the both SEQUENCE is %d bytes, want %d", p.Name, len(expanded), p.DecapsulationKeySize)
		}
		if !v.Empty() {
			return nil, malformed("%s private key: %d bytes of unexpected data after the expandedKey in the both SEQUENCE", p.Name, len(v))
		}
		k.Seed, k.Expanded, k.Form = bytes.Clone(seed), bytes.Clone(expanded), FormBoth
	case tagSeedExplicit:
		return nil, malformed("%s private key: the seed is tagged [0] EXPLICIT (0xa0); RFC 9935 tags it IMPLICIT (0x80 0x%02x followed by the %d bytes)", p.Name, p.SeedSize, p.SeedSize)
	default:
		return nil, malformed("%s private key: unknown private key form with tag 0x%02x; want seed [0] (0x80), expandedKey OCTET STRING (0x04) or both SEQUENCE (0x30), as RFC 9935 defines them",
			p.Name, uint8(tag))
	}
	if !in.Empty() {
		k.Wipe()
		return nil, malformed("%s private key: %d bytes of trailing data after the %s form inside the privateKey OCTET STRING", p.Name, len(in), k.Form)
	}
	return k, nil
}

// parseXWingSeed decodes the privateKey OCTET STRING's contents of an
// X-Wing key: the raw seed of p.SeedSize bytes, with no inner tag
// (draft-connolly-cfrg-xwing-kem-10, Section 5.8.2). The seed is copied
// out, so the caller may wipe the DER.
func parseXWingSeed(p kem.Params, priv cryptobyte.String) (*PrivateKey, error) {
	if len(priv) == p.SeedSize {
		return &PrivateKey{Algorithm: p.Name, Seed: bytes.Clone(priv), Form: FormSeed}, nil
	}
	want := fmt.Sprintf("want the raw %d-byte seed with no inner tag (draft-connolly-cfrg-xwing-kem-10, Section 5.8.2)", p.SeedSize)
	var v cryptobyte.String
	var tag asn1.Tag
	in := priv
	switch {
	case len(priv) == 0:
		return nil, malformed("%s private key: the privateKey OCTET STRING is empty; %s", p.Name, want)
	case in.ReadAnyASN1(&v, &tag) && in.Empty() && len(v) == p.SeedSize:
		return nil, malformed("%s private key: the privateKey OCTET STRING holds a DER element (tag 0x%02x) wrapping %d bytes; %s",
			p.Name, uint8(tag), len(v), want)
	case len(priv) == compositeMLKEM768X25519PrivateKeySize:
		return nil, malformed("%s private key: the privateKey OCTET STRING holds %d bytes, the size of a composite "+
			"id-MLKEM768-X25519-SHA3-256 private key (a 64-byte ML-KEM seed and an X25519 key), which is not an X-Wing key; %s",
			p.Name, len(priv), want)
	}
	return nil, malformed("%s private key: the privateKey OCTET STRING holds %d bytes; %s", p.Name, len(priv), want)
}

// compositeMLKEM768X25519PrivateKeySize is the size of a private key of
// id-MLKEM768-X25519-SHA3-256: the 64-byte ML-KEM seed and the 32-byte
// X25519 private key (draft-ietf-lamps-pq-composite-kem-17, Section 4.2).
const compositeMLKEM768X25519PrivateKeySize = 96

// wholeDERElement reports whether priv is exactly one DER element (a
// definite length in minimal form that covers the rest of priv) with one of
// the tags of the RFC 9935 CHOICE, and returns the tag.
func wholeDERElement(priv cryptobyte.String) (asn1.Tag, bool) {
	if len(priv) < 2 {
		return 0, false
	}
	tag := asn1.Tag(priv[0])
	switch tag {
	case tagSeed, tagSeedExplicit, tagExpandedKey, tagBoth:
	default:
		return 0, false
	}
	var v cryptobyte.String
	in := priv
	return tag, in.ReadASN1(&v, tag) && in.Empty()
}

// malformedBareLength is the error for a privateKey field that has the
// length of one of OpenSSL's bare forms but is one whole DER element of the
// CHOICE: a seed [0] element of 62 bytes (0x80 0x3e, 64 bytes in all), or
// an element of the expanded key's length (e.g. an expandedKey 4 bytes
// short). OpenSSL 3.5 reads such a field as a bare seed or bare expanded
// key, i.e. silently as another key than the one meant; kemtcp refuses it.
// The price: one genuine bare seed in 65536 starts with 0x80 0x3e and is
// refused too (a bare expanded key is mistaken about once in 2^30); the
// error says how to convert such a key to an unambiguous form.
func malformedBareLength(p kem.Params, priv cryptobyte.String, tag asn1.Tag) error {
	var v cryptobyte.String
	in := priv
	in.ReadASN1(&v, tag)
	what := map[asn1.Tag]string{
		tagSeed:         "seed [0]",
		tagSeedExplicit: "[0] EXPLICIT",
		tagExpandedKey:  "expandedKey OCTET STRING",
		tagBoth:         "both SEQUENCE",
	}[tag]
	bare, want := FormBareSeed, fmt.Sprintf("a seed [0] of %d bytes", p.SeedSize)
	if len(priv) != p.SeedSize {
		bare, want = FormBareExpanded, fmt.Sprintf("an expandedKey of %d bytes", p.DecapsulationKeySize)
	}
	return malformed("%s private key: the privateKey field is a DER %s element (tag 0x%02x) holding %d bytes; want %s. "+
		"Its length (%d bytes) is also that of OpenSSL's %s form, but reading it so would load another key than the one meant, so it is refused "+
		"(should it really be a %s key, convert it with: openssl pkey -in OLD -out NEW -provparam ml-kem.output_formats=seed-priv)",
		p.Name, what, uint8(tag), len(v), want, len(priv), bare, bare)
}

// checkPrivateKey makes the checks of RFC 9935, Section 8 and FIPS 203,
// Section 7.3 with the circl backend, which is always compiled in and can
// both expand seeds and load expanded keys: a seed and an expanded key must
// agree; an expanded key alone must pass the hash check and a pairwise
// consistency test; a publicKey field must be the key's ek.
func checkPrivateKey(k *PrivateKey, pub []byte) error {
	s, err := kem.Lookup(k.Algorithm, kem.BackendCircl)
	if err != nil {
		return err
	}
	var dk kem.DecapsulationKey
	if k.Seed != nil {
		dk, err = s.NewDecapsulationKey(k.Seed)
		if err != nil {
			return err
		}
		defer dk.Destroy()
		if k.Expanded != nil {
			x, ok := dk.(kem.Expander)
			if !ok {
				return fmt.Errorf("the %s backend cannot expand keys", s.Backend())
			}
			want := x.ExpandedBytes()
			defer clear(want)
			if subtle.ConstantTimeCompare(want, k.Expanded) != 1 {
				return fmt.Errorf("%w: the seed and the expandedKey in the file do not match (RFC 9935, Section 8 consistency check)", ErrInconsistentKey)
			}
		}
	} else {
		p, ok := s.(kem.ExpandedKeyParser)
		if !ok {
			return fmt.Errorf("the %s backend cannot load expanded keys", s.Backend())
		}
		dk, err = p.NewDecapsulationKeyExpanded(k.Expanded)
		if err != nil {
			return fmt.Errorf("%w: the expandedKey fails the FIPS 203 input check: %w", ErrInconsistentKey, err)
		}
		defer dk.Destroy()
		if err := pairwiseConsistency(dk); err != nil {
			return err
		}
	}
	if pub != nil && subtle.ConstantTimeCompare(dk.EncapsulationKey().Bytes(), pub) != 1 {
		return fmt.Errorf("%w: the publicKey field is not the public key of the private key", ErrInconsistentKey)
	}
	return nil
}

// pairwiseConsistency encapsulates to dk's public key and checks that dk
// decapsulates to the same shared key. It catches an expanded key whose
// secret part does not belong to its public part, which the hash check
// cannot see (RFC 9935, Appendix C, bad key 2).
func pairwiseConsistency(dk kem.DecapsulationKey) error {
	k1, ct, err := dk.EncapsulationKey().Encapsulate()
	if err != nil {
		return err
	}
	defer clear(k1)
	k2, err := dk.Decapsulate(ct)
	if err != nil {
		return err
	}
	defer clear(k2)
	if subtle.ConstantTimeCompare(k1, k2) != 1 {
		return fmt.Errorf("%w: the expandedKey fails the pairwise consistency test: its secret part does not match its public key", ErrInconsistentKey)
	}
	return nil
}

// MarshalPublicKeyPEM encodes an encapsulation key as a PEM "PUBLIC KEY":
// a SubjectPublicKeyInfo (RFC 5280) with the algorithm's OID, parameters
// absent, and the raw key in the BIT STRING, as RFC 9935 (ML-KEM) and
// draft-connolly-cfrg-xwing-kem-10, Section 5.8.1 (X-Wing: the 1216 bytes
// pk_M || pk_X) define it. It refuses a key of the wrong size (kem.Params
// EncapsulationKeySize) or one that fails the FIPS 203 modulus check (for
// X-Wing, of its ML-KEM-768 half).
func MarshalPublicKeyPEM(alg string, ek []byte) ([]byte, error) {
	der, err := marshalPublicKeyDER(alg, ek)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePublicKey, Bytes: der}), nil
}

// marshalPublicKeyDER is the SubjectPublicKeyInfo DER of MarshalPublicKeyPEM.
func marshalPublicKeyDER(alg string, ek []byte) ([]byte, error) {
	p, oid, err := algParams(alg)
	if err != nil {
		return nil, err
	}
	if err := checkEncapsulationKey(p, ek); err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, len(ek)+32))
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
		})
		b.AddASN1BitString(ek)
	})
	return b.Bytes()
}

// ParsePublicKeyPEM parses a PEM "PUBLIC KEY" holding an ML-KEM or X-Wing
// encapsulation key, encoded as MarshalPublicKeyPEM encodes it, and
// returns the algorithm and the key, checked with the FIPS 203 modulus
// check.
func ParsePublicKeyPEM(data []byte) (alg string, ek []byte, err error) {
	der, err := decodeOnePEM(data, pemTypePublicKey)
	if err != nil {
		return "", nil, err
	}
	return ParsePublicKeyDER(der)
}

// ParsePublicKeyDER parses the DER of a SubjectPublicKeyInfo holding an
// ML-KEM or X-Wing encapsulation key, as ParsePublicKeyPEM does.
func ParsePublicKeyDER(der []byte) (alg string, ek []byte, err error) {
	in := cryptobyte.String(der)
	var spki cryptobyte.String
	var tag asn1.Tag
	if !in.ReadAnyASN1(&spki, &tag) {
		return "", nil, malformed("public key: not DER: cannot read the SubjectPublicKeyInfo SEQUENCE (%s)", describeStart(der))
	}
	if tag != asn1.SEQUENCE {
		return "", nil, malformed("public key: the outer element has tag 0x%02x, want a SubjectPublicKeyInfo SEQUENCE (0x30)", uint8(tag))
	}
	if !in.Empty() {
		return "", nil, malformed("public key: %d bytes of trailing data after the SubjectPublicKeyInfo", len(in))
	}
	p, err := readAlgorithmIdentifier(&spki, "public key")
	if err != nil {
		return "", nil, err
	}
	var bits []byte
	if !spki.ReadASN1BitStringAsBytes(&bits) {
		return "", nil, malformed("public key: the subjectPublicKey is not a BIT STRING of whole bytes (%s)", describeStart(spki))
	}
	if !spki.Empty() {
		return "", nil, malformed("public key: %d bytes of unexpected data after the subjectPublicKey", len(spki))
	}
	if err := checkEncapsulationKey(p, bits); err != nil {
		return "", nil, err
	}
	return p.Name, bytes.Clone(bits), nil
}

func checkEncapsulationKey(p kem.Params, ek []byte) error {
	if len(ek) != p.EncapsulationKeySize {
		return malformed("%s public key: %d bytes, want %d", p.Name, len(ek), p.EncapsulationKeySize)
	}
	s, err := kem.Lookup(p.Name, kem.BackendCircl)
	if err != nil {
		return err
	}
	if _, err := s.NewEncapsulationKey(ek); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	return nil
}

// readAlgorithmIdentifier reads an AlgorithmIdentifier that must be one of
// keyOIDs (RFC 9935, Section 3; draft-connolly-cfrg-xwing-kem-10, Section
// 5.8) with absent parameters, as both documents require.
func readAlgorithmIdentifier(s *cryptobyte.String, what string) (kem.Params, error) {
	var algID cryptobyte.String
	if !s.ReadASN1(&algID, asn1.SEQUENCE) {
		return kem.Params{}, malformed("%s: the algorithm is not an AlgorithmIdentifier SEQUENCE (%s)", what, describeStart(*s))
	}
	var oid encasn1.ObjectIdentifier
	if !algID.ReadASN1ObjectIdentifier(&oid) {
		return kem.Params{}, malformed("%s: the algorithm identifier is not a DER OBJECT IDENTIFIER", what)
	}
	name := ""
	for _, k := range keyOIDs {
		if oid.Equal(k.oid) {
			name = k.alg
		}
	}
	switch {
	case name != "":
	case oid.Equal(oidCompositeMLKEM768X25519):
		return kem.Params{}, malformed("%s: algorithm %s is id-MLKEM768-X25519-SHA3-256, the composite ML-KEM-768 with X25519 of "+
			"draft-ietf-lamps-pq-composite-kem, not X-Wing: its private key is an ML-KEM seed and a separately generated X25519 key, "+
			"which no X-Wing seed can stand for, so kemtcp does not read it; X-Wing keys are identified by id-XWing (%s)",
			what, oid, oidXWing)
	default:
		found := oid.String()
		if n, ok := otherOIDs[found]; ok {
			found += " (" + n + ")"
		}
		return kem.Params{}, malformed("%s: algorithm %s is not ML-KEM or X-Wing; want id-alg-ml-kem-512, -768 or -1024 (%s, %s, %s) or id-XWing (%s)",
			what, found, oidMLKEM512, oidMLKEM768, oidMLKEM1024, oidXWing)
	}
	if !algID.Empty() {
		spec := "RFC 9935"
		if name == kem.XWing {
			spec = "draft-connolly-cfrg-xwing-kem-10, Section 5.8,"
		}
		return kem.Params{}, malformed("%s: the %s algorithm identifier has parameters (tag 0x%02x); %s requires them to be absent", what, name, algID[0], spec)
	}
	return kem.ParamsFor(name)
}

// algParams returns the sizes and OID of an algorithm name.
func algParams(alg string) (kem.Params, encasn1.ObjectIdentifier, error) {
	p, err := kem.ParamsFor(alg)
	if err != nil {
		return kem.Params{}, nil, err
	}
	for _, k := range keyOIDs {
		if k.alg == p.Name {
			return p, k.oid, nil
		}
	}
	return kem.Params{}, nil, fmt.Errorf("%w: %s has no object identifier in this package", ErrMalformedKey, p.Name)
}

// decodeOnePEM returns the bytes of the single PEM block of the given type
// in data. Only white space may surround the block: text before it, a
// second block or other data after it, PEM headers (RFC 1421 encryption)
// and other block types are refused, naming what was found. The returned
// bytes are a fresh copy; a block of the wrong type is wiped, as it may hold
// another secret key.
func decodeOnePEM(data []byte, want string) ([]byte, error) {
	kind := "private key"
	if want == pemTypePublicKey {
		kind = "public key"
	}
	rest := bytes.TrimLeft(data, " \t\r\n")
	if len(rest) == 0 {
		return nil, malformed("%s: the input is empty", kind)
	}
	if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
		if rest[0] == 0x30 {
			return nil, malformed("%s: not PEM; it looks like binary DER: convert it with: openssl pkey -inform DER -in FILE -out FILE.pem", kind)
		}
		if i := bytes.Index(rest, []byte("\n-----BEGIN ")); i >= 0 {
			return nil, malformed("%s: unexpected text before the PEM block: %s", kind, describeStart(rest[:i]))
		}
		return nil, malformed("%s: no PEM block found; want -----BEGIN %s----- (the input starts with %s)", kind, want, describeStart(rest))
	}
	block, after := pem.Decode(rest)
	if block == nil {
		return nil, malformed("%s: malformed PEM block (bad base64, or no matching -----END line)", kind)
	}
	if block.Type != want {
		clear(block.Bytes)
		switch {
		case block.Type == pemTypeEncryptedPrivateKey && want == pemTypePrivateKey:
			return nil, malformed("%s: the key is encrypted (PEM %q); kemtcp reads unencrypted keys only: decrypt it with: openssl pkey -in FILE -out PLAIN", kind, block.Type)
		case want == pemTypePublicKey && block.Type == pemTypePrivateKey:
			return nil, malformed("%s: found a PEM %q where a %q was expected", kind, block.Type, want)
		default:
			return nil, malformed("%s: the PEM block is %q, want %q", kind, block.Type, want)
		}
	}
	if len(block.Headers) > 0 {
		clear(block.Bytes)
		return nil, malformed("%s: the PEM block has headers (%d, e.g. Proc-Type), as encrypted keys have; kemtcp reads unencrypted keys only", kind, len(block.Headers))
	}
	after = bytes.TrimSpace(after)
	if len(after) > 0 {
		clear(block.Bytes)
		if bytes.HasPrefix(after, []byte("-----BEGIN ")) {
			return nil, malformed("%s: a second PEM block follows the first; a key file must hold exactly one", kind)
		}
		return nil, malformed("%s: %d bytes of unexpected data after the PEM block: %s", kind, len(after), describeStart(after))
	}
	if len(block.Bytes) == 0 {
		return nil, malformed("%s: the PEM block is empty", kind)
	}
	return block.Bytes, nil
}

// describeStart quotes the first bytes of b for an error message: as text
// if they are printable UTF-8, else in hex.
func describeStart(b []byte) string {
	const n = 24
	if len(b) == 0 {
		return "nothing"
	}
	head := b[:min(len(b), n)]
	suffix := ""
	if len(b) > n {
		suffix = "..."
	}
	if utf8.Valid(head) && bytes.IndexFunc(head, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }) < 0 {
		return fmt.Sprintf("%q%s", head, suffix)
	}
	return fmt.Sprintf("bytes % x%s", head, suffix)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedKey, fmt.Sprintf(format, args...))
}
