package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"

	"github.com/kemtcp/kemtcp/app/kem"
)

// X-Wing key files: draft-connolly-cfrg-xwing-kem-10, Section 5.8 (id-XWing,
// raw 1216-byte key in the SubjectPublicKeyInfo, raw 32-byte seed in a
// PKCS#8 without publicKey) and its Appendix D example (testdata/xwing,
// see testdata/README.md). OpenSSL (3.0 on this machine, and 3.5) has no
// X-Wing, so there is no OpenSSL interop test: the example and DER built by
// hand from the draft's ASN.1 stand in for it.

// xwingExampleFingerprint is the fingerprint of testdata/xwing/xwing.pub,
// computed with Python's hashlib (testdata/README.md).
const xwingExampleFingerprint = "SHA256:yaNWX/3k9ytRZhvjke4T5GN41/Bt1ci/WvnSz7W4M2s"

// TestXWingDraftExample loads the draft's Appendix D keys, checks they are
// the keys of the seed 00..1f, that the DER is byte for byte what the
// draft's ASN.1 gives (built by hand) and what our marshallers write, and
// that every backend derives the example's public key from the file.
func TestXWingDraftExample(t *testing.T) {
	seed := countingSeed(kem.XWing)
	require.Len(t, seed, 32)
	_, ek := keyMaterial(t, kem.XWing, seed)
	oid := testOIDs[kem.XWing]

	privPEM := readTestdata(t, "xwing/xwing.priv")
	k, err := ParsePrivateKeyPEM(privPEM)
	require.NoError(t, err)
	assert.Equal(t, &PrivateKey{Algorithm: kem.XWing, Seed: seed, Form: FormSeed}, k)

	// The DER, by hand from Section 5.8.2: version 0, id-XWing without
	// parameters, the raw seed, nothing else.
	privDER := derOfPEM(t, privPEM)
	assert.Equal(t, oak{oid: oid, priv: seed}.der(), privDER)
	assert.Equal(t, "3034020100300d060b2b0601040183e62d81c87a0420"+
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", fmt.Sprintf("%x", privDER))

	out, err := MarshalPrivateKeyPEM(kem.XWing, seed)
	require.NoError(t, err)
	assert.Equal(t, string(privPEM), string(out))
	out, err = k.MarshalPEM()
	require.NoError(t, err)
	assert.Equal(t, string(privPEM), string(out))

	pubPEM := readTestdata(t, "xwing/xwing.pub")
	alg, gotEK, err := ParsePublicKeyPEM(pubPEM)
	require.NoError(t, err)
	assert.Equal(t, kem.XWing, alg)
	assert.Equal(t, ek, gotEK)
	require.Len(t, gotEK, 1216)
	assert.Equal(t, spki(oid, ek), derOfPEM(t, pubPEM))
	out, err = MarshalPublicKeyPEM(kem.XWing, ek)
	require.NoError(t, err)
	assert.Equal(t, string(pubPEM), string(out))

	assert.Equal(t, xwingExampleFingerprint, Fingerprint(gotEK))
	require.NoError(t, CheckPin(xwingExampleFingerprint, gotEK))

	for _, s := range backendsFor(t, kem.XWing) {
		dk, err := k.DecapsulationKey(s)
		require.NoError(t, err, s.Backend())
		assert.Equal(t, ek, dk.EncapsulationKey().Bytes(), s.Backend())
		dk.Destroy()
	}
}

// TestXWingSeedSizes: every seed length from 0 to 64 but 32 is refused by
// the marshallers, WritePrivateKeyFile (which then writes nothing), the
// parser, and DecapsulationKey on every backend.
func TestXWingSeedSizes(t *testing.T) {
	dir := t.TempDir()
	oid := testOIDs[kem.XWing]
	schemes := backendsFor(t, kem.XWing)
	for n := 0; n <= 64; n++ {
		if n == 32 {
			continue
		}
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			seed := bytes.Repeat([]byte{0x5a}, n)
			want := fmt.Sprintf("the seed is %d bytes, want 32", n)

			_, err := MarshalPrivateKeyPEM(kem.XWing, seed)
			require.ErrorIs(t, err, kem.ErrSeedSize)
			assert.ErrorContains(t, err, "X-Wing private key: ")
			assert.ErrorContains(t, err, want)

			_, err = (&PrivateKey{Algorithm: kem.XWing, Seed: seed}).MarshalPEM()
			require.ErrorIs(t, err, kem.ErrSeedSize)
			assert.ErrorContains(t, err, want)

			path := filepath.Join(dir, fmt.Sprintf("x%d.key", n))
			err = WritePrivateKeyFile(path, "xwing", seed)
			require.ErrorIs(t, err, kem.ErrSeedSize)
			_, err = os.Lstat(path)
			require.ErrorIs(t, err, fs.ErrNotExist, "nothing written")

			k, err := ParsePrivateKeyDER(oak{oid: oid, priv: seed}.der())
			require.ErrorIs(t, err, ErrMalformedKey)
			assert.Nil(t, k)
			if n == 0 {
				assert.ErrorContains(t, err, "X-Wing private key: the privateKey OCTET STRING is empty")
			} else {
				assert.ErrorContains(t, err, fmt.Sprintf("X-Wing private key: the privateKey OCTET STRING holds %d bytes; "+
					"want the raw 32-byte seed with no inner tag (draft-connolly-cfrg-xwing-kem-10, Section 5.8.2)", n))
			}

			for _, s := range schemes {
				_, err := (&PrivateKey{Algorithm: kem.XWing, Seed: seed}).DecapsulationKey(s)
				require.ErrorIs(t, err, kem.ErrSeedSize, s.Backend())
			}
		})
	}
}

