package identity

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kemtcp/kemtcp/app/kem"
)

// OpenSSL 3.5 encodes and decodes ML-KEM keys with fixed byte layouts, given
// by tables in providers/implementations/encode_decode/ml_kem_codecs.c
// (ML_COMMON_PKCS8_FMT: name, p8_bytes, p8_shift, p8_magic, seed_magic,
// seed_offset, seed_length, priv_magic, priv_offset, priv_length, pub_offset,
// pub_length). The rows below are quoted from that file. The PKCS#8 wrapping
// is added by PKCS8_pkey_set0(..., version 0, V_ASN1_UNDEF parameters, ...)
// in encode_key2any.c: no attributes, no publicKey. The SubjectPublicKeyInfo
// prefix is ml_kem_*_spkifmt, 22 bytes.
type opensslP8Fmt struct {
	name       string
	p8Bytes    int
	p8Shift    int
	p8Magic    uint32
	seedMagic  uint16
	seedOffset int
	seedLength int
	privMagic  uint32
	privOffset int
	privLength int
}

var opensslP8Fmts = map[string][]opensslP8Fmt{
	kem.MLKEM512: {
		{"seed-priv", 0x06aa, 0, 0x308206a6, 0x0440, 6, 0x40, 0x04820660, 0x4a, 0x0660},
		{"priv-only", 0x0664, 0, 0x04820660, 0, 0, 0, 0, 0x04, 0x0660},
		{"seed-only", 0x0042, 2, 0x8040, 0, 2, 0x40, 0, 0, 0},
		{"bare-priv", 0x0660, 4, 0, 0, 0, 0, 0, 0, 0x0660},
		{"bare-seed", 0x0040, 4, 0, 0, 0, 0x40, 0, 0, 0},
	},
	kem.MLKEM768: {
		{"seed-priv", 0x09aa, 0, 0x308209a6, 0x0440, 6, 0x40, 0x04820960, 0x4a, 0x0960},
		{"priv-only", 0x0964, 0, 0x04820960, 0, 0, 0, 0, 0x04, 0x0960},
		{"seed-only", 0x0042, 2, 0x8040, 0, 2, 0x40, 0, 0, 0},
		{"bare-priv", 0x0960, 4, 0, 0, 0, 0, 0, 0, 0x0960},
		{"bare-seed", 0x0040, 4, 0, 0, 0, 0x40, 0, 0, 0},
	},
	kem.MLKEM1024: {
		{"seed-priv", 0x0caa, 0, 0x30820ca6, 0x0440, 6, 0x40, 0x04820c60, 0x4a, 0x0c60},
		{"priv-only", 0x0c64, 0, 0x04820c60, 0, 0, 0, 0, 0x04, 0x0c60},
		{"seed-only", 0x0042, 2, 0x8040, 0, 2, 0x40, 0, 0, 0},
		{"bare-priv", 0x0c60, 4, 0, 0, 0, 0, 0, 0, 0x0c60},
		{"bare-seed", 0x0040, 4, 0, 0, 0, 0x40, 0, 0, 0},
	},
}

var opensslSPKIPrefix = map[string][]byte{
	kem.MLKEM512:  {0x30, 0x82, 0x03, 0x32, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x01, 0x03, 0x82, 0x03, 0x21, 0x00},
	kem.MLKEM768:  {0x30, 0x82, 0x04, 0xb2, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x02, 0x03, 0x82, 0x04, 0xa1, 0x00},
	kem.MLKEM1024: {0x30, 0x82, 0x06, 0x32, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x03, 0x03, 0x82, 0x06, 0x21, 0x00},
}

