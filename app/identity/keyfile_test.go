package identity

import (
	"bytes"
	encasn1 "encoding/asn1"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"

	"github.com/kemtcp/kemtcp/app/kem"
)

// TestLAMPSExamples loads the example keys of RFC 9935 (Appendix C) in all
// three forms and checks they give the keys of the seed 00..3f, and that our
// marshallers reproduce the files byte for byte.
func TestLAMPSExamples(t *testing.T) {
	for _, alg := range mlkemAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			seed := countingSeed(alg)
			expanded, ek := keyMaterial(t, alg, seed)

			for _, tc := range []struct {
				file     string
				form     Form
				seed     []byte
				expanded []byte
			}{
				{alg + "-seed.priv", FormSeed, seed, nil},
				{alg + "-expanded.priv", FormExpanded, nil, expanded},
				{alg + "-both.priv", FormBoth, seed, expanded},
			} {
				t.Run(string(tc.form), func(t *testing.T) {
					data := readTestdata(t, "lamps/"+tc.file)
					k, err := ParsePrivateKeyPEM(data)
					require.NoError(t, err)
					assert.Equal(t, alg, k.Algorithm)
					assert.Equal(t, tc.form, k.Form)
					assert.Equal(t, tc.seed, k.Seed)
					assert.Equal(t, tc.expanded, k.Expanded)

					// Our encoder writes the same bytes as the draft's examples.
					out, err := k.MarshalPEM()
					require.NoError(t, err)
					assert.Equal(t, string(data), string(out))

					for _, s := range backendsFor(t, alg) {
						dk, err := k.DecapsulationKey(s)
						if k.Seed == nil {
							if _, ok := s.(kem.ExpandedKeyParser); !ok {
								require.ErrorIs(t, err, ErrExpandedKeyUnsupported)
								assert.Contains(t, err.Error(), s.Backend())
								continue
							}
						}
						require.NoError(t, err, s.Backend())
						assert.Equal(t, ek, dk.EncapsulationKey().Bytes(), s.Backend())
						dk.Destroy()
					}
				})
			}

			seedPEM, err := MarshalPrivateKeyPEM(alg, seed)
			require.NoError(t, err)
			assert.Equal(t, string(readTestdata(t, "lamps/"+alg+"-seed.priv")), string(seedPEM))

			pubPEM := readTestdata(t, "lamps/"+alg+".pub")
			gotAlg, gotEK, err := ParsePublicKeyPEM(pubPEM)
			require.NoError(t, err)
			assert.Equal(t, alg, gotAlg)
			assert.Equal(t, ek, gotEK)
			out, err := MarshalPublicKeyPEM(alg, ek)
			require.NoError(t, err)
			assert.Equal(t, string(pubPEM), string(out))
		})
	}
}

// TestLAMPSBadKeys: the four inconsistent keys of RFC 9935, Appendix C.4.
func TestLAMPSBadKeys(t *testing.T) {
	for i, want := range []string{
		"seed and the expandedKey in the file do not match",
		"pairwise consistency test",
		"FIPS 203 hash check failed",
		"seed and the expandedKey in the file do not match",
	} {
		t.Run(fmt.Sprint(i+1), func(t *testing.T) {
			k, err := ParsePrivateKeyPEM(readTestdata(t, fmt.Sprintf("lamps/bad-ML-KEM-512-%d.priv", i+1)))
			require.ErrorIs(t, err, ErrInconsistentKey)
			assert.Contains(t, err.Error(), want)
			assert.Nil(t, k)
		})
	}
}

