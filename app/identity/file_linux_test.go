package identity

import (
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// TestWritePrivateKeyFileWriteFails: a key file that cannot be written whole
// (here the file size limit, RLIMIT_FSIZE, as a full disk would) is an error,
// and no partial file is left behind.
func TestWritePrivateKeyFileWriteFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id")
	seed := randomSeed(t, kem.MLKEM768)
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit then fails with EFBIG
	defer signal.Reset(syscall.SIGXFSZ)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 16, Max: old.Max}))
	err := WritePrivateKeyFile(path, kem.MLKEM768, seed)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))

	require.ErrorIs(t, err, syscall.EFBIG)
	require.ErrorContains(t, err, "private key: writing "+path)
	_, err = os.Lstat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "the partial file is removed")
}
