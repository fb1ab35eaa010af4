//go:build !liboqs

package oqs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/oqs"
)

// Without the liboqs build tag, every call says liboqs is not compiled in.

func TestStubNotCompiled(t *testing.T) {
	assert.False(t, oqs.Compiled)
	assert.Empty(t, oqs.LiboqsVersion())
	assert.Nil(t, oqs.EnabledKEMs())
	assert.False(t, oqs.IsKEMEnabled("ML-KEM-768"))
	assert.Zero(t, oqs.LiveSecretKeys())
	require.ErrorIs(t, oqs.Init(), oqs.ErrNotCompiled)

	k, err := oqs.NewKEM("ML-KEM-768")
	require.ErrorIs(t, err, oqs.ErrNotCompiled)
	require.Nil(t, k)
	assert.Contains(t, err.Error(), "liboqs is not compiled in")
	assert.Contains(t, err.Error(), "without the liboqs build tag")
	assert.NotContains(t, err.Error(), "make", "what to run is the CLI's hint, not the library's error")
}

func TestStubMethods(t *testing.T) {
	// NewKEM never returns a KeyEncapsulation here, but a nil or zero one
	// must still answer every method without panicking.
	for _, k := range []*oqs.KeyEncapsulation{nil, {}} {
		assert.Equal(t, oqs.Details{}, k.Details())
		_, err := k.GenerateKeyPair()
		require.ErrorIs(t, err, oqs.ErrNotCompiled)
		_, err = k.GenerateKeyPairDerand(make([]byte, 64))
		require.ErrorIs(t, err, oqs.ErrNotCompiled)
		require.ErrorIs(t, k.ImportSecretKey(make([]byte, 2400)), oqs.ErrNotCompiled)
		_, err = k.ExportSecretKey()
		require.ErrorIs(t, err, oqs.ErrNotCompiled)
		_, err = k.ExportSeed()
		require.ErrorIs(t, err, oqs.ErrNotCompiled)
		_, _, err = k.EncapSecret(make([]byte, 1184))
		require.ErrorIs(t, err, oqs.ErrNotCompiled)
		_, _, err = k.EncapSecretDerand(make([]byte, 1184), make([]byte, 32))
		require.ErrorIs(t, err, oqs.ErrNotCompiled)
		_, err = k.DecapSecret(make([]byte, 1088))
		require.ErrorIs(t, err, oqs.ErrNotCompiled)
		require.NoError(t, k.Close())
	}
}
