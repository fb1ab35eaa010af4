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
	"slices"
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
	// ErrMalformedKnownHosts is wrapped by the errors of LoadKnownHosts for
	// a malformed line; the error is a *KnownHostsSyntaxError, which gives
	// the line number. It is a problem of the local file, not of a server.
	ErrMalformedKnownHosts = errors.New("malformed known-hosts line")
	// ErrKnownHostsSyntax is the former name of ErrMalformedKnownHosts.
	//
	// Deprecated: use ErrMalformedKnownHosts.
	ErrKnownHostsSyntax = ErrMalformedKnownHosts
	// ErrKnownHostsFile is wrapped by every error of reading, creating or
	// writing the known-hosts file itself (a missing directory, no
	// permission, not a regular file, a full disk, ...): a local problem,
	// never a verdict on a server's key.
	ErrKnownHostsFile = errors.New("known-hosts file problem")
)

// KnownHostsSyntaxError is the error of LoadKnownHosts for a malformed
// line. It matches ErrMalformedKnownHosts and its cause with errors.Is.
type KnownHostsSyntaxError struct {
	Path string // the known-hosts file
	Line int    // 1-based line number
	Text string // the line, without its line end; "" for a line too long
	Err  error  // what is wrong with it
}

func (e *KnownHostsSyntaxError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("%v %s:%d: %v", ErrMalformedKnownHosts, e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%v %s:%d: %v: %s", ErrMalformedKnownHosts, e.Path, e.Line, e.Err, quoteLine(e.Text))
}

// Unwrap returns ErrMalformedKnownHosts and the cause.
func (e *KnownHostsSyntaxError) Unwrap() []error { return []error{ErrMalformedKnownHosts, e.Err} }

// fileError is an error of the known-hosts file itself: "cannot VERB the
// known-hosts file PATH: CAUSE", matching ErrKnownHostsFile and the cause.
func fileError(verb, path string, cause error) error {
	return fileProblem(ErrKnownHostsFile, fmt.Sprintf("cannot %s the known-hosts file %s", verb, path), cause)
}

// fileProblem returns an error reading "what: cause" that matches sentinel
// and cause with errors.Is.
func fileProblem(sentinel error, what string, cause error) error {
	return &problemError{msg: what + ": " + cause.Error(), errs: []error{sentinel, cause}}
}

type problemError struct {
	msg  string
	errs []error
}

func (e *problemError) Error() string   { return e.msg }
func (e *problemError) Unwrap() []error { return e.errs }

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

// KnownHosts is a known-hosts file: the key of each server a client has
// talked to, trusted on first use as ssh does. It is safe for concurrent
// use, and processes that share the file may add and remove entries at once
// (Add, Remove).
//
// The file is text, one entry per line: the address, the KEM and the
// server key's Fingerprint, e.g.
//
//	# comment
//	example.com:9000 ML-KEM-768 SHA256:C3k0yDElx4iZXiumvXYeMwRrPkBXG+U+AjMJop85jMk
//	[2001:db8::1]:9000 ML-KEM-1024 SHA256:x7j6CqRx1a4Yki1sytWzHh2E+SrnI6v9E3RwGHQKhTA  # lab box
//	10.0.0.7:9000 X-Wing SHA256:yaNWX/3k9ytRZhvjke4T5GN41/Bt1ci/WvnSz7W4M2s
//
// Decisions the protocol leaves open:
//
//   - Fields are separated by spaces or tabs. Blank lines and lines whose
//     first non-blank character is '#' are ignored; after the three fields a
//     line may carry a comment starting with '#'. Anything else is an error
//     that quotes the file, line number and line: a known-hosts file is never
//     silently ignored in part.
//   - The address is host:port as dialled, normalized by NormalizeAddr (host
//     lower-cased, IP addresses in canonical form, IPv6 in brackets, port in
//     decimal); no name resolution, so "localhost:9000" and
//     "127.0.0.1:9000" are different entries, as in ssh.
//   - The KEM is any spelling kem.CanonicalName accepts; Add writes the
//     canonical name ("ML-KEM-768", "X-Wing").
//   - One key per address: a server has one static key and one KEM. A
//     server that presents a different key or a different KEM for a known
//     address is refused with ErrHostKeyChanged. Duplicate lines for an
//     address that agree (two clients that met a server for the first time
//     at once) are harmless; duplicates that disagree make every connection
//     to that address fail until the wrong line is removed.
//   - Add appends one line with a single O_APPEND write while it holds an
//     exclusive flock(2) on the file (LoadKnownHosts reads under a shared
//     one), so clients that add at once neither interleave nor break a
//     line; it creates the file (0600) when needed, and the directory
//     (0700) only for the default location (LoadDefaultKnownHosts): a path
//     named explicitly must be in a directory that exists. Remove deletes
//     the entries of one address, as ssh-keygen -R does, keeping every
//     other line byte for byte, by writing a temporary file and renaming
//     it over the old one under the same lock. A KnownHosts sees the
//     entries of the file as it was loaded plus its own additions, and
//     after Remove the file as it wrote it.
//   - Errors of the file itself (cannot create, read or write it, not a
//     regular file) wrap ErrKnownHostsFile; a malformed line is a
//     *KnownHostsSyntaxError (ErrMalformedKnownHosts) with its line
//     number. Neither is ever reported as a problem of a server's key.
type KnownHosts struct {
	path      string
	createDir bool // Add may create path's directory: the default location
	mu        sync.Mutex
	entries   []knownHost
}

// DefaultKnownHostsPath is kemtcp's known-hosts file in the user's
// configuration directory: $XDG_CONFIG_HOME/kemtcp/known_hosts or
// ~/.config/kemtcp/known_hosts on Linux and BSDs,
// ~/Library/Application Support/kemtcp/known_hosts on macOS,
// %AppData%\kemtcp\known_hosts on Windows (os.UserConfigDir).
func DefaultKnownHostsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("known hosts: no default location: %w", err)
	}
	return filepath.Join(dir, "kemtcp", "known_hosts"), nil
}

