//go:build liboqs

package oqs

/*
#cgo pkg-config: liboqs
// liboqs never calls back into Go, and keeps no pointer it is given beyond
// the call: these let cgo skip preparing for callbacks and let Go buffers
// passed in stay where they are.
#cgo nocallback OQS_KEM_keypair
#cgo nocallback OQS_KEM_keypair_derand
#cgo nocallback OQS_KEM_encaps
#cgo nocallback OQS_KEM_encaps_derand
#cgo nocallback OQS_KEM_decaps
#cgo nocallback OQS_MEM_malloc
#cgo nocallback OQS_MEM_cleanse
#cgo nocallback OQS_MEM_secure_free
#cgo noescape OQS_KEM_keypair
#cgo noescape OQS_KEM_keypair_derand
#cgo noescape OQS_KEM_encaps
#cgo noescape OQS_KEM_encaps_derand
#cgo noescape OQS_KEM_decaps
#include <stdint.h>
#include <stdlib.h>
#include <oqs/oqs.h>

#if !defined(OQS_VERSION_MAJOR) || !defined(OQS_VERSION_MINOR) || (OQS_VERSION_MAJOR == 0 && OQS_VERSION_MINOR < 15)
#error "package oqs needs liboqs 0.15.0 or newer (OQS_KEM_encaps_derand): run 'make liboqs'"
#endif
*/
import "C"

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Compiled reports whether liboqs is compiled into this binary: true here,
// false when built without the "liboqs" build tag.
const Compiled = true

// The library state, set up once by Init.
var (
	initOnce sync.Once
	initErr  error
	version  string   // OQS_version()
	enabled  []string // enabled KEMs, in liboqs order, as liboqs spells them

	descMu sync.Mutex // serialises making descriptors
	descs  sync.Map   // canonical name -> *descriptor; never freed

	liveSecrets atomic.Int64 // secret-key buffers currently allocated in C
)

// Init initialises liboqs (OQS_init), checks that it is MinLiboqsVersion or
// newer and lists its enabled KEMs. It runs once; every other function calls
// it, so calling it is needed only to learn early whether liboqs is usable.
// It returns an error wrapping ErrVersion for a too old liboqs.
func Init() error {
	initOnce.Do(func() {
		C.OQS_init()
		v := C.OQS_version()
		if v == nil {
			initErr = fmt.Errorf("%w: OQS_version returned NULL", ErrFailed)
			return
		}
		version = C.GoString(v)
		ok, err := versionAtLeast(version, MinLiboqsVersion)
		if err != nil {
			initErr = fmt.Errorf("%w: %w", ErrVersion, err)
			return
		}
		if !ok {
			initErr = fmt.Errorf("%w: the linked liboqs is %q, this package needs %s or newer (for OQS_KEM_keypair_derand and OQS_KEM_encaps_derand)", ErrVersion, version, MinLiboqsVersion)
			return
		}
		n := int(C.OQS_KEM_alg_count())
		for i := 0; i < n; i++ {
			id := C.OQS_KEM_alg_identifier(C.size_t(i))
			if id != nil && C.OQS_KEM_alg_is_enabled(id) != 0 {
				enabled = append(enabled, C.GoString(id))
			}
		}
	})
	return initErr
}

// LiboqsVersion returns the version of the linked liboqs, e.g. "0.16.0",
// even when it is too old for this package; "" if liboqs reports none.
func LiboqsVersion() string {
	_ = Init()
	return version
}

// EnabledKEMs returns the names of the KEMs the linked liboqs has enabled,
// in liboqs order; nil if liboqs is unusable (see Init).
func EnabledKEMs() []string {
	if Init() != nil {
		return nil
	}
	return slices.Clone(enabled)
}

// IsKEMEnabled reports whether name is a KEM the linked liboqs has enabled.
// Like liboqs, it ignores ASCII case.
func IsKEMEnabled(name string) bool {
	if Init() != nil {
		return false
	}
	_, ok := canonicalName(name)
	return ok
}

