//go:build !unix

package identity

import (
	"io/fs"
	"os"
)

// openNoFollow opens path read-only. Outside Unix there are no FIFOs to
// block on; symbolic links are followed (openKeyFile still refuses a link
// it can see with Lstat).
func openNoFollow(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrInvalid}
	}
	return os.Open(path)
}

// checkKeyFileOwner does nothing: Go maps no file owner outside Unix.
func checkKeyFileOwner(string, fs.FileInfo) error { return nil }

// checkOwner does nothing: Go maps no file owner outside Unix.
func checkOwner(string, fs.FileInfo, string) error { return nil }

// openNonBlocking is os.OpenFile: outside Unix there are no FIFOs to block on.
func openNonBlocking(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// syncDir does nothing outside Unix, where directories cannot be synced.
func syncDir(string) {}

// ownedByRoot is false: Go maps no file owner outside Unix.
func ownedByRoot(fs.FileInfo) bool { return false }