// TestXWingHandBuilt: X-Wing private keys built by hand from the draft's
// ASN.1, accepted and refused.
func TestXWingHandBuilt(t *testing.T) {
	seed := randomSeed(t, kem.XWing)
	_, ek := keyMaterial(t, kem.XWing, seed)
	oid := testOIDs[kem.XWing]

	for _, tc := range []struct {
		name string
		oak  oak
	}{
		{"version 0", oak{oid: oid, priv: seed}},
		{"version 1 without publicKey", oak{version: 1, oid: oid, priv: seed}},
		{"attributes", oak{oid: oid, priv: seed, attrs: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePrivateKeyPEM(pemOf("PRIVATE KEY", tc.oak.der()))
			require.NoError(t, err)
			assert.Equal(t, &PrivateKey{Algorithm: kem.XWing, Seed: seed, Form: FormSeed}, k)
		})
	}

	wrapped := func(tag uint8) []byte {
		return append([]byte{tag, 32}, seed...)
	}
	composite := append(randomSeed(t, kem.MLKEM768), seed...) // mlkemSeed || X25519 key: 96 bytes
	for _, tc := range []struct {
		name string
		der  []byte
		want string
	}{
		{"publicKey", oak{version: 1, oid: oid, priv: seed, pub: ek}.der(),
			"X-Wing private key: the OneAsymmetricKey has a publicKey [1] field, which draft-connolly-cfrg-xwing-kem-10, Section 5.8.2 requires to be absent"},
		{"publicKey in version 0", oak{oid: oid, priv: seed, pub: ek}.der(), "requires to be absent"},
		{"seed in an OCTET STRING", oak{oid: oid, priv: wrapped(0x04)}.der(),
			"the privateKey OCTET STRING holds a DER element (tag 0x04) wrapping 32 bytes; want the raw 32-byte seed with no inner tag"},
		{"seed [0] as ML-KEM's", oak{oid: oid, priv: wrapped(0x80)}.der(), "holds a DER element (tag 0x80) wrapping 32 bytes"},
		{"wrapped seed and a trailing byte", oak{oid: oid, priv: append(wrapped(0x04), 0)}.der(), "the privateKey OCTET STRING holds 35 bytes; want the raw 32-byte seed"}, // not one DER element
		{"composite layout", oak{oid: oid, priv: composite}.der(),
			"holds 96 bytes, the size of a composite id-MLKEM768-X25519-SHA3-256 private key (a 64-byte ML-KEM seed and an X25519 key), which is not an X-Wing key"},
		{"ML-KEM seed", oak{oid: oid, priv: choiceSeed(randomSeed(t, kem.MLKEM768))}.der(), "holds 66 bytes"},
		{"NULL parameters", oak{oid: oid, priv: seed, params: func(b *cryptobyte.Builder) { b.AddASN1NULL() }}.der(),
			"the X-Wing algorithm identifier has parameters (tag 0x05); draft-connolly-cfrg-xwing-kem-10, Section 5.8, requires them to be absent"},
		{"version 2", oak{version: 2, oid: oid, priv: seed}.der(), "unsupported PKCS#8 (OneAsymmetricKey) version 2"},
		{"trailing after DER", append(oak{oid: oid, priv: seed}.der(), 0), "1 bytes of trailing data after the PKCS#8 structure"},
		{"X-Wing seed under the ML-KEM-768 OID", oak{oid: testOIDs[kem.MLKEM768], priv: seed}.der(), "ML-KEM-768 private key: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePrivateKeyDER(tc.der)
			require.ErrorIs(t, err, ErrMalformedKey)
			assert.ErrorContains(t, err, tc.want)
			assert.Nil(t, k)
		})
	}

	// X-Wing has no expanded form to write or load.
	_, err := (&PrivateKey{Algorithm: kem.XWing, Expanded: make([]byte, 96)}).MarshalPEM()
	require.ErrorIs(t, err, ErrMalformedKey)
	assert.ErrorContains(t, err, "X-Wing has no expanded key form; its private key is the 32-byte seed alone")
	_, err = (&PrivateKey{Algorithm: kem.XWing, Seed: seed, Expanded: make([]byte, 96)}).MarshalPEM()
	require.ErrorIs(t, err, ErrMalformedKey)
	for _, s := range backendsFor(t, kem.XWing) {
		_, err := (&PrivateKey{Algorithm: kem.XWing, Expanded: make([]byte, 96)}).DecapsulationKey(s)
		require.ErrorIs(t, err, ErrMalformedKey, s.Backend())
		assert.ErrorContains(t, err, "the X-Wing private key holds no seed, and X-Wing has no expanded key form")
	}
}

