package legacy

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// TestRecvWipesPlaintext: the plaintext Recv returns is overwritten with
// zeros by the next Recv (whatever it returns) and by Wipe.
func TestRecvWipesPlaintext(t *testing.T) {
	s, err := kem.Lookup(kem.MLKEM768, kem.BackendCircl)
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	msg := func(text string) []byte {
		b, err := Seal(dk.EncapsulationKey(), []byte(text), nil)
		require.NoError(t, err)
		return frame.Append(nil, b.Marshal())
	}
	var in bytes.Buffer
	in.Write(msg("first secret line"))
	in.Write(msg("second secret line"))
	in.Write(frame.Append(nil, []byte("not a pickle")))
	in.Write(msg("third secret line"))
	c, err := Accept(&stream{r: &in}, dk, 0)
	require.NoError(t, err)

	zero := func(p []byte) bool { return len(bytes.Trim(p, "\x00")) == 0 }

	first, err := c.Recv()
	require.NoError(t, err)
	require.Equal(t, "first secret line", string(first))
	second, err := c.Recv()
	require.NoError(t, err)
	require.Equal(t, "second secret line", string(second))
	require.True(t, zero(first), "the first plaintext is wiped by the next Recv: %q", first)

	_, err = c.Recv()
	require.ErrorIs(t, err, ErrMalformed)
	require.True(t, zero(second), "wiped by a Recv that fails too: %q", second)

	third, err := c.Recv()
	require.NoError(t, err)
	require.Equal(t, "third secret line", string(third))
	c.Wipe()
	require.True(t, zero(third), "wiped by Wipe: %q", third)
	c.Wipe() // twice is fine

	third2, err := c.Recv()
	require.Equal(t, io.EOF, err)
	require.Nil(t, third2)
}