// LoadDefaultKnownHosts reads the known-hosts file at the default location
// (DefaultKnownHostsPath). Its directory need not exist: Add creates it
// (mode 0700), and only for this location.
func LoadDefaultKnownHosts() (*KnownHosts, error) {
	path, err := DefaultKnownHostsPath()
	if err != nil {
		return nil, err
	}
	return loadKnownHosts(path, true)
}

// LoadKnownHosts reads the known-hosts file at path. A missing file is an
// empty list, which Add will create (mode 0600); but the directory of a
// path named explicitly must exist, as Add never creates it (a mistyped
// path would otherwise create directories anywhere the user may write).
// The one exception is path naming the default location itself, which
// behaves as LoadDefaultKnownHosts. An unreadable file, one that is not a
// regular file, or a missing directory is an error wrapping
// ErrKnownHostsFile; a malformed line is a *KnownHostsSyntaxError
// (ErrMalformedKnownHosts) quoting the file, line number and line: the file
// is never ignored in silence, in whole or in part.
func LoadKnownHosts(path string) (*KnownHosts, error) {
	if path == "" {
		return nil, errors.New("known hosts: empty file name")
	}
	return loadKnownHosts(path, isDefaultKnownHostsPath(path))
}

// isDefaultKnownHostsPath reports whether path names the default location.
func isDefaultKnownHostsPath(path string) bool {
	def, err := DefaultKnownHostsPath()
	if err != nil {
		return false
	}
	a, err1 := filepath.Abs(path)
	b, err2 := filepath.Abs(def)
	return err1 == nil && err2 == nil && a == b
}

func loadKnownHosts(path string, createDir bool) (*KnownHosts, error) {
	f, err := openNonBlocking(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if !createDir {
			if err := checkDirExists(path); err != nil {
				return nil, err
			}
		}
		return &KnownHosts{path: path, createDir: createDir}, nil
	}
	if err != nil {
		return nil, fileError("read", path, err)
	}
	defer f.Close()
	if err := checkRegular(f, path); err != nil {
		return nil, fileError("read", path, err)
	}
	// A shared lock: Add's append is not atomic for a reader.
	if err := lockFile(f, false); err != nil {
		return nil, fileError("read", path, fmt.Errorf("locking it: %w", err))
	}
	h, err := parseKnownHosts(path, f)
	if err != nil {
		return nil, err
	}
	h.createDir = createDir
	return h, nil
}

// checkDirExists returns an error for a path whose directory is missing or
// not a directory.
func checkDirExists(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &problemError{
			msg:  fmt.Sprintf("cannot use the known-hosts file %s: its directory %s does not exist (it is created only for the default location)", path, dir),
			errs: []error{ErrKnownHostsFile, fs.ErrNotExist},
		}
	case err != nil:
		return fileError("use", path, err)
	case !fi.IsDir():
		return fileError("use", path, fmt.Errorf("%s is not a directory", dir))
	}
	return nil
}