// TestXWingCompositeOID: LAMPS' composite id-MLKEM768-X25519-SHA3-256 is
// refused, by name, in private keys, public keys and authorized keys.
func TestXWingCompositeOID(t *testing.T) {
	seed := randomSeed(t, kem.XWing)
	_, ek := keyMaterial(t, kem.XWing, seed)
	const want = "algorithm 1.3.6.1.5.5.7.6.58 is id-MLKEM768-X25519-SHA3-256, the composite ML-KEM-768 with X25519 of " +
		"draft-ietf-lamps-pq-composite-kem, not X-Wing"

	priv := oak{oid: compositeOID, priv: append(randomSeed(t, kem.MLKEM768), seed...)}.der()
	k, err := ParsePrivateKeyPEM(pemOf("PRIVATE KEY", priv))
	require.ErrorIs(t, err, ErrMalformedKey)
	assert.ErrorContains(t, err, "private key: "+want)
	assert.ErrorContains(t, err, "X-Wing keys are identified by id-XWing (1.3.6.1.4.1.62253.25722)")
	assert.Nil(t, k)

	// Its public key has X-Wing's size and layout, but not its identifier.
	alg, got, err := ParsePublicKeyPEM(pemOf("PUBLIC KEY", spki(compositeOID, ek)))
	require.ErrorIs(t, err, ErrMalformedKey)
	assert.ErrorContains(t, err, "public key: "+want)
	assert.Empty(t, alg)
	assert.Nil(t, got)

	_, err = ParseAuthorizedKeys(strings.NewReader("X-Wing "+b64(spki(compositeOID, ek))+"\n"), "ak")
	require.ErrorIs(t, err, ErrMalformedAuthorizedKeys)
	assert.ErrorContains(t, err, want)
}