// LiveSecretKeys returns how many secret-key buffers are allocated in C
// memory right now. It is meant for leak tests: every KeyEncapsulation holds
// at most one, from its first key pair or imported key until Close or until
// the garbage collector finds it unreachable.
func LiveSecretKeys() int {
	return int(liveSecrets.Load())
}

// canonicalName returns the enabled KEM that name is, ignoring ASCII case as
// liboqs's OQS_KEM_alg_is_enabled does.
func canonicalName(name string) (string, bool) {
	for _, n := range enabled {
		if asciiEqualFold(n, name) {
			return n, true
		}
	}
	return "", false
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// descriptor is liboqs's OQS_KEM for one algorithm: its sizes and function
// pointers. It is immutable, so one per algorithm is shared by every
// KeyEncapsulation and every goroutine, and lives as long as the program.
type descriptor struct {
	kem     *C.OQS_KEM
	details Details
}

// lookup returns the shared descriptor of an enabled KEM, making it on first
// use. Init must have succeeded.
func lookup(name string) (*descriptor, error) {
	if d, ok := descs.Load(name); ok { // the fast path: a name as liboqs spells it
		return d.(*descriptor), nil
	}
	canon, ok := canonicalName(name)
	if !ok {
		return nil, fmt.Errorf("%w %q (enabled: %s)", ErrUnknownKEM, name, strings.Join(enabled, ", "))
	}
	descMu.Lock()
	defer descMu.Unlock()
	if d, ok := descs.Load(canon); ok {
		return d.(*descriptor), nil
	}
	cname := C.CString(canon)
	defer C.free(unsafe.Pointer(cname))
	k := C.OQS_KEM_new(cname)
	if k == nil {
		return nil, fmt.Errorf("%w: OQS_KEM_new(%q) returned NULL", ErrFailed, canon)
	}
	d := &descriptor{kem: k, details: Details{
		Name:               canon,
		Version:            goStringOrEmpty(k.alg_version),
		ClaimedNISTLevel:   int(k.claimed_nist_level),
		IsINDCCA:           bool(k.ind_cca),
		LengthPublicKey:    int(k.length_public_key),
		LengthSecretKey:    int(k.length_secret_key),
		LengthCiphertext:   int(k.length_ciphertext),
		LengthSharedSecret: int(k.length_shared_secret),
		LengthKeypairSeed:  int(k.length_keypair_seed),
		LengthEncapsSeed:   int(k.length_encaps_seed),
	}}
	// Pointers are taken to the first byte of inputs and outputs of these
	// lengths, so none may be zero; a zero seed length means the KEM lacks
	// the derandomized call, which the methods check for.
	dt := d.details
	if dt.LengthPublicKey <= 0 || dt.LengthSecretKey <= 0 || dt.LengthCiphertext <= 0 || dt.LengthSharedSecret <= 0 ||
		dt.LengthKeypairSeed < 0 || dt.LengthEncapsSeed < 0 {
		C.OQS_KEM_free(k)
		return nil, fmt.Errorf("%w: %s: liboqs reports impossible lengths %+v", ErrFailed, canon, dt)
	}
	descs.Store(canon, d)
	return d, nil
}

func goStringOrEmpty(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// ptr returns a C pointer to b's first byte. Every caller has first checked
// that len(b) equals a KEM length, which lookup made sure is not zero.
func ptr(b []byte) *C.uint8_t {
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// KeyEncapsulation is one KEM of liboqs, optionally holding a secret key.
//
// Anyone can encapsulate to a public key with it (EncapSecret); after
// GenerateKeyPair, GenerateKeyPairDerand or ImportSecretKey it can also
// decapsulate (DecapSecret). The secret key is kept in C memory and wiped
// when it is replaced, on Close, or when the KeyEncapsulation is garbage
// collected without Close.
//
// A KeyEncapsulation is safe for concurrent use: any number of goroutines may
// encapsulate, decapsulate and export at once; the calls that set a key wait
// for those, and so does Close, after which every method returns ErrClosed.
// Share it by pointer; a copy of the struct would be wiped when the original
// is garbage collected.
type KeyEncapsulation struct {
	d       *descriptor
	s       *secretKey
	cleanup runtime.Cleanup // wipes and frees s if Close is never called
}

// secretKey is the mutable part of a KeyEncapsulation, apart from it so that
// a cleanup can wipe it once the KeyEncapsulation is unreachable.
type secretKey struct {
	mu      sync.RWMutex
	closed  bool
	buf     *C.uint8_t // nil, or size bytes from OQS_MEM_malloc: secret key || key pair seed
	size    int
	skLen   int
	hasSK   bool // buf holds a secret key
	hasSeed bool // buf holds the seed the secret key was made from
}

// NewKEM returns a KeyEncapsulation for the named KEM (e.g. "ML-KEM-768"),
// which must be enabled in the linked liboqs (EnabledKEMs); ASCII case is
// ignored. It holds no secret key yet. Close it when done; a KeyEncapsulation
// that is never closed is wiped and freed by the garbage collector.
func NewKEM(name string) (*KeyEncapsulation, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	d, err := lookup(name)
	if err != nil {
		return nil, err
	}
	k := &KeyEncapsulation{d: d, s: &secretKey{
		skLen: d.details.LengthSecretKey,
		size:  d.details.LengthSecretKey + d.details.LengthKeypairSeed,
	}}
	k.cleanup = runtime.AddCleanup(k, func(s *secretKey) { s.close() }, k.s)
	return k, nil
}

// parts returns the descriptor and secret state, or ErrClosed for a nil or
// zero KeyEncapsulation.
func (k *KeyEncapsulation) parts() (*descriptor, *secretKey, error) {
	if k == nil || k.d == nil || k.s == nil {
		return nil, nil, ErrClosed
	}
	return k.d, k.s, nil
}

// Details returns the KEM's name, version and sizes; the zero Details for a
// nil or zero KeyEncapsulation. It works after Close.
func (k *KeyEncapsulation) Details() Details {
	if k == nil || k.d == nil {
		return Details{}
	}
	return k.d.details
}

// GenerateKeyPair makes a key pair from liboqs's randomness
// (OQS_KEM_keypair), keeps the secret key, replacing any previous one, and
// returns the public key.
func (k *KeyEncapsulation) GenerateKeyPair() (publicKey []byte, err error) {
	d, s, err := k.parts()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.prepare(); err != nil {
		return nil, err
	}
	pk := make([]byte, d.details.LengthPublicKey)
	if C.OQS_KEM_keypair(d.kem, ptr(pk), s.buf) != C.OQS_SUCCESS {
		s.forget()
		return nil, fmt.Errorf("%w: %s: OQS_KEM_keypair failed", ErrFailed, d.details.Name)
	}
	s.hasSK = true
	return pk, nil
}

// GenerateKeyPairDerand makes the key pair of a seed (OQS_KEM_keypair_derand;
// for ML-KEM the 64 bytes d||z of FIPS 203 ML-KEM.KeyGen_internal), keeps the
// secret key and a copy of the seed, replacing any previous ones, and returns
// the public key. The same seed always gives the same key pair.
func (k *KeyEncapsulation) GenerateKeyPairDerand(seed []byte) (publicKey []byte, err error) {
	d, s, err := k.parts()
	if err != nil {
		return nil, err
	}
	want := d.details.LengthKeypairSeed
	if want == 0 {
		return nil, fmt.Errorf("%w: %s has no derandomized key generation", ErrUnsupported, d.details.Name)
	}
	if len(seed) != want {
		return nil, lengthError(ErrKeypairSeedLength, d.details.Name, len(seed), want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.prepare(); err != nil {
		return nil, err
	}
	copy(s.seedBytes(), seed)
	pk := make([]byte, d.details.LengthPublicKey)
	if C.OQS_KEM_keypair_derand(d.kem, ptr(pk), s.buf, s.seedPtr()) != C.OQS_SUCCESS {
		s.forget()
		return nil, fmt.Errorf("%w: %s: OQS_KEM_keypair_derand failed", ErrFailed, d.details.Name)
	}
	s.hasSK, s.hasSeed = true, true
	return pk, nil
}

// ImportSecretKey copies a secret key in (for ML-KEM, the FIPS 203 expanded
// decapsulation key), replacing any previous one. liboqs has no way to check
// a secret key; for ML-KEM, DecapSecret fails with ErrFailed when the hash
// H(ek) inside the key is wrong.
func (k *KeyEncapsulation) ImportSecretKey(secretKey []byte) error {
	d, s, err := k.parts()
	if err != nil {
		return err
	}
	if len(secretKey) != d.details.LengthSecretKey {
		return lengthError(ErrSecretKeyLength, d.details.Name, len(secretKey), d.details.LengthSecretKey)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.prepare(); err != nil {
		return err
	}
	copy(s.skBytes(), secretKey)
	s.hasSK = true
	return nil
}

// ExportSecretKey returns a copy of the secret key. The caller owns the copy
// and should clear it when done.
func (k *KeyEncapsulation) ExportSecretKey() ([]byte, error) {
	_, s, err := k.parts()
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	return slices.Clone(s.skBytes()), nil
}

// ExportSeed returns a copy of the seed the secret key was made from by
// GenerateKeyPairDerand, or an error wrapping ErrNoSeed for a key made by
// GenerateKeyPair or ImportSecretKey. The caller should clear it when done.
func (k *KeyEncapsulation) ExportSeed() ([]byte, error) {
	_, s, err := k.parts()
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	if !s.hasSeed {
		return nil, ErrNoSeed
	}
	return slices.Clone(s.seedBytes()), nil
}

// EncapSecret encapsulates a fresh shared secret to a public key
// (OQS_KEM_encaps). For ML-KEM, liboqs checks the public key (the FIPS 203
// modulus check) and a key that fails gives an error wrapping ErrFailed.
func (k *KeyEncapsulation) EncapSecret(publicKey []byte) (ciphertext, sharedSecret []byte, err error) {
	d, s, err := k.parts()
	if err != nil {
		return nil, nil, err
	}
	if len(publicKey) != d.details.LengthPublicKey {
		return nil, nil, lengthError(ErrPublicKeyLength, d.details.Name, len(publicKey), d.details.LengthPublicKey)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	ct := make([]byte, d.details.LengthCiphertext)
	ss := make([]byte, d.details.LengthSharedSecret)
	if C.OQS_KEM_encaps(d.kem, ptr(ct), ptr(ss), ptr(publicKey)) != C.OQS_SUCCESS {
		clear(ss)
		return nil, nil, fmt.Errorf("%w: %s: OQS_KEM_encaps rejected the public key", ErrFailed, d.details.Name)
	}
	return ct, ss, nil
}

// EncapSecretDerand is EncapSecret with the encapsulation's randomness given
// (OQS_KEM_encaps_derand; for ML-KEM the 32-byte m of FIPS 203
// ML-KEM.Encaps_internal). It is for known-answer tests: reusing a seed
// breaks the KEM's security.
func (k *KeyEncapsulation) EncapSecretDerand(publicKey, seed []byte) (ciphertext, sharedSecret []byte, err error) {
	d, s, err := k.parts()
	if err != nil {
		return nil, nil, err
	}
	want := d.details.LengthEncapsSeed
	if want == 0 {
		return nil, nil, fmt.Errorf("%w: %s has no derandomized encapsulation", ErrUnsupported, d.details.Name)
	}
	if len(publicKey) != d.details.LengthPublicKey {
		return nil, nil, lengthError(ErrPublicKeyLength, d.details.Name, len(publicKey), d.details.LengthPublicKey)
	}
	if len(seed) != want {
		return nil, nil, lengthError(ErrEncapsSeedLength, d.details.Name, len(seed), want)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	ct := make([]byte, d.details.LengthCiphertext)
	ss := make([]byte, d.details.LengthSharedSecret)
	if C.OQS_KEM_encaps_derand(d.kem, ptr(ct), ptr(ss), ptr(publicKey), ptr(seed)) != C.OQS_SUCCESS {
		clear(ss)
		return nil, nil, fmt.Errorf("%w: %s: OQS_KEM_encaps_derand rejected the public key", ErrFailed, d.details.Name)
	}
	return ct, ss, nil
}

// DecapSecret returns the shared secret of a ciphertext (OQS_KEM_decaps).
// For ML-KEM, a wrong ciphertext of the right length gives the implicit
// rejection secret, not an error (FIPS 203, Algorithm 18); an imported secret
// key whose hash H(ek) is wrong gives an error wrapping ErrFailed.
func (k *KeyEncapsulation) DecapSecret(ciphertext []byte) (sharedSecret []byte, err error) {
	d, s, err := k.parts()
	if err != nil {
		return nil, err
	}
	if len(ciphertext) != d.details.LengthCiphertext {
		return nil, lengthError(ErrCiphertextLength, d.details.Name, len(ciphertext), d.details.LengthCiphertext)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	ss := make([]byte, d.details.LengthSharedSecret)
	if C.OQS_KEM_decaps(d.kem, ptr(ss), ptr(ciphertext), s.buf) != C.OQS_SUCCESS {
		clear(ss)
		return nil, fmt.Errorf("%w: %s: OQS_KEM_decaps failed (is the secret key valid?)", ErrFailed, d.details.Name)
	}
	return ss, nil
}

// Close wipes (OQS_MEM_cleanse) and frees the secret key. It waits for
// operations in flight; afterwards every method but Details returns
// ErrClosed. Closing again, or closing nil, does nothing. The error is always
// nil; it is there for io.Closer.
func (k *KeyEncapsulation) Close() error {
	if k == nil || k.s == nil {
		return nil
	}
	if k.s.close() {
		// The cleanup has nothing left to do; cancelling it keeps the
		// runtime's list of cleanups short when keys come and go quickly.
		k.cleanup.Stop()
	}
	runtime.KeepAlive(k) // Stop needs k reachable until it returns
	return nil
}

// close wipes and frees the secret key and marks s closed, reporting
// whether s was open. It is also the cleanup that runs when the
// KeyEncapsulation is garbage.
func (s *secretKey) close() (wasOpen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wasOpen = !s.closed
	s.closed = true
	if s.buf != nil {
		C.OQS_MEM_secure_free(unsafe.Pointer(s.buf), C.size_t(s.size))
		s.buf = nil
		liveSecrets.Add(-1)
	}
	s.hasSK, s.hasSeed = false, false
	return wasOpen
}

// prepare readies buf for a new secret key: it checks that s is open,
// allocates buf on first use and wipes what it held. s.mu must be held for
// writing.
func (s *secretKey) prepare() error {
	if s.closed {
		return ErrClosed
	}
	if s.buf == nil {
		p := C.OQS_MEM_malloc(C.size_t(s.size))
		if p == nil {
			return fmt.Errorf("%w: OQS_MEM_malloc(%d) returned NULL", ErrFailed, s.size)
		}
		s.buf = (*C.uint8_t)(p)
		liveSecrets.Add(1)
	}
	s.forget()
	return nil
}

// forget wipes buf and records that it holds nothing. s.mu must be held for
// writing.
func (s *secretKey) forget() {
	if s.buf != nil {
		C.OQS_MEM_cleanse(unsafe.Pointer(s.buf), C.size_t(s.size))
	}
	s.hasSK, s.hasSeed = false, false
}

// usable returns an error unless s is open and holds a secret key. s.mu must
// be held.
func (s *secretKey) usable() error {
	if s.closed {
		return ErrClosed
	}
	if !s.hasSK {
		return ErrNoSecretKey
	}
	return nil
}

// skBytes and seedBytes are views of buf, which must not be nil.
func (s *secretKey) skBytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(s.buf)), s.skLen)
}

func (s *secretKey) seedBytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(s.seedPtr())), s.size-s.skLen)
}

func (s *secretKey) seedPtr() *C.uint8_t {
	return (*C.uint8_t)(unsafe.Add(unsafe.Pointer(s.buf), s.skLen))
}
