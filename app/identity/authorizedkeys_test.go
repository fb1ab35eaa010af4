package identity

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestParseAuthorizedKeys(t *testing.T) {
	k512 := newTestKey(t, kem.MLKEM512)
	k768 := newTestKey(t, kem.MLKEM768)
	k1024 := newTestKey(t, kem.MLKEM1024)
	other := newTestKey(t, kem.MLKEM768)
	content := "# authorized clients\n" +
		"\n" +
		"   \t\n" +
		"  # indented comment\n" +
		"ML-KEM-512 " + b64(k512.ek) + "\n" + // raw, no comment
		"768\t" + b64(spki(testOIDs[kem.MLKEM768], k768.ek)) + "\t alice@laptop  # büro, 2nd floor \r\n" +
		"mlkem1024   " + b64(k1024.ek) + "   build server" // no final newline
	a, err := ParseAuthorizedKeys(strings.NewReader(content), "authorized_keys")
	require.NoError(t, err)
	require.Equal(t, 3, a.Len())
	assert.Equal(t, []AuthorizedKey{
		{Algorithm: kem.MLKEM512, Key: k512.ek, Fingerprint: k512.fp, Line: 5},
		{Algorithm: kem.MLKEM768, Key: k768.ek, Comment: "alice@laptop  # büro, 2nd floor", Fingerprint: k768.fp, Line: 6},
		{Algorithm: kem.MLKEM1024, Key: k1024.ek, Comment: "build server", Fingerprint: k1024.fp, Line: 7},
	}, a.Keys())

	comment, fp, ok := a.Lookup("ml-kem-768", k768.ek)
	require.True(t, ok)
	assert.Equal(t, "alice@laptop  # büro, 2nd floor", comment)
	assert.Equal(t, k768.fp, fp)
	comment, fp, ok = a.Lookup(kem.MLKEM512, k512.ek)
	require.True(t, ok)
	assert.Equal(t, "", comment)
	assert.Equal(t, k512.fp, fp)
	_, _, ok = a.Lookup(kem.MLKEM768, other.ek)
	assert.False(t, ok, "another key")
	_, _, ok = a.Lookup(kem.MLKEM1024, k768.ek)
	assert.False(t, ok, "another algorithm")
	_, _, ok = a.Lookup("RSA", k768.ek)
	assert.False(t, ok, "an unknown algorithm")

	// Empty input and comments only: no keys, no error.
	for _, in := range []string{"", "\n", "# nothing yet\n\n"} {
		a, err := ParseAuthorizedKeys(strings.NewReader(in), "x")
		require.NoError(t, err)
		assert.Equal(t, 0, a.Len())
	}
}