func TestXWingPublicKeyErrors(t *testing.T) {
	_, ek := keyMaterial(t, kem.XWing, randomSeed(t, kem.XWing))
	_, ek768 := keyMaterial(t, kem.MLKEM768, randomSeed(t, kem.MLKEM768))
	oid := testOIDs[kem.XWing]
	for _, tc := range []struct {
		name string
		der  []byte
		want string
	}{
		{"1215 bytes", spki(oid, ek[:1215]), "X-Wing public key: 1215 bytes, want 1216"},
		{"1217 bytes", spki(oid, append(bytes.Clone(ek), 0)), "X-Wing public key: 1217 bytes, want 1216"},
		{"ML-KEM-768 key under id-XWing", spki(oid, ek768), "X-Wing public key: 1184 bytes, want 1216"},
		{"X-Wing key under id-alg-ml-kem-768", spki(testOIDs[kem.MLKEM768], ek), "ML-KEM-768 public key: 1216 bytes, want 1184"},
		{"empty", spki(oid, nil), "X-Wing public key: 0 bytes, want 1216"},
		{"ML-KEM half not reduced", spki(oid, notReducedEK(ek)), "modulus check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alg, got, err := ParsePublicKeyDER(tc.der)
			require.ErrorIs(t, err, ErrMalformedKey)
			assert.ErrorContains(t, err, tc.want)
			assert.Empty(t, alg)
			assert.Nil(t, got)
		})
	}
	for _, bad := range [][]byte{ek[:1215], ek768, notReducedEK(ek)} {
		_, err := MarshalPublicKeyPEM(kem.XWing, bad)
		require.ErrorIs(t, err, ErrMalformedKey)
	}
}

// TestXWingKeyFile: WritePrivateKeyFile and ReadPrivateKeyFile for X-Wing,
// with the checks they make for every key file, and the key decapsulating
// on every backend what any backend encapsulates.
func TestXWingKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.key")
	seed := randomSeed(t, kem.XWing)
	_, ek := keyMaterial(t, kem.XWing, seed)

	require.NoError(t, WritePrivateKeyFile(path, "xwing", seed))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	}
	written, err := os.ReadFile(path)
	require.NoError(t, err)
	want, err := MarshalPrivateKeyPEM(kem.XWing, seed)
	require.NoError(t, err)
	assert.Equal(t, want, written)
	assert.Equal(t, oak{oid: testOIDs[kem.XWing], priv: seed}.der(), derOfPEM(t, written))

	k, err := ReadPrivateKeyFile(path)
	require.NoError(t, err)
	assert.Equal(t, &PrivateKey{Algorithm: kem.XWing, Seed: seed, Form: FormSeed}, k)

	err = WritePrivateKeyFile(path, kem.XWing, randomSeed(t, kem.XWing))
	require.ErrorIs(t, err, fs.ErrExist)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, written, after)

	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		require.NoError(t, os.Chmod(path, 0o644))
		_, err = ReadPrivateKeyFile(path)
		require.ErrorIs(t, err, ErrKeyFilePermissions)
		require.NoError(t, os.Chmod(path, 0o600))
	}

	schemes := backendsFor(t, kem.XWing)
	for _, s := range schemes {
		dk, err := k.DecapsulationKey(s)
		require.NoError(t, err, s.Backend())
		assert.Equal(t, ek, dk.EncapsulationKey().Bytes(), s.Backend())
		shared, ct, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		for _, s2 := range schemes {
			dk2, err := k.DecapsulationKey(s2)
			require.NoError(t, err)
			got, err := dk2.Decapsulate(ct)
			require.NoError(t, err)
			assert.Equal(t, shared, got, "%s -> %s", s.Backend(), s2.Backend())
			dk2.Destroy()
		}
		dk.Destroy()
	}

	// A key file of one algorithm does not load as another.
	s768, err := kem.Lookup(kem.MLKEM768, kem.BackendCircl)
	require.NoError(t, err)
	_, err = k.DecapsulationKey(s768)
	assert.ErrorContains(t, err, "holds an X-Wing key, but ML-KEM-768 was asked for")
}

