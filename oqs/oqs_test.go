//go:build liboqs

package oqs_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/oqs"
)

// fips203 are the sizes of FIPS 203, Table 3, and the NIST levels.
var fips203 = map[string]struct {
	ek, dk, ct, level int
}{
	"ML-KEM-512":  {ek: 800, dk: 1632, ct: 768, level: 1},
	"ML-KEM-768":  {ek: 1184, dk: 2400, ct: 1088, level: 3},
	"ML-KEM-1024": {ek: 1568, dk: 3168, ct: 1568, level: 5},
}

func TestCompiled(t *testing.T) {
	assert.True(t, oqs.Compiled)
	require.NoError(t, oqs.Init())
}

func TestLiboqsVersion(t *testing.T) {
	v := oqs.LiboqsVersion()
	require.NotEmpty(t, v)
	var major, minor, patch int
	_, err := fmt.Sscanf(strings.SplitN(v, "-", 2)[0], "%d.%d.%d", &major, &minor, &patch)
	require.NoError(t, err, "version %q", v)
	assert.True(t, major > 0 || minor >= 15, "liboqs %s is older than %s", v, oqs.MinLiboqsVersion)
}

func TestEnabledKEMs(t *testing.T) {
	names := oqs.EnabledKEMs()
	for _, name := range mlkemNames {
		assert.Contains(t, names, name)
		assert.True(t, oqs.IsKEMEnabled(name), name)
	}
	// The result is a copy.
	names[0] = "changed"
	assert.NotContains(t, oqs.EnabledKEMs(), "changed")
}

func TestIsKEMEnabledIgnoresASCIICase(t *testing.T) {
	assert.True(t, oqs.IsKEMEnabled("ml-kem-768"))
	assert.True(t, oqs.IsKEMEnabled("Ml-Kem-1024"))
	k, err := oqs.NewKEM("ml-kem-512")
	require.NoError(t, err)
	defer k.Close()
	assert.Equal(t, "ML-KEM-512", k.Details().Name)
}

// badNames are never KEM names: unknown, empty, near misses, and names with
// a NUL (a C string would stop there and match "ML-KEM-768").
var badNames = []string{
	"", "ML-KEM-999", "ML-KEM", "ML-KEM-768 ", " ML-KEM-768", "ML-KEM-768\x00", "ML-KEM-768\x00junk",
	"\x00", "ML\x00KEM-768", "ML-KEM-\u212a68", "MLKEM768", "768", strings.Repeat("A", 1<<16),
}

func TestUnknownKEM(t *testing.T) {
	for _, name := range badNames {
		assert.False(t, oqs.IsKEMEnabled(name), "%q", name)
		k, err := oqs.NewKEM(name)
		require.ErrorIs(t, err, oqs.ErrUnknownKEM, "%q", name)
		require.Nil(t, k)
		if len(name) < 100 {
			assert.Contains(t, err.Error(), fmt.Sprintf("oqs: unknown or disabled KEM %q", name))
		}
	}
}

// TestDisabledKEM asks for KEMs that liboqs knows but this build disabled.
// kemtcp's build (scripts/build-liboqs.sh) enables ML-KEM only.
func TestDisabledKEM(t *testing.T) {
	known := []string{"Kyber512", "Kyber768", "BIKE-L1", "HQC-1", "FrodoKEM-640-AES", "Classic-McEliece-348864", "sntrup761"}
	tried := 0
	for _, name := range known {
		if oqs.IsKEMEnabled(name) {
			continue
		}
		tried++
		_, err := oqs.NewKEM(name)
		require.ErrorIs(t, err, oqs.ErrUnknownKEM, name)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", name))
	}
	if tried == 0 {
		t.Skip("this liboqs enables every KEM tried; no disabled one to ask for")
	}
}

func TestDetails(t *testing.T) {
	forEachMLKEM(t, func(t *testing.T, name string) {
		want := fips203[name]
		k := newKEM(t, name)
		d := k.Details()
		assert.Equal(t, name, d.Name)
		assert.NotEmpty(t, d.Version)
		assert.Equal(t, want.level, d.ClaimedNISTLevel)
		assert.True(t, d.IsINDCCA)
		assert.Equal(t, want.ek, d.LengthPublicKey)
		assert.Equal(t, want.dk, d.LengthSecretKey)
		assert.Equal(t, want.ct, d.LengthCiphertext)
		assert.Equal(t, 32, d.LengthSharedSecret)
		assert.Equal(t, 64, d.LengthKeypairSeed)
		assert.Equal(t, 32, d.LengthEncapsSeed)
	})
}

