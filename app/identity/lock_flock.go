//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package identity

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes a flock(2) on f, exclusive (for writing) or shared (for
// reading), waiting for it; closing f releases it. flock locks belong to
// the open file, so two opens of the same file exclude each other within a
// process as across processes.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
