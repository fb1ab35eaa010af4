package kem_test

// X-Wing (draft-connolly-cfrg-xwing-kem-10) on every backend: the draft's
// test vectors, circl's kem/xwing byte for byte, the X25519 low-order points
// and Project Wycheproof's X25519 vectors. The HPKE side is in
// xwing_hpke_test.go. The tests every algorithm gets (wrong lengths, the
// modulus check, Destroy, concurrency, agreement between backends) run on
// X-Wing too, since kem.Algorithms lists it.

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdh"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/cloudflare/circl/kem/xwing"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// xwingLabel is XWingLabel as the draft gives it in hexadecimal (Section
// 5.3), written here independently of the package's own constant.
var xwingLabel = []byte{0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c}

// refCombiner is the draft's Combiner (Section 5.3), for checking results
// the test computes by hand.
func refCombiner(ssM, ssX, ctX, pkX []byte) []byte {
	h := sha3.New256()
	for _, b := range [][]byte{ssM, ssX, ctX, pkX, xwingLabel} {
		h.Write(b)
	}
	return h.Sum(nil)
}

// x25519Base returns X25519(k, X25519_BASE), the public key of k.
func x25519Base(t testing.TB, k []byte) []byte {
	t.Helper()
	sk, err := ecdh.X25519().NewPrivateKey(k)
	require.NoError(t, err)
	return sk.PublicKey().Bytes()
}

// concat returns a new slice holding the given ones one after another.
func concat(bs ...[]byte) []byte { return slices.Concat(bs...) }

// xwingHalves is what the test derives by hand from an X-Wing seed on one
// backend: the ML-KEM-768 key of SHAKE256(seed)[0:64] and the X25519 key
// SHAKE256(seed)[64:96] (Section 5.2).
type xwingHalves struct {
	m   kem.DecapsulationKey // on the same backend
	skX []byte
	pkX []byte
}

func deriveHalves(t testing.TB, backend string, seed []byte) xwingHalves {
	t.Helper()
	m768, err := kem.Lookup(kem.MLKEM768, backend)
	require.NoError(t, err)
	expanded := sha3.SumSHAKE256(seed, 96)
	m, err := m768.NewDecapsulationKey(expanded[:64])
	require.NoError(t, err)
	return xwingHalves{m: m, skX: expanded[64:], pkX: x25519Base(t, expanded[64:])}
}

// xwingVector is one of the draft's test vectors (spec/test-vectors.json,
// Appendix C).
type xwingVector struct {
	Seed  hexField `json:"seed"`
	Eseed hexField `json:"eseed"`
	SS    hexField `json:"ss"`
	SK    hexField `json:"sk"`
	PK    hexField `json:"pk"`
	CT    hexField `json:"ct"`
}

func loadXWingVectors(t *testing.T) []xwingVector {
	t.Helper()
	f, err := os.Open("testdata/xwing/test-vectors.json")
	require.NoError(t, err)
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var vs []xwingVector
	require.NoError(t, dec.Decode(&vs))
	_, err = dec.Token()
	require.ErrorIs(t, err, io.EOF, "data after the JSON document")
	require.Len(t, vs, 3)
	return vs
}

// TestXWingDraftVectors runs the draft's three test vectors on every
// backend: the seed gives sk and pk; EncapsulateDerand(pk, eseed) gives ct
// and ss; Decapsulate(ct, sk) gives ss.
func TestXWingDraftVectors(t *testing.T) {
	vectors := loadXWingVectors(t)
	schemes := schemesFor(t, kem.XWing)
	require.Len(t, schemes, len(kem.Backends()))
	for _, s := range schemes {
		t.Run(s.Backend(), func(t *testing.T) {
			for i, v := range vectors {
				require.Len(t, v.Seed, 32, "vector %d", i)
				require.Len(t, v.Eseed, 64, "vector %d", i)
				dk, err := s.NewDecapsulationKey(v.Seed)
				require.NoError(t, err)
				require.Equal(t, []byte(v.SK), dk.Bytes(), "vector %d: sk", i)
				require.Equal(t, []byte(v.PK), dk.EncapsulationKey().Bytes(), "vector %d: pk", i)

				ek, err := s.NewEncapsulationKey(v.PK)
				require.NoError(t, err)
				for _, e := range []kem.EncapsulationKey{ek, dk.EncapsulationKey()} {
					k, c, err := e.EncapsulateDerand(v.Eseed)
					require.NoError(t, err)
					require.Equal(t, []byte(v.CT), c, "vector %d: ct", i)
					require.Equal(t, []byte(v.SS), k, "vector %d: ss", i)
				}
				k, err := dk.Decapsulate(v.CT)
				require.NoError(t, err)
				require.Equal(t, []byte(v.SS), k, "vector %d: Decapsulate", i)
				dk.Destroy()
			}
		})
	}
}

