package kem_test

// X-Wing and crypto/hpke (Go 1.26): the HPKE KEM MLKEM768-X25519, id
// 0x647A = 25722, is X-Wing (draft-ietf-hpke-pq). On every backend:
//
//   - crypto/hpke's own test vectors for that KEM (testdata/hpke, see its
//     README): keys from skRm, enc decapsulating to shared_secret, and the
//     vectors' messages opened with kem.HPKEPrivateKey;
//   - Go's pure-Go hpke.MLKEM768X25519() seals, a key whose ML-KEM-768 half
//     is the backend's (liboqs under the liboqs build tag, circl, go) opens;
//     and the other way round: the backend's X-Wing encapsulation, with the
//     RFC 9180 key schedule written out here (and checked against the
//     vectors), sealed for the pure-Go key to open.
//   - a backend's ML-KEM-768 key plugged straight into
//     hpke.NewHybridPrivateKey and hpke.NewHybridPublicKey.

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/kemtcp/kemtcp/app/kem"
)

// The HPKE suite used when the tests seal themselves: X-Wing, HKDF-SHA256,
// ChaCha20Poly1305, as in the first of the vectors.
const (
	hpkeKEMXWing   = 0x647A
	hpkeKDFSHA256  = 0x0001
	hpkeAEADChaCha = 0x0003
)

// hpkeVector is one vector of crypto/hpke's testdata/hpke-pq.json.
type hpkeVector struct {
	Mode           int      `json:"mode"`
	KEM            uint16   `json:"kem_id"`
	KDF            uint16   `json:"kdf_id"`
	AEAD           uint16   `json:"aead_id"`
	Info           hexField `json:"info"`
	IkmE           hexField `json:"ikmE"`
	IkmR           hexField `json:"ikmR"`
	SkRm           hexField `json:"skRm"`
	PkRm           hexField `json:"pkRm"`
	Enc            hexField `json:"enc"`
	SharedSecret   hexField `json:"shared_secret"`
	SuiteID        hexField `json:"suite_id"`
	Key            hexField `json:"key"`
	BaseNonce      hexField `json:"base_nonce"`
	ExporterSecret hexField `json:"exporter_secret"`
	Encryptions    []struct {
		AAD   hexField `json:"aad"`
		CT    hexField `json:"ct"`
		Nonce hexField `json:"nonce"`
		PT    hexField `json:"pt"`
	} `json:"encryptions"`
	Exports []struct {
		Context hexField `json:"exporter_context"`
		L       int      `json:"L"`
		Value   hexField `json:"exported_value"`
	} `json:"exports"`
}

// xwingHPKEVectors returns the vectors of testdata/hpke/hpke-pq.json.gz for
// KEM 0x647A.
func xwingHPKEVectors(t *testing.T) []hpkeVector {
	t.Helper()
	var all []hpkeVector
	dec := json.NewDecoder(bytes.NewReader(readGzip(t, "testdata/hpke/hpke-pq.json.gz")))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&all))
	var out []hpkeVector
	for _, v := range all {
		if v.KEM == hpkeKEMXWing {
			out = append(out, v)
		}
	}
	require.Len(t, out, 2, "hpke-pq.json has two vectors for KEM 0x647A")
	return out
}

// hpkeSchedule is RFC 9180's KeySchedule (Section 5.1) in mode_base for
// KEM 0x647A, HKDF-SHA256 and ChaCha20Poly1305, written out so that the
// tests can seal with a shared secret from kemtcp's X-Wing.
type hpkeSchedule struct {
	key, baseNonce, exporterSecret []byte
}

