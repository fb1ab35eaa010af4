package kem_test

// kem.CryptoEncapsulator and kem.CryptoDecapsulator: kemtcp's keys as the
// standard library's crypto.Encapsulator and crypto.Decapsulator.

import (
	"crypto"
	"crypto/hpke"
	"crypto/mlkem"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

func TestCryptoAdapters(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		ekBytes := dk.EncapsulationKey().Bytes()

		var enc crypto.Encapsulator = kem.CryptoEncapsulator(dk.EncapsulationKey())
		require.Equal(t, ekBytes, enc.Bytes())
		k, c := enc.Encapsulate()
		got, err := dk.Decapsulate(c)
		require.NoError(t, err)
		require.Equal(t, k, got)

		var dec crypto.Decapsulator = kem.CryptoDecapsulator(dk)
		require.Equal(t, ekBytes, dec.Encapsulator().Bytes())
		k, c = dec.Encapsulator().Encapsulate()
		got, err = dec.Decapsulate(c)
		require.NoError(t, err)
		require.Equal(t, k, got)

		// crypto/mlkem's own key types where crypto/hpke wants them.
		switch s.Name() {
		case kem.MLKEM768:
			require.IsType(t, (*mlkem.EncapsulationKey768)(nil), dec.Encapsulator())
		case kem.MLKEM1024:
			require.IsType(t, (*mlkem.EncapsulationKey1024)(nil), dec.Encapsulator())
		}
		_, isStd768 := dec.Encapsulator().(*mlkem.EncapsulationKey768)
		_, isStd1024 := dec.Encapsulator().(*mlkem.EncapsulationKey1024)
		require.Equal(t, s.Name() == kem.MLKEM768 || s.Name() == kem.MLKEM1024, isStd768 || isStd1024)

		// crypto/hpke's ML-KEM KEMs take the adapter for ML-KEM-768 and -1024.
		sk, err := hpke.NewMLKEMPrivateKey(dec)
		if isStd768 || isStd1024 {
			require.NoError(t, err)
			pub, err := sk.KEM().NewPublicKey(ekBytes)
			require.NoError(t, err)
			sealed, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES128GCM(), nil, []byte("ML-KEM"))
			require.NoError(t, err)
			opened, err := hpke.Open(sk, hpke.HKDFSHA256(), hpke.AES128GCM(), nil, sealed)
			require.NoError(t, err)
			require.Equal(t, "ML-KEM", string(opened))
		} else {
			require.Error(t, err)
		}

		// The adapter decapsulates on dk itself.
		dk.Destroy()
		_, err = dec.Decapsulate(c)
		require.ErrorIs(t, err, kem.ErrDestroyed)
	})
}

// failingEK is an EncapsulationKey whose Encapsulate fails, as a backend's
// can only on an internal failure.
type failingEK struct{ kem.EncapsulationKey }

var errInside = errors.New("failure inside the backend")

func (failingEK) Encapsulate() ([]byte, []byte, error) { return nil, nil, errInside }

// TestCryptoEncapsulatorPanics: crypto.Encapsulator cannot return an error,
// so a failing Encapsulate panics, saying why, rather than returning nothing.
func TestCryptoEncapsulatorPanics(t *testing.T) {
	s, err := kem.Lookup(kem.XWing, kem.BackendCircl)
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	enc := kem.CryptoEncapsulator(failingEK{dk.EncapsulationKey()})
	require.Equal(t, dk.EncapsulationKey().Bytes(), enc.Bytes())
	require.PanicsWithValue(t, "kem: Encapsulate failed, which crypto.Encapsulator cannot report: "+errInside.Error(), func() { enc.Encapsulate() })
}