func TestRoundTrip(t *testing.T) {
	forEachMLKEM(t, func(t *testing.T, name string) {
		d := fips203[name]
		server := newKEM(t, name)
		client := newKEM(t, name)
		pk, err := server.GenerateKeyPair()
		require.NoError(t, err)
		require.Len(t, pk, d.ek)

		ct, ss, err := client.EncapSecret(pk)
		require.NoError(t, err)
		require.Len(t, ct, d.ct)
		require.Len(t, ss, 32)
		got, err := server.DecapSecret(ct)
		require.NoError(t, err)
		assert.Equal(t, ss, got)

		// Fresh randomness each time.
		ct2, ss2, err := client.EncapSecret(pk)
		require.NoError(t, err)
		assert.NotEqual(t, ct, ct2)
		assert.NotEqual(t, ss, ss2)

		// A changed ciphertext decapsulates to the implicit-rejection
		// secret, not an error.
		ct[0] ^= 1
		rejected, err := server.DecapSecret(ct)
		require.NoError(t, err)
		assert.NotEqual(t, ss, rejected)

		// The secret key is the FIPS 203 expanded key: ek sits inside it.
		sk, err := server.ExportSecretKey()
		require.NoError(t, err)
		require.Len(t, sk, d.dk)
		assert.Equal(t, pk, sk[384*(d.ek/384):384*(d.ek/384)+d.ek])

		_, err = server.ExportSeed()
		require.ErrorIs(t, err, oqs.ErrNoSeed)
	})
}

func TestDerandIsDeterministic(t *testing.T) {
	forEachMLKEM(t, func(t *testing.T, name string) {
		seed := randomBytes(64)
		a, b := newKEM(t, name), newKEM(t, name)
		pkA, err := a.GenerateKeyPairDerand(seed)
		require.NoError(t, err)
		pkB, err := b.GenerateKeyPairDerand(seed)
		require.NoError(t, err)
		assert.Equal(t, pkA, pkB)
		skA, err := a.ExportSecretKey()
		require.NoError(t, err)
		skB, err := b.ExportSecretKey()
		require.NoError(t, err)
		assert.Equal(t, skA, skB)
		gotSeed, err := a.ExportSeed()
		require.NoError(t, err)
		assert.Equal(t, seed, gotSeed)

		// z (the second half of the seed) is only the rejection secret: it
		// changes dk but not ek.
		other := bytes.Clone(seed)
		other[63] ^= 1
		pkC, err := newKEM(t, name).GenerateKeyPairDerand(other)
		require.NoError(t, err)
		assert.Equal(t, pkA, pkC)
		other[0] ^= 1
		pkD, err := newKEM(t, name).GenerateKeyPairDerand(other)
		require.NoError(t, err)
		assert.NotEqual(t, pkA, pkD)

		m := randomBytes(32)
		ct1, ss1, err := a.EncapSecretDerand(pkA, m)
		require.NoError(t, err)
		ct2, ss2, err := b.EncapSecretDerand(pkA, m)
		require.NoError(t, err)
		assert.Equal(t, ct1, ct2)
		assert.Equal(t, ss1, ss2)
		got, err := b.DecapSecret(ct1)
		require.NoError(t, err)
		assert.Equal(t, ss1, got)

		m[0] ^= 1
		ct3, ss3, err := a.EncapSecretDerand(pkA, m)
		require.NoError(t, err)
		assert.NotEqual(t, ct1, ct3)
		assert.NotEqual(t, ss1, ss3)
	})
}

// TestKeysAreCopied checks that no secret is shared with the caller: the
// seed and secret key are copied in, and exports are fresh copies.
func TestKeysAreCopied(t *testing.T) {
	k := newKEM(t, "ML-KEM-768")
	seed := randomBytes(64)
	want := bytes.Clone(seed)
	_, err := k.GenerateKeyPairDerand(seed)
	require.NoError(t, err)
	clear(seed)
	got, err := k.ExportSeed()
	require.NoError(t, err)
	assert.Equal(t, want, got)
	clear(got)
	got, err = k.ExportSeed()
	require.NoError(t, err)
	assert.Equal(t, want, got)

	sk, err := k.ExportSecretKey()
	require.NoError(t, err)
	skCopy := bytes.Clone(sk)
	clear(sk)
	sk2, err := k.ExportSecretKey()
	require.NoError(t, err)
	assert.Equal(t, skCopy, sk2)

	imported := newKEM(t, "ML-KEM-768")
	require.NoError(t, imported.ImportSecretKey(sk2))
	clear(sk2)
	sk3, err := imported.ExportSecretKey()
	require.NoError(t, err)
	assert.Equal(t, skCopy, sk3)
}