func newHPKESchedule(t testing.TB, sharedSecret, info []byte) hpkeSchedule {
	t.Helper()
	suite := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16([]byte("HPKE"), hpkeKEMXWing), hpkeKDFSHA256), hpkeAEADChaCha)
	extract := func(salt []byte, label string, ikm []byte) []byte {
		prk, err := hkdf.Extract(sha256.New, concat([]byte("HPKE-v1"), suite, []byte(label), ikm), salt)
		require.NoError(t, err)
		return prk
	}
	expand := func(prk []byte, label string, info []byte, n int) []byte {
		labeled := concat(binary.BigEndian.AppendUint16(nil, uint16(n)), []byte("HPKE-v1"), suite, []byte(label), info)
		out, err := hkdf.Expand(sha256.New, prk, string(labeled), n)
		require.NoError(t, err)
		return out
	}
	context := concat([]byte{0x00}, extract(nil, "psk_id_hash", nil), extract(nil, "info_hash", info))
	secret := extract(sharedSecret, "secret", nil)
	return hpkeSchedule{
		key:            expand(secret, "key", context, chacha20poly1305.KeySize),
		baseNonce:      expand(secret, "base_nonce", context, chacha20poly1305.NonceSize),
		exporterSecret: expand(secret, "exp", context, sha256.Size),
	}
}

// nonce is ComputeNonce(seq) of RFC 9180, Section 5.2.
func (s hpkeSchedule) nonce(seq uint64) []byte {
	n := concat(s.baseNonce)
	for i := range 8 {
		n[len(n)-1-i] ^= byte(seq >> (8 * i))
	}
	return n
}

// TestXWingHPKEVectors runs crypto/hpke's vectors for KEM 0x647A on every
// backend.
func TestXWingHPKEVectors(t *testing.T) {
	vectors := xwingHPKEVectors(t)
	for _, s := range schemesFor(t, kem.XWing) {
		t.Run(s.Backend(), func(t *testing.T) {
			for i, v := range vectors {
				require.Equal(t, 0, v.Mode, "vector %d: mode_base", i)
				// The KEM: keys from skRm, enc decapsulates to shared_secret,
				// and ikmE is the eseed that made enc (m, then ek_X).
				dk, err := s.NewDecapsulationKey(v.SkRm)
				require.NoError(t, err)
				require.Equal(t, []byte(v.SkRm), dk.Bytes())
				require.Equal(t, []byte(v.PkRm), dk.EncapsulationKey().Bytes(), "vector %d: pkRm", i)
				ss, err := dk.Decapsulate(v.Enc)
				require.NoError(t, err)
				require.Equal(t, []byte(v.SharedSecret), ss, "vector %d: shared_secret", i)
				ek, err := s.NewEncapsulationKey(v.PkRm)
				require.NoError(t, err)
				k, c, err := ek.EncapsulateDerand(v.IkmE)
				require.NoError(t, err)
				require.Equal(t, []byte(v.Enc), c, "vector %d: enc from ikmE", i)
				require.Equal(t, []byte(v.SharedSecret), k, "vector %d: shared_secret from ikmE", i)

				// The whole of HPKE, opened by kem.HPKEPrivateKey.
				kdf, err := hpke.NewKDF(v.KDF)
				require.NoError(t, err)
				aead, err := hpke.NewAEAD(v.AEAD)
				require.NoError(t, err)
				sk, err := kem.HPKEPrivateKey(dk)
				require.NoError(t, err)
				require.Equal(t, uint16(hpkeKEMXWing), sk.KEM().ID())
				r, err := hpke.NewRecipient(v.Enc, sk, kdf, aead, v.Info)
				require.NoError(t, err)
				require.NotEmpty(t, v.Encryptions)
				for j, e := range v.Encryptions {
					pt, err := r.Open(e.AAD, e.CT)
					require.NoError(t, err, "vector %d, encryption %d", i, j)
					require.Equal(t, []byte(e.PT), pt, "vector %d, encryption %d", i, j)
				}
				for j, e := range v.Exports {
					got, err := r.Export(string(e.Context), e.L)
					require.NoError(t, err)
					require.Equal(t, []byte(e.Value), got, "vector %d, export %d", i, j)
				}

				// The test's own key schedule, for the HKDF-SHA256 vector.
				if v.KDF != hpkeKDFSHA256 {
					continue
				}
				require.Equal(t, uint16(hpkeAEADChaCha), v.AEAD)
				sched := newHPKESchedule(t, ss, v.Info)
				require.Equal(t, []byte(v.Key), sched.key, "vector %d: key", i)
				require.Equal(t, []byte(v.BaseNonce), sched.baseNonce, "vector %d: base_nonce", i)
				require.Equal(t, []byte(v.ExporterSecret), sched.exporterSecret, "vector %d: exporter_secret", i)
				a, err := chacha20poly1305.New(sched.key)
				require.NoError(t, err)
				for j, e := range v.Encryptions {
					require.Equal(t, []byte(e.Nonce), sched.nonce(uint64(j)))
					pt, err := a.Open(nil, sched.nonce(uint64(j)), e.CT, e.AAD)
					require.NoError(t, err, "vector %d, encryption %d", i, j)
					require.Equal(t, []byte(e.PT), pt)
				}
			}
		})
	}
}