// xwingCrossCheckN is the number of random seeds and encapsulation seeds
// checked against circl's kem/xwing per backend.
const xwingCrossCheckN = 200

// TestXWingAgainstCircl holds every backend to circl's kem/xwing, an
// independent implementation, byte for byte on random seeds and
// encapsulation seeds: ek, ciphertext, shared key, and the keys that a
// corrupted and a random ciphertext decapsulate to.
func TestXWingAgainstCircl(t *testing.T) {
	for _, s := range schemesFor(t, kem.XWing) {
		t.Run(s.Backend(), func(t *testing.T) {
			for i := range xwingCrossCheckN {
				seed := randomBytes(32)
				eseed := randomBytes(64)
				what := func(f string) string {
					return f + " differs for seed " + hex.EncodeToString(seed) + ", eseed " + hex.EncodeToString(eseed)
				}

				csk, cpk := xwing.DeriveKeyPairPacked(seed)
				dk, err := s.NewDecapsulationKey(seed)
				require.NoError(t, err)
				require.Equal(t, cpk, dk.EncapsulationKey().Bytes(), what("ek"))
				require.Equal(t, csk, dk.Bytes(), what("sk"))

				ek, err := s.NewEncapsulationKey(cpk)
				require.NoError(t, err)
				k, c, err := ek.EncapsulateDerand(eseed)
				require.NoError(t, err)
				ck, cc, err := xwing.Encapsulate(cpk, eseed)
				require.NoError(t, err)
				require.Equal(t, cc, c, what("ciphertext"))
				require.Equal(t, ck, k, what("shared key"))

				got, err := dk.Decapsulate(c)
				require.NoError(t, err)
				require.Equal(t, k, got, what("Decapsulate"))

				// A corrupted ciphertext: one bit, in ct_M or in ct_X.
				bad := bytes.Clone(c)
				bit := (i * 8191) % (8 * len(bad))
				bad[bit/8] ^= 1 << (bit % 8)
				got, err = dk.Decapsulate(bad)
				require.NoError(t, err)
				require.NotEqual(t, k, got)
				require.Equal(t, xwing.Decapsulate(bad, csk), got, what("decapsulation of a corrupted ciphertext"))

				random := randomBytes(len(c))
				got, err = dk.Decapsulate(random)
				require.NoError(t, err)
				require.Equal(t, xwing.Decapsulate(random, csk), got, what("decapsulation of a random ciphertext"))

				// Randomized encapsulation, both ways.
				k, c, err = ek.Encapsulate()
				require.NoError(t, err)
				require.Equal(t, k, xwing.Decapsulate(c, csk), "circl decapsulates %s's Encapsulate", s.Backend())
				dk.Destroy()
			}
		})
	}
}

