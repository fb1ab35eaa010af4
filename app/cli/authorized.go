package cli

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemtcp/kemtcp/app/identity"
)

// authorized is kem-server's -authorized-keys: the current set, swapped
// whole on reload, so that a connection sees one set or the other.
type authorized struct {
	path string
	alg  string
	keys atomic.Pointer[identity.AuthorizedKeys]

	mu   sync.Mutex
	seen fileStamp
}

// fileStamp tells whether a file changed: its size, modification time and
// inode.
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}, nil
}

func loadAuthorized(path, alg string) (*authorized, error) {
	a := &authorized{path: path, alg: alg}
	if _, err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// reload reads the file again; a bad file leaves the current set in place.
func (a *authorized) reload() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, _ := stamp(a.path)
	keys, err := identity.LoadAuthorizedKeys(a.path)
	if err != nil {
		a.seen = st // do not retry until it changes again
		return 0, err
	}
	a.seen = st
	a.keys.Store(keys)
	return keys.Len(), nil
}

// changed reports whether the file changed since it was last read.
func (a *authorized) changed() bool {
	st, err := stamp(a.path)
	a.mu.Lock()
	defer a.mu.Unlock()
	return err == nil && st != a.seen
}

func (a *authorized) len() int { return a.keys.Load().Len() }

// errNotAuthorized is why a client key is refused.
var errNotAuthorized = errors.New("not in the authorized keys")

// verify is the session's VerifyClientKey.
func (a *authorized) verify(ek []byte) error {
	if _, _, ok := a.keys.Load().Lookup(a.alg, ek); !ok {
		return fmt.Errorf("%w (%s)", errNotAuthorized, a.path)
	}
	return nil
}

// describe names a client key in the lines: its comment and fingerprint.
func (a *authorized) describe(ek []byte) string {
	comment, fp, ok := a.keys.Load().Lookup(a.alg, ek)
	switch {
	case !ok:
		return identity.Fingerprint(ek)
	case comment == "":
		return fp
	}
	return comment + " " + fp
}
