package identity

import (
	"bufio"
	"bytes"
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

// testKey is an ek and its fingerprint.
type testKey struct {
	alg string
	ek  []byte
	fp  string
}

func newTestKey(t testing.TB, alg string) testKey {
	_, ek := keyMaterial(t, alg, randomSeed(t, alg))
	return testKey{alg, ek, Fingerprint(ek)}
}

func TestKnownHostsTOFU(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf", "kemtcp", "known_hosts")
	setConfigDir(t, filepath.Join(dir, "conf"))
	k := newTestKey(t, kem.MLKEM768)

	h, err := LoadDefaultKnownHosts()
	require.NoError(t, err, "a missing file is an empty list")
	assert.Equal(t, 0, h.Len())
	assert.Equal(t, path, h.Path())

	res, err := h.Check("Example.COM:9000", "768", k.ek)
	require.NoError(t, err)
	assert.Equal(t, Unknown, res)

	require.NoError(t, h.Add("Example.COM:9000", "768", k.ek))
	res, err = h.Check("example.com:9000", kem.MLKEM768, k.ek)
	require.NoError(t, err)
	assert.Equal(t, Known, res)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "example.com:9000 ML-KEM-768 "+k.fp+"\n", string(data))
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
		di, err := os.Stat(filepath.Dir(path))
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o700), di.Mode().Perm())
	}

	// Adding it again changes nothing.
	require.NoError(t, h.Add("example.com:09000", kem.MLKEM768, k.ek))
	data2, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, data, data2)

	// Another client loads the file and knows the host.
	h2, err := LoadKnownHosts(path)
	require.NoError(t, err)
	res, err = h2.Check("EXAMPLE.com:9000", "mlkem768", k.ek)
	require.NoError(t, err)
	assert.Equal(t, Known, res)
	res, err = h2.Check("example.com:9001", kem.MLKEM768, k.ek)
	require.NoError(t, err)
	assert.Equal(t, Unknown, res, "another port is another server")
}

func TestKnownHostsChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	old := newTestKey(t, kem.MLKEM768)
	other := newTestKey(t, kem.MLKEM768)
	other1024 := newTestKey(t, kem.MLKEM1024)
	content := "# my servers\n\n" +
		"10.0.0.1:9000 ML-KEM-1024 " + other1024.fp + "\n" +
		"[2001:db8::1]:9000 ML-KEM-768 " + old.fp + "  # lab\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	h, err := LoadKnownHosts(path)
	require.NoError(t, err)
	require.Equal(t, 2, h.Len())

	res, err := h.Check("[2001:DB8:0::1]:9000", kem.MLKEM768, old.ek)
	require.NoError(t, err)
	assert.Equal(t, Known, res)

	t.Run("key", func(t *testing.T) {
		res, err := h.Check("[2001:db8::1]:9000", kem.MLKEM768, other.ek)
		assert.Equal(t, Changed, res)
		require.ErrorIs(t, err, ErrHostKeyChanged)
		var ce *HostKeyChangedError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, HostKeyChangedError{
			Addr: "[2001:db8::1]:9000", Path: path, Line: 4,
			OldKEM: kem.MLKEM768, OldFingerprint: old.fp,
			NewKEM: kem.MLKEM768, NewFingerprint: other.fp,
		}, *ce)
		msg := err.Error()
		for _, want := range []string{
			"REMOTE HOST IDENTIFICATION HAS CHANGED",
			"[2001:db8::1]:9000",
			path + ":4",
			"ML-KEM-768 " + old.fp,
			"ML-KEM-768 " + other.fp,
			"remove line 4 from " + path,
		} {
			assert.Contains(t, msg, want)
		}
		assert.NotContains(t, msg, "the KEM changed")
	})

	t.Run("KEM", func(t *testing.T) {
		res, err := h.Check("10.0.0.1:9000", kem.MLKEM768, old.ek)
		assert.Equal(t, Changed, res)
		require.ErrorIs(t, err, ErrHostKeyChanged)
		msg := err.Error()
		assert.Contains(t, msg, path+":3")
		assert.Contains(t, msg, "ML-KEM-1024 "+other1024.fp)
		assert.Contains(t, msg, "ML-KEM-768 "+old.fp)
		assert.Contains(t, msg, "the KEM changed too: ML-KEM-1024, now ML-KEM-768")
	})

	t.Run("add refused", func(t *testing.T) {
		err := h.Add("[2001:db8::1]:9000", kem.MLKEM768, other.ek)
		require.ErrorIs(t, err, ErrHostKeyChanged)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, content, string(data))
	})

	t.Run("entry added by this process", func(t *testing.T) {
		k := newTestKey(t, kem.MLKEM512)
		require.NoError(t, h.Add("new.example:1", kem.MLKEM512, k.ek))
		_, err := h.Check("new.example:1", kem.MLKEM512, other1024.ek)
		require.ErrorIs(t, err, ErrHostKeyChanged)
		assert.Contains(t, err.Error(), "remove the line for new.example:1 from "+path)
	})
}

