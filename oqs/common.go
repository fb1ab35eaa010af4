package oqs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MinLiboqsVersion is the oldest liboqs this package accepts: 0.15.0 added
// OQS_KEM_encaps_derand.
const MinLiboqsVersion = "0.15.0"

// Errors returned by this package. They are wrapped with detail (the KEM, the
// bad input, the sizes), so compare them with errors.Is.
var (
	// ErrNotCompiled is returned by every call when the package was built
	// without the "liboqs" build tag.
	ErrNotCompiled = errors.New("oqs: liboqs is not compiled in (the program was built without the liboqs build tag)")
	// ErrVersion means the linked liboqs is older than MinLiboqsVersion.
	ErrVersion = errors.New("oqs: liboqs is too old")
	// ErrUnknownKEM means the name is not a KEM that the linked liboqs has
	// enabled.
	ErrUnknownKEM = errors.New("oqs: unknown or disabled KEM")
	// ErrUnsupported means the KEM lacks the operation, e.g. a KEM with no
	// derandomized encapsulation.
	ErrUnsupported = errors.New("oqs: operation not supported")
	// ErrClosed is returned by the methods of a KeyEncapsulation after Close,
	// and of a nil or zero KeyEncapsulation.
	ErrClosed = errors.New("oqs: KeyEncapsulation is closed or was not made by NewKEM")
	// ErrNoSecretKey means DecapSecret or ExportSecretKey was called before a
	// key pair was generated or a secret key imported.
	ErrNoSecretKey = errors.New("oqs: no secret key: generate a key pair or import a secret key first")
	// ErrNoSeed means ExportSeed was called for a secret key that was not
	// made by GenerateKeyPairDerand.
	ErrNoSeed = errors.New("oqs: the secret key was not made from a seed")
	// ErrFailed means a liboqs call returned an error (for ML-KEM: a public
	// key failing the FIPS 203 modulus check in encapsulation, a secret key
	// failing the hash check in decapsulation) or memory could not be
	// allocated.
	ErrFailed = errors.New("oqs: liboqs call failed")
	// ErrArgument is returned by TimeInC for a bad operation or count.
	ErrArgument = errors.New("oqs: invalid argument")

	// Wrong input lengths. The wrapped message names the KEM and says what
	// was given and what is wanted.
	ErrPublicKeyLength   = errors.New("oqs: wrong public key length")
	ErrSecretKeyLength   = errors.New("oqs: wrong secret key length")
	ErrCiphertextLength  = errors.New("oqs: wrong ciphertext length")
	ErrKeypairSeedLength = errors.New("oqs: wrong key pair seed length")
	ErrEncapsSeedLength  = errors.New("oqs: wrong encapsulation seed length")
)

// Details describes a KEM as liboqs does (the fields of its OQS_KEM struct).
// Lengths are in bytes.
type Details struct {
	Name               string // e.g. "ML-KEM-768"
	Version            string // the implementation's version, e.g. "FIPS203"
	ClaimedNISTLevel   int
	IsINDCCA           bool
	LengthPublicKey    int
	LengthSecretKey    int // for ML-KEM, the FIPS 203 expanded decapsulation key
	LengthCiphertext   int
	LengthSharedSecret int
	LengthKeypairSeed  int // 0 if the KEM has no derandomized key generation
	LengthEncapsSeed   int // 0 if the KEM has no derandomized encapsulation
}

// lengthError wraps a length sentinel with the KEM name and the sizes.
func lengthError(sentinel error, kem string, got, want int) error {
	return fmt.Errorf("%w: %s: got %d bytes, want %d", sentinel, kem, got, want)
}

// versionAtLeast reports whether the liboqs version v (e.g. "0.16.0" or
// "0.15.0-rc1"; a pre-release counts as its release) is minimum or newer.
func versionAtLeast(v, minimum string) (bool, error) {
	got, err := parseVersion(v)
	if err != nil {
		return false, err
	}
	want, err := parseVersion(minimum)
	if err != nil {
		return false, err
	}
	for i := range got {
		if got[i] != want[i] {
			return got[i] > want[i], nil
		}
	}
	return true, nil
}

// parseVersion parses "MAJOR.MINOR.PATCH", optionally followed by
// "-SUFFIX".
func parseVersion(v string) ([3]int, error) {
	var out [3]int
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != len(out) {
		return out, fmt.Errorf("cannot parse liboqs version %q: want MAJOR.MINOR.PATCH", v)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || strings.TrimLeft(p, "0123456789") != "" {
			return out, fmt.Errorf("cannot parse liboqs version %q: want MAJOR.MINOR.PATCH", v)
		}
		out[i] = n
	}
	return out, nil
}