func TestParseAuthorizedKeysBadLines(t *testing.T) {
	k := newTestKey(t, kem.MLKEM768)
	k1024 := newTestKey(t, kem.MLKEM1024)
	raw := b64(k.ek)
	for _, tc := range []struct{ name, line, want string }{
		{"one field", "ML-KEM-768", `want "ALGORITHM BASE64 [comment]", found "ML-KEM-768" alone`},
		{"unknown algorithm", "ML-KEM-769 " + raw, `unknown KEM algorithm "ML-KEM-769"`},
		{"ssh key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG me@host", `unknown KEM algorithm "ssh-ed25519"`},
		{"bad base64", "ML-KEM-768 " + raw[:10] + "*" + raw[11:], "the ML-KEM-768 key is not valid standard base64"},
		{"unpadded base64", "ML-KEM-768 " + strings.TrimRight(b64(k.ek[:len(k.ek)-1]), "="), "not valid standard base64"},
		{"URL base64", "ML-KEM-768 " + base64.URLEncoding.EncodeToString(append([]byte{0xfb, 0xff}, k.ek...)), "not valid standard base64"},
		{"wrong length", "ML-KEM-768 " + b64(k.ek[:100]), "the ML-KEM-768 key is 100 bytes: neither a raw encapsulation key (1184 bytes) nor a SubjectPublicKeyInfo (DER SEQUENCE)"},
		{"key of another size", "ML-KEM-768 " + b64(k1024.ek), "the ML-KEM-768 key is 1568 bytes: neither a raw encapsulation key (1184 bytes)"},
		{"SPKI of another algorithm", "ML-KEM-768 " + b64(spki(testOIDs[kem.MLKEM1024], k1024.ek)), "the key is an ML-KEM-1024 SubjectPublicKeyInfo, but the line says ML-KEM-768"},
		{"SPKI with trailing data", "ML-KEM-768 " + b64(append(spki(testOIDs[kem.MLKEM768], k.ek), 0)), "trailing data after the SubjectPublicKeyInfo"},
		{"raw key not reduced", "ML-KEM-768 " + b64(notReducedEK(k.ek)), "the ML-KEM-768 key fails its check"},
		{"SPKI key not reduced", "ML-KEM-768 " + b64(spki(testOIDs[kem.MLKEM768], notReducedEK(k.ek))), "modulus check"},
		{"control character", "ML-KEM-768 " + raw + " evil\x1b[2Jcomment", `the comment has the control character '\x1b'`},
		{"control character first", "ML-KEM-768 " + raw + " \x1b[2Jcomment", `the comment has the control character '\x1b'`},
		{"invalid UTF-8", "ML-KEM-768 " + raw + " \xff", "not valid UTF-8"},
		{"long line", "ML-KEM-768 " + raw + " " + strings.Repeat("x", 20000), "line longer than 16384 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := "# clients\n" + "ML-KEM-1024 " + b64(k1024.ek) + " good\n\n" + tc.line + "\n"
			a, err := ParseAuthorizedKeys(strings.NewReader(content), "ak")
			require.Nil(t, a, "a file with a bad line is refused as a whole")
			require.ErrorIs(t, err, ErrMalformedAuthorizedKeys)
			var ae *AuthorizedKeysError
			require.ErrorAs(t, err, &ae)
			require.Len(t, ae.Lines, 1)
			assert.Equal(t, 4, ae.Lines[0].Line)
			assert.Contains(t, err.Error(), "ak:4: ")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// Every bad line is reported, with its number; a duplicate key (in either
// form) is a bad line naming the first.
func TestParseAuthorizedKeysAllBadLines(t *testing.T) {
	k := newTestKey(t, kem.MLKEM768)
	content := strings.Join([]string{
		"ML-KEM-768 " + b64(k.ek) + " first", // 1
		"nonsense",                           // 2
		"# fine",                             // 3
		"ML-KEM-768 " + b64(spki(testOIDs[kem.MLKEM768], k.ek)) + " again", // 4: duplicate
		"ML-KEM-9 AAAA",    // 5
		"",                 // 6
		"768 " + b64(k.ek), // 7: duplicate
	}, "\n")
	_, err := ParseAuthorizedKeys(strings.NewReader(content), "ak")
	var ae *AuthorizedKeysError
	require.ErrorAs(t, err, &ae)
	var lines []int
	for _, l := range ae.Lines {
		lines = append(lines, l.Line)
	}
	assert.Equal(t, []int{2, 4, 5, 7}, lines)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "malformed authorized-keys file ak: 4 bad lines\n  ak:2: "), msg)
	assert.Contains(t, msg, "\n  ak:4: the same ML-KEM-768 key "+k.fp+" as line 1; list a key once")
	assert.Contains(t, msg, "\n  ak:7: the same ML-KEM-768 key "+k.fp+" as line 1")

	// A long list is cut in the message, not in the error.
	_, err = ParseAuthorizedKeys(strings.NewReader(strings.Repeat("x\n", 25)), "ak")
	require.ErrorAs(t, err, &ae)
	assert.Len(t, ae.Lines, 25)
	assert.Contains(t, err.Error(), "ak: 25 bad lines")
	assert.Contains(t, err.Error(), "ak:20: ")
	assert.NotContains(t, err.Error(), "ak:21: ")
	assert.True(t, strings.HasSuffix(err.Error(), "\n  ... and 5 more"), err.Error())
}

func TestParseAuthorizedKeysReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseAuthorizedKeys(iotest.ErrReader(boom), "ak")
	require.ErrorIs(t, err, boom)
	require.ErrorIs(t, err, ErrAuthorizedKeysFile)
	_, err = ParseAuthorizedKeys(strings.NewReader(strings.Repeat("#\n", maxAuthorizedKeysSize/2+1)), "ak")
	require.ErrorIs(t, err, ErrAuthorizedKeysFile)
	require.ErrorContains(t, err, "larger than 8 MiB")
}

