//go:build liboqs

package oqs_test

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAccumulated is the "accumulated" test of C2SP/CCTV
// (https://github.com/C2SP/CCTV/tree/main/ML-KEM): a SHAKE-128 stream with
// empty input gives, for each of 10,000 tests, d (32 bytes), z (32), m (32)
// and a random ciphertext; ek, the expanded dk, the ciphertext and K of
// encaps_derand(m), and the K that decapsulating the random ciphertext gives
// (implicit rejection), are written in that order to a second SHAKE-128,
// whose first 32 bytes must be the published value. It runs the liboqs
// derandomized key generation and encapsulation, decapsulation and implicit
// rejection against vectors from outside the library.
func TestAccumulated(t *testing.T) {
	want := map[string]string{
		"ML-KEM-512":  "705dcffc87f4e67e35a09dcaa31772e86f3341bd3ccf1e78a5fef99ae6a35a13",
		"ML-KEM-768":  "f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1",
		"ML-KEM-1024": "e3bf82b013307b2e9d47dde791ff6dfc82e694e6382404abdb948b908b75bad5",
	}
	forEachMLKEM(t, func(t *testing.T, name string) {
		t.Parallel()
		const n = 10000
		k := newKEM(t, name)
		d := k.Details()
		in := sha3.NewSHAKE128()
		out := sha3.NewSHAKE128()
		seed := make([]byte, d.LengthKeypairSeed) // d || z
		m := make([]byte, d.LengthEncapsSeed)
		randomCT := make([]byte, d.LengthCiphertext)
		for i := range n {
			in.Read(seed)
			in.Read(m)
			in.Read(randomCT)

			ek, err := k.GenerateKeyPairDerand(seed)
			require.NoError(t, err)
			dk, err := k.ExportSecretKey()
			require.NoError(t, err)
			ct, K, err := k.EncapSecretDerand(ek, m)
			require.NoError(t, err)
			got, err := k.DecapSecret(ct)
			require.NoError(t, err)
			if !bytes.Equal(got, K) {
				t.Fatalf("test %d: decapsulation gave %x, encapsulation %x", i, got, K)
			}
			rejected, err := k.DecapSecret(randomCT)
			require.NoError(t, err)

			out.Write(ek)
			out.Write(dk)
			out.Write(ct)
			out.Write(K)
			out.Write(rejected)
		}
		sum := make([]byte, 32)
		out.Read(sum)
		require.Equal(t, want[name], hex.EncodeToString(sum))
	})
}
