package identity

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// maxKeyFileSize bounds what ReadPrivateKeyFile reads: the largest key file,
// an ML-KEM-1024 key in the both form, is about 4.5 KB of PEM.
const maxKeyFileSize = 64 << 10

// privateKeyFileMode is the mode of the private key files we create.
const privateKeyFileMode fs.FileMode = 0o600

// Errors of ReadPrivateKeyFile, compared with errors.Is.
var (
	// ErrKeyFilePermissions: the key file is one that group or others may
	// access.
	ErrKeyFilePermissions = errors.New("private key file permissions are too open")
	// ErrKeyFileOwner: the key file belongs to another user than the one
	// reading it (and not to root).
	ErrKeyFileOwner = errors.New("private key file belongs to another user")
	// ErrKeyFileNotRegular: the key file is a symbolic link, a directory, a
	// FIFO, a device or a socket.
	ErrKeyFileNotRegular = errors.New("private key file is not a regular file")
)

// WritePrivateKeyFile writes the seed form of a key (MarshalPrivateKeyPEM:
// the seed has the algorithm's kem.Params SeedSize, 64 bytes for ML-KEM, 32
// for X-Wing) to a new file created with mode 0600. It refuses to overwrite an existing
// file (the error matches fs.ErrExist) and removes what it wrote if writing
// fails.
func WritePrivateKeyFile(path, alg string, seed []byte) error {
	data, err := MarshalPrivateKeyPEM(alg, seed)
	if err != nil {
		return err
	}
	defer clear(data)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, privateKeyFileMode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("refusing to overwrite %s: %w; move it away or choose another file name", path, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("private key: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("private key: writing %s: %w", path, err)
	}
	return nil
}

// ReadPrivateKeyFile reads and parses a private key file
// (ParsePrivateKeyPEM). It checks the file it has opened, not the path, so
// that nothing can be swapped in between: on Unix it opens path with
// O_NOFOLLOW|O_NONBLOCK (a symbolic link is refused, and a FIFO or device
// opens at once instead of blocking) and then checks the open file with
// fstat. As ssh does, it refuses anything but a regular file
// (ErrKeyFileNotRegular), a file owned by another user than the current one
// or root (ErrKeyFileOwner), and a file that group or others may read or
// write (ErrKeyFilePermissions, saying to run chmod 600); Windows has
// neither owners nor permissions that Go maps to Unix modes, and is spared
// those two checks. Files over 64 KiB are refused.
func ReadPrivateKeyFile(path string) (*PrivateKey, error) {
	f, fi, err := openKeyFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := checkKeyFileOwner(path, fi); err != nil {
		return nil, err
	}
	if err := checkKeyFileMode(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("private key: reading %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("private key: %s is larger than %d KiB; it is not a kemtcp key file", path, maxKeyFileSize>>10)
	}
	k, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// openKeyFile opens path for reading with openNoFollow and checks that
// what it opened is a regular file; it returns the file and its FileInfo.
func openKeyFile(path string) (*os.File, fs.FileInfo, error) {
	f, err := openNoFollow(path)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, nil, fmt.Errorf("private key: %w: %s is a symbolic link, which is not followed; name the file it points to", ErrKeyFileNotRegular, path)
		}
		return nil, nil, fmt.Errorf("private key: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("private key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("private key: %w: %s is %s", ErrKeyFileNotRegular, path, describeFileType(fi.Mode()))
	}
	return f, fi, nil
}

// describeFileType says what a file that is not regular is, e.g. "a
// directory" or "a FIFO (named pipe)".
func describeFileType(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe), not a regular file"
	case t&fs.ModeSocket != 0:
		return "a socket, not a regular file"
	case t&fs.ModeCharDevice != 0:
		return "a character device, not a regular file"
	case t&fs.ModeDevice != 0:
		return "a device, not a regular file"
	default:
		return fmt.Sprintf("not a regular file (%s)", t)
	}
}

// checkKeyFileMode refuses a key file that others may read or change. A
// file of the current user must be accessible by that user only (as ssh
// asks, 0600 or 0400). A file of root may also be readable by its group,
// and nothing more (0640, 0440: as PostgreSQL allows for its server key),
// which is how Kubernetes mounts a Secret for a pod's fsGroup and how
// root-managed key files are shared with a service's group.
func checkKeyFileMode(path string, fi fs.FileInfo) error {
	return checkKeyFileModeAs(path, fi, os.Geteuid())
}

// checkKeyFileModeAs is checkKeyFileMode for a process of user euid.
func checkKeyFileModeAs(path string, fi fs.FileInfo, euid int) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil
	}
	perm := fi.Mode().Perm()
	bad, allowed := perm&0o077, "0600"
	if ownedByRoot(fi) && euid != 0 {
		bad, allowed = perm&0o037, "0640 (owned by root)"
	}
	if bad != 0 {
		return fmt.Errorf("%w: %s has mode %04o, so other users may read or change it; "+
			"a private key must be accessible only by its owner (at most %s). Fix it with: chmod 600 %s",
			ErrKeyFilePermissions, path, perm, allowed, shellQuote(path))
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe
// characters, so that the chmod hint can be pasted.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./+,:@%=", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