func TestFormatAuthorizedKey(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k := newTestKey(t, alg)
			line, err := FormatAuthorizedKey(strings.TrimPrefix(alg, "ML-KEM-"), k.ek, "  bob's key  ")
			require.NoError(t, err)
			der, err := marshalPublicKeyDER(alg, k.ek)
			require.NoError(t, err)
			assert.Equal(t, alg+" "+b64(der)+" bob's key", line)
			// The same DER as the PEM public key.
			pemData, err := MarshalPublicKeyPEM(alg, k.ek)
			require.NoError(t, err)
			assert.Equal(t, der, derOfPEM(t, pemData))

			a, err := ParseAuthorizedKeys(strings.NewReader(line+"\n"), "x")
			require.NoError(t, err)
			comment, fp, ok := a.Lookup(alg, k.ek)
			require.True(t, ok)
			assert.Equal(t, "bob's key", comment)
			assert.Equal(t, k.fp, fp)

			line, err = FormatAuthorizedKey(alg, k.ek, "")
			require.NoError(t, err)
			assert.Equal(t, alg+" "+b64(der), line)
		})
	}
	k := newTestKey(t, kem.MLKEM768)
	for _, tc := range []struct {
		name, alg string
		ek        []byte
		comment   string
		want      string
	}{
		{"unknown algorithm", "RSA", k.ek, "", `unknown KEM algorithm "RSA"`},
		{"wrong size", kem.MLKEM1024, k.ek, "", "ML-KEM-1024 public key: 1184 bytes, want 1568"},
		{"not reduced", kem.MLKEM768, notReducedEK(k.ek), "", "fails its check"},
		{"newline in comment", kem.MLKEM768, k.ek, "a\nb", "must be valid UTF-8 without control characters"},
		{"control character first", kem.MLKEM768, k.ek, "\x1b[2J", "must be valid UTF-8 without control characters"},
		{"invalid UTF-8 comment", kem.MLKEM768, k.ek, "\xff", "must be valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FormatAuthorizedKey(tc.alg, tc.ek, tc.comment)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestLoadAuthorizedKeys(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, kem.MLKEM768)
	line, err := FormatAuthorizedKey(kem.MLKEM768, k.ek, "carol")
	require.NoError(t, err)
	path := filepath.Join(dir, "authorized_keys")
	require.NoError(t, os.WriteFile(path, []byte(line+"\n"), 0o600))

	for _, mode := range []fs.FileMode{0o600, 0o644, 0o640, 0o664, 0o444} {
		require.NoError(t, os.Chmod(path, mode))
		a, err := LoadAuthorizedKeys(path)
		require.NoError(t, err, "mode %v: public data, readable by others", mode)
		assert.Equal(t, 1, a.Len())
	}

	// Symbolic links are followed.
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(path, link))
	a, err := LoadAuthorizedKeys(link)
	require.NoError(t, err)
	assert.Equal(t, 1, a.Len())

	_, err = LoadAuthorizedKeys(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, ErrAuthorizedKeysFile)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.EqualError(t, err, "cannot use the authorized-keys file "+filepath.Join(dir, "missing")+": no such file or directory", "the path, once")

	_, err = LoadAuthorizedKeys(dir)
	require.ErrorIs(t, err, ErrAuthorizedKeysFile)
	require.EqualError(t, err, "cannot use the authorized-keys file "+dir+": it is a directory")

	// A bad line names the file.
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte(line+"\nnonsense\n"), 0o600))
	_, err = LoadAuthorizedKeys(bad)
	require.ErrorIs(t, err, ErrMalformedAuthorizedKeys)
	assert.NotErrorIs(t, err, ErrAuthorizedKeysFile)
	assert.Contains(t, err.Error(), bad+":2: ")

	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return
	}
	for _, mode := range []fs.FileMode{0o602, 0o646, 0o666, 0o777} {
		require.NoError(t, os.Chmod(path, mode))
		_, err := LoadAuthorizedKeys(path)
		require.ErrorIs(t, err, ErrAuthorizedKeysFile, "mode %v", mode)
		assert.ErrorContains(t, err, fmt.Sprintf("it has mode %04o, so any user may change it", uint32(mode)))
		assert.ErrorContains(t, err, "chmod o-w "+path)
	}
	require.NoError(t, os.Chmod(path, 0o644))

	if os.Geteuid() != 0 {
		t.Log("not root: the owner check of LoadAuthorizedKeys is not tested in this run")
		return
	}
	require.NoError(t, os.Chown(path, 4242, 4242))
	_, err = LoadAuthorizedKeys(path)
	require.ErrorIs(t, err, ErrAuthorizedKeysFile)
	require.ErrorIs(t, err, ErrKeyFileOwner)
	assert.ErrorContains(t, err, "is owned by uid 4242")
	assert.ErrorContains(t, err, "an authorized-keys file must belong to the user who uses it")
}

