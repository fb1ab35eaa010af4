package kem_test

// Schemes and keys are documented as safe for concurrent use. These tests
// share one of each between many goroutines; run them with -race.

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

const (
	concurrentGoroutines = 8
	concurrentRounds     = 10
)

func TestConcurrentUse(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		seed := dk.Bytes()
		ekBytes := dk.EncapsulationKey().Bytes()
		parsed, err := s.NewEncapsulationKey(ekBytes)
		require.NoError(t, err)
		expanded := expandedBytes(dk)

		// Expected results, computed before the goroutines start.
		m := randomBytes(s.Params().EncapsSeedSize)
		wantK, wantC, err := parsed.EncapsulateDerand(m)
		require.NoError(t, err)
		bad := bytes.Clone(wantC)
		bad[0] ^= 1
		wantReject, err := dk.Decapsulate(bad)
		require.NoError(t, err)

		var keys []kem.DecapsulationKey
		keys = append(keys, dk)
		if p, ok := s.(kem.ExpandedKeyParser); ok {
			dk2, err := p.NewDecapsulationKeyExpanded(expanded)
			require.NoError(t, err)
			keys = append(keys, dk2)
		}

		var wg sync.WaitGroup
		errs := make(chan error, concurrentGoroutines*concurrentRounds*8)
		check := func(cond bool, format string, args ...any) {
			if !cond {
				errs <- fmt.Errorf(format, args...)
			}
		}
		for g := range concurrentGoroutines {
			wg.Go(func() {
				for r := range concurrentRounds {
					key := keys[(g+r)%len(keys)]
					ek := []kem.EncapsulationKey{dk.EncapsulationKey(), parsed}[g%2]

					k, c, err := ek.Encapsulate()
					check(err == nil, "Encapsulate: %v", err)
					got, err := key.Decapsulate(c)
					check(err == nil && bytes.Equal(got, k), "Decapsulate(Encapsulate) differs (err %v)", err)

					k, c, err = ek.EncapsulateDerand(m)
					check(err == nil && bytes.Equal(k, wantK) && bytes.Equal(c, wantC), "EncapsulateDerand differs (err %v)", err)
					got, err = key.Decapsulate(bad)
					check(err == nil && bytes.Equal(got, wantReject), "implicit rejection differs (err %v)", err)

					check(bytes.Equal(dk.Bytes(), seed), "Bytes differs")
					check(bytes.Equal(ek.Bytes(), ekBytes), "ek Bytes differs")
					if expanded != nil {
						check(bytes.Equal(expandedBytes(key), expanded), "ExpandedBytes differs")
					}

					// The Scheme, shared too.
					other, err := s.NewEncapsulationKey(ekBytes)
					check(err == nil && bytes.Equal(other.Bytes(), ekBytes), "NewEncapsulationKey: %v", err)
					again, err := s.NewDecapsulationKey(seed)
					check(err == nil && bytes.Equal(again.EncapsulationKey().Bytes(), ekBytes), "NewDecapsulationKey: %v", err)
					again.Destroy()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
	})
}

// TestConcurrentLookup uses the registry from many goroutines at once.
func TestConcurrentLookup(t *testing.T) {
	var wg sync.WaitGroup
	for range concurrentGoroutines {
		wg.Go(func() {
			for _, b := range kem.Backends() {
				for _, alg := range kem.Algorithms() {
					s, err := kem.Lookup(alg, b)
					if err == nil {
						assert.Equal(t, alg, s.Name())
					} else {
						assert.ErrorIs(t, err, kem.ErrUnsupported)
					}
				}
			}
			assert.NotEmpty(t, kem.DefaultBackend())
			for _, b := range kem.Backends() {
				assert.NotEmpty(t, kem.BackendVersion(b))
			}
		})
	}
	wg.Wait()
}
