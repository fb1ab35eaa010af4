//go:build liboqs

package oqs_test

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/oqs"
)

// FuzzKEM feeds inputs of any length to every entry point of the package
// and checks:
//
//   - NewKEM, IsKEMEnabled and TimeInC agree on which names are KEMs, and
//     an accepted name is an enabled KEM's, up to ASCII case;
//   - a wrong length is an error wrapping the matching sentinel, never a
//     panic or a crash in C;
//   - GenerateKeyPairDerand and EncapSecretDerand are deterministic, and
//     DecapSecret(EncapSecretDerand(...)) gives the encapsulated secret;
//   - EncapSecret accepts a public key of the right length exactly when it
//     passes the FIPS 203 modulus check (checked here independently);
//   - DecapSecret of any ciphertext of the right length succeeds (implicit
//     rejection) and is deterministic;
//   - an imported secret key of the right length is either used or refused
//     with ErrFailed.
//
// The seed corpus is in testdata/fuzz/FuzzKEM and the f.Add calls below.
func FuzzKEM(f *testing.F) {
	for i, name := range mlkemNames {
		k, err := oqs.NewKEM(name)
		require.NoError(f, err)
		d := k.Details()
		seed := bytes.Repeat([]byte{byte(i + 1)}, d.LengthKeypairSeed)
		pk, err := k.GenerateKeyPairDerand(seed)
		require.NoError(f, err)
		ct, _, err := k.EncapSecret(pk)
		require.NoError(f, err)
		sk, err := k.ExportSecretKey()
		require.NoError(f, err)
		require.NoError(f, k.Close())
		m := bytes.Repeat([]byte{0xa5}, d.LengthEncapsSeed)
		f.Add(name, uint8(i), seed, m, pk, ct)
		f.Add(strings.ToLower(name), uint8(i), seed, m, sk, ct[:len(ct)-1])
		f.Add(name+"\x00", uint8(i), seed[1:], m[1:], pk[1:], append(ct, 0))
	}
	f.Add("", uint8(0), []byte{}, []byte{}, []byte{}, []byte{})

	kems := make([]*oqs.KeyEncapsulation, len(mlkemNames))
	for i, name := range mlkemNames {
		kems[i] = newKEM(f, name)
	}

	f.Fuzz(func(t *testing.T, kemName string, which uint8, seed, m, pk, ct []byte) {
		// Names.
		nk, err := oqs.NewKEM(kemName)
		if oqs.IsKEMEnabled(kemName) {
			require.NoError(t, err)
			got := nk.Details().Name
			require.Contains(t, oqs.EnabledKEMs(), got)
			require.True(t, strings.EqualFold(got, kemName) && len(got) == len(kemName), "%q became %q", kemName, got)
			require.NoError(t, nk.Close())
		} else {
			require.ErrorIs(t, err, oqs.ErrUnknownKEM)
			require.Nil(t, nk)
		}
		i := int(which) % len(mlkemNames)
		name := mlkemNames[i]
		k := newKEM(t, name)
		other := kems[i] // shared by every run: used for encapsulation only
		d := k.Details()

		// Key generation from a seed.
		ownPK, err := k.GenerateKeyPairDerand(seed)
		if len(seed) != d.LengthKeypairSeed {
			require.ErrorIs(t, err, oqs.ErrKeypairSeedLength)
			// Go on with a key pair derived from the input.
			derived := make([]byte, d.LengthKeypairSeed)
			copy(derived, sha3.SumSHAKE128(seed, len(derived)))
			ownPK, err = k.GenerateKeyPairDerand(derived)
			require.NoError(t, err)
		} else {
			require.NoError(t, err)
			again, err := oqs.NewKEM(name)
			require.NoError(t, err)
			pk2, err := again.GenerateKeyPairDerand(seed)
			require.NoError(t, err)
			require.Equal(t, ownPK, pk2, "GenerateKeyPairDerand is not deterministic")
			sk1, err := k.ExportSecretKey()
			require.NoError(t, err)
			sk2, err := again.ExportSecretKey()
			require.NoError(t, err)
			require.Equal(t, sk1, sk2)
			require.NoError(t, again.Close())
			gotSeed, err := k.ExportSeed()
			require.NoError(t, err)
			require.Equal(t, seed, gotSeed)
		}

		// Derandomized encapsulation to our own key, and the round trip.
		ct1, ss1, err := other.EncapSecretDerand(ownPK, m)
		if len(m) != d.LengthEncapsSeed {
			require.ErrorIs(t, err, oqs.ErrEncapsSeedLength)
		} else {
			require.NoError(t, err)
			ct2, ss2, err := k.EncapSecretDerand(ownPK, m)
			require.NoError(t, err)
			require.Equal(t, ct1, ct2, "EncapSecretDerand is not deterministic")
			require.Equal(t, ss1, ss2)
			got, err := k.DecapSecret(ct1)
			require.NoError(t, err)
			require.Equal(t, ss1, got, "decapsulation does not undo encapsulation")
		}

		// Encapsulation to an arbitrary public key.
		ctP, ssP, err := other.EncapSecret(pk)
		_, _, errD := other.EncapSecretDerand(pk, make([]byte, d.LengthEncapsSeed))
		switch {
		case len(pk) != d.LengthPublicKey:
			require.ErrorIs(t, err, oqs.ErrPublicKeyLength)
			require.ErrorIs(t, errD, oqs.ErrPublicKeyLength)
		case modulusOK(pk[:len(pk)-32]):
			require.NoError(t, err)
			require.NoError(t, errD)
			assert.Len(t, ctP, d.LengthCiphertext)
			assert.Len(t, ssP, d.LengthSharedSecret)
		default:
			require.ErrorIs(t, err, oqs.ErrFailed, "liboqs accepted a public key that fails the modulus check")
			require.ErrorIs(t, errD, oqs.ErrFailed)
		}

		// Decapsulation of an arbitrary ciphertext.
		ss, err := k.DecapSecret(ct)
		if len(ct) != d.LengthCiphertext {
			require.ErrorIs(t, err, oqs.ErrCiphertextLength)
		} else {
			require.NoError(t, err)
			again, err := k.DecapSecret(ct)
			require.NoError(t, err)
			require.Equal(t, ss, again, "DecapSecret is not deterministic")
		}

		// An arbitrary secret key (pk's bytes).
		err = k.ImportSecretKey(pk)
		if len(pk) != d.LengthSecretKey {
			require.ErrorIs(t, err, oqs.ErrSecretKeyLength)
			return
		}
		require.NoError(t, err)
		_, err = k.DecapSecret(make([]byte, d.LengthCiphertext))
		if err != nil && !errors.Is(err, oqs.ErrFailed) {
			t.Fatalf("DecapSecret with an imported key: %v", err)
		}
	})
}

// modulusOK is FIPS 203's modulus check, written plainly: every 12-bit
// value of ByteEncode12 is below q = 3329.
func modulusOK(b []byte) bool {
	for i := 0; i+3 <= len(b); i += 3 {
		lo := int(b[i]) | int(b[i+1]&0x0f)<<8
		hi := int(b[i+1]>>4) | int(b[i+2])<<4
		if lo >= 3329 || hi >= 3329 {
			return false
		}
	}
	return true
}