// TestRoundTrip: every KEM, every form (X-Wing has only the seed form),
// random keys, private and public.
func TestRoundTrip(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			seed := randomSeed(t, alg)
			expanded, ek := keyMaterial(t, alg, seed)
			forms := []*PrivateKey{{Algorithm: alg, Seed: seed, Form: FormSeed}}
			if expanded != nil {
				forms = append(forms,
					&PrivateKey{Algorithm: alg, Expanded: expanded, Form: FormExpanded},
					&PrivateKey{Algorithm: alg, Seed: seed, Expanded: expanded, Form: FormBoth})
			}
			for _, k := range forms {
				t.Run(string(k.Form), func(t *testing.T) {
					data, err := k.MarshalPEM()
					require.NoError(t, err)
					got, err := ParsePrivateKeyPEM(data)
					require.NoError(t, err)
					assert.Equal(t, k, got)
					// The parsed key does not alias the input.
					der := derOfPEM(t, data)
					got2, err := ParsePrivateKeyDER(der)
					require.NoError(t, err)
					clear(der)
					assert.Equal(t, k, got2)
				})
			}

			data, err := MarshalPrivateKeyPEM(alg, seed)
			require.NoError(t, err)
			assert.True(t, bytes.HasPrefix(data, []byte("-----BEGIN PRIVATE KEY-----\n")))
			k, err := ParsePrivateKeyPEM(data)
			require.NoError(t, err)
			assert.Equal(t, &PrivateKey{Algorithm: alg, Seed: seed, Form: FormSeed}, k)

			pub, err := MarshalPublicKeyPEM(alg, ek)
			require.NoError(t, err)
			assert.True(t, bytes.HasPrefix(pub, []byte("-----BEGIN PUBLIC KEY-----\n")))
			gotAlg, gotEK, err := ParsePublicKeyPEM(pub)
			require.NoError(t, err)
			assert.Equal(t, alg, gotAlg)
			assert.Equal(t, ek, gotEK)

			// Any spelling kem.CanonicalName accepts.
			short := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(alg, "ML-KEM-"), "-", ""))
			data2, err := MarshalPrivateKeyPEM(short, seed)
			require.NoError(t, err)
			assert.Equal(t, data, data2)
		})
	}
}

// TestHandBuiltForms: keys built by hand from the ASN.1 module, in every
// form OpenSSL 3.5 reads and with the optional OneAsymmetricKey fields,
// load and give the same key.
func TestHandBuiltForms(t *testing.T) {
	for _, alg := range mlkemAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			seed := randomSeed(t, alg)
			expanded, ek := keyMaterial(t, alg, seed)
			oid := testOIDs[alg]
			for _, tc := range []struct {
				name string
				oak  oak
				form Form
			}{
				{"seed", oak{oid: oid, priv: choiceSeed(seed)}, FormSeed},
				{"expandedKey", oak{oid: oid, priv: choiceExpanded(expanded)}, FormExpanded},
				{"both", oak{oid: oid, priv: choiceBoth(seed, expanded)}, FormBoth},
				{"bare-seed", oak{oid: oid, priv: seed}, FormBareSeed},
				{"bare-priv", oak{oid: oid, priv: expanded}, FormBareExpanded},
				{"v1 with publicKey", oak{version: 1, oid: oid, priv: choiceSeed(seed), pub: ek}, FormSeed},
				{"v1 with publicKey, expanded", oak{version: 1, oid: oid, priv: choiceExpanded(expanded), pub: ek}, FormExpanded},
				{"v1 without publicKey", oak{version: 1, oid: oid, priv: choiceBoth(seed, expanded)}, FormBoth},
				{"attributes", oak{oid: oid, priv: choiceSeed(seed), attrs: true}, FormSeed},
				{"attributes and publicKey", oak{version: 1, oid: oid, priv: choiceBoth(seed, expanded), attrs: true, pub: ek}, FormBoth},
			} {
				t.Run(tc.name, func(t *testing.T) {
					k, err := ParsePrivateKeyPEM(pemOf("PRIVATE KEY", tc.oak.der()))
					require.NoError(t, err)
					assert.Equal(t, alg, k.Algorithm)
					assert.Equal(t, tc.form, k.Form)
					if k.Seed != nil {
						assert.Equal(t, seed, k.Seed)
					}
					if k.Expanded != nil {
						assert.Equal(t, expanded, k.Expanded)
					}
					s, err := kem.Lookup(alg, kem.BackendCircl)
					require.NoError(t, err)
					dk, err := k.DecapsulationKey(s)
					require.NoError(t, err)
					assert.Equal(t, ek, dk.EncapsulationKey().Bytes())
				})
			}

			_, _, err := ParsePublicKeyDER(spki(oid, ek))
			require.NoError(t, err)
		})
	}
}