// padded returns content followed by comment lines of at most
// maxAuthorizedKeysLine bytes, size bytes in all.
func padded(content string, size int) string {
	var b strings.Builder
	b.WriteString(content)
	for b.Len() < size {
		n := min(size-b.Len(), maxAuthorizedKeysLine+1) // the line and its newline
		if rest := size - b.Len() - n; rest > 0 && rest < 2 {
			n-- // leave room for a last line of at least "#\n"
		}
		b.WriteString("#" + strings.Repeat("x", n-2) + "\n")
	}
	return b.String()
}

// TestAuthorizedKeysLimits: a file of exactly 8 MiB, and a line of exactly
// 16 KiB, are taken (parsed and loaded); one byte more is refused. A line
// refused for its length does not stop the check of the lines after it.
//
// Equivalent mutants:
// authorizedkeys.go:165 `continue` to `break` after a duplicate key: break leaves the switch, the last statement of the loop's body, as continue does.
// authorizedkeys.go:185 `rest == "" || strings.TrimRight(rest, " \t") == ""` to `&&`: rest has no leading blank, so it trims to "" only if it is "".
// authorizedkeys.go:221 `i < 0` to `i <= 0` in cutField: every caller passes a string without leading blanks, so i is never 0.
func TestAuthorizedKeysLimits(t *testing.T) {
	k := newTestKey(t, kem.MLKEM768)
	line, err := FormatAuthorizedKey(kem.MLKEM768, k.ek, "dave")
	require.NoError(t, err)

	longest := "#" + strings.Repeat("x", maxAuthorizedKeysLine-1)
	a, err := ParseAuthorizedKeys(strings.NewReader(longest+"\r\n"+line+"\n"), "ak")
	require.NoError(t, err, "a line of exactly %d bytes (and its CR)", maxAuthorizedKeysLine)
	require.Equal(t, 1, a.Len())
	_, err = ParseAuthorizedKeys(strings.NewReader(longest+"x\n"+line+"\nnonsense\n"), "ak")
	var ae *AuthorizedKeysError
	require.ErrorAs(t, err, &ae)
	require.Len(t, ae.Lines, 2, "the long line, and the bad line after it")
	assert.Equal(t, 1, ae.Lines[0].Line)
	assert.ErrorContains(t, ae.Lines[0].Err, "line longer than 16384 bytes")
	assert.Equal(t, 3, ae.Lines[1].Line)

	full := padded(line+"\n", maxAuthorizedKeysSize)
	require.Len(t, full, maxAuthorizedKeysSize)
	a, err = ParseAuthorizedKeys(strings.NewReader(full), "ak")
	require.NoError(t, err, "exactly 8 MiB")
	require.Equal(t, 1, a.Len())
	path := filepath.Join(t.TempDir(), "authorized_keys")
	require.NoError(t, os.WriteFile(path, []byte(full), 0o644))
	a, err = LoadAuthorizedKeys(path)
	require.NoError(t, err, "a file of exactly 8 MiB")
	require.Equal(t, 1, a.Len())

	_, err = ParseAuthorizedKeys(strings.NewReader(full+"#"), "ak")
	require.ErrorIs(t, err, ErrAuthorizedKeysFile)
	require.ErrorContains(t, err, "larger than 8 MiB")
	require.NoError(t, os.WriteFile(path, []byte(full+"#"), 0o644))
	_, err = LoadAuthorizedKeys(path)
	require.ErrorIs(t, err, ErrAuthorizedKeysFile)
	require.ErrorContains(t, err, "it is larger than 8 MiB")
}
