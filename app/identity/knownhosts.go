package identity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/kemtcp/kemtcp/app/kem"
)

// maxKnownHostsLine bounds a known-hosts line; real ones are about 100 bytes.
const maxKnownHostsLine = 4096

// Errors of this file, compared with errors.Is.
var (
	// ErrHostKeyChanged is returned by KnownHosts.Check and Add when a
	// known address presents another key or KEM; the error is a
	// *HostKeyChangedError.
	ErrHostKeyChanged = errors.New("REMOTE HOST IDENTIFICATION HAS CHANGED")
	// ErrKnownHostsSyntax is wrapped by the errors of LoadKnownHosts for a
	// malformed line.
	ErrKnownHostsSyntax = errors.New("malformed known-hosts line")
)

// Result is the verdict of KnownHosts.Check.
type Result int

const (
	// Unknown: the address is not in the file; trust it on first use with
	// Add, or refuse.
	Unknown Result = iota
	// Known: the address is in the file with this very KEM and key.
	Known
	// Changed: the address is in the file with another key or KEM. Check
	// returns it together with a *HostKeyChangedError.
	Changed
)

func (r Result) String() string {
	switch r {
	case Unknown:
		return "unknown"
	case Known:
		return "known"
	case Changed:
		return "changed"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// knownHost is one entry of a known-hosts file.
type knownHost struct {
	addr string // NormalizeAddr form
	alg  string // canonical KEM name
	fp   string // Fingerprint form
	line int    // line number in the file; 0 for entries added by this process
}

// KnownHosts is a known-hosts file: the server keys a client has met,
// trusted on first use (see the package documentation for the format). It
// is safe for concurrent use.
type KnownHosts struct {
	path    string
	mu      sync.Mutex
	entries []knownHost
}

// DefaultKnownHostsPath is kemtcp's known-hosts file in the user's
// configuration directory: $XDG_CONFIG_HOME/kemtcp/known_hosts or
// ~/.config/kemtcp/known_hosts on Linux and BSDs,
// ~/Library/Application Support/kemtcp/known_hosts on macOS,
// %AppData%\kemtcp\known_hosts on Windows (os.UserConfigDir).
func DefaultKnownHostsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("known hosts: no default location: %w; name a file with -known-hosts", err)
	}
	return filepath.Join(dir, "kemtcp", "known_hosts"), nil
}