// hpkeCrossN is the number of random keys of TestXWingHPKE per backend.
const hpkeCrossN = 20

// TestXWingHPKE seals and opens between Go's pure-Go
// hpke.MLKEM768X25519() and kemtcp's X-Wing on every backend, both ways.
func TestXWingHPKE(t *testing.T) {
	kdf, aead := hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
	info := []byte("kemtcp X-Wing HPKE test")
	for _, s := range schemesFor(t, kem.XWing) {
		t.Run(s.Backend(), func(t *testing.T) {
			for range hpkeCrossN {
				seed := randomBytes(32)
				pt := randomBytes(1 + int(seed[0]))
				pure, err := hpke.MLKEM768X25519().NewPrivateKey(seed)
				require.NoError(t, err)
				dk, err := s.NewDecapsulationKey(seed)
				require.NoError(t, err)
				require.Equal(t, pure.PublicKey().Bytes(), dk.EncapsulationKey().Bytes(), "the same public key")

				// Go seals; the backend's ML-KEM-768 half opens.
				sealed, err := hpke.Seal(pure.PublicKey(), kdf, aead, info, pt)
				require.NoError(t, err)
				sk, err := kem.HPKEPrivateKey(dk)
				require.NoError(t, err)
				require.Equal(t, pure.PublicKey().Bytes(), sk.PublicKey().Bytes())
				opened, err := hpke.Open(sk, kdf, aead, info, sealed)
				require.NoError(t, err)
				require.Equal(t, pt, opened)

				// The backend encapsulates (to a parsed key); Go opens.
				ek, err := s.NewEncapsulationKey(pure.PublicKey().Bytes())
				require.NoError(t, err)
				ss, enc, err := ek.Encapsulate()
				require.NoError(t, err)
				sched := newHPKESchedule(t, ss, info)
				a, err := chacha20poly1305.New(sched.key)
				require.NoError(t, err)
				opened, err = hpke.Open(pure, kdf, aead, info, concat(enc, a.Seal(nil, sched.nonce(0), pt, nil)))
				require.NoError(t, err, "Go opens what %s's X-Wing sealed", s.Backend())
				require.Equal(t, pt, opened)

				// Once dk is destroyed, its HPKE key opens nothing.
				dk.Destroy()
				_, err = hpke.Open(sk, kdf, aead, info, sealed)
				require.ErrorIs(t, err, kem.ErrDestroyed)
			}
		})
	}
}

