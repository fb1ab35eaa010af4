package identity

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

func TestWriteReadPrivateKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.key")
	seed := randomSeed(t, kem.MLKEM768)

	require.NoError(t, WritePrivateKeyFile(path, "768", seed))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	}
	written, err := os.ReadFile(path)
	require.NoError(t, err)
	want, err := MarshalPrivateKeyPEM(kem.MLKEM768, seed)
	require.NoError(t, err)
	assert.Equal(t, want, written)

	k, err := ReadPrivateKeyFile(path)
	require.NoError(t, err)
	assert.Equal(t, &PrivateKey{Algorithm: kem.MLKEM768, Seed: seed, Form: FormSeed}, k)

	// Never overwrite: not with another key, not with the same one.
	err = WritePrivateKeyFile(path, kem.MLKEM1024, randomSeed(t, kem.MLKEM1024))
	require.ErrorIs(t, err, fs.ErrExist)
	assert.Contains(t, err.Error(), "refusing to overwrite "+path)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, written, after)

	// Not through a dangling symbolic link either.
	if runtime.GOOS != "windows" {
		link := filepath.Join(dir, "link.key")
		require.NoError(t, os.Symlink(filepath.Join(dir, "target.key"), link))
		require.ErrorIs(t, WritePrivateKeyFile(link, kem.MLKEM768, seed), fs.ErrExist)
		_, err := os.Lstat(filepath.Join(dir, "target.key"))
		require.ErrorIs(t, err, fs.ErrNotExist)
	}

	// Bad inputs write nothing.
	bad := filepath.Join(dir, "bad.key")
	require.Error(t, WritePrivateKeyFile(bad, kem.MLKEM768, seed[:10]))
	require.Error(t, WritePrivateKeyFile(bad, "ML-KEM-9", seed))
	_, err = os.Stat(bad)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Error(t, WritePrivateKeyFile(filepath.Join(dir, "missing", "x.key"), kem.MLKEM768, seed))
}

func TestReadPrivateKeyFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no Unix permissions")
	}
	seed := randomSeed(t, kem.MLKEM512)
	data, err := MarshalPrivateKeyPEM(kem.MLKEM512, seed)
	require.NoError(t, err)
	dir := t.TempDir()
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o700, 0o611, 0o777} {
		if mode&0o077 == 0 {
			continue
		}
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(dir, "k"+mode.String())
			require.NoError(t, os.WriteFile(path, data, 0o600))
			require.NoError(t, os.Chmod(path, mode))
			k, err := ReadPrivateKeyFile(path)
			require.ErrorIs(t, err, ErrKeyFilePermissions)
			assert.Nil(t, k)
			assert.Contains(t, err.Error(), "chmod 600 "+path)
			assert.Contains(t, err.Error(), fmt.Sprintf("has mode %04o", uint32(mode)))
		})
	}
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(dir, "ok"+mode.String())
			require.NoError(t, os.WriteFile(path, data, 0o600))
			require.NoError(t, os.Chmod(path, mode))
			k, err := ReadPrivateKeyFile(path)
			require.NoError(t, err)
			assert.Equal(t, seed, k.Seed)
		})
	}

	// The hint can be pasted into a shell even for awkward names.
	odd := filepath.Join(dir, "my key's file")
	require.NoError(t, os.WriteFile(odd, data, 0o644))
	require.NoError(t, os.Chmod(odd, 0o644))
	_, err = ReadPrivateKeyFile(odd)
	require.ErrorIs(t, err, ErrKeyFilePermissions)
	assert.Contains(t, err.Error(), `chmod 600 '`+strings.ReplaceAll(odd, "'", `'\''`)+`'`)
}

func TestReadPrivateKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadPrivateKeyFile(filepath.Join(dir, "missing.key"))
	require.ErrorIs(t, err, fs.ErrNotExist)

	_, err = ReadPrivateKeyFile(dir)
	require.ErrorContains(t, err, "is not a regular file")

	big := filepath.Join(dir, "big.key")
	require.NoError(t, os.WriteFile(big, make([]byte, 70<<10), 0o600))
	_, err = ReadPrivateKeyFile(big)
	require.ErrorContains(t, err, "larger than 64 KiB")

	// A parse error names the file.
	pub := filepath.Join(dir, "server.pub")
	_, ek := keyMaterial(t, kem.MLKEM768, randomSeed(t, kem.MLKEM768))
	pubPEM, err := MarshalPublicKeyPEM(kem.MLKEM768, ek)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pub, pubPEM, 0o600))
	_, err = ReadPrivateKeyFile(pub)
	require.ErrorIs(t, err, ErrMalformedKey)
	assert.Contains(t, err.Error(), pub+": ")
	assert.Contains(t, err.Error(), `"PUBLIC KEY"`)
}
