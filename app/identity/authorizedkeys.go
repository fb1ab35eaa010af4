package identity

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kemtcp/kemtcp/app/kem"
)

// Limits of an authorized-keys file. An ML-KEM-1024 line in the
// SubjectPublicKeyInfo form is about 2.2 KB.
const (
	maxAuthorizedKeysLine = 16 << 10
	maxAuthorizedKeysSize = 8 << 20
	// maxReportedLines is how many bad lines an error lists in full.
	maxReportedLines = 20
)

// Errors of authorized-keys files, compared with errors.Is.
var (
	// ErrMalformedAuthorizedKeys: a line of the file is malformed; the
	// error is an *AuthorizedKeysError listing every bad line.
	ErrMalformedAuthorizedKeys = errors.New("malformed authorized-keys file")
	// ErrAuthorizedKeysFile: the file itself cannot be used (missing,
	// unreadable, not a regular file, world-writable, another user's, too
	// large).
	ErrAuthorizedKeysFile = errors.New("authorized-keys file problem")
)

// AuthorizedKey is one key of an authorized-keys file.
type AuthorizedKey struct {
	Algorithm   string // canonical name, e.g. "ML-KEM-768"
	Key         []byte // the raw encapsulation key
	Comment     string // "" if the line has none
	Fingerprint string // Fingerprint(Key)
	Line        int    // line number in the file
}

// AuthorizedKeys is a parsed authorized-keys file, read-only once parsed
// and so safe for concurrent use.
//
// An authorized-keys file lists the KEM public keys (encapsulation keys) of
// the clients a server accepts, in the style of OpenSSH's authorized_keys
// (sshd(8), "AUTHORIZED_KEYS FILE FORMAT"): one key per line,
//
//	ALGORITHM BASE64 [COMMENT...]
//
// for example
//
//	# build machines
//	ML-KEM-768 MIIEsjALBglghkgBZQMEBAIDggShAKtS...  build-1 (rack 4)
//	ML-KEM-1024 x7j6CqRx1a4Yki1sytWzHh2E+SrnI6v9...
//	X-Wing MIIE1DANBgsrBgEEAYPmLYHIegOCBMEA...  laptop
//
// The rules:
//   - ALGORITHM is any name kem.CanonicalName accepts ("ML-KEM-768",
//     "mlkem768", "768", "X-Wing", "xwing", any case); FormatAuthorizedKey
//     writes the canonical name.
//   - BASE64 is standard, padded base64 (RFC 4648, Section 4) of either the
//     DER of a SubjectPublicKeyInfo (RFC 5280, with the algorithm
//     identifiers of RFC 9935 and of draft-connolly-cfrg-xwing-kem-10: the
//     DER that the "PUBLIC KEY" PEM of MarshalPublicKeyPEM holds), or the
//     raw encapsulation key. They are told apart by length: exactly the
//     algorithm's encapsulation key size (kem.Params) is the raw key;
//     anything else must be a SubjectPublicKeyInfo of that same algorithm.
//   - The key must pass its algorithm's input check (the modulus check of
//     FIPS 203, Section 7.2, for ML-KEM and X-Wing's ML-KEM-768 half), made
//     by the algorithm's own Scheme: the circl backend's, else that of the
//     first compiled-in backend that has the algorithm.
//   - COMMENT is the rest of the line, surrounding blanks removed; it is
//     shown in logs, so it must be valid UTF-8 without control characters
//     (tabs allowed).
//   - Fields are separated by spaces or tabs; a line may end in CRLF and
//     is at most 16 KiB long, the file at most 8 MiB. Blank lines and lines
//     whose first non-blank character is '#' are ignored.
//   - A key may appear only once: a second line with the same algorithm
//     and key, in either form, is an error (which comment would the logs
//     show?).
//
// Every bad line is reported, each with its line number, in one
// *AuthorizedKeysError (ErrMalformedAuthorizedKeys), and a file with a bad
// line is refused as a whole: a server never runs with part of its
// authorized keys.
type AuthorizedKeys struct {
	name  string
	keys  []AuthorizedKey
	index map[string]int // algorithm + "\x00" + key -> index in keys
}

// AuthorizedKeysLineError is one bad line.
type AuthorizedKeysLineError struct {
	Line int
	Err  error
}

// AuthorizedKeysError lists every bad line of an authorized-keys file. It
// matches ErrMalformedAuthorizedKeys with errors.Is.
type AuthorizedKeysError struct {
	Name  string // the file
	Lines []AuthorizedKeysLineError
}

