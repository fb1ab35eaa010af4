//go:build liboqs

package kem_test

// Tests of what only the liboqs backend does: its secret keys live in C
// memory (package oqs), which Destroy and the garbage collector must free.
// The behaviour every backend shares is tested across backends in the other
// files.

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/oqs"
)

func liboqsScheme(t testing.TB, alg string) kem.Scheme {
	t.Helper()
	s, err := kem.Lookup(alg, kem.BackendLiboqs)
	require.NoError(t, err)
	return s
}

// liveSecretKeys returns oqs.LiveSecretKeys once the keys that earlier tests
// dropped without Destroy have been collected, so that counts taken by a
// test change only through what the test itself does.
func liveSecretKeys(t testing.TB) int {
	t.Helper()
	last, same := -1, 0
	for range 1000 {
		runtime.GC()
		time.Sleep(time.Millisecond)
		n := oqs.LiveSecretKeys()
		if n == last {
			if same++; same == 3 {
				return n
			}
		} else {
			last, same = n, 0
		}
	}
	t.Fatalf("oqs.LiveSecretKeys never settled (last %d)", last)
	return 0
}

func TestLiboqsIsDefault(t *testing.T) {
	assert.Equal(t, kem.BackendLiboqs, kem.DefaultBackend())
	assert.Equal(t, kem.BackendLiboqs, kem.Backends()[0])
	v := kem.BackendVersion(kem.BackendLiboqs)
	assert.Equal(t, "liboqs "+oqs.LiboqsVersion(), v)
	assert.NotEqual(t, "liboqs ", v)
	s, err := kem.Lookup("768", "")
	require.NoError(t, err)
	assert.Equal(t, kem.BackendLiboqs, s.Backend())
	assert.Same(t, s, liboqsScheme(t, kem.MLKEM768), "one Scheme per parameter set")
}

// TestLiboqsExpandedLayout checks ExpandedBytes against FIPS 203's layout
// dk = dk_PKE || ek || H(ek) || z, with z the second half of the seed.
func TestLiboqsExpandedLayout(t *testing.T) {
	for _, alg := range mlkemAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			p, err := kem.ParamsFor(alg)
			require.NoError(t, err)
			seed := randomBytes(kem.SeedSize)
			dk, err := liboqsScheme(t, alg).NewDecapsulationKey(seed)
			require.NoError(t, err)
			defer dk.Destroy()
			assert.Equal(t, seed, dk.Bytes())
			x := dk.(kem.Expander).ExpandedBytes()
			require.Len(t, x, p.DecapsulationKeySize)
			ek := dk.EncapsulationKey().Bytes()
			off := p.DecapsulationKeySize - p.EncapsulationKeySize - 64
			assert.Equal(t, ek, x[off:off+p.EncapsulationKeySize])
			h := sha3.Sum256(ek)
			assert.Equal(t, h[:], x[off+p.EncapsulationKeySize:off+p.EncapsulationKeySize+32])
			assert.Equal(t, seed[32:], x[p.DecapsulationKeySize-32:])
		})
	}
}

// TestLiboqsDestroyFreesCMemory checks that each decapsulation key holds one
// buffer of C memory, that Destroy frees it at once, and that the key then
// refuses to work with kem.ErrDestroyed.
func TestLiboqsDestroyFreesCMemory(t *testing.T) {
	s := liboqsScheme(t, kem.MLKEM768)
	base := liveSecretKeys(t)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	dk2, err := s.(kem.ExpandedKeyParser).NewDecapsulationKeyExpanded(dk.(kem.Expander).ExpandedBytes())
	require.NoError(t, err)
	assert.Equal(t, base+2, oqs.LiveSecretKeys())

	_, ct, err := dk.EncapsulationKey().Encapsulate()
	require.NoError(t, err)
	dk.Destroy()
	dk2.Destroy()
	dk2.Destroy()
	assert.Equal(t, base, oqs.LiveSecretKeys())

	for _, k := range []kem.DecapsulationKey{dk, dk2} {
		_, err = k.Decapsulate(ct)
		require.ErrorIs(t, err, kem.ErrDestroyed)
		assert.Contains(t, err.Error(), kem.MLKEM768)
		assert.Nil(t, k.Bytes())
		assert.Nil(t, k.(kem.Expander).ExpandedBytes())
	}
	// The encapsulation key is public and stays usable.
	_, _, err = dk.EncapsulationKey().Encapsulate()
	require.NoError(t, err)

	// A nil key of the backend's type gets past kem.Destroy's nil check
	// (the interface is not nil); destroying it must not panic.
	nilKey := reflect.Zero(reflect.TypeOf(dk)).Interface().(kem.DecapsulationKey)
	require.NotPanics(t, func() { nilKey.Destroy() })
}

