//go:build unix

package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// readKeyWithin runs ReadPrivateKeyFile(path) and fails the test if it has
// not returned within d. A call that blocks opening a FIFO is released by
// release (which opens the FIFOs for writing), so the test never hangs.
func readKeyWithin(t *testing.T, path string, d time.Duration, release func()) (*PrivateKey, error, bool) {
	t.Helper()
	type result struct {
		k   *PrivateKey
		err error
	}
	done := make(chan result, 1)
	go func() {
		k, err := ReadPrivateKeyFile(path)
		done <- result{k, err}
	}()
	select {
	case r := <-done:
		return r.k, r.err, true
	case <-time.After(d):
		for {
			release()
			select {
			case <-done:
				return nil, nil, false
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// releaseFIFOs opens each FIFO for writing without blocking, which lets a
// reader blocked in open go on (it then reads an empty file).
func releaseFIFOs(paths ...string) func() {
	return func() {
		for _, p := range paths {
			if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
	}
}

// A FIFO is refused without blocking.
func TestReadPrivateKeyFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo.key")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	_, err, ok := readKeyWithin(t, path, 10*time.Second, releaseFIFOs(path))
	require.True(t, ok, "ReadPrivateKeyFile blocked opening a FIFO")
	require.ErrorIs(t, err, ErrKeyFileNotRegular)
	assert.ErrorContains(t, err, path+" is a FIFO (named pipe), not a regular file")
}

// A FIFO swapped in for the key file while it is being read never makes
// ReadPrivateKeyFile block: it checks the file it opened (with O_NONBLOCK),
// not the path before opening it.
func TestReadPrivateKeyFileFIFOSwappedIn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.key")
	data, err := MarshalPrivateKeyPEM(kem.MLKEM768, randomSeed(t, kem.MLKEM768))
	require.NoError(t, err)

	var (
		mu    sync.Mutex
		fifos []string
	)
	release := func() {
		mu.Lock()
		defer mu.Unlock()
		releaseFIFOs(fifos...)()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		// Swap a regular key file and a FIFO at path, as fast as possible.
		// Every FIFO keeps a name of its own, so that release can reach it.
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			reg := filepath.Join(dir, fmt.Sprintf("reg-%d", i))
			if err := os.WriteFile(reg, data, 0o600); err != nil {
				t.Error(err)
				return
			}
			if err := os.Rename(reg, path); err != nil {
				t.Error(err)
				return
			}
			fifo := filepath.Join(dir, fmt.Sprintf("fifo-%d", i))
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			fifos = append(fifos, fifo)
			mu.Unlock()
			if err := os.Link(fifo, path+".new"); err != nil {
				t.Error(err)
				return
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Error(err)
				return
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()

	deadline := time.Now().Add(500 * time.Millisecond)
	loaded, refused := 0, 0
	for time.Now().Before(deadline) {
		k, err, ok := readKeyWithin(t, path, 5*time.Second, release)
		require.True(t, ok, "ReadPrivateKeyFile blocked on a FIFO swapped in for the key file (after %d reads)", loaded+refused)
		switch {
		case err == nil:
			k.Wipe()
			loaded++
		case errors.Is(err, ErrKeyFileNotRegular), strings.Contains(err.Error(), "not a regular file"), errors.Is(err, os.ErrNotExist):
			refused++
		default:
			require.NoError(t, err)
		}
	}
	t.Logf("%d reads loaded the key, %d met the FIFO", loaded, refused)
}

func TestReadPrivateKeyFileSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.key")
	require.NoError(t, WritePrivateKeyFile(target, kem.MLKEM512, randomSeed(t, kem.MLKEM512)))
	link := filepath.Join(dir, "link.key")
	require.NoError(t, os.Symlink(target, link))
	_, err := ReadPrivateKeyFile(link)
	require.ErrorIs(t, err, ErrKeyFileNotRegular)
	assert.ErrorContains(t, err, link+" is a symbolic link, which is not followed")
	_, err = ReadPrivateKeyFile(target)
	require.NoError(t, err)
}

func TestReadPrivateKeyFileOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.key")
	require.NoError(t, WritePrivateKeyFile(path, kem.MLKEM512, randomSeed(t, kem.MLKEM512)))
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: TestReadPrivateKeyFileOwner needs root to give a file to another uid; the owner check is NOT tested in this run")
	}
	const other = 4242
	require.NoError(t, os.Chown(path, other, other))
	_, err := ReadPrivateKeyFile(path)
	require.ErrorIs(t, err, ErrKeyFileOwner)
	assert.ErrorContains(t, err, fmt.Sprintf("%s is owned by uid %d, but this process runs as uid 0", path, other))

	// Root's own files are accepted, as ssh accepts them.
	require.NoError(t, os.Chown(path, 0, 0))
	_, err = ReadPrivateKeyFile(path)
	require.NoError(t, err)
}

// A FIFO named as an authorized-keys file is refused without blocking.
func TestLoadAuthorizedKeysFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authorized_keys")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	done := make(chan error, 1)
	go func() {
		_, err := LoadAuthorizedKeys(path)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrAuthorizedKeysFile)
		assert.ErrorContains(t, err, "it is a FIFO (named pipe), not a regular file")
	case <-time.After(10 * time.Second):
		releaseFIFOs(path)()
		<-done
		t.Fatal("LoadAuthorizedKeys blocked opening a FIFO")
	}
}