func TestImportSecretKey(t *testing.T) {
	forEachMLKEM(t, func(t *testing.T, name string) {
		orig := newKEM(t, name)
		pk, err := orig.GenerateKeyPairDerand(randomBytes(64))
		require.NoError(t, err)
		sk, err := orig.ExportSecretKey()
		require.NoError(t, err)

		k := newKEM(t, name)
		require.NoError(t, k.ImportSecretKey(sk))
		_, err = k.ExportSeed()
		require.ErrorIs(t, err, oqs.ErrNoSeed)
		ct, ss, err := k.EncapSecret(pk)
		require.NoError(t, err)
		got, err := k.DecapSecret(ct)
		require.NoError(t, err)
		assert.Equal(t, ss, got)

		// liboqs (mlkem-native) checks H(ek) inside the secret key when
		// decapsulating: a key with a wrong hash is refused, not used.
		d := fips203[name]
		bad := bytes.Clone(sk)
		bad[d.dk-64] ^= 1
		require.NoError(t, k.ImportSecretKey(bad))
		_, err = k.DecapSecret(ct)
		require.ErrorIs(t, err, oqs.ErrFailed)
		assert.Contains(t, err.Error(), "OQS_KEM_decaps")

		// Replacing the key with a seeded one brings the seed back.
		seed := randomBytes(64)
		_, err = k.GenerateKeyPairDerand(seed)
		require.NoError(t, err)
		gotSeed, err := k.ExportSeed()
		require.NoError(t, err)
		assert.Equal(t, seed, gotSeed)
		// And a random key pair drops it.
		_, err = k.GenerateKeyPair()
		require.NoError(t, err)
		_, err = k.ExportSeed()
		require.ErrorIs(t, err, oqs.ErrNoSeed)
	})
}

// TestEncapsModulusCheck gives liboqs public keys with one coefficient of q
// or more: FIPS 203 (Section 7.2) requires encapsulation to refuse them.
func TestEncapsModulusCheck(t *testing.T) {
	forEachMLKEM(t, func(t *testing.T, name string) {
		k := newKEM(t, name)
		pk, err := k.GenerateKeyPair()
		require.NoError(t, err)
		for _, tc := range []struct {
			i    int // byte offset of a coefficient pair
			high bool
			v    uint16
		}{{0, false, 3329}, {0, true, 3329}, {3, false, 4095}, {len(pk) - 32 - 3, true, 3329}} {
			bad := bytes.Clone(pk)
			if tc.high {
				bad[tc.i+1] = bad[tc.i+1]&0x0f | byte(tc.v<<4)
				bad[tc.i+2] = byte(tc.v >> 4)
			} else {
				bad[tc.i] = byte(tc.v)
				bad[tc.i+1] = bad[tc.i+1]&0xf0 | byte(tc.v>>8)
			}
			_, _, err := k.EncapSecret(bad)
			require.ErrorIs(t, err, oqs.ErrFailed, "%+v", tc)
			_, _, err = k.EncapSecretDerand(bad, make([]byte, 32))
			require.ErrorIs(t, err, oqs.ErrFailed, "%+v", tc)
		}
		// q-1 is fine.
		ok := bytes.Clone(pk)
		ok[0] = byte(3328 & 0xff)
		ok[1] = ok[1]&0xf0 | byte(3328>>8)
		_, _, err = k.EncapSecret(ok)
		require.NoError(t, err)
	})
}

func TestNoSecretKey(t *testing.T) {
	k := newKEM(t, "ML-KEM-768")
	_, err := k.DecapSecret(make([]byte, 1088))
	require.ErrorIs(t, err, oqs.ErrNoSecretKey)
	_, err = k.ExportSecretKey()
	require.ErrorIs(t, err, oqs.ErrNoSecretKey)
	_, err = k.ExportSeed()
	require.ErrorIs(t, err, oqs.ErrNoSecretKey)
	// Encapsulation needs no secret key.
	other := newKEM(t, "ML-KEM-768")
	pk, err := other.GenerateKeyPair()
	require.NoError(t, err)
	_, _, err = k.EncapSecret(pk)
	require.NoError(t, err)
}

