package identity

import (
	"crypto/rand"
	encasn1 "encoding/asn1"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kemtcp/kemtcp/app/kem"
)

// The tests build DER by hand from the ASN.1 modules (RFC 5958
// OneAsymmetricKey, RFC 5280 SubjectPublicKeyInfo, RFC 9935 X509-ML-KEM-2025,
// draft-connolly-cfrg-xwing-kem-10 Section 5.8 and XWing-KEM-2024),
// independently of the package's marshallers.

var testOIDs = map[string]encasn1.ObjectIdentifier{
	kem.MLKEM512:  {2, 16, 840, 1, 101, 3, 4, 4, 1},
	kem.MLKEM768:  {2, 16, 840, 1, 101, 3, 4, 4, 2},
	kem.MLKEM1024: {2, 16, 840, 1, 101, 3, 4, 4, 3},
	kem.XWing:     {1, 3, 6, 1, 4, 1, 62253, 25722}, // id-XWing
}

// compositeOID is id-MLKEM768-X25519-SHA3-256
// (draft-ietf-lamps-pq-composite-kem-17, Section 8.1.2).
var compositeOID = encasn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 6, 58}

// mlkemAlgorithms are the algorithms of kem.Algorithms with the RFC 9935
// key formats: the ML-KEM parameter sets.
func mlkemAlgorithms() []string {
	var out []string
	for _, alg := range kem.Algorithms() {
		if strings.HasPrefix(alg, "ML-KEM-") {
			out = append(out, alg)
		}
	}
	return out
}

func seedSize(t testing.TB, alg string) int {
	p, err := kem.ParamsFor(alg)
	require.NoError(t, err)
	return p.SeedSize
}

// countingSeed is the seed 00 01 02 ... of alg's seed size: 00..3f for
// ML-KEM, as in the LAMPS examples; 00..1f for X-Wing, as in the X-Wing
// draft's Appendix D.
func countingSeed(alg string) []byte {
	p, err := kem.ParamsFor(alg)
	if err != nil {
		panic(err)
	}
	s := make([]byte, p.SeedSize)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

func randomSeed(t testing.TB, alg string) []byte {
	s := make([]byte, seedSize(t, alg))
	_, err := rand.Read(s)
	require.NoError(t, err)
	return s
}

// keyMaterial derives, with the circl backend, the expanded key (nil for
// X-Wing, which has none) and ek of a seed.
func keyMaterial(t testing.TB, alg string, seed []byte) (expanded, ek []byte) {
	t.Helper()
	s, err := kem.Lookup(alg, kem.BackendCircl)
	require.NoError(t, err)
	dk, err := s.NewDecapsulationKey(seed)
	require.NoError(t, err)
	defer dk.Destroy()
	if x, ok := dk.(kem.Expander); ok {
		expanded = x.ExpandedBytes()
	}
	return expanded, dk.EncapsulationKey().Bytes()
}

// oak describes a OneAsymmetricKey to build by hand.
type oak struct {
	version  int64
	oid      encasn1.ObjectIdentifier
	params   func(b *cryptobyte.Builder) // nil: absent
	priv     []byte                      // contents of the privateKey OCTET STRING
	attrs    bool                        // add an attributes [0] field
	pub      []byte                      // nil: no publicKey [1] field
	pubPad   byte                        // unused-bits octet of publicKey
	trailing []byte                      // raw bytes appended inside the SEQUENCE
}

func (o oak) der() []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(o.version)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(o.oid)
			if o.params != nil {
				o.params(b)
			}
		})
		b.AddASN1OctetString(o.priv)
		if o.attrs {
			// attributes [0] IMPLICIT SET OF Attribute, one Attribute
			// { type OID, values SET OF ANY }.
			b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20})
					b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.Tag(30), func(b *cryptobyte.Builder) { b.AddBytes([]byte{0, 'k'}) })
					})
				})
			})
		}
		if o.pub != nil {
			b.AddASN1(asn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddUint8(o.pubPad)
				b.AddBytes(o.pub)
			})
		}
		b.AddBytes(o.trailing)
	})
	return b.BytesOrPanic()
}

// The ML-KEM-x-PrivateKey CHOICE, by hand.
func choiceSeed(seed []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(seed) })
	return b.BytesOrPanic()
}

func choiceExpanded(expanded []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1OctetString(expanded)
	return b.BytesOrPanic()
}

func choiceBoth(seed, expanded []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1OctetString(seed)
		b.AddASN1OctetString(expanded)
	})
	return b.BytesOrPanic()
}

func spki(oid encasn1.ObjectIdentifier, ek []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
		b.AddASN1BitString(ek)
	})
	return b.BytesOrPanic()
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func derOfPEM(t testing.TB, data []byte) []byte {
	t.Helper()
	block, rest := pem.Decode(data)
	require.NotNil(t, block)
	require.Empty(t, rest)
	return block.Bytes
}

// expectedBackends are the backends that can load seeds of alg.
func backendsFor(t testing.TB, alg string) []kem.Scheme {
	var out []kem.Scheme
	for _, b := range kem.Backends() {
		s, err := kem.Lookup(alg, b)
		if err == nil {
			out = append(out, s)
		}
	}
	require.NotEmpty(t, out)
	return out
}
