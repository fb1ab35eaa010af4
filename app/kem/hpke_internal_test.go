package kem

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestXWingKeyExchangerAfterDestroy: the X25519 half that HPKEPrivateKey
// hands to crypto/hpke refuses with ErrDestroyed once its key is destroyed,
// whatever order crypto/hpke uses the two halves in (today it decapsulates
// ML-KEM first, which already fails).
func TestXWingKeyExchangerAfterDestroy(t *testing.T) {
	s, err := Lookup(XWing, BackendCircl)
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	k := dk.(*xwingDecapsulationKey)
	kx := xwingKeyExchanger{k}
	require.Equal(t, ecdh.X25519(), kx.Curve())
	require.Equal(t, dk.EncapsulationKey().Bytes()[mlkem768EKSize:], kx.PublicKey().Bytes())

	peer, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	want, err := peer.ECDH(kx.PublicKey())
	require.NoError(t, err)
	got, err := kx.ECDH(peer.PublicKey())
	require.NoError(t, err)
	require.Equal(t, want, got)

	dk.Destroy()
	require.NotPanics(t, func() { got, err = kx.ECDH(peer.PublicKey()) })
	require.ErrorIs(t, err, ErrDestroyed)
	require.Nil(t, got)
	require.Equal(t, dk.EncapsulationKey().Bytes()[mlkem768EKSize:], kx.PublicKey().Bytes(), "the public half stays")
}