// lengths returns the wrong lengths to try for an input of length want.
func lengths(want int) []int {
	out := []int{0, 1, want - 1, want + 1, 2 * want, want / 2, 31, 32, 33, 63, 64, 65, 768, 800, 1088, 1184, 1568, 1632, 2400, 3168, 1 << 16}
	var wrong []int
	for _, n := range out {
		if n != want && n >= 0 {
			wrong = append(wrong, n)
		}
	}
	return wrong
}

// TestWrongLengths gives every input of every method every wrong length,
// nil included: each must be an error wrapping the right sentinel and naming
// the sizes, never a panic.
func TestWrongLengths(t *testing.T) {
	forEachMLKEM(t, func(t *testing.T, name string) {
		d := fips203[name]
		k := newKEM(t, name)
		pk, err := k.GenerateKeyPair()
		require.NoError(t, err)
		ct, _, err := k.EncapSecret(pk)
		require.NoError(t, err)

		check := func(t *testing.T, err error, sentinel error, got, want int) {
			t.Helper()
			require.ErrorIs(t, err, sentinel)
			assert.Contains(t, err.Error(), fmt.Sprintf("%s: got %d bytes, want %d", name, got, want))
		}
		inputs := []struct {
			what string
			want int
			call func(b []byte) error
			err  error
		}{
			{"GenerateKeyPairDerand seed", 64, func(b []byte) error { _, err := k.GenerateKeyPairDerand(b); return err }, oqs.ErrKeypairSeedLength},
			{"ImportSecretKey", d.dk, func(b []byte) error { return k.ImportSecretKey(b) }, oqs.ErrSecretKeyLength},
			{"EncapSecret", d.ek, func(b []byte) error { _, _, err := k.EncapSecret(b); return err }, oqs.ErrPublicKeyLength},
			{"EncapSecretDerand public key", d.ek, func(b []byte) error { _, _, err := k.EncapSecretDerand(b, make([]byte, 32)); return err }, oqs.ErrPublicKeyLength},
			{"EncapSecretDerand seed", 32, func(b []byte) error { _, _, err := k.EncapSecretDerand(pk, b); return err }, oqs.ErrEncapsSeedLength},
			{"DecapSecret", d.ct, func(b []byte) error { _, err := k.DecapSecret(b); return err }, oqs.ErrCiphertextLength},
		}
		for _, in := range inputs {
			t.Run(in.what, func(t *testing.T) {
				check(t, in.call(nil), in.err, 0, in.want)
				for _, n := range lengths(in.want) {
					check(t, in.call(make([]byte, n)), in.err, n, in.want)
					// An empty slice with capacity is still empty.
					if n == 0 {
						check(t, in.call(make([]byte, 0, in.want)), in.err, 0, in.want)
					}
				}
			})
		}
		// Failed calls left the key pair alone.
		got, err := k.DecapSecret(ct)
		require.NoError(t, err)
		_, ss, err := k.EncapSecret(pk)
		require.NoError(t, err)
		require.Len(t, ss, 32)
		require.Len(t, got, 32)
	})
}

func TestClose(t *testing.T) {
	k, err := oqs.NewKEM("ML-KEM-768")
	require.NoError(t, err)
	pk, err := k.GenerateKeyPairDerand(randomBytes(64))
	require.NoError(t, err)
	ct, _, err := k.EncapSecret(pk)
	require.NoError(t, err)

	require.NoError(t, k.Close())
	require.NoError(t, k.Close(), "Close twice")
	assertClosed(t, k, pk, ct)
	assert.Equal(t, "ML-KEM-768", k.Details().Name, "Details works after Close")
}

func TestNilAndZeroKeyEncapsulation(t *testing.T) {
	for _, k := range []*oqs.KeyEncapsulation{nil, {}} {
		assert.Equal(t, oqs.Details{}, k.Details())
		assertClosed(t, k, make([]byte, 1184), make([]byte, 1088))
		require.NoError(t, k.Close())
	}
}