// TestLiboqsXWingDestroyFreesCMemory checks that an X-Wing key on the
// liboqs backend keeps its ML-KEM-768 half in C memory, and that Destroy
// wipes and frees it at once.
func TestLiboqsXWingDestroyFreesCMemory(t *testing.T) {
	s := liboqsScheme(t, kem.XWing)
	base := liveSecretKeys(t)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	assert.Equal(t, base+1, oqs.LiveSecretKeys())
	k, ct, err := dk.EncapsulationKey().Encapsulate()
	require.NoError(t, err)
	got, err := dk.Decapsulate(ct)
	require.NoError(t, err)
	require.Equal(t, k, got)

	dk.Destroy()
	assert.Equal(t, base, oqs.LiveSecretKeys())
	_, err = dk.Decapsulate(ct)
	require.ErrorIs(t, err, kem.ErrDestroyed)
	dk.Destroy()
	assert.Equal(t, base, oqs.LiveSecretKeys())
}

// TestLiboqsKeysFreedWithoutDestroy drops keys without Destroy: the garbage
// collector must wipe and free their C memory.
func TestLiboqsKeysFreedWithoutDestroy(t *testing.T) {
	base := liveSecretKeys(t)
	func() {
		for _, alg := range mlkemAlgorithms() {
			s := liboqsScheme(t, alg)
			for range 50 {
				dk, err := s.GenerateKey()
				require.NoError(t, err)
				_, err = s.(kem.ExpandedKeyParser).NewDecapsulationKeyExpanded(dk.(kem.Expander).ExpandedBytes())
				require.NoError(t, err)
			}
		}
		x := liboqsScheme(t, kem.XWing)
		for range 50 {
			_, err := x.GenerateKey() // its ML-KEM-768 half is in C memory
			require.NoError(t, err)
		}
	}()
	require.Eventually(t, func() bool {
		runtime.GC()
		return oqs.LiveSecretKeys() == base
	}, time.Minute, 10*time.Millisecond, "%d secret keys still in C memory, want %d", oqs.LiveSecretKeys(), base)
}

// TestLiboqsFailedLoadsFreeCMemory checks that refused inputs leave no C
// memory behind.
func TestLiboqsFailedLoadsFreeCMemory(t *testing.T) {
	s := liboqsScheme(t, kem.MLKEM512)
	parser := s.(kem.ExpandedKeyParser)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	defer dk.Destroy()
	x := dk.(kem.Expander).ExpandedBytes()
	base := liveSecretKeys(t)

	bad := bytes.Clone(x)
	bad[len(bad)-33] ^= 1 // H(ek)
	_, err = parser.NewDecapsulationKeyExpanded(bad)
	require.ErrorIs(t, err, kem.ErrDecapsKey)
	_, err = parser.NewDecapsulationKeyExpanded(x[1:])
	require.ErrorIs(t, err, kem.ErrDecapsKeySize)
	_, err = s.NewDecapsulationKey(make([]byte, 63))
	require.ErrorIs(t, err, kem.ErrSeedSize)
	assert.Equal(t, base, liveSecretKeys(t))
}

// TestLiboqsConcurrentDestroy destroys a key while goroutines use it: each
// call works or fails with oqs.ErrClosed, and none crashes. Run with -race.
func TestLiboqsConcurrentDestroy(t *testing.T) {
	s := liboqsScheme(t, kem.MLKEM512)
	for range 10 {
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		ss, ct, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				for {
					got, err := dk.Decapsulate(ct)
					if errors.Is(err, kem.ErrDestroyed) {
						return
					}
					if err == nil && !bytes.Equal(got, ss) {
						err = errors.New("wrong shared key")
					}
					if err != nil {
						errs <- err
						return
					}
					_ = dk.Bytes()
					_ = dk.(kem.Expander).ExpandedBytes()
				}
			})
		}
		time.Sleep(time.Millisecond)
		dk.Destroy()
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
}
