//go:build unix

package identity

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openNoFollow opens path read-only without following a symbolic link as
// its last component (O_NOFOLLOW) and without blocking (O_NONBLOCK: opening
// a FIFO that no one writes to would otherwise wait for a writer). The flag
// changes nothing for reading a regular file.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
}

// checkKeyFileOwner refuses, as ssh does, a key file that belongs neither
// to the current user nor to root.
func checkKeyFileOwner(path string, fi fs.FileInfo) error {
	return checkOwner(path, fi, "a private key")
}

// checkOwner refuses a file (what, e.g. "a private key") that belongs
// neither to the current user nor to root: its owner could change it.
func checkOwner(path string, fi fs.FileInfo, what string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	uid := os.Geteuid()
	if int(st.Uid) == uid || st.Uid == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s is owned by uid %d, but this process runs as uid %d; "+
		"%s must belong to the user who uses it (or to root)", ErrKeyFileOwner, path, st.Uid, uid, what)
}

// openNonBlocking is os.OpenFile with O_NONBLOCK, so that a FIFO at path
// opens at once instead of waiting for a writer (the caller then refuses
// it as not a regular file).
func openNonBlocking(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag|syscall.O_NONBLOCK, perm)
}

// syncDir syncs the directory dir, so that a rename in it lasts; errors are
// ignored (some file systems cannot sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ownedByRoot reports whether fi's owner is root.
func ownedByRoot(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0
}