// assertClosed checks that every method of k fails with ErrClosed.
func assertClosed(t *testing.T, k *oqs.KeyEncapsulation, pk, ct []byte) {
	t.Helper()
	_, err := k.GenerateKeyPair()
	require.ErrorIs(t, err, oqs.ErrClosed)
	_, err = k.GenerateKeyPairDerand(make([]byte, 64))
	require.ErrorIs(t, err, oqs.ErrClosed)
	skLen := k.Details().LengthSecretKey
	if skLen == 0 {
		skLen = 2400
	}
	require.ErrorIs(t, k.ImportSecretKey(make([]byte, skLen)), oqs.ErrClosed)
	_, err = k.ExportSecretKey()
	require.ErrorIs(t, err, oqs.ErrClosed)
	_, err = k.ExportSeed()
	require.ErrorIs(t, err, oqs.ErrClosed)
	_, _, err = k.EncapSecret(pk)
	require.ErrorIs(t, err, oqs.ErrClosed)
	_, _, err = k.EncapSecretDerand(pk, make([]byte, 32))
	require.ErrorIs(t, err, oqs.ErrClosed)
	_, err = k.DecapSecret(ct)
	require.ErrorIs(t, err, oqs.ErrClosed)
}

// TestConcurrentUse has many goroutines share one KeyEncapsulation.
func TestConcurrentUse(t *testing.T) {
	k := newKEM(t, "ML-KEM-768")
	pk, err := k.GenerateKeyPair()
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 50 {
				ct, ss, err := k.EncapSecret(pk)
				if err != nil {
					errs <- err
					return
				}
				got, err := k.DecapSecret(ct)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(ss, got) {
					errs <- errors.New("shared secrets differ")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestConcurrentClose closes a KeyEncapsulation while many goroutines use
// it: each call must either work or fail with ErrClosed, never crash, and
// every call after Close must fail. Run it with -race.
func TestConcurrentClose(t *testing.T) {
	for round := range 20 {
		k, err := oqs.NewKEM("ML-KEM-512")
		require.NoError(t, err)
		pk, err := k.GenerateKeyPairDerand(randomBytes(64))
		require.NoError(t, err)
		ct, ss, err := k.EncapSecret(pk)
		require.NoError(t, err)

		var wg sync.WaitGroup
		var closed sync.WaitGroup
		closed.Add(1)
		errs := make(chan error, 64)
		start := make(chan struct{})
		for g := range 8 {
			wg.Go(func() {
				<-start
				for i := 0; ; i++ {
					var err error
					switch (g + i) % 5 {
					case 0:
						var got []byte
						if got, err = k.DecapSecret(ct); err == nil && !bytes.Equal(got, ss) {
							err = errors.New("wrong shared secret")
						}
					case 1:
						_, _, err = k.EncapSecret(pk)
					case 2:
						_, _, err = k.EncapSecretDerand(pk, make([]byte, 32))
					case 3:
						_, err = k.ExportSecretKey()
					case 4:
						_, err = k.ExportSeed()
					}
					if errors.Is(err, oqs.ErrClosed) {
						return
					}
					if err != nil {
						errs <- fmt.Errorf("round %d: %w", round, err)
						return
					}
				}
			})
		}
		close(start)
		time.Sleep(time.Millisecond)
		require.NoError(t, k.Close())
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assertClosed(t, k, pk, ct)
	}
}

// TestSecretKeysAreFreed checks that C memory is given back: at once on
// Close, and by the garbage collector for a KeyEncapsulation never closed.
func TestSecretKeysAreFreed(t *testing.T) {
	base := liveSecretKeys(t)
	k, err := oqs.NewKEM("ML-KEM-768")
	require.NoError(t, err)
	assert.Equal(t, base, oqs.LiveSecretKeys(), "no secret key, no C memory")
	_, err = k.GenerateKeyPair()
	require.NoError(t, err)
	assert.Equal(t, base+1, oqs.LiveSecretKeys())
	_, err = k.GenerateKeyPairDerand(randomBytes(64))
	require.NoError(t, err)
	assert.Equal(t, base+1, oqs.LiveSecretKeys(), "a new key pair reuses the buffer")
	require.NoError(t, k.Close())
	assert.Equal(t, base, oqs.LiveSecretKeys())

	func() {
		for range 100 {
			k, err := oqs.NewKEM("ML-KEM-512")
			require.NoError(t, err)
			_, err = k.GenerateKeyPair()
			require.NoError(t, err)
		}
	}()
	require.Eventually(t, func() bool {
		runtime.GC()
		return oqs.LiveSecretKeys() == base
	}, time.Minute, 10*time.Millisecond, "secret keys of unclosed KeyEncapsulations were not freed: %d live, want %d", oqs.LiveSecretKeys(), base)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