// zeroSharedPoints returns the public keys of Wycheproof's X25519 vectors
// flagged ZeroSharedSecret: the low-order points of RFC 7748, Section 7 (0,
// 1, the two points of order 8, p-1) and their non-canonical encodings,
// with and without the top bit. Each is checked to give the all-zero X25519
// output, which crypto/ecdh refuses.
func zeroSharedPoints(t *testing.T) [][]byte {
	t.Helper()
	var points [][]byte
	for _, tc := range loadX25519Vectors(t) {
		if !slices.Contains(tc.Flags, "ZeroSharedSecret") {
			continue
		}
		require.Equal(t, make([]byte, 32), []byte(tc.Shared), "tcId %d", tc.TcID)
		sk, err := ecdh.X25519().NewPrivateKey(tc.Private)
		require.NoError(t, err)
		pk, err := ecdh.X25519().NewPublicKey(tc.Public)
		require.NoError(t, err)
		_, err = sk.ECDH(pk)
		require.Error(t, err, "crypto/ecdh refuses the all-zero output (tcId %d)", tc.TcID)
		if !slices.ContainsFunc(points, func(p []byte) bool { return bytes.Equal(p, tc.Public) }) {
			points = append(points, tc.Public)
		}
	}
	require.Len(t, points, 14, "distinct low-order encodings in the Wycheproof file")
	return points
}

// TestXWingLowOrderPoints gives X-Wing the X25519 points that make ss_X all
// zeros, as ct_X in a ciphertext and as pk_X in an encapsulation key. The
// draft does not refuse them (see x25519 in xwing.go), so neither may
// X-Wing: each is accepted, with ss_X = 0^32 in the combiner, as the test
// computes by hand from the backend's ML-KEM-768 and as circl's kem/xwing
// computes.
func TestXWingLowOrderPoints(t *testing.T) {
	points := zeroSharedPoints(t)
	zero := make([]byte, 32)
	for _, s := range schemesFor(t, kem.XWing) {
		t.Run(s.Backend(), func(t *testing.T) {
			m768, err := kem.Lookup(kem.MLKEM768, s.Backend())
			require.NoError(t, err)
			seed := randomBytes(32)
			eseed := randomBytes(64)
			csk, _ := xwing.DeriveKeyPairPacked(seed)
			dk, err := s.NewDecapsulationKey(seed)
			require.NoError(t, err)
			ek := dk.EncapsulationKey().Bytes()
			pkM := ek[:1184]
			halves := deriveHalves(t, s.Backend(), seed)
			require.Equal(t, halves.pkX, ek[1184:])
			_, honest, err := dk.EncapsulationKey().EncapsulateDerand(eseed)
			require.NoError(t, err)
			ctM := honest[:1088]
			ssM, err := halves.m.Decapsulate(ctM)
			require.NoError(t, err)

			mek, err := m768.NewEncapsulationKey(pkM)
			require.NoError(t, err)
			ssM2, ctM2, err := mek.EncapsulateDerand(eseed[:32])
			require.NoError(t, err)
			ctX := x25519Base(t, eseed[32:])

			for _, p := range points {
				// As ct_X, in decapsulation.
				ct := concat(ctM, p)
				got, err := dk.Decapsulate(ct)
				require.NoError(t, err, "ct_X %x", p)
				require.Equal(t, refCombiner(ssM, zero, p, halves.pkX), got, "ct_X %x", p)
				require.Equal(t, xwing.Decapsulate(ct, csk), got, "ct_X %x: circl", p)

				// As pk_X, in encapsulation.
				lowEK := concat(pkM, p)
				e, err := s.NewEncapsulationKey(lowEK)
				require.NoError(t, err, "pk_X %x", p)
				require.Equal(t, lowEK, e.Bytes())
				k, c, err := e.EncapsulateDerand(eseed)
				require.NoError(t, err, "pk_X %x", p)
				require.Equal(t, concat(ctM2, ctX), c, "pk_X %x", p)
				require.Equal(t, refCombiner(ssM2, zero, ctX, p), k, "pk_X %x", p)
				ck, cc, err := xwing.Encapsulate(lowEK, eseed)
				require.NoError(t, err)
				require.Equal(t, cc, c, "pk_X %x: circl", p)
				require.Equal(t, ck, k, "pk_X %x: circl", p)
				_, _, err = e.Encapsulate()
				require.NoError(t, err, "pk_X %x: Encapsulate", p)
			}
		})
	}
}

// x25519Vector is one test of Wycheproof's x25519_test.json (schema
// xdh_comp_schema_v1.json).
type x25519Vector struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Public  hexField `json:"public"`
	Private hexField `json:"private"`
	Shared  hexField `json:"shared"`
	Result  string   `json:"result"`
}

