package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// An explicit path whose directory does not exist is refused at once, and
// nothing is created.
func TestKnownHostsExplicitPathMissingDir(t *testing.T) {
	dir := t.TempDir()
	setConfigDir(t, filepath.Join(dir, "conf"))
	path := filepath.Join(dir, "missing", "sub", "known_hosts")
	_, err := LoadKnownHosts(path)
	require.ErrorIs(t, err, ErrKnownHostsFile)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.EqualError(t, err, "cannot use the known-hosts file "+path+": its directory "+filepath.Dir(path)+" does not exist (it is created only for the default location)")
	_, err = os.Stat(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, fs.ErrNotExist, "no directory created")

	// Nor does Add create it when it has gone since the file was loaded.
	sub := filepath.Join(dir, "gone")
	require.NoError(t, os.Mkdir(sub, 0o700))
	path = filepath.Join(sub, "known_hosts")
	h, err := LoadKnownHosts(path)
	require.NoError(t, err)
	require.NoError(t, os.Remove(sub))
	err = h.Add("a.example:1", kem.MLKEM768, newTestKey(t, kem.MLKEM768).ek)
	require.ErrorIs(t, err, ErrKnownHostsFile)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.NotErrorIs(t, err, ErrHostKeyChanged)
	_, err = os.Stat(sub)
	require.ErrorIs(t, err, fs.ErrNotExist, "no directory created")
	assert.Equal(t, 0, h.Len())
}

// The default location's directory is created, also when the default
// path is named explicitly.
func TestKnownHostsDefaultPathCreatesDir(t *testing.T) {
	dir := t.TempDir()
	setConfigDir(t, filepath.Join(dir, "conf"))
	def, err := DefaultKnownHostsPath()
	require.NoError(t, err)
	k := newTestKey(t, kem.MLKEM768)
	for _, load := range []func() (*KnownHosts, error){
		LoadDefaultKnownHosts,
		func() (*KnownHosts, error) { return LoadKnownHosts(def) },
	} {
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "conf")))
		h, err := load()
		require.NoError(t, err)
		assert.Equal(t, def, h.Path())
		require.NoError(t, h.Add("a.example:1", kem.MLKEM768, k.ek))
		data, err := os.ReadFile(def)
		require.NoError(t, err)
		assert.Equal(t, "a.example:1 ML-KEM-768 "+k.fp+"\n", string(data))
	}
}

// A file that cannot be created reads as a problem of the local file,
// naming it, never as a problem of the server's key.
func TestKnownHostsCannotCreate(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	setConfigDir(t, conf)
	path := filepath.Join(conf, "kemtcp", "known_hosts")
	h, err := LoadDefaultKnownHosts()
	require.NoError(t, err)
	// Something that is not a directory where the directory must go.
	require.NoError(t, os.WriteFile(conf, nil, 0o600))
	err = h.Add("a.example:1", kem.MLKEM768, newTestKey(t, kem.MLKEM768).ek)
	require.ErrorIs(t, err, ErrKnownHostsFile)
	assert.NotErrorIs(t, err, ErrHostKeyChanged)
	assert.Regexp(t, "^"+regexp.QuoteMeta("cannot create the known-hosts file "+path+": mkdir "+conf)+": not a directory$", err.Error())

	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		// As in a container whose HOME is a directory the user cannot write.
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		setConfigDir(t, ro)
		h, err := LoadDefaultKnownHosts()
		require.NoError(t, err)
		err = h.Add("a.example:1", kem.MLKEM768, newTestKey(t, kem.MLKEM768).ek)
		require.ErrorIs(t, err, ErrKnownHostsFile)
		require.ErrorIs(t, err, fs.ErrPermission)
		assert.ErrorContains(t, err, "cannot create the known-hosts file "+filepath.Join(ro, "kemtcp", "known_hosts")+": mkdir ")
	}
}

func TestKnownHostsRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "known_hosts")
	a := newTestKey(t, kem.MLKEM768)
	b := newTestKey(t, kem.MLKEM1024)
	lines := []string{
		"# my servers, kept byte for byte\n",
		"example.com:9000 ML-KEM-768 " + a.fp + "\n",
		"\n",
		"   \t\n",
		"other.example:9000\t768\t" + a.fp + "   # tabs and a comment\r\n",
		"EXAMPLE.com:09000 768 " + a.fp + "  # the same host, spelt otherwise\r\n",
		"  # indented comment naming example.com:9000\n",
		"[2001:db8::1]:9000 ML-KEM-1024 " + b.fp + "\n",
		"example.com:9000 ML-KEM-1024 " + b.fp, // last, no newline
	}
	content := strings.Join(lines, "")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	require.NoError(t, os.Chmod(path, 0o640))
	h, err := LoadKnownHosts(path)
	require.NoError(t, err)
	require.Equal(t, 5, h.Len())

	// Nothing to remove: the file is not touched.
	before, err := os.Stat(path)
	require.NoError(t, err)
	n, err := h.Remove("nothere.example:9000")
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	after, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "not rewritten")

	n, err = h.Remove("Example.COM:9000")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	want := lines[0] + lines[2] + lines[3] + lines[4] + lines[6] + lines[7]
	assert.Equal(t, want, string(data))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, fs.FileMode(0o640), fi.Mode().Perm(), "mode kept")
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	// This KnownHosts and a fresh one agree with the file.
	for _, kh := range []*KnownHosts{h, mustLoad(t, path)} {
		assert.Equal(t, 2, kh.Len())
		res, err := kh.Check("example.com:9000", kem.MLKEM1024, b.ek)
		require.NoError(t, err)
		assert.Equal(t, Unknown, res)
		res, err = kh.Check("other.example:9000", kem.MLKEM768, a.ek)
		require.NoError(t, err)
		assert.Equal(t, Known, res)
	}
	// Line numbers follow the new file.
	_, err = h.Check("[2001:db8::1]:9000", kem.MLKEM768, a.ek)
	require.ErrorIs(t, err, ErrHostKeyChanged)
	assert.Contains(t, err.Error(), path+":6")

	// The host can be added again, on a line of its own.
	require.NoError(t, h.Add("example.com:9000", kem.MLKEM768, a.ek))
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, want+"example.com:9000 ML-KEM-768 "+a.fp+"\n", string(data))

	// Lines it cannot parse are kept too (the file may have been edited
	// since it was loaded).
	require.NoError(t, os.WriteFile(path, []byte("garbage line\nexample.com:9000 ML-KEM-768 "+a.fp+"\n\xff\n"), 0o600))
	n, err = h.Remove("example.com:9000")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "garbage line\n\xff\n", string(data))

	_, err = h.Remove("no port")
	require.ErrorContains(t, err, "has no port")
}

func TestKnownHostsRemoveMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	h, err := LoadKnownHosts(path)
	require.NoError(t, err)
	n, err := h.Remove("a.example:1")
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist, "nothing created")
}

// Adds (by several KnownHosts, as several processes) and removals at once:
// no line added is lost to a removal that rewrote the file, no line is
// broken, and every removed line is gone.
func TestKnownHostsConcurrentAddRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	k := newTestKey(t, kem.MLKEM768)
	const victims, clients, perClient = 30, 6, 10
	var initial strings.Builder
	for i := range victims {
		fmt.Fprintf(&initial, "# victim %d\nvictim-%d.example:1 ML-KEM-768 %s\n", i, i, k.fp)
	}
	require.NoError(t, os.WriteFile(path, []byte(initial.String()), 0o600))

	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient+victims)
	for c := range clients {
		wg.Go(func() {
			h, err := LoadKnownHosts(path)
			if err != nil {
				errs <- err
				return
			}
			for i := range perClient {
				errs <- h.Add(fmt.Sprintf("host-%d-%d.example:1", c, i), kem.MLKEM768, k.ek)
			}
		})
	}
	wg.Go(func() {
		h, err := LoadKnownHosts(path)
		if err != nil {
			errs <- err
			return
		}
		for i := range victims {
			n, err := h.Remove(fmt.Sprintf("victim-%d.example:1", i))
			if err == nil && n != 1 {
				err = fmt.Errorf("removed %d lines for victim %d, want 1", n, i)
			}
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	h := mustLoad(t, path)
	assert.Equal(t, clients*perClient, h.Len())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	for i := range victims {
		assert.Contains(t, string(data), fmt.Sprintf("# victim %d\n", i), "comments are kept")
		assert.NotContains(t, string(data), fmt.Sprintf("victim-%d.example", i))
	}
	for c := range clients {
		for i := range perClient {
			res, err := h.Check(fmt.Sprintf("host-%d-%d.example:1", c, i), kem.MLKEM768, k.ek)
			require.NoError(t, err)
			assert.Equal(t, Known, res, "host-%d-%d lost", c, i)
		}
	}
}

func TestKnownHostsNotRegular(t *testing.T) {
	dir := t.TempDir()
	h, err := LoadKnownHosts(filepath.Join(dir, "known_hosts"))
	require.NoError(t, err)
	require.NoError(t, os.Mkdir(h.Path(), 0o700))
	err = h.Add("a.example:1", kem.MLKEM768, newTestKey(t, kem.MLKEM768).ek)
	require.ErrorIs(t, err, ErrKnownHostsFile)
	assert.ErrorContains(t, err, "cannot create the known-hosts file "+h.Path()+": ")
	_, err = LoadKnownHosts(h.Path())
	require.EqualError(t, err, "cannot read the known-hosts file "+h.Path()+": it is a directory")
	_, err = h.Remove("a.example:1")
	require.ErrorIs(t, err, ErrKnownHostsFile)
	assert.False(t, errors.Is(err, ErrHostKeyChanged))
}

func mustLoad(t *testing.T, path string) *KnownHosts {
	t.Helper()
	h, err := LoadKnownHosts(path)
	require.NoError(t, err)
	return h
}