func (e *AuthorizedKeysError) Error() string {
	var b strings.Builder
	if len(e.Lines) == 1 {
		fmt.Fprintf(&b, "%v %s:%d: %v", ErrMalformedAuthorizedKeys, e.Name, e.Lines[0].Line, e.Lines[0].Err)
		return b.String()
	}
	fmt.Fprintf(&b, "%v %s: %d bad lines", ErrMalformedAuthorizedKeys, e.Name, len(e.Lines))
	for i, l := range e.Lines {
		if i == maxReportedLines {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Lines)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s:%d: %v", e.Name, l.Line, l.Err)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrMalformedAuthorizedKeys) true.
func (e *AuthorizedKeysError) Is(target error) bool { return target == ErrMalformedAuthorizedKeys }

// ParseAuthorizedKeys reads an authorized-keys file (format above) from r;
// name is the file's name in messages. A file with any bad line gives an
// *AuthorizedKeysError that lists them all. Input over 8 MiB, or an I/O
// error of r, is an error wrapping ErrAuthorizedKeysFile.
func ParseAuthorizedKeys(r io.Reader, name string) (*AuthorizedKeys, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxAuthorizedKeysSize+1))
	if err != nil {
		return nil, fileProblem(ErrAuthorizedKeysFile, fmt.Sprintf("cannot read the authorized-keys file %s", name), err)
	}
	if len(data) > maxAuthorizedKeysSize {
		return nil, fileProblem(ErrAuthorizedKeysFile, fmt.Sprintf("cannot use the authorized-keys file %s", name), fmt.Errorf("it is larger than %d MiB", maxAuthorizedKeysSize>>20))
	}
	a := &AuthorizedKeys{name: name, index: map[string]int{}}
	var bad []AuthorizedKeysLineError
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the final newline ends the last line
	}
	for i, line := range lines {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if len(line) > maxAuthorizedKeysLine {
			bad = append(bad, AuthorizedKeysLineError{n, fmt.Errorf("line longer than %d bytes", maxAuthorizedKeysLine)})
			continue
		}
		k, ok, err := parseAuthorizedKeyLine(line)
		switch {
		case err != nil:
			bad = append(bad, AuthorizedKeysLineError{n, err})
		case ok:
			id := k.Algorithm + "\x00" + string(k.Key)
			if first, dup := a.index[id]; dup {
				bad = append(bad, AuthorizedKeysLineError{n, fmt.Errorf("the same %s key %s as line %d; list a key once", k.Algorithm, k.Fingerprint, a.keys[first].Line)})
				continue
			}
			k.Line = n
			a.index[id] = len(a.keys)
			a.keys = append(a.keys, k)
		}
	}
	if len(bad) > 0 {
		return nil, &AuthorizedKeysError{Name: name, Lines: bad}
	}
	return a, nil
}

// parseAuthorizedKeyLine parses one line; ok is false for blank and
// comment lines.
func parseAuthorizedKeyLine(line string) (k AuthorizedKey, ok bool, err error) {
	if !utf8.ValidString(line) {
		return k, false, errors.New("not valid UTF-8")
	}
	rest := strings.TrimLeft(line, " \t")
	if rest == "" || strings.TrimRight(rest, " \t") == "" || rest[0] == '#' {
		return k, false, nil
	}
	algField, rest := cutField(rest)
	b64, rest := cutField(rest)
	comment := strings.TrimRight(rest, " \t")
	if b64 == "" {
		return k, false, fmt.Errorf(`want "ALGORITHM BASE64 [comment]", found %s alone`, quoteLine(algField))
	}
	if i := strings.IndexFunc(comment, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(comment[i:])
		return k, false, fmt.Errorf("the comment has the control character %q", r)
	}
	alg, err := kem.CanonicalName(algField)
	if err != nil {
		return k, false, err
	}
	p, err := kem.ParamsFor(alg)
	if err != nil {
		return k, false, err
	}
	der, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return k, false, fmt.Errorf("the %s key is not valid standard base64: %v", alg, err)
	}
	ek, err := authorizedKeyBytes(p, der)
	if err != nil {
		return k, false, err
	}
	return AuthorizedKey{Algorithm: alg, Key: ek, Comment: comment, Fingerprint: Fingerprint(ek)}, true, nil
}