func TestDecapsulationKey(t *testing.T) {
	seed := randomSeed(t, kem.MLKEM768)
	expanded, ek := keyMaterial(t, kem.MLKEM768, seed)

	s512, err := kem.Lookup(kem.MLKEM512, kem.BackendCircl)
	require.NoError(t, err)
	k := &PrivateKey{Algorithm: kem.MLKEM768, Seed: seed}
	_, err = k.DecapsulationKey(s512)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "holds an ML-KEM-768 key, but ML-KEM-512 was asked for")

	// Every backend derives the same pair and decapsulates what the others
	// encapsulate.
	for _, s := range backendsFor(t, kem.MLKEM768) {
		dk, err := k.DecapsulationKey(s)
		require.NoError(t, err)
		assert.Equal(t, ek, dk.EncapsulationKey().Bytes())
		shared, ct, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		for _, s2 := range backendsFor(t, kem.MLKEM768) {
			dk2, err := (&PrivateKey{Algorithm: kem.MLKEM768, Expanded: expanded}).DecapsulationKey(s2)
			if err != nil {
				require.ErrorIs(t, err, ErrExpandedKeyUnsupported)
				continue
			}
			got, err := dk2.Decapsulate(ct)
			require.NoError(t, err)
			assert.Equal(t, shared, got, "%s -> %s", s.Backend(), s2.Backend())
		}
	}

	// The go backend cannot load an expanded-only key and says so.
	sgo, err := kem.Lookup(kem.MLKEM768, kem.BackendGo)
	require.NoError(t, err)
	_, err = (&PrivateKey{Algorithm: kem.MLKEM768, Expanded: expanded}).DecapsulationKey(sgo)
	require.ErrorIs(t, err, ErrExpandedKeyUnsupported)
	assert.Contains(t, err.Error(), "go backend")
	assert.Contains(t, err.Error(), "which the go backend cannot load")
	assert.NotContains(t, err.Error(), "-backend", "library errors name no flag: the CLI adds the hint")

	// Wipe zeroes the bytes the key held and leaves nothing usable.
	seedAlias, expAlias := bytes.Clone(seed), bytes.Clone(expanded)
	k2 := &PrivateKey{Algorithm: kem.MLKEM768, Seed: seedAlias, Expanded: expAlias}
	k2.Wipe()
	assert.Equal(t, make([]byte, len(seedAlias)), seedAlias)
	assert.Equal(t, make([]byte, len(expAlias)), expAlias)
	assert.Nil(t, k2.Seed)
	assert.Nil(t, k2.Expanded)
	_, err = k2.DecapsulationKey(sgo)
	assert.ErrorContains(t, err, "no key material")
	_, err = k2.MarshalPEM()
	assert.ErrorContains(t, err, "no key material")
	(*PrivateKey)(nil).Wipe()
}

