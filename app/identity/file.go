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

// maxKeyFileSize bounds what ReadPrivateKeyFile reads: an ML-KEM-1024 key in
// the both form is about 4.5 KB of PEM.
const maxKeyFileSize = 64 << 10

// privateKeyFileMode is the mode of the private key files we create.
const privateKeyFileMode fs.FileMode = 0o600

// ErrKeyFilePermissions is returned by ReadPrivateKeyFile for a key file
// that group or others may access.
var ErrKeyFilePermissions = errors.New("private key file permissions are too open")

// WritePrivateKeyFile writes the seed form of a key (MarshalPrivateKeyPEM)
// to a new file created with mode 0600. It refuses to overwrite an existing
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
// (ParsePrivateKeyPEM). As ssh does, it refuses a file that group or others
// may read or write (error ErrKeyFilePermissions, saying to run chmod 600),
// except on Windows, whose permissions Go does not map to Unix modes. It
// refuses anything but a regular file, and files over 64 KiB.
func ReadPrivateKeyFile(path string) (*PrivateKey, error) {
	// Stat first so that a FIFO or device is refused before opening it
	// (opening a FIFO blocks); then check the opened file itself.
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("private key: %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("private key: %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if err := checkKeyFileMode(path, fi.Mode()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("private key: reading %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("private key: %s is larger than %d KiB; it is not an ML-KEM key file", path, maxKeyFileSize>>10)
	}
	k, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func checkKeyFileMode(path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, so other users may read or change it; "+
			"a private key must be accessible only by its owner. Fix it with: chmod 600 %s",
			ErrKeyFilePermissions, path, perm, shellQuote(path))
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
