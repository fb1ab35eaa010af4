package kem_test

// Cross-checks between backends: for random seeds and encapsulation
// randomness, every backend must give the same bytes as every other, and
// keys and ciphertexts made by one must work with every other.

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// crossCheckN is the number of random key pairs per parameter set.
const crossCheckN = 200

// crossResult is what one backend gives for one seed and m.
type crossResult struct {
	s        kem.Scheme
	dk       kem.DecapsulationKey
	ek       []byte
	expanded []byte // nil without kem.Expander
	k, c     []byte // EncapsulateDerand(m)
	reject   []byte // Decapsulate(c with one bit flipped): the implicit-rejection key
}

func TestCrossBackend(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			schemes := schemesFor(t, alg)
			if len(schemes) < 2 {
				t.Skipf("%s: only %d backend implements it, nothing to cross-check", alg, len(schemes))
			}
			p := schemes[0].Params()
			for i := range crossCheckN {
				seed := randomBytes(p.SeedSize)
				m := randomBytes(p.EncapsSeedSize)
				func() {
					// Runs on t.Errorf and on require's FailNow alike.
					defer func() {
						if t.Failed() {
							t.Logf("%s: failing case %d of %d: seed %x, m %x", alg, i, crossCheckN, seed, m)
						}
					}()
					crossCheckOne(t, schemes, seed, m)
				}()
				if t.Failed() {
					return
				}
			}
		})
	}
}

// crossCheckOne checks one seed and m on every scheme (all of one
// algorithm). Mismatches are reported with t.Errorf; the caller logs the
// inputs.
func crossCheckOne(t *testing.T, schemes []kem.Scheme, seed, m []byte) {
	t.Helper()
	fail := t.Errorf

	// One bit to flip in the ciphertext, the same for every backend.
	flip := int(seed[0]) | int(seed[1])<<8
	results := make([]*crossResult, len(schemes))
	for i, s := range schemes {
		r := &crossResult{s: s}
		results[i] = r
		dk, err := s.NewDecapsulationKey(seed)
		require.NoError(t, err)
		r.dk = dk
		require.Equal(t, seed, dk.Bytes())
		r.ek = dk.EncapsulationKey().Bytes()
		r.expanded = expandedBytes(dk)
		r.k, r.c, err = dk.EncapsulationKey().EncapsulateDerand(m)
		require.NoError(t, err)
		k, err := dk.Decapsulate(r.c)
		require.NoError(t, err)
		if !bytes.Equal(k, r.k) {
			fail("%s: Decapsulate(EncapsulateDerand) gives a different key", s.Backend())
		}
		bad := bytes.Clone(r.c)
		bad[(flip/8)%len(bad)] ^= 1 << (flip % 8)
		r.reject, err = dk.Decapsulate(bad)
		require.NoError(t, err)
		if bytes.Equal(r.reject, r.k) {
			fail("%s: a corrupted ciphertext gives the real shared key", s.Backend())
		}
	}

	// Byte for byte the same outputs, every pair.
	for i, a := range results {
		for _, b := range results[i+1:] {
			pair := fmt.Sprintf("%s vs %s", a.s.Backend(), b.s.Backend())
			for _, f := range []struct {
				name string
				x, y []byte
			}{
				{"ek", a.ek, b.ek},
				{"ciphertext", a.c, b.c},
				{"shared key", a.k, b.k},
				{"implicit-rejection key", a.reject, b.reject},
			} {
				if !bytes.Equal(f.x, f.y) {
					fail("%s: %s differs", pair, f.name)
				}
			}
			if a.expanded != nil && b.expanded != nil && !bytes.Equal(a.expanded, b.expanded) {
				fail("%s: expanded dk differs", pair)
			}
		}
	}

	// Keys of one backend work with every other.
	for _, a := range results {
		for _, b := range results {
			if a == b {
				continue
			}
			pair := fmt.Sprintf("dk of %s, ek parsed by %s", a.s.Backend(), b.s.Backend())
			ekB, err := b.s.NewEncapsulationKey(a.ek)
			require.NoError(t, err, pair)
			if !bytes.Equal(ekB.Bytes(), a.ek) {
				fail("%s: ek does not round-trip", pair)
			}
			// Derandomized by B, decapsulated by A.
			k, c, err := ekB.EncapsulateDerand(m)
			require.NoError(t, err, pair)
			if !bytes.Equal(c, a.c) || !bytes.Equal(k, a.k) {
				fail("%s: EncapsulateDerand differs", pair)
			}
			// Random encapsulation by B, decapsulated by A.
			k, c, err = ekB.Encapsulate()
			require.NoError(t, err, pair)
			got, err := a.dk.Decapsulate(c)
			require.NoError(t, err, pair)
			if !bytes.Equal(got, k) {
				fail("%s: A cannot decapsulate B's Encapsulate", pair)
			}
			// A's expanded key loaded by B decapsulates A's ciphertext.
			if p, ok := b.s.(kem.ExpandedKeyParser); ok && a.expanded != nil {
				dkB, err := p.NewDecapsulationKeyExpanded(a.expanded)
				require.NoError(t, err, pair)
				got, err := dkB.Decapsulate(a.c)
				require.NoError(t, err, pair)
				if !bytes.Equal(got, a.k) {
					fail("expanded dk of %s loaded by %s: decapsulation differs", a.s.Backend(), b.s.Backend())
				}
			}
		}
	}
	for _, r := range results {
		r.dk.Destroy()
	}
}