func TestKnownHostsDuplicates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	a := newTestKey(t, kem.MLKEM768)
	b := newTestKey(t, kem.MLKEM768)
	same := "h:1 ML-KEM-768 " + a.fp + "\nH:1 768 " + a.fp + "\n"
	require.NoError(t, os.WriteFile(path, []byte(same+"g:1 ML-KEM-768 "+a.fp+"\ng:1 ML-KEM-768 "+b.fp+"\n"), 0o600))
	h, err := LoadKnownHosts(path)
	require.NoError(t, err)

	res, err := h.Check("h:1", kem.MLKEM768, a.ek)
	require.NoError(t, err, "agreeing duplicates are harmless")
	assert.Equal(t, Known, res)

	// Disagreeing duplicates: whichever key the server presents, one line
	// disagrees, and the error names it.
	_, err = h.Check("g:1", kem.MLKEM768, a.ek)
	require.ErrorIs(t, err, ErrHostKeyChanged)
	assert.Contains(t, err.Error(), path+":4")
	_, err = h.Check("g:1", kem.MLKEM768, b.ek)
	require.ErrorIs(t, err, ErrHostKeyChanged)
	assert.Contains(t, err.Error(), path+":3")
}

func TestKnownHostsSyntax(t *testing.T) {
	k := newTestKey(t, kem.MLKEM768)
	good := "example.com:9000 ML-KEM-768 " + k.fp

	t.Run("accepted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_hosts")
		content := "# comment\n" +
			"   # indented comment\n" +
			"\n   \t\n" +
			"a.example:1\tML-KEM-768\t" + k.fp + "\r\n" +
			"  b.example:2   768   " + k.fp + "   # trailing comment with # and spaces\n" +
			"c.example:3 mlkem768 " + k.fp + " #\n" +
			"[::1]:4 ML-KEM-768 " + k.fp // no final newline
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		h, err := LoadKnownHosts(path)
		require.NoError(t, err)
		assert.Equal(t, 4, h.Len())
		for _, addr := range []string{"a.example:1", "b.example:2", "c.example:3", "[::1]:4"} {
			res, err := h.Check(addr, kem.MLKEM768, k.ek)
			require.NoError(t, err)
			assert.Equal(t, Known, res, addr)
		}
		assert.Equal(t, "a.example:1 ML-KEM-768 "+k.fp+"\nb.example:2 ML-KEM-768 "+k.fp+"\n"+
			"c.example:3 ML-KEM-768 "+k.fp+"\n[::1]:4 ML-KEM-768 "+k.fp+"\n", string(h.marshal()))

		// Add after a last line without a newline starts a new line.
		require.NoError(t, h.Add("d.example:5", kem.MLKEM768, k.ek))
		h2, err := LoadKnownHosts(path)
		require.NoError(t, err)
		assert.Equal(t, 5, h2.Len())
	})

	for _, tc := range []struct{ name, line, want string }{
		{"one field", "example.com:9000", "found 1 fields"},
		{"two fields", "example.com:9000 ML-KEM-768", "found 2 fields"},
		{"four fields", good + " extra", "found 4 fields"},
		{"no port", "example.com ML-KEM-768 " + k.fp, "has no port"},
		{"empty port", "example.com: ML-KEM-768 " + k.fp, `port "" is not a number`},
		{"port zero", "example.com:0 ML-KEM-768 " + k.fp, `port "0" is not a number from 1 to 65535`},
		{"port too big", "example.com:65536 ML-KEM-768 " + k.fp, `port "65536"`},
		{"port name", "example.com:https ML-KEM-768 " + k.fp, `port "https"`},
		{"bare IPv6", "2001:db8::1:9000 ML-KEM-768 " + k.fp, "write an IPv6 address in brackets"},
		{"unknown KEM", "example.com:9000 ML-KEM-769 " + k.fp, `unknown KEM algorithm "ML-KEM-769"`},
		{"ssh key type", "example.com:9000 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG", `unknown KEM algorithm "ssh-ed25519"`},
		{"hashed ssh host", "|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ML-KEM-768 " + k.fp, "address"},
		{"no prefix", "example.com:9000 ML-KEM-768 " + strings.TrimPrefix(k.fp, "SHA256:"), "malformed fingerprint"},
		{"MD5", "example.com:9000 ML-KEM-768 MD5:" + strings.TrimPrefix(k.fp, "SHA256:"), "malformed fingerprint"},
		{"padded", "example.com:9000 ML-KEM-768 " + k.fp + "=", "remove the trailing '='"},
		{"short fingerprint", "example.com:9000 ML-KEM-768 " + k.fp[:40], "malformed fingerprint"},
		{"bad base64", "example.com:9000 ML-KEM-768 SHA256:" + strings.Repeat("*", 43), "not valid base64"},
		{"invalid UTF-8", "example.com:9000 ML-KEM-768 " + k.fp + " # \xff", "not valid UTF-8"},
		{"control char", "exa\x01mple.com:9000 ML-KEM-768 " + k.fp, "the host has the character"},
		{"long line", good + " #" + strings.Repeat("x", 5000), "line longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "known_hosts")
			content := "# header\n" + good + "\n\n" + tc.line + "\n" + good + "\n"
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			h, err := LoadKnownHosts(path)
			require.ErrorIs(t, err, ErrMalformedKnownHosts)
			assert.NotErrorIs(t, err, ErrKnownHostsFile)
			assert.NotErrorIs(t, err, ErrHostKeyChanged)
			var se *KnownHostsSyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, path, se.Path)
			assert.Equal(t, 4, se.Line)
			assert.Nil(t, h)
			msg := err.Error()
			assert.Contains(t, msg, path+":4: ")
			assert.Contains(t, msg, tc.want)
			if tc.name != "long line" {
				assert.Contains(t, msg, fmt.Sprintf("%q", tc.line))
			}
		})
	}
}