// TestXWingKnownHosts: an X-Wing server is remembered under the name
// "X-Wing" with the fingerprint of its 1216-byte key; another KEM or key
// at its address is a changed host.
func TestXWingKnownHosts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	x := newTestKey(t, kem.XWing)
	x2 := newTestKey(t, kem.XWing)
	m := newTestKey(t, kem.MLKEM768)

	h, err := LoadKnownHosts(path)
	require.NoError(t, err)
	require.NoError(t, h.Add("Example.com:9000", "xwing", x.ek))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "example.com:9000 X-Wing "+x.fp+"\n", string(data))

	h, err = LoadKnownHosts(path)
	require.NoError(t, err)
	res, err := h.Check("example.com:9000", kem.XWing, x.ek)
	require.NoError(t, err)
	assert.Equal(t, Known, res)
	for _, other := range []testKey{x2, m} {
		res, err = h.Check("example.com:9000", other.alg, other.ek)
		assert.Equal(t, Changed, res)
		var ce *HostKeyChangedError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, kem.XWing, ce.OldKEM)
		assert.Equal(t, x.fp, ce.OldFingerprint)
		assert.Equal(t, other.alg, ce.NewKEM)
		assert.Equal(t, other.fp, ce.NewFingerprint)
	}
	// The ML-KEM-768 key at the X-Wing server's fingerprint is still another KEM.
	res, err = h.Check("example.com:9000", kem.MLKEM768, x.ek)
	assert.Equal(t, Changed, res)
	require.ErrorIs(t, err, ErrHostKeyChanged)

	// A wrong-size key is not added.
	err = h.Add("other:1", kem.XWing, m.ek)
	require.ErrorContains(t, err, "X-Wing encapsulation key is 1184 bytes, want 1216")
	assert.False(t, errors.Is(err, ErrHostKeyChanged))
}

// TestXWingAuthorizedKeys: X-Wing client keys in both forms, and an X-Wing
// line holding another algorithm's key.
func TestXWingAuthorizedKeys(t *testing.T) {
	x := newTestKey(t, kem.XWing)
	x2 := newTestKey(t, kem.XWing)
	m := newTestKey(t, kem.MLKEM768)
	xSPKI := spki(testOIDs[kem.XWing], x.ek)

	a, err := ParseAuthorizedKeys(strings.NewReader(
		"X-Wing "+b64(xSPKI)+" laptop\n"+
			"xwing "+b64(x2.ek)+"\n"+
			"ML-KEM-768 "+b64(m.ek)+"\n"), "ak")
	require.NoError(t, err)
	assert.Equal(t, []AuthorizedKey{
		{Algorithm: kem.XWing, Key: x.ek, Comment: "laptop", Fingerprint: x.fp, Line: 1},
		{Algorithm: kem.XWing, Key: x2.ek, Fingerprint: x2.fp, Line: 2},
		{Algorithm: kem.MLKEM768, Key: m.ek, Fingerprint: m.fp, Line: 3},
	}, a.Keys())
	_, _, ok := a.Lookup("X-WING", x2.ek)
	assert.True(t, ok)
	_, _, ok = a.Lookup(kem.MLKEM768, x.ek)
	assert.False(t, ok, "another algorithm")

	line, err := FormatAuthorizedKey("xwing", x.ek, "laptop")
	require.NoError(t, err)
	assert.Equal(t, "X-Wing "+b64(xSPKI)+" laptop", line)

	for _, tc := range []struct{ name, line, want string }{
		{"ML-KEM SPKI on an X-Wing line", "X-Wing " + b64(spki(testOIDs[kem.MLKEM768], m.ek)),
			"the key is an ML-KEM-768 SubjectPublicKeyInfo, but the line says X-Wing"},
		{"X-Wing SPKI on an ML-KEM line", "ML-KEM-768 " + b64(xSPKI),
			"the key is an X-Wing SubjectPublicKeyInfo, but the line says ML-KEM-768"},
		{"ML-KEM key on an X-Wing line", "X-Wing " + b64(m.ek),
			"the X-Wing key is 1184 bytes: neither a raw encapsulation key (1216 bytes) nor a SubjectPublicKeyInfo"},
		// One random key in 256 starts with 0x30, as DER does: the same words.
		{"ML-KEM key starting like DER on an X-Wing line", "X-Wing " + b64(append([]byte{0x30}, m.ek[1:]...)),
			"the X-Wing key is 1184 bytes: neither a raw encapsulation key (1216 bytes) nor a SubjectPublicKeyInfo (DER SEQUENCE): "},
		{"raw key not reduced", "X-Wing " + b64(notReducedEK(x.ek)), "the X-Wing key fails its check"},
		{"duplicate in the other form", "X-Wing " + b64(x.ek), "the same X-Wing key " + x.fp + " as line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAuthorizedKeys(strings.NewReader("X-Wing "+b64(xSPKI)+"\n"+tc.line+"\n"), "ak")
			require.ErrorIs(t, err, ErrMalformedAuthorizedKeys)
			assert.ErrorContains(t, err, "ak:2: ")
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
