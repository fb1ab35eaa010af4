//go:build unix

package identity

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A FIFO is refused before it is opened (opening it would block).
func TestReadPrivateKeyFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo.key")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	_, err := ReadPrivateKeyFile(path)
	require.ErrorContains(t, err, "is not a regular file")
}
