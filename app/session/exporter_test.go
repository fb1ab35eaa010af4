package session

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// TestExportKeyingMaterial: both ends export the same bytes; label,
// context and length each change them; another session's differ; a nil
// context is the empty one; too long and before the handshake are errors.
func TestExportKeyingMaterial(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	for _, v1 := range []bool{false, true} {
		cc := *cc
		if v1 {
			v1Client(&cc)
		}
		srv, cli := handshake(t, sc, &cc)
		ss, cs := srv.ConnectionState(), cli.ConnectionState()
		a, err := ss.ExportKeyingMaterial("label", []byte("ctx"), 32)
		require.NoError(t, err)
		b, err := cs.ExportKeyingMaterial("label", []byte("ctx"), 32)
		require.NoError(t, err)
		assert.Equal(t, a, b, "both ends agree (version 1: %v)", v1)
		assert.Len(t, a, 32)
		for _, other := range []func() ([]byte, error){
			func() ([]byte, error) { return cs.ExportKeyingMaterial("label2", []byte("ctx"), 32) },
			func() ([]byte, error) { return cs.ExportKeyingMaterial("label", []byte("ctx2"), 32) },
			func() ([]byte, error) { return cs.ExportKeyingMaterial("label", nil, 32) },
		} {
			c, err := other()
			require.NoError(t, err)
			assert.NotEqual(t, a, c)
		}
		long, err := cs.ExportKeyingMaterial("label", []byte("ctx"), 64)
		require.NoError(t, err)
		assert.False(t, bytes.HasPrefix(long, a), "the length is bound in: no output is a prefix of another")
		e1, _ := cs.ExportKeyingMaterial("label", nil, 16)
		e2, _ := cs.ExportKeyingMaterial("label", []byte{}, 16)
		assert.Equal(t, e1, e2, "nil and empty contexts are the same")
		_, err = cs.ExportKeyingMaterial("label", nil, 8161)
		assert.Error(t, err)

		srv2, _ := handshake(t, sc, &cc)
		d, err := srv2.ConnectionState().ExportKeyingMaterial("label", []byte("ctx"), 32)
		require.NoError(t, err)
		assert.NotEqual(t, a, d, "another session exports other bytes")
	}
	_, err := Client(nil, cc).ConnectionState().ExportKeyingMaterial("x", nil, 1)
	require.ErrorIs(t, err, ErrHandshakeIncomplete)
}
