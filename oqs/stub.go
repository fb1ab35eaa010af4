//go:build !liboqs

package oqs

// This file stands in for liboqs when the package is built without the
// "liboqs" build tag: the API is the same, and every call that can fail
// returns an error wrapping ErrNotCompiled.

// Compiled reports whether liboqs is compiled into this binary: false here.
// Run 'make liboqs' and build with -tags liboqs to compile it in.
const Compiled = false

// Init returns an error wrapping ErrNotCompiled.
func Init() error { return ErrNotCompiled }

// LiboqsVersion returns "": liboqs is not compiled in.
func LiboqsVersion() string { return "" }

// EnabledKEMs returns nil: liboqs is not compiled in.
func EnabledKEMs() []string { return nil }

// IsKEMEnabled returns false: liboqs is not compiled in.
func IsKEMEnabled(name string) bool { return false }

// LiveSecretKeys returns 0: liboqs is not compiled in.
func LiveSecretKeys() int { return 0 }

// KeyEncapsulation is one KEM of liboqs. Without liboqs compiled in, NewKEM
// never returns one and every method returns an error wrapping
// ErrNotCompiled.
type KeyEncapsulation struct{}

// NewKEM returns an error wrapping ErrNotCompiled.
func NewKEM(name string) (*KeyEncapsulation, error) { return nil, ErrNotCompiled }

// Details returns the zero Details.
func (k *KeyEncapsulation) Details() Details { return Details{} }

// GenerateKeyPair returns an error wrapping ErrNotCompiled.
func (k *KeyEncapsulation) GenerateKeyPair() (publicKey []byte, err error) {
	return nil, ErrNotCompiled
}

// GenerateKeyPairDerand returns an error wrapping ErrNotCompiled.
func (k *KeyEncapsulation) GenerateKeyPairDerand(seed []byte) (publicKey []byte, err error) {
	return nil, ErrNotCompiled
}

// ImportSecretKey returns an error wrapping ErrNotCompiled.
func (k *KeyEncapsulation) ImportSecretKey(secretKey []byte) error { return ErrNotCompiled }

// ExportSecretKey returns an error wrapping ErrNotCompiled.
func (k *KeyEncapsulation) ExportSecretKey() ([]byte, error) { return nil, ErrNotCompiled }

// ExportSeed returns an error wrapping ErrNotCompiled.
func (k *KeyEncapsulation) ExportSeed() ([]byte, error) { return nil, ErrNotCompiled }

// EncapSecret returns an error wrapping ErrNotCompiled.
func (k *KeyEncapsulation) EncapSecret(publicKey []byte) (ciphertext, sharedSecret []byte, err error) {
	return nil, nil, ErrNotCompiled
}

// EncapSecretDerand returns an error wrapping ErrNotCompiled.
func (k *KeyEncapsulation) EncapSecretDerand(publicKey, seed []byte) (ciphertext, sharedSecret []byte, err error) {
	return nil, nil, ErrNotCompiled
}

// DecapSecret returns an error wrapping ErrNotCompiled.
func (k *KeyEncapsulation) DecapSecret(ciphertext []byte) (sharedSecret []byte, err error) {
	return nil, ErrNotCompiled
}

// Close does nothing and returns nil, as it does for a closed
// KeyEncapsulation when liboqs is compiled in.
func (k *KeyEncapsulation) Close() error { return nil }