// LoadKnownHosts reads a known-hosts file. A missing file is an empty list
// (Add will create it). An unreadable file, or one with a malformed line, is
// an error quoting the file, line number and line: it is never ignored in
// silence.
func LoadKnownHosts(path string) (*KnownHosts, error) {
	if path == "" {
		return nil, errors.New("known hosts: empty file name")
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &KnownHosts{path: path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("known hosts: %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	return parseKnownHosts(path, f)
}

// parseKnownHosts reads the entries of r; path is used in messages and by Add.
func parseKnownHosts(path string, r io.Reader) (*KnownHosts, error) {
	h := &KnownHosts{path: path}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxKnownHostsLine)
	n := 0
	for sc.Scan() {
		n++
		e, ok, err := parseKnownHostsLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%w %s:%d: %w: %s", ErrKnownHostsSyntax, path, n, err, quoteLine(sc.Text()))
		}
		if ok {
			e.line = n
			h.entries = append(h.entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w %s:%d: line longer than %d bytes", ErrKnownHostsSyntax, path, n+1, maxKnownHostsLine)
		}
		return nil, fmt.Errorf("known hosts: reading %s: %w", path, err)
	}
	return h, nil
}

// parseKnownHostsLine parses one line; ok is false for blank and comment lines.
func parseKnownHostsLine(line string) (e knownHost, ok bool, err error) {
	if !utf8.ValidString(line) {
		return e, false, errors.New("not valid UTF-8")
	}
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return e, false, nil
	}
	fields := strings.Fields(line)
	if len(fields) < 3 || len(fields) > 3 && fields[3][0] != '#' {
		return e, false, fmt.Errorf(`want "address KEM fingerprint" (and an optional # comment), found %d fields`, len(fields))
	}
	if e.addr, err = NormalizeAddr(fields[0]); err != nil {
		return e, false, err
	}
	if e.alg, err = kem.CanonicalName(fields[1]); err != nil {
		return e, false, err
	}
	sum, err := ParseFingerprint(fields[2])
	if err != nil {
		return e, false, err
	}
	e.fp = fingerprintOfDigest(sum)
	return e, true, nil
}

// quoteLine quotes a line for an error message, shortened if long.
func quoteLine(s string) string {
	const n = 200
	if len(s) > n {
		return strconv.Quote(s[:n]) + "..."
	}
	return strconv.Quote(s)
}

// Path is the file the entries come from and Add appends to.
func (h *KnownHosts) Path() string { return h.path }

// Len is the number of entries.
func (h *KnownHosts) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

// Check looks up the server at addr (host:port as dialled) presenting the
// encapsulation key ek of KEM alg. It returns Known if the file has this
// address with this KEM and key, Unknown if it does not have the address,
// and Changed with a *HostKeyChangedError (ErrHostKeyChanged) if it has the
// address with another key or another KEM. A malformed addr or alg is an
// error.
func (h *KnownHosts) Check(addr, alg string, ek []byte) (Result, error) {
	naddr, calg, err := normalizeEntry(addr, alg)
	if err != nil {
		return Unknown, err
	}
	fp := Fingerprint(ek)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.check(naddr, calg, fp)
}

func (h *KnownHosts) check(addr, alg, fp string) (Result, error) {
	res := Unknown
	for _, e := range h.entries {
		if e.addr != addr {
			continue
		}
		if e.alg != alg || e.fp != fp {
			return Changed, &HostKeyChangedError{
				Addr: addr, Path: h.path, Line: e.line,
				OldKEM: e.alg, OldFingerprint: e.fp,
				NewKEM: alg, NewFingerprint: fp,
			}
		}
		res = Known
	}
	return res, nil
}

// Add records that the server at addr has the KEM alg and key ek: it
// appends one line to the file with a single O_APPEND write (so several
// clients may add at once), creating the directory (mode 0700) and the file
// (mode 0600) when needed. Adding an entry that is already there does
// nothing; adding a different key or KEM for a known address is refused
// with ErrHostKeyChanged.
func (h *KnownHosts) Add(addr, alg string, ek []byte) error {
	naddr, calg, err := normalizeEntry(addr, alg)
	if err != nil {
		return err
	}
	p, err := kem.ParamsFor(calg)
	if err != nil {
		return err
	}
	if len(ek) != p.EncapsulationKeySize {
		return fmt.Errorf("known hosts: %s encapsulation key is %d bytes, want %d", calg, len(ek), p.EncapsulationKeySize)
	}
	fp := Fingerprint(ek)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch res, err := h.check(naddr, calg, fp); {
	case err != nil:
		return err
	case res == Known:
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	line := []byte(naddr + " " + calg + " " + fp + "\n")
	if !endsWithNewline(h.path) {
		line = append([]byte{'\n'}, line...)
	}
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	_, err = f.Write(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("known hosts: adding %s to %s: %w", naddr, h.path, err)
	}
	h.entries = append(h.entries, knownHost{addr: naddr, alg: calg, fp: fp})
	return nil
}

// endsWithNewline reports whether the file at path is missing, empty, or
// ends with a newline, so that an appended line starts a line of its own
// even after a hand edit that left no final newline.
func endsWithNewline(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return true
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], fi.Size()-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

func normalizeEntry(addr, alg string) (string, string, error) {
	naddr, err := NormalizeAddr(addr)
	if err != nil {
		return "", "", fmt.Errorf("known hosts: %w", err)
	}
	calg, err := kem.CanonicalName(alg)
	if err != nil {
		return "", "", fmt.Errorf("known hosts: %w", err)
	}
	return naddr, calg, nil
}

// HostKeyChangedError is the error of KnownHosts.Check and Add when a known
// address presents another key or KEM. It matches ErrHostKeyChanged with
// errors.Is. Its message is loud and spans several lines, as ssh's.
type HostKeyChangedError struct {
	Addr           string // normalized address
	Path           string // known-hosts file
	Line           int    // line of the entry in Path; 0 if this process added it
	OldKEM         string
	OldFingerprint string
	NewKEM         string
	NewFingerprint string
}

// Is makes errors.Is(err, ErrHostKeyChanged) true.
func (e *HostKeyChangedError) Is(target error) bool { return target == ErrHostKeyChanged }

func (e *HostKeyChangedError) Error() string {
	var b strings.Builder
	b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
	b.WriteString("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n")
	b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
	b.WriteString("IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n")
	b.WriteString("Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n")
	b.WriteString("It is also possible that the server's key has just been changed.\n")
	fmt.Fprintf(&b, "The server at %s now presents this key:\n    %s %s\n", e.Addr, e.NewKEM, e.NewFingerprint)
	where := e.Path
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.Path, e.Line)
	}
	fmt.Fprintf(&b, "but the known-hosts file %s holds this key for it:\n    %s %s\n", where, e.OldKEM, e.OldFingerprint)
	if e.OldKEM != e.NewKEM {
		fmt.Fprintf(&b, "(the KEM changed too: %s, now %s)\n", e.OldKEM, e.NewKEM)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "If you have checked that the new key is right, remove line %d from %s and connect again.\n", e.Line, e.Path)
	} else {
		fmt.Fprintf(&b, "If you have checked that the new key is right, remove the line for %s from %s and connect again.\n", e.Addr, e.Path)
	}
	b.WriteString("Host key verification failed.")
	return b.String()
}

