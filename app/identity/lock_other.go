//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package identity

import "os"

// lockFile does nothing where flock(2) is missing (Windows, AIX, Solaris):
// there a KnownHosts's own mutex orders its own Add and Remove calls, but
// processes sharing the file are not ordered.
func lockFile(*os.File, bool) error { return nil }