// readGzip returns the uncompressed contents of a gzipped test data file,
// read to the end so that the gzip checksum is verified.
func readGzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.NoError(t, zr.Close())
	return raw
}

// loadX25519Vectors reads testdata/wycheproof/x25519_test.json.gz.
func loadX25519Vectors(t *testing.T) []x25519Vector {
	t.Helper()
	raw := readGzip(t, "testdata/wycheproof/x25519_test.json.gz")
	var file struct {
		Algorithm     string          `json:"algorithm"`
		Schema        string          `json:"schema"`
		NumberOfTests int             `json:"numberOfTests"`
		Header        json.RawMessage `json:"header"`
		Notes         json.RawMessage `json:"notes"`
		TestGroups    []struct {
			Type   string          `json:"type"`
			Source json.RawMessage `json:"source"`
			Curve  string          `json:"curve"`
			Tests  []x25519Vector  `json:"tests"`
		} `json:"testGroups"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&file))
	require.Equal(t, "XDH", file.Algorithm)
	require.Equal(t, "xdh_comp_schema_v1.json", file.Schema)
	var tests []x25519Vector
	for _, g := range file.TestGroups {
		require.Equal(t, "XdhComp", g.Type)
		require.Equal(t, "curve25519", g.Curve)
		tests = append(tests, g.Tests...)
	}
	require.Len(t, tests, file.NumberOfTests)
	return tests
}

// TestXWingX25519Wycheproof runs every Wycheproof X25519 vector through the
// X25519 half of X-Wing's encapsulation: with pk_X = public and eseed =
// m || private, the ciphertext must end in X25519(private, 9) and the shared
// key must be the combiner of ss_M and the vector's shared value (all zeros
// included, see TestXWingLowOrderPoints), as circl's kem/xwing agrees.
func TestXWingX25519Wycheproof(t *testing.T) {
	vectors := loadX25519Vectors(t)
	for _, s := range schemesFor(t, kem.XWing) {
		t.Run(s.Backend(), func(t *testing.T) {
			m768, err := kem.Lookup(kem.MLKEM768, s.Backend())
			require.NoError(t, err)
			mdk, err := m768.GenerateKey()
			require.NoError(t, err)
			pkM := mdk.EncapsulationKey().Bytes()
			m := randomBytes(32)
			ssM, ctM, err := mdk.EncapsulationKey().EncapsulateDerand(m)
			require.NoError(t, err)
			for _, tc := range vectors {
				what := tc.Comment + " (tcId " + strconv.Itoa(tc.TcID) + ")"
				require.Contains(t, []string{"valid", "acceptable"}, tc.Result, what)
				ek := concat(pkM, tc.Public)
				e, err := s.NewEncapsulationKey(ek)
				require.NoError(t, err, what)
				eseed := concat(m, tc.Private)
				k, c, err := e.EncapsulateDerand(eseed)
				require.NoError(t, err, what)
				ctX := x25519Base(t, tc.Private)
				require.Equal(t, concat(ctM, ctX), c, what)
				require.Equal(t, refCombiner(ssM, tc.Shared, ctX, tc.Public), k, what)
				ck, cc, err := xwing.Encapsulate(ek, eseed)
				require.NoError(t, err, what)
				require.Equal(t, cc, c, what+": circl")
				require.Equal(t, ck, k, what+": circl")
			}
		})
	}
}

// TestXWingComponents checks the construction piece by piece on every
// backend, with the halves derived by hand (Section 5.2): pk = pk_M || pk_X,
// ct = ct_M || ct_X, and the shared key is the combiner of both halves'
// secrets, label last; decapsulating a ciphertext whose ct_M is corrupted
// gives ML-KEM's implicit-rejection key through the same combiner.
func TestXWingComponents(t *testing.T) {
	for _, s := range schemesFor(t, kem.XWing) {
		t.Run(s.Backend(), func(t *testing.T) {
			seed := randomBytes(32)
			eseed := randomBytes(64)
			dk, err := s.NewDecapsulationKey(seed)
			require.NoError(t, err)
			h := deriveHalves(t, s.Backend(), seed)
			pkM := h.m.EncapsulationKey().Bytes()
			require.Equal(t, concat(pkM, h.pkX), dk.EncapsulationKey().Bytes())

			k, c, err := dk.EncapsulationKey().EncapsulateDerand(eseed)
			require.NoError(t, err)
			ssM, ctM, err := h.m.EncapsulationKey().EncapsulateDerand(eseed[:32])
			require.NoError(t, err)
			ctX := x25519Base(t, eseed[32:])
			require.Equal(t, concat(ctM, ctX), c)
			ekX, err := ecdh.X25519().NewPrivateKey(eseed[32:])
			require.NoError(t, err)
			pkX, err := ecdh.X25519().NewPublicKey(h.pkX)
			require.NoError(t, err)
			ssX, err := ekX.ECDH(pkX)
			require.NoError(t, err)
			require.Equal(t, refCombiner(ssM, ssX, ctX, h.pkX), k)

			// The other side of the exchange: X25519(sk_X, ct_X).
			skX, err := ecdh.X25519().NewPrivateKey(h.skX)
			require.NoError(t, err)
			ctXKey, err := ecdh.X25519().NewPublicKey(ctX)
			require.NoError(t, err)
			ssX2, err := skX.ECDH(ctXKey)
			require.NoError(t, err)
			require.Equal(t, ssX, ssX2)

			bad := bytes.Clone(c)
			bad[0] ^= 1
			reject, err := h.m.Decapsulate(bad[:1088])
			require.NoError(t, err)
			got, err := dk.Decapsulate(bad)
			require.NoError(t, err)
			require.Equal(t, refCombiner(reject, ssX, ctX, h.pkX), got)
		})
	}
}

// TestXWingBadModulus gives X-Wing encapsulation keys whose ML-KEM-768 half
// fails the FIPS 203 modulus check: each is refused with kem.ErrEncapsKey,
// on every backend, whatever pk_X is.
func TestXWingBadModulus(t *testing.T) {
	for _, s := range schemesFor(t, kem.XWing) {
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		good := dk.EncapsulationKey().Bytes()
		for _, j := range []int{0, 1, 767, 383} {
			bad := bytes.Clone(good)
			setCoefficient(bad, j, 4095)
			ek, err := s.NewEncapsulationKey(bad)
			require.ErrorIs(t, err, kem.ErrEncapsKey, "%s: coefficient %d", s.Backend(), j)
			require.Contains(t, err.Error(), kem.XWing)
			require.Nil(t, ek)
		}
		// rho and pk_X are not checked: any bytes will do.
		other := bytes.Clone(good)
		copy(other[1184-32:], randomBytes(64))
		ek, err := s.NewEncapsulationKey(other)
		require.NoError(t, err, s.Backend())
		require.Equal(t, other, ek.Bytes())
	}
}

// TestXWingDestroy checks that a destroyed X-Wing key refuses with
// kem.ErrDestroyed naming X-Wing, and that a key made from the same seed
// afterwards is not affected (nothing is shared between keys). That the
// backend's ML-KEM-768 key is destroyed too is checked for liboqs, whose C
// memory can be counted, in liboqs_test.go, and through HPKE in
// xwing_hpke_test.go.
func TestXWingDestroy(t *testing.T) {
	for _, s := range schemesFor(t, kem.XWing) {
		seed := randomBytes(32)
		dk, err := s.NewDecapsulationKey(seed)
		require.NoError(t, err)
		k, c, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		dk.Destroy()
		_, err = dk.Decapsulate(c)
		require.ErrorIs(t, err, kem.ErrDestroyed, s.Backend())
		require.Contains(t, err.Error(), kem.XWing)
		require.Nil(t, dk.Bytes())

		again, err := s.NewDecapsulationKey(seed)
		require.NoError(t, err)
		got, err := again.Decapsulate(c)
		require.NoError(t, err)
		require.Equal(t, k, got, "%s: a new key from the same seed is not affected", s.Backend())
	}
}