// checkRegular refuses an opened file that is not a regular file, saying
// plainly what it is (a directory, a FIFO, ...).
func checkRegular(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("it is %s", describeFileType(fi.Mode()))
	}
	return nil
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
			return nil, &KnownHostsSyntaxError{Path: path, Line: n, Text: sc.Text(), Err: err}
		}
		if ok {
			e.line = n
			h.entries = append(h.entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &KnownHostsSyntaxError{Path: path, Line: n + 1, Err: fmt.Errorf("line longer than %d bytes", maxKnownHostsLine)}
		}
		return nil, fileError("read", path, err)
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
// appends one line to the file, creating the file (mode 0600) when needed,
// and its directory (mode 0700) only for the default location. Adding an
// entry that is already there does nothing; adding a different key or KEM
// for a known address is refused with ErrHostKeyChanged. Add holds an
// exclusive lock on the file (flock, where the system has it) while it
// looks at the file's end and appends, so processes that add and remove
// entries at once never break a line. An error of the file itself wraps
// ErrKnownHostsFile.
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
	if h.createDir {
		if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
			return fileError("create", h.path, err)
		}
	}
	f, err := openLocked(h.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !h.createDir {
			if derr := checkDirExists(h.path); derr != nil {
				return derr
			}
		}
		return fileError("create", h.path, err)
	}
	defer f.Close()
	line := []byte(naddr + " " + calg + " " + fp + "\n")
	if end, err := endsWithNewline(f); err != nil {
		return fileError("read", h.path, err)
	} else if !end {
		line = append([]byte{'\n'}, line...)
	}
	if _, err := f.Write(line); err != nil {
		return fileError("write to", h.path, fmt.Errorf("adding %s: %w", naddr, err))
	}
	if err := f.Close(); err != nil {
		return fileError("write to", h.path, fmt.Errorf("adding %s: %w", naddr, err))
	}
	h.entries = append(h.entries, knownHost{addr: naddr, alg: calg, fp: fp})
	return nil
}

// openLocked opens the known-hosts file for reading and appending,
// creating it (mode 0600) if needed, and returns it holding an exclusive
// lock on it. Remove replaces the file by renaming a new one over it, so
// after taking the lock openLocked checks that the file it locked is still
// the one at path, and starts again if not. Closing the file releases the
// lock.
func openLocked(path string) (*os.File, error) {
	for {
		f, err := openNonBlocking(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := checkRegular(f, path); err != nil {
			f.Close()
			return nil, err
		}
		if err := lockFile(f, true); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking it: %w", err)
		}
		locked, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(locked, now) {
			return f, nil
		}
		f.Close()
		if err1 != nil {
			return nil, err1
		}
		if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
			return nil, err2
		}
	}
}

// endsWithNewline reports whether the open file f is empty or ends with a
// newline, so that an appended line starts a line of its own even after a
// hand edit that left no final newline.
func endsWithNewline(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if fi.Size() == 0 {
		return true, nil
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], fi.Size()-1); err != nil {
		return false, err
	}
	return b[0] == '\n', nil
}

// Remove deletes every entry for addr (host:port, normalized as Check
// does) from the file, as ssh-keygen -R does, and returns how many lines it
// removed. Every other line (entries, comments, blank lines, even lines it
// cannot parse) is kept byte for byte. The file is replaced atomically: the
// new content goes to a temporary file in the same directory (same mode),
// which is synced and renamed over the old one, under the same lock as Add.
// Removing an address that has no entry changes nothing and returns 0.
// Afterwards the KnownHosts holds the entries of the file as written.
func (h *KnownHosts) Remove(addr string) (removed int, err error) {
	naddr, err := NormalizeAddr(addr)
	if err != nil {
		return 0, fmt.Errorf("known hosts: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := os.Stat(h.path); errors.Is(err, fs.ErrNotExist) {
		h.entries = slices.DeleteFunc(h.entries, func(e knownHost) bool { return e.addr == naddr })
		return 0, nil
	}
	f, err := openLocked(h.path)
	if err != nil {
		return 0, fileError("open", h.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fileError("read", h.path, err)
	}
	old, err := io.ReadAll(io.NewSectionReader(f, 0, fi.Size()))
	if err != nil {
		return 0, fileError("read", h.path, err)
	}
	var kept []byte
	for _, line := range bytes.SplitAfter(old, []byte("\n")) {
		if e, ok, err := parseKnownHostsLine(string(bytes.TrimRight(line, "\r\n"))); err == nil && ok && e.addr == naddr {
			removed++
			continue
		}
		kept = append(kept, line...)
	}
	if removed > 0 {
		if err := replaceFile(h.path, kept, fi.Mode().Perm()); err != nil {
			return 0, fileError("rewrite", h.path, err)
		}
	}
	h.entries = h.entries[:0]
	for i, line := range bytes.SplitAfter(kept, []byte("\n")) {
		if e, ok, err := parseKnownHostsLine(string(bytes.TrimRight(line, "\r\n"))); err == nil && ok {
			e.line = i + 1
			h.entries = append(h.entries, e)
		}
	}
	return removed, nil
}

// replaceFile atomically replaces the file at path with data: a temporary
// file in the same directory, with mode perm, written, synced, renamed over
// path; then the directory is synced so that the rename lasts.
func replaceFile(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
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
