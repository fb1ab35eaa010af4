package cli

import (
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/kem"
)

// genKey writes a new private key of alg to path (mode 0600, never
// overwriting) and prints its fingerprint. who is "Server" or "Client".
func genKey(stdout io.Writer, path, alg, who string) error {
	s, err := kem.Lookup(alg, kem.BackendCircl)
	if err != nil {
		return err
	}
	dk, err := s.GenerateKey()
	if err != nil {
		return err
	}
	defer dk.Destroy()
	seed := dk.Bytes()
	defer clear(seed)
	if err := identity.WritePrivateKeyFile(path, alg, seed); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote a new %s private key to %s\n%s key fingerprint: %s\n", alg, path, who, identity.Fingerprint(dk.EncapsulationKey().Bytes()))
	return nil
}

// loadedKey is a private key file's key pair on a scheme.
type loadedKey struct {
	path   string
	alg    string
	dk     kem.DecapsulationKey
	scheme kem.Scheme
}

// loadKey reads path and makes its key pair on the backend named (or the
// default). alg, when set on the command line, must agree with the file.
func loadKey(path string, alg algFlag, backend string) (*loadedKey, error) {
	pk, err := identity.ReadPrivateKeyFile(path)
	if err != nil {
		return nil, err
	}
	defer pk.Wipe()
	if alg.set && alg.name != pk.Algorithm {
		return nil, &algMismatchError{flag: alg.name, path: path, file: pk.Algorithm}
	}
	s, err := kem.Lookup(pk.Algorithm, backend)
	if err != nil {
		return nil, err
	}
	dk, err := pk.DecapsulationKey(s)
	if err != nil {
		return nil, err
	}
	return &loadedKey{path: path, alg: pk.Algorithm, dk: dk, scheme: s}, nil
}

// algMismatchError is an -alg that contradicts the key file's algorithm: a
// usage error (commandLineError).
type algMismatchError struct{ flag, path, file string }

func (e *algMismatchError) Error() string {
	return fmt.Sprintf("-alg %s does not match the key in %s, which is %s", e.flag, e.path, e.file)
}

// defaultComment names a client key in an authorized-keys line, as
// ssh-keygen does: user@host.
func defaultComment() string {
	name := "kem-client"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}