// A FIFO named as the known-hosts file is refused without blocking, by
// LoadKnownHosts and by Add.
func TestKnownHostsFIFO(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "known_hosts")
	h, err := LoadKnownHosts(path)
	require.NoError(t, err)
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	for name, call := range map[string]func() error{
		"load": func() error { _, err := LoadKnownHosts(path); return err },
		"add":  func() error { return h.Add("a.example:1", kem.MLKEM768, newTestKey(t, kem.MLKEM768).ek) },
	} {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrKnownHostsFile, name)
			assert.ErrorContains(t, err, "it is a FIFO (named pipe), not a regular file", name)
		case <-time.After(10 * time.Second):
			releaseFIFOs(path)()
			<-done
			t.Fatalf("%s blocked opening a FIFO", name)
		}
	}
}

// statInfo is an fs.FileInfo of a given owner and mode.
type statInfo struct {
	fs.FileInfo
	uid  uint32
	mode fs.FileMode
}

func (s statInfo) Mode() fs.FileMode { return s.mode }
func (s statInfo) Sys() any          { return &syscall.Stat_t{Uid: s.uid} }

// TestKeyFileModeRule: a key of the current user must be 0600 or
// stricter; a key of root, read by another user, may also be readable by
// its group (0640, 0440: Kubernetes Secrets with an fsGroup, root-managed
// keys), never by others, never group-writable.
func TestKeyFileModeRule(t *testing.T) {
	const user = 1000
	for _, tc := range []struct {
		owner uint32
		euid  int
		mode  fs.FileMode
		ok    bool
	}{
		{user, user, 0o600, true},
		{user, user, 0o400, true},
		{user, user, 0o640, false},
		{user, user, 0o604, false},
		{0, user, 0o640, true},
		{0, user, 0o440, true},
		{0, user, 0o400, true},
		{0, user, 0o660, false},
		{0, user, 0o644, false},
		{0, user, 0o604, false},
		{0, 0, 0o640, false}, // root reading its own key: as strict as anyone
		{0, 0, 0o600, true},
	} {
		err := checkKeyFileModeAs("k", statInfo{uid: tc.owner, mode: tc.mode}, tc.euid)
		if tc.ok {
			assert.NoError(t, err, "%+v", tc)
		} else {
			assert.ErrorIs(t, err, ErrKeyFilePermissions, "%+v", tc)
		}
	}
}
