package kem_test

// DecapsulationKey.Destroy: what every backend can honestly guarantee after it.
//
//   - Bytes no longer returns the seed: it returns nil or zeros, and does not
//     panic. (The circl backend also zeroes its own copy of the seed and the
//     z and H(ek) of circl's private key; the polynomial vectors behind
//     circl's and crypto/mlkem's keys cannot be reached to be overwritten,
//     and are only dropped. liboqs wipes its C buffers with OQS_MEM_cleanse.)
//   - ExpandedBytes no longer returns the expanded key.
//   - Using the key afterwards is a mistake, but gives an error, not a panic.
//   - Destroying twice is harmless, and Destroy is safe alongside Decapsulate.
//   - Copies the caller already took (Bytes returns copies) are the
//     caller's, and are not wiped.

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// allZero reports whether b holds only zero bytes (true for nil).
func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func TestDestroy(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		seed := dk.Bytes()
		orig := bytes.Clone(seed)
		expanded := expandedBytes(dk)
		origExpanded := bytes.Clone(expanded)
		ek := dk.EncapsulationKey().Bytes()
		_, c, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(t, err)

		require.NotPanics(t, func() { dk.Destroy() })

		var after []byte
		require.NotPanics(t, func() { after = dk.Bytes() }, "Bytes after Destroy")
		assert.NotEqual(t, orig, after, "Bytes still returns the seed after Destroy")
		assert.True(t, allZero(after), "Bytes after Destroy: want nil or zeros, got %x", after)
		assert.Equal(t, orig, seed, "Destroy wiped a copy the caller owned")

		if x, ok := dk.(kem.Expander); ok {
			var exp []byte
			require.NotPanics(t, func() { exp = x.ExpandedBytes() }, "ExpandedBytes after Destroy")
			assert.NotEqual(t, origExpanded, exp, "ExpandedBytes still returns the key after Destroy")
			assert.Equal(t, origExpanded, expanded, "Destroy wiped a copy the caller owned")
		}

		// Use after Destroy is an error, not a crash, and gives no key.
		var k []byte
		require.NotPanics(t, func() { k, err = dk.Decapsulate(c) }, "Decapsulate after Destroy")
		assert.ErrorIs(t, err, kem.ErrDestroyed, "Decapsulate after Destroy: every backend says so the same way")
		assert.Nil(t, k, "Decapsulate after Destroy")

		// The public half stays usable: it is not secret.
		require.NotPanics(t, func() {
			assert.Equal(t, ek, dk.EncapsulationKey().Bytes())
		})

		require.NotPanics(t, func() { dk.Destroy() }, "a second Destroy")
	})
}

// TestDestroyExpanded destroys keys loaded from their expanded form.
func TestDestroyExpanded(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		parser, ok := s.(kem.ExpandedKeyParser)
		if !ok {
			t.Skipf("%s: no kem.ExpandedKeyParser", s.Backend())
		}
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		exp := expandedBytes(dk)
		require.NotNil(t, exp)
		dk2, err := parser.NewDecapsulationKeyExpanded(exp)
		require.NoError(t, err)
		require.Nil(t, dk2.Bytes())

		require.NotPanics(t, func() { dk2.Destroy() })
		require.NotPanics(t, func() { assert.Nil(t, dk2.Bytes()) })
		if x, ok := dk2.(kem.Expander); ok {
			require.NotPanics(t, func() { assert.NotEqual(t, exp, x.ExpandedBytes()) })
		}
		_, c, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		require.NotPanics(t, func() {
			k, err := dk2.Decapsulate(c)
			assert.Error(t, err)
			assert.Nil(t, k)
		})
		// The original key is a different key object, and still works.
		_, err = dk.Decapsulate(c)
		require.NoError(t, err)
	})
}

// TestDestroyConcurrent destroys keys while other goroutines decapsulate
// with them: under -race this is what decides that Destroy is safe for
// concurrent use. Every Decapsulate either gives the right key (it began
// before Destroy) or fails with ErrDestroyed, never anything else.
func TestDestroyConcurrent(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		for range 20 {
			dk, err := s.GenerateKey()
			require.NoError(t, err)
			want, c, err := dk.EncapsulationKey().Encapsulate()
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make(chan error, 4*8)
			for range 4 {
				wg.Go(func() {
					for range 8 {
						got, err := dk.Decapsulate(c)
						switch {
						case err == nil && !bytes.Equal(got, want):
							errs <- fmt.Errorf("decapsulated a wrong key %x", got)
						case err != nil && !errors.Is(err, kem.ErrDestroyed):
							errs <- err
						}
						_ = dk.Bytes()
					}
				})
			}
			wg.Go(dk.Destroy)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			_, err = dk.Decapsulate(c)
			require.ErrorIs(t, err, kem.ErrDestroyed)
		}
	})
}