func TestKnownHostsUnreadable(t *testing.T) {
	dir := t.TempDir()

	_, err := LoadKnownHosts(dir)
	require.ErrorIs(t, err, ErrKnownHostsFile)
	require.EqualError(t, err, "cannot read the known-hosts file "+dir+": it is a directory")

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = LoadKnownHosts(filepath.Join(file, "known_hosts"))
	require.Error(t, err, "a path through a file is an error, not a missing file")

	_, err = LoadKnownHosts("")
	require.Error(t, err)

	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		locked := filepath.Join(dir, "locked")
		require.NoError(t, os.WriteFile(locked, []byte("a:1 768 "+Fingerprint(nil)+"\n"), 0o000))
		_, err = LoadKnownHosts(locked)
		require.ErrorIs(t, err, fs.ErrPermission)
	}

	// Add reports a file it cannot write.
	h, err := LoadKnownHosts(filepath.Join(file, "sub", "known_hosts"))
	if err == nil {
		err = h.Add("a:1", kem.MLKEM768, newTestKey(t, kem.MLKEM768).ek)
	}
	require.Error(t, err)
}

func TestKnownHostsBadInput(t *testing.T) {
	h, err := LoadKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	require.NoError(t, err)
	k := newTestKey(t, kem.MLKEM768)
	_, err = h.Check("nohost", kem.MLKEM768, k.ek)
	require.ErrorContains(t, err, "has no port")
	_, err = h.Check("a:1", "RSA", k.ek)
	require.ErrorContains(t, err, `unknown KEM algorithm "RSA"`)
	require.ErrorContains(t, h.Add("a:1", kem.MLKEM1024, k.ek), "ML-KEM-1024 encapsulation key is 1184 bytes, want 1568")
	require.ErrorContains(t, h.Add("a", kem.MLKEM768, k.ek), "has no port")
	assert.Equal(t, 0, h.Len())
	_, err = os.Stat(h.Path())
	require.ErrorIs(t, err, fs.ErrNotExist, "nothing written")
}