// NormalizeAddr returns addr, host:port as dialled, in the form known-hosts
// entries use: the host lower-cased, an IP address in its canonical form
// (IPv6 in brackets, by net.JoinHostPort), the port in decimal without
// leading zeros. No names are resolved. A missing or non-numeric port, a
// bare IPv6 address, or characters that cannot appear in a host name are
// errors. An empty host (":9000", the local system to net.Dial) is kept.
func NormalizeAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		switch {
		case errors.As(err, &ae) && ae.Err == "missing port in address":
			return "", fmt.Errorf("address %q has no port; want host:port, e.g. example.com:9000 or [2001:db8::1]:9000", addr)
		case errors.As(err, &ae) && ae.Err == "too many colons in address":
			return "", fmt.Errorf("address %q: write an IPv6 address in brackets, e.g. [2001:db8::1]:9000", addr)
		}
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil || pn == 0 || port[0] == '+' {
		return "", fmt.Errorf("address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	} else {
		host = strings.ToLower(host)
		if strings.Contains(host, ":") {
			return "", fmt.Errorf("address %q: %q is neither an IP address nor a host name", addr, host)
		}
	}
	if i := strings.IndexFunc(host, badHostRune); i >= 0 {
		r, _ := utf8.DecodeRuneInString(host[i:])
		return "", fmt.Errorf("address %q: the host has the character %q, which a host name cannot have", addr, r)
	}
	return net.JoinHostPort(host, strconv.FormatUint(pn, 10)), nil
}

// badHostRune reports runes that no host name or IP address has and that
// would break a known-hosts line: spaces, controls, '#', brackets, quotes,
// slashes, '@' and invalid UTF-8.
func badHostRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) ||
		r == '#' || r == '[' || r == ']' || r == '/' || r == '\\' || r == '@' || r == '"' || r == '\''
}

// marshal writes the entries in canonical form, one per line; for tests.
func (h *KnownHosts) marshal() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b bytes.Buffer
	for _, e := range h.entries {
		fmt.Fprintf(&b, "%s %s %s\n", e.addr, e.alg, e.fp)
	}
	return b.Bytes()
}