// cutField returns the first field of s (up to a space or tab) and the
// rest, with the blanks after the field removed.
func cutField(s string) (field, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// authorizedKeyBytes returns the encapsulation key that b holds for p: b
// itself if it has p's key size, else the key of the SubjectPublicKeyInfo
// b must be. The key is checked by p's Scheme.
func authorizedKeyBytes(p kem.Params, b []byte) ([]byte, error) {
	if len(b) == p.EncapsulationKeySize {
		if err := checkKeyWithScheme(p, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	neither := fmt.Sprintf("the %s key is %d bytes: neither a raw encapsulation key (%d bytes) nor a SubjectPublicKeyInfo (DER SEQUENCE)",
		p.Name, len(b), p.EncapsulationKeySize)
	if len(b) == 0 || b[0] != 0x30 {
		return nil, errors.New(neither)
	}
	alg, ek, err := ParsePublicKeyDER(b)
	if err != nil {
		// Also a raw key of another size that happens to start with
		// 0x30: say both readings, as for any other first byte.
		return nil, fmt.Errorf("%s: %w", neither, err)
	}
	if alg != p.Name {
		return nil, fmt.Errorf("the key is an %s SubjectPublicKeyInfo, but the line says %s", alg, p.Name)
	}
	return ek, nil
}

// checkKeyWithScheme parses ek with the Scheme of p's algorithm, which
// makes the algorithm's input check (the FIPS 203 modulus check for
// ML-KEM): the circl backend's, else the first compiled-in backend that
// has the algorithm.
func checkKeyWithScheme(p kem.Params, ek []byte) error {
	s, err := kem.Lookup(p.Name, kem.BackendCircl)
	for _, b := range kem.Backends() {
		if err == nil {
			break
		}
		s, err = kem.Lookup(p.Name, b)
	}
	if err != nil {
		return err
	}
	if _, err := s.NewEncapsulationKey(ek); err != nil {
		return fmt.Errorf("the %s key fails its check: %w", p.Name, err)
	}
	return nil
}

// LoadAuthorizedKeys reads and parses the authorized-keys file at path. It
// is public data, so group and others may read it, but the file must be a
// regular file (symbolic links are followed), not writable by others, and,
// as sshd requires, owned by the current user or root (the last two checks
// are skipped on Windows). Files over 8 MiB are refused. Problems of the
// file itself wrap ErrAuthorizedKeysFile; bad lines give an
// *AuthorizedKeysError.
func LoadAuthorizedKeys(path string) (*AuthorizedKeys, error) {
	f, err := openNonBlocking(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, authorizedKeysFileError(path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, authorizedKeysFileError(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, authorizedKeysFileError(path, fmt.Errorf("it is %s", describeFileType(fi.Mode())))
	}
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		if perm := fi.Mode().Perm(); perm&0o002 != 0 {
			return nil, authorizedKeysFileError(path, fmt.Errorf("it has mode %04o, so any user may change it: "+
				"it must not be world-writable (fix it with: chmod o-w %s)", perm, shellQuote(path)))
		}
		if err := checkOwner(path, fi, "an authorized-keys file"); err != nil {
			return nil, authorizedKeysFileError(path, err)
		}
	}
	if fi.Size() > maxAuthorizedKeysSize {
		return nil, authorizedKeysFileError(path, fmt.Errorf("it is larger than %d MiB", maxAuthorizedKeysSize>>20))
	}
	return ParseAuthorizedKeys(io.LimitReader(f, maxAuthorizedKeysSize), path)
}

func authorizedKeysFileError(path string, cause error) error {
	return fileProblem(ErrAuthorizedKeysFile, "cannot use the authorized-keys file "+path, cause)
}

// Len is the number of keys.
func (a *AuthorizedKeys) Len() int { return len(a.keys) }

// Keys returns a copy of the keys, in file order.
func (a *AuthorizedKeys) Keys() []AuthorizedKey {
	out := make([]AuthorizedKey, len(a.keys))
	for i, k := range a.keys {
		k.Key = bytes.Clone(k.Key)
		out[i] = k
	}
	return out
}

// Lookup reports whether the encapsulation key ek of algorithm alg (any
// name kem.CanonicalName accepts) is authorized, and returns its entry's
// comment and fingerprint.
func (a *AuthorizedKeys) Lookup(alg string, ek []byte) (comment, fingerprint string, ok bool) {
	calg, err := kem.CanonicalName(alg)
	if err != nil {
		return "", "", false
	}
	i, ok := a.index[calg+"\x00"+string(ek)]
	if !ok {
		return "", "", false
	}
	return a.keys[i].Comment, a.keys[i].Fingerprint, true
}

// FormatAuthorizedKey returns the authorized-keys line of the encapsulation
// key ek of algorithm alg, with comment (which may be empty), without a
// line end: the canonical algorithm name, then the base64 of the
// SubjectPublicKeyInfo DER (the same DER as MarshalPublicKeyPEM's; ML-KEM
// and X-Wing alike), or of the raw key for an algorithm this package has no
// object identifier for. The key must pass its algorithm's check; the comment must be one
// line of valid UTF-8 without control characters.
func FormatAuthorizedKey(alg string, ek []byte, comment string) (string, error) {
	p, err := kem.ParamsFor(alg)
	if err != nil {
		return "", err
	}
	if len(ek) != p.EncapsulationKeySize {
		return "", fmt.Errorf("%s public key: %d bytes, want %d", p.Name, len(ek), p.EncapsulationKeySize)
	}
	if err := checkKeyWithScheme(p, ek); err != nil {
		return "", err
	}
	comment = strings.Trim(comment, " \t")
	if !utf8.ValidString(comment) || strings.IndexFunc(comment, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) >= 0 {
		return "", fmt.Errorf("authorized-keys comment %s: must be valid UTF-8 without control characters", strconv.Quote(comment))
	}
	blob := ek
	if _, _, err := algParams(p.Name); err == nil {
		if blob, err = marshalPublicKeyDER(p.Name, ek); err != nil {
			return "", err
		}
	}
	line := p.Name + " " + base64.StdEncoding.EncodeToString(blob)
	if comment != "" {
		line += " " + comment
	}
	return line, nil
}