// TestKnownHostsConcurrentAdd: many clients (separate KnownHosts, as
// separate processes would have) and many goroutines of one client append
// at once; every line stays intact.
func TestKnownHostsConcurrentAdd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	const clients, perClient = 16, 8
	k := newTestKey(t, kem.MLKEM768)
	shared, err := LoadKnownHosts(path)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 2*clients*perClient)
	for c := range clients {
		wg.Go(func() {
			h, err := LoadKnownHosts(path)
			if err != nil {
				errs <- err
				return
			}
			for i := range perClient {
				errs <- h.Add(fmt.Sprintf("host-%d-%d.example:9000", c, i), kem.MLKEM768, k.ek)
			}
		})
		wg.Go(func() {
			for i := range perClient {
				errs <- shared.Add(fmt.Sprintf("shared-%d-%d.example:9000", c, i), kem.MLKEM768, k.ek)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		assert.Regexp(t, `^(host|shared)-\d+-\d+\.example:9000 ML-KEM-768 `+regexp.QuoteMeta(k.fp)+`$`, sc.Text())
	}
	assert.Equal(t, 2*clients*perClient, n)

	h, err := LoadKnownHosts(path)
	require.NoError(t, err)
	assert.Equal(t, 2*clients*perClient, h.Len())
	assert.Equal(t, clients*perClient, shared.Len(), "the shared KnownHosts sees its own additions")
}

func TestNormalizeAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"example.com:9000", "example.com:9000"},
		{"EXAMPLE.Com:9000", "example.com:9000"},
		{"example.com:09000", "example.com:9000"},
		{"localhost:1", "localhost:1"},
		{"127.0.0.1:65535", "127.0.0.1:65535"},
		{"[::1]:9000", "[::1]:9000"},
		{"[2001:DB8:0:0:0:0:0:1]:9000", "[2001:db8::1]:9000"},
		{"[fe80::1%eth0]:9000", "[fe80::1%eth0]:9000"},
		{"[::ffff:192.0.2.1]:9000", "[::ffff:192.0.2.1]:9000"},
		{"[example.com]:9000", "example.com:9000"},
		{":9000", ":9000"},
		{"xn--bcher-kva.example:1", "xn--bcher-kva.example:1"},
	} {
		got, err := NormalizeAddr(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		again, err := NormalizeAddr(got)
		require.NoError(t, err)
		assert.Equal(t, got, again, "idempotent")
	}
	for _, tc := range []struct{ in, want string }{
		{"example.com", "has no port"},
		{"", "has no port"},
		{"2001:db8::1", "write an IPv6 address in brackets"},
		{"2001:db8::1:9000", "write an IPv6 address in brackets"},
		{"example.com:", `port "" is not a number`},
		{"example.com:0", `port "0"`},
		{"example.com:-1", `port "-1"`},
		{"example.com:+80", `port "+80"`},
		{"example.com:65536", `port "65536"`},
		{"example.com:http", `port "http"`},
		{"exa mple.com:1", "the host has the character ' '"},
		{"a#b:1", "the host has the character '#'"},
		{"[a:b]:1", "neither an IP address nor a host name"},
		{"[::1]", "has no port"},
		{"[::1:80", "missing ']'"},
	} {
		_, err := NormalizeAddr(tc.in)
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want, tc.in)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", tc.in))
	}
}

func TestDefaultKnownHostsPath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG_CONFIG_HOME is used on Linux")
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	p, err := DefaultKnownHostsPath()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "kemtcp", "known_hosts"), p)

	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "")
	_, err = DefaultKnownHostsPath()
	require.ErrorContains(t, err, "known hosts: no default location: ")
}

func TestResultString(t *testing.T) {
	assert.Equal(t, "unknown", Unknown.String())
	assert.Equal(t, "known", Known.String())
	assert.Equal(t, "changed", Changed.String())
	assert.Equal(t, "Result(7)", Result(7).String())
}

// setConfigDir makes dir the user's configuration directory
// (os.UserConfigDir) for the test.
func setConfigDir(t *testing.T, dir string) {
	t.Helper()
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		t.Skip("the configuration directory is set through XDG_CONFIG_HOME on Unix only")
	}
	t.Setenv("XDG_CONFIG_HOME", dir)
}