// opensslPayload lays out the privateKey OCTET STRING contents as OpenSSL's
// ossl_ml_kem_i2d_prvkey does from a table row: magic, then the seed and
// the key at their offsets, each after its tag/length if not in the magic.
func opensslPayload(f opensslP8Fmt, seed, expanded []byte) []byte {
	buf := make([]byte, 0, f.p8Bytes)
	switch f.p8Shift {
	case 0:
		buf = binary.BigEndian.AppendUint32(buf, f.p8Magic)
	case 2:
		buf = binary.BigEndian.AppendUint16(buf, uint16(f.p8Magic))
	}
	if f.seedLength != 0 {
		if len(buf)+2 == f.seedOffset {
			buf = binary.BigEndian.AppendUint16(buf, f.seedMagic)
		}
		buf = append(buf, seed...)
	}
	if f.privLength != 0 {
		if len(buf)+4 == f.privOffset {
			buf = binary.BigEndian.AppendUint32(buf, f.privMagic)
		}
		buf = append(buf, expanded...)
	}
	return buf
}

// TestOpenSSLFormats builds each OpenSSL 3.5 output format from its table
// row, checks that it is byte for byte the DER the ASN.1 module gives (built
// by hand with cryptobyte), wraps it as OpenSSL does, and loads it. ML-KEM
// only: OpenSSL 3.5 has no X-Wing.
func TestOpenSSLFormats(t *testing.T) {
	for _, alg := range mlkemAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			seed := randomSeed(t, alg)
			expanded, ek := keyMaterial(t, alg, seed)
			byASN1 := map[string][]byte{
				"seed-priv": choiceBoth(seed, expanded),
				"priv-only": choiceExpanded(expanded),
				"seed-only": choiceSeed(seed),
				"bare-priv": expanded,
				"bare-seed": seed,
			}
			wantForm := map[string]Form{
				"seed-priv": FormBoth, "priv-only": FormExpanded, "seed-only": FormSeed,
				"bare-priv": FormBareExpanded, "bare-seed": FormBareSeed,
			}
			for _, f := range opensslP8Fmts[alg] {
				t.Run(f.name, func(t *testing.T) {
					payload := opensslPayload(f, seed, expanded)
					require.Len(t, payload, f.p8Bytes)
					assert.Equal(t, byASN1[f.name], payload, "OpenSSL's layout and the ASN.1 module disagree")

					// PKCS8_pkey_set0(p8, OBJ_nid2obj(nid), 0, V_ASN1_UNDEF, NULL, der, len).
					var b cryptobyte.Builder
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(0)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(testOIDs[alg]) })
						b.AddASN1OctetString(payload)
					})
					der := b.BytesOrPanic()
					k, err := ParsePrivateKeyPEM(pemOf("PRIVATE KEY", der))
					require.NoError(t, err)
					assert.Equal(t, wantForm[f.name], k.Form)
					if f.seedLength != 0 {
						assert.Equal(t, seed, k.Seed)
					} else {
						assert.Nil(t, k.Seed)
					}
					if f.privLength != 0 {
						assert.Equal(t, expanded, k.Expanded)
					} else {
						assert.Nil(t, k.Expanded)
					}
				})
			}

			// What we write is OpenSSL's "seed-only", and OpenSSL's fixed
			// SubjectPublicKeyInfo prefix.
			data, err := MarshalPrivateKeyPEM(alg, seed)
			require.NoError(t, err)
			var inner cryptobyte.String
			in := cryptobyte.String(derOfPEM(t, data))
			require.True(t, in.ReadASN1(&inner, asn1.SEQUENCE))
			var version int64
			require.True(t, inner.ReadASN1Integer(&version))
			assert.Zero(t, version)
			require.True(t, inner.SkipASN1(asn1.SEQUENCE))
			var priv cryptobyte.String
			require.True(t, inner.ReadASN1(&priv, asn1.OCTET_STRING))
			assert.True(t, inner.Empty())
			assert.Equal(t, opensslPayload(opensslP8Fmts[alg][2], seed, nil), []byte(priv))

			pub, err := MarshalPublicKeyPEM(alg, ek)
			require.NoError(t, err)
			pubDER := derOfPEM(t, pub)
			assert.Equal(t, opensslSPKIPrefix[alg], pubDER[:22])
			assert.Equal(t, ek, pubDER[22:])
		})
	}
}