func TestMarshalErrors(t *testing.T) {
	seed := randomSeed(t, kem.MLKEM768)
	expanded, ek := keyMaterial(t, kem.MLKEM768, seed)
	for _, tc := range []struct {
		name string
		f    func() error
		want string
	}{
		{"seed 63", func() error { _, err := MarshalPrivateKeyPEM(kem.MLKEM768, seed[:63]); return err }, "the seed is 63 bytes, want 64"},
		{"nil seed", func() error { _, err := MarshalPrivateKeyPEM(kem.MLKEM768, nil); return err }, "the seed is 0 bytes"},
		{"bad alg", func() error { _, err := MarshalPrivateKeyPEM("ML-KEM-999", seed); return err }, `unknown KEM algorithm "ML-KEM-999"`},
		{"expanded size", func() error {
			_, err := (&PrivateKey{Algorithm: kem.MLKEM512, Expanded: expanded}).MarshalPEM()
			return err
		}, "got 2400 bytes, want 1632"},
		{"public size", func() error { _, err := MarshalPublicKeyPEM(kem.MLKEM512, ek); return err }, "ML-KEM-512 public key: 1184 bytes, want 800"},
		{"public modulus", func() error { _, err := MarshalPublicKeyPEM(kem.MLKEM768, notReducedEK(ek)); return err }, "modulus check"},
		{"public alg", func() error { _, err := MarshalPublicKeyPEM("RSA", ek); return err }, `unknown KEM algorithm "RSA"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorContains(t, tc.f(), tc.want)
		})
	}
}

// notReducedEK returns ek with its first coefficient set to 4095 >= q, so
// that it fails the FIPS 203 modulus check.
func notReducedEK(ek []byte) []byte {
	bad := bytes.Clone(ek)
	bad[0] = 0xff
	bad[1] |= 0x0f
	return bad
}

// TestParsePrivateKeyErrors: every wrong PEM, OID, size, trailing data and
// garbage case gives an error that names what was found.
func TestParsePrivateKeyErrors(t *testing.T) {
	seed := countingSeed(kem.MLKEM768)
	expanded, ek := keyMaterial(t, kem.MLKEM768, seed)
	oid := testOIDs[kem.MLKEM768]
	good := oak{oid: oid, priv: choiceSeed(seed)}.der()
	goodPEM := pemOf("PRIVATE KEY", good)
	pubPEM, err := MarshalPublicKeyPEM(kem.MLKEM768, ek)
	require.NoError(t, err)

	badHash := bytes.Clone(expanded)
	badHash[len(badHash)-64] ^= 1 // H(ek)
	otherSeed := bytes.Clone(seed)
	otherSeed[0] ^= 1
	_, otherEK := keyMaterial(t, kem.MLKEM768, otherSeed)

	withPEMHeaders := []byte("-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n" +
		strings.SplitN(string(goodPEM), "\n", 2)[1])

	pemCases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "the input is empty"},
		{"spaces", []byte(" \n\t "), "the input is empty"},
		{"text", []byte("hello world"), `no PEM block found; want -----BEGIN PRIVATE KEY----- (the input starts with "hello world")`},
		{"binary garbage", []byte{0xff, 0x00, 0x01}, "bytes ff 00 01"},
		{"DER instead of PEM", good, "looks like binary DER"},
		{"text before", append([]byte("key:\n"), goodPEM...), `unexpected text before the PEM block: "key:"`},
		{"second block", append(bytes.Clone(goodPEM), goodPEM...), "a second PEM block follows the first"},
		{"trailing data", append(bytes.Clone(goodPEM), "junk\n"...), `4 bytes of unexpected data after the PEM block: "junk"`},
		{"wrong type", pemOf("RSA PRIVATE KEY", good), `the PEM block is "RSA PRIVATE KEY", want "PRIVATE KEY"`},
		{"public key type", pubPEM, `the PEM block is "PUBLIC KEY", want "PRIVATE KEY"`},
		{"encrypted", pemOf("ENCRYPTED PRIVATE KEY", good), "the key is encrypted"},
		{"headers", withPEMHeaders, "the PEM block has headers"},
		{"bad base64", []byte("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"), "malformed PEM block"},
		{"no end", []byte("-----BEGIN PRIVATE KEY-----\nMAA=\n"), "malformed PEM block"},
		{"empty block", pemOf("PRIVATE KEY", nil), "the PEM block is empty"},
	}
	for _, tc := range pemCases {
		t.Run("PEM/"+tc.name, func(t *testing.T) {
			k, err := ParsePrivateKeyPEM(tc.data)
			require.ErrorIs(t, err, ErrMalformedKey)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, k)
		})
	}
	// White space around the one block is fine.
	_, err = ParsePrivateKeyPEM(append(append([]byte("\n\n  "), goodPEM...), "\r\n\n"...))
	require.NoError(t, err)
	// So are Windows line ends.
	_, err = ParsePrivateKeyPEM(bytes.ReplaceAll(goodPEM, []byte("\n"), []byte("\r\n")))
	require.NoError(t, err)

	derCases := []struct {
		name string
		der  []byte
		want string
		is   error
	}{
		{"not a sequence", []byte{0x31, 0x00}, "tag 0x31, want a PKCS#8 SEQUENCE", nil},
		{"truncated", good[:len(good)-1], "cannot read the outer PKCS#8 SEQUENCE", nil},
		{"indefinite length", append([]byte{0x30, 0x80}, good[2:]...), "cannot read the outer PKCS#8 SEQUENCE", nil},
		{"trailing after DER", append(bytes.Clone(good), 0, 0), "2 bytes of trailing data after the PKCS#8 structure", nil},
		{"version 2", oak{version: 2, oid: oid, priv: choiceSeed(seed)}.der(), "unsupported PKCS#8 (OneAsymmetricKey) version 2, want 0 or 1", nil},
		{"version -1", oak{version: -1, oid: oid, priv: choiceSeed(seed)}.der(), "version -1", nil},
		{"version not minimal", append([]byte{0x30, 0x55, 0x02, 0x02, 0x00, 0x00}, good[5:]...), "version is not a DER INTEGER", nil},
		{"RSA OID", oak{oid: encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, priv: choiceSeed(seed)}.der(),
			"algorithm 1.2.840.113549.1.1.1 (RSA) is not ML-KEM", nil},
		{"ML-DSA OID", oak{oid: encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}, priv: choiceSeed(seed)}.der(),
			"algorithm 2.16.840.1.101.3.4.3.18 (ML-DSA-65) is not ML-KEM", nil},
		{"unknown OID", oak{oid: encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 4}, priv: choiceSeed(seed)}.der(),
			"algorithm 2.16.840.1.101.3.4.4.4 is not ML-KEM", nil},
		{"NULL parameters", oak{oid: oid, priv: choiceSeed(seed), params: func(b *cryptobyte.Builder) { b.AddASN1NULL() }}.der(),
			"has parameters (tag 0x05); RFC 9935 requires them to be absent", nil},
		{"privateKey BIT STRING", seqOf([]byte{0x02, 0x01, 0x00}, algIDOf(oid), []byte{0x03, 0x01, 0x00}), "privateKey field is not an OCTET STRING", nil},
		{"no privateKey", seqOf([]byte{0x02, 0x01, 0x00}, algIDOf(oid)), "privateKey field is not an OCTET STRING (nothing)", nil},
		{"no algorithm", seqOf([]byte{0x02, 0x01, 0x00}), "not an AlgorithmIdentifier SEQUENCE (nothing)", nil},
		{"empty algorithm", seqOf([]byte{0x02, 0x01, 0x00}, []byte{0x30, 0x00}), "not a DER OBJECT IDENTIFIER", nil},
		{"empty privateKey", oak{oid: oid, priv: []byte{}}.der(), "privateKey OCTET STRING is empty", nil},
		{"seed 63", oak{oid: oid, priv: choiceSeed(seed[:63])}.der(), "the seed is 63 bytes, want 64", nil},
		{"seed 65", oak{oid: oid, priv: choiceSeed(append(bytes.Clone(seed), 0))}.der(), "the seed is 65 bytes, want 64", nil},
		{"seed 0", oak{oid: oid, priv: choiceSeed(nil)}.der(), "the seed is 0 bytes, want 64", nil},
		// 62 + 2 bytes of DER header: the length of a bare seed, which it must not be taken for.
		{"seed 62", oak{oid: oid, priv: choiceSeed(seed[:62])}.der(),
			"the privateKey field is a DER seed [0] element (tag 0x80) holding 62 bytes; want a seed [0] of 64 bytes", nil},
		// 2396 + 4 bytes of DER header: the length of a bare expanded key.
		{"expanded 2396", oak{oid: oid, priv: choiceExpanded(expanded[:2396])}.der(),
			"the privateKey field is a DER expandedKey OCTET STRING element (tag 0x04) holding 2396 bytes; want an expandedKey of 2400 bytes", nil},
		{"seed EXPLICIT", oak{oid: oid, priv: explicitSeed(seed)}.der(), "tagged [0] EXPLICIT (0xa0)", nil},
		{"seed and trailing", oak{oid: oid, priv: append(choiceSeed(seed), 0x05, 0x00)}.der(),
			"2 bytes of trailing data after the seed form inside the privateKey OCTET STRING", nil},
		{"expanded 2399", oak{oid: oid, priv: choiceExpanded(expanded[:2399])}.der(), "the expandedKey is 2399 bytes, want 2400", nil},
		{"expanded 1632 for 768", oak{oid: oid, priv: choiceExpanded(expanded[:1632])}.der(), "the expandedKey is 1632 bytes, want 2400", nil},
		{"oqskeypair", oak{oid: oid, priv: choiceExpanded(append(bytes.Clone(expanded), ek...))}.der(), `legacy "oqskeypair" form`, nil},
		{"both seed 32", oak{oid: oid, priv: choiceBoth(seed[:32], expanded)}.der(), "the seed in the both SEQUENCE is 32 bytes, want 64", nil},
		{"both expanded short", oak{oid: oid, priv: choiceBoth(seed, expanded[:100])}.der(), "the expandedKey in the both SEQUENCE is 100 bytes, want 2400", nil},
		{"both without expanded", oak{oid: oid, priv: seqOf(choiceExpanded(seed))}.der(), "no expandedKey OCTET STRING after the seed", nil},
		{"both with [0] seed", oak{oid: oid, priv: seqOf(choiceSeed(seed), choiceExpanded(expanded))}.der(), "does not start with the seed OCTET STRING", nil},
		{"both with [1] expanded (OpenSSL pre-release)", oak{oid: oid, priv: seqOf(choiceExpanded(seed), implicit1(expanded))}.der(), "no expandedKey OCTET STRING after the seed", nil},
		{"both with extra", oak{oid: oid, priv: seqOf(choiceExpanded(seed), choiceExpanded(expanded), []byte{0x05, 0x00})}.der(),
			"2 bytes of unexpected data after the expandedKey in the both SEQUENCE", nil},
		{"unknown CHOICE tag", oak{oid: oid, priv: []byte{0x02, 0x01, 0x00}}.der(), "unknown private key form with tag 0x02", nil},
		{"field after publicKey", oak{version: 1, oid: oid, priv: choiceSeed(seed), pub: ek, trailing: []byte{0x82, 0x00}}.der(),
			"unexpected field with tag 0x82 after the PKCS#8 fields", nil},
		{"publicKey in version 0", oak{version: 0, oid: oid, priv: choiceSeed(seed), pub: ek}.der(),
			"the publicKey [1] field needs OneAsymmetricKey version 1", nil},
		{"publicKey short", oak{version: 1, oid: oid, priv: choiceSeed(seed), pub: ek[:800]}.der(),
			"the publicKey field holds 800 bytes, want the 1184 of an ML-KEM-768 encapsulation key", nil},
		{"publicKey unused bits", oak{version: 1, oid: oid, priv: choiceSeed(seed), pub: ek, pubPad: 1}.der(),
			"not a whole number of bytes", nil},
		{"publicKey of another key", oak{version: 1, oid: oid, priv: choiceSeed(seed), pub: otherEK}.der(),
			"the publicKey field is not the public key of the private key", ErrInconsistentKey},
		{"both disagree", oak{oid: oid, priv: choiceBoth(otherSeed, expanded)}.der(),
			"the seed and the expandedKey in the file do not match", ErrInconsistentKey},
		{"expanded bad H(ek)", oak{oid: oid, priv: choiceExpanded(badHash)}.der(), "FIPS 203 hash check failed", ErrInconsistentKey},
		{"bare expanded bad H(ek)", oak{oid: oid, priv: badHash}.der(), "FIPS 203 hash check failed", ErrInconsistentKey},
		{"512 OID with 768 expanded", oak{oid: testOIDs[kem.MLKEM512], priv: choiceExpanded(expanded)}.der(),
			"ML-KEM-512 private key: the expandedKey is 2400 bytes, want 1632", nil},
	}
	for _, tc := range derCases {
		t.Run("DER/"+tc.name, func(t *testing.T) {
			is := tc.is
			if is == nil {
				is = ErrMalformedKey
			}
			k, err := ParsePrivateKeyDER(tc.der)
			require.ErrorIs(t, err, is)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, k)
			_, err = ParsePrivateKeyPEM(pemOf("PRIVATE KEY", tc.der))
			require.ErrorIs(t, err, is)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func algIDOf(oid encasn1.ObjectIdentifier) []byte {
	var b cryptobyte.Builder
	b.AddASN1(0x30, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
	return b.BytesOrPanic()
}

func explicitSeed(seed []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(0xa0, func(b *cryptobyte.Builder) { b.AddASN1OctetString(seed) })
	return b.BytesOrPanic()
}

func implicit1(v []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(0x81, func(b *cryptobyte.Builder) { b.AddBytes(v) })
	return b.BytesOrPanic()
}

// seqOf wraps already-encoded elements in a SEQUENCE.
func seqOf(elems ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(0x30, func(b *cryptobyte.Builder) {
		for _, e := range elems {
			b.AddBytes(e)
		}
	})
	return b.BytesOrPanic()
}

func TestParsePublicKeyErrors(t *testing.T) {
	_, ek := keyMaterial(t, kem.MLKEM1024, countingSeed(kem.MLKEM1024))
	oid := testOIDs[kem.MLKEM1024]
	good := spki(oid, ek)
	privPEM, err := MarshalPrivateKeyPEM(kem.MLKEM1024, countingSeed(kem.MLKEM1024))
	require.NoError(t, err)

	withParams := func() []byte {
		var b cryptobyte.Builder
		b.AddASN1(0x30, func(b *cryptobyte.Builder) {
			b.AddASN1(0x30, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid); b.AddASN1NULL() })
			b.AddASN1BitString(ek)
		})
		return b.BytesOrPanic()
	}()
	unusedBits := func() []byte {
		var b cryptobyte.Builder
		b.AddASN1(0x30, func(b *cryptobyte.Builder) {
			b.AddASN1(0x30, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
			b.AddASN1(0x03, func(b *cryptobyte.Builder) { b.AddUint8(4); b.AddBytes(ek) })
		})
		return b.BytesOrPanic()
	}()
	octetString := func() []byte {
		var b cryptobyte.Builder
		b.AddASN1(0x30, func(b *cryptobyte.Builder) {
			b.AddASN1(0x30, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
			b.AddASN1OctetString(ek)
		})
		return b.BytesOrPanic()
	}()

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"private key PEM", privPEM, `found a PEM "PRIVATE KEY" where a "PUBLIC KEY" was expected`},
		{"certificate PEM", pemOf("CERTIFICATE", good), `the PEM block is "CERTIFICATE", want "PUBLIC KEY"`},
		{"trailing DER", pemOf("PUBLIC KEY", append(bytes.Clone(good), 0)), "1 bytes of trailing data after the SubjectPublicKeyInfo"},
		{"second block", append(pemOf("PUBLIC KEY", good), pemOf("PUBLIC KEY", good)...), "a second PEM block"},
		{"wrong size", pemOf("PUBLIC KEY", spki(oid, ek[:1567])), "ML-KEM-1024 public key: 1567 bytes, want 1568"},
		{"768 OID, 1024 key", pemOf("PUBLIC KEY", spki(testOIDs[kem.MLKEM768], ek)), "ML-KEM-768 public key: 1568 bytes, want 1184"},
		{"not reduced", pemOf("PUBLIC KEY", spki(oid, notReducedEK(ek))), "modulus check"},
		{"parameters", pemOf("PUBLIC KEY", withParams), "has parameters (tag 0x05)"},
		{"unused bits", pemOf("PUBLIC KEY", unusedBits), "not a BIT STRING of whole bytes"},
		{"OCTET STRING key", pemOf("PUBLIC KEY", octetString), "not a BIT STRING of whole bytes"},
		{"Ed25519", pemOf("PUBLIC KEY", spki(encasn1.ObjectIdentifier{1, 3, 101, 112}, make([]byte, 32))), "algorithm 1.3.101.112 (Ed25519) is not ML-KEM"},
		{"not a sequence", pemOf("PUBLIC KEY", []byte{0x04, 0x00}), "tag 0x04, want a SubjectPublicKeyInfo SEQUENCE"},
		{"garbage", pemOf("PUBLIC KEY", []byte{0x30}), "cannot read the SubjectPublicKeyInfo SEQUENCE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alg, ek, err := ParsePublicKeyPEM(tc.data)
			require.ErrorIs(t, err, ErrMalformedKey)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, alg)
			assert.Nil(t, ek)
		})
	}
}