// TestHybridKeyFromBackend plugs a backend's ML-KEM-768 key into
// hpke.NewHybridPrivateKey, with the X25519 key that X-Wing derives from the
// same seed: it opens what Go seals to hpke.MLKEM768X25519(), decapsulating
// ML-KEM on the backend (destroying the backend's key stops it). The
// CryptoDecapsulator's Encapsulator plugs into hpke.NewHybridPublicKey.
func TestHybridKeyFromBackend(t *testing.T) {
	kdf, aead := hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
	for _, s := range schemesFor(t, kem.MLKEM768) {
		t.Run(s.Backend(), func(t *testing.T) {
			seed := randomBytes(32)
			pure, err := hpke.MLKEM768X25519().NewPrivateKey(seed)
			require.NoError(t, err)
			expanded := sha3.SumSHAKE256(seed, 96)
			mdk, err := s.NewDecapsulationKey(expanded[:64])
			require.NoError(t, err)
			x, err := ecdh.X25519().NewPrivateKey(expanded[64:])
			require.NoError(t, err)

			sk, err := hpke.NewHybridPrivateKey(kem.CryptoDecapsulator(mdk), x)
			require.NoError(t, err)
			require.Equal(t, pure.PublicKey().Bytes(), sk.PublicKey().Bytes())
			sealed, err := hpke.Seal(pure.PublicKey(), kdf, aead, nil, []byte("to the backend"))
			require.NoError(t, err)
			opened, err := hpke.Open(sk, kdf, aead, nil, sealed)
			require.NoError(t, err)
			require.Equal(t, "to the backend", string(opened))

			pk, err := hpke.NewHybridPublicKey(kem.CryptoDecapsulator(mdk).Encapsulator(), x.PublicKey())
			require.NoError(t, err)
			sealed2, err := hpke.Seal(pk, kdf, aead, nil, []byte("to Go"))
			require.NoError(t, err)
			opened, err = hpke.Open(pure, kdf, aead, nil, sealed2)
			require.NoError(t, err)
			require.Equal(t, "to Go", string(opened))

			// crypto/hpke takes only crypto/mlkem's encapsulation keys in
			// NewHybridPublicKey: a backend's, adapted, is refused.
			_, err = hpke.NewHybridPublicKey(kem.CryptoEncapsulator(mdk.EncapsulationKey()), x.PublicKey())
			require.Error(t, err)

			mdk.Destroy()
			_, err = hpke.Open(sk, kdf, aead, nil, sealed)
			require.ErrorIs(t, err, kem.ErrDestroyed, "the ML-KEM half decapsulates on %s", s.Backend())
		})
	}
}

// TestXWingHPKELowOrder: crypto/hpke performs the X25519 all-zero check that
// X-Wing leaves out, so a ct_X that X-Wing decapsulates is refused by the
// key of kem.HPKEPrivateKey, as by Go's own MLKEM768X25519 key.
func TestXWingHPKELowOrder(t *testing.T) {
	points := zeroSharedPoints(t)
	for _, s := range schemesFor(t, kem.XWing) {
		seed := randomBytes(32)
		dk, err := s.NewDecapsulationKey(seed)
		require.NoError(t, err)
		sk, err := kem.HPKEPrivateKey(dk)
		require.NoError(t, err)
		pure, err := hpke.MLKEM768X25519().NewPrivateKey(seed)
		require.NoError(t, err)
		_, c, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		_, err = hpke.NewRecipient(c, sk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), nil)
		require.NoError(t, err, "an honest enc")
		for _, p := range points {
			enc := concat(c[:1088], p)
			_, err := dk.Decapsulate(enc)
			require.NoError(t, err)
			_, err = hpke.NewRecipient(enc, sk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), nil)
			require.Error(t, err, "%s: ct_X %x", s.Backend(), p)
			_, err = hpke.NewRecipient(enc, pure, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), nil)
			require.Error(t, err, "Go's own key: ct_X %x", p)
		}
	}
}

// TestHPKEPrivateKeyRefusesOthers: only X-Wing keys are taken.
func TestHPKEPrivateKeyRefusesOthers(t *testing.T) {
	for _, s := range allSchemes(t) {
		if s.Name() == kem.XWing {
			continue
		}
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		sk, err := kem.HPKEPrivateKey(dk)
		require.ErrorIs(t, err, kem.ErrUnsupported, "%s/%s", s.Backend(), s.Name())
		require.Nil(t, sk)
	}
	sk, err := kem.HPKEPrivateKey(nil)
	require.ErrorIs(t, err, kem.ErrUnsupported)
	require.Nil(t, sk)
}
