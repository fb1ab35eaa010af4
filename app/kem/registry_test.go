package kem_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

func TestAlgorithms(t *testing.T) {
	require.Equal(t, []string{kem.MLKEM512, kem.MLKEM768, kem.MLKEM1024, kem.XWing}, kem.Algorithms())
	// The caller gets a copy.
	a := kem.Algorithms()
	a[0] = "changed"
	require.Equal(t, kem.MLKEM512, kem.Algorithms()[0])
}

func TestBackends(t *testing.T) {
	require.Equal(t, []string{kem.BackendLiboqs, kem.BackendCircl, kem.BackendGo}, kem.AllBackends())

	got := kem.Backends()
	require.Contains(t, got, kem.BackendCircl)
	require.Contains(t, got, kem.BackendGo)
	require.Equal(t, builtWithLiboqs, slices.Contains(got, kem.BackendLiboqs), "liboqs is compiled in iff built with -tags liboqs")
	require.Len(t, got, len(slices.Compact(slices.Clone(got))), "no backend twice")

	// In the order of AllBackends, so the preferred one comes first.
	var order []int
	for _, b := range got {
		i := slices.Index(kem.AllBackends(), b)
		require.GreaterOrEqualf(t, i, 0, "%q is not in AllBackends", b)
		order = append(order, i)
	}
	require.True(t, slices.IsSorted(order), "Backends() %v is not in AllBackends() order", got)

	want := kem.BackendCircl
	if builtWithLiboqs {
		want = kem.BackendLiboqs
	}
	require.Equal(t, want, kem.DefaultBackend())
	require.Equal(t, want, got[0], "the default backend comes first")
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	require.Equal(t, want, s.Backend(), "Lookup with no backend uses the default")

	for _, b := range got {
		assert.NotEmpty(t, kem.BackendVersion(b), b)
	}
	if builtWithLiboqs {
		assert.Contains(t, kem.BackendVersion(kem.BackendLiboqs), "liboqs")
	}
	// The caller gets a copy.
	got[0] = "changed"
	require.Equal(t, want, kem.Backends()[0])
}

// TestParams checks the sizes against the formulas of FIPS 203 (Section 8,
// Tables 2 and 3) and the TLS code points.
func TestParams(t *testing.T) {
	for _, tc := range []struct {
		alg            string
		k, du, dv      int
		id             uint16
		ek, dk, ctSize int
	}{
		{kem.MLKEM512, 2, 10, 4, 0x0200, 800, 1632, 768},
		{kem.MLKEM768, 3, 10, 4, 0x0201, 1184, 2400, 1088},
		{kem.MLKEM1024, 4, 11, 5, 0x0202, 1568, 3168, 1568},
	} {
		p, err := kem.ParamsFor(tc.alg)
		require.NoError(t, err)
		require.Equal(t, tc.alg, p.Name)
		require.Equal(t, tc.id, p.ID)
		require.Equal(t, 384*tc.k+32, p.EncapsulationKeySize, tc.alg)
		require.Equal(t, 768*tc.k+96, p.DecapsulationKeySize, tc.alg)
		require.Equal(t, 32*(tc.du*tc.k+tc.dv), p.CiphertextSize, tc.alg)
		require.Equal(t, tc.ek, p.EncapsulationKeySize)
		require.Equal(t, tc.dk, p.DecapsulationKeySize)
		require.Equal(t, tc.ctSize, p.CiphertextSize)

		require.Equal(t, kem.SeedSize, p.SeedSize, tc.alg)
		require.Equal(t, kem.EncapsSeedSize, p.EncapsSeedSize, tc.alg)
		byID, ok := kem.ParamsByID(tc.id)
		require.True(t, ok)
		require.Equal(t, p, byID)

		for _, s := range schemesFor(t, tc.alg) {
			require.Equal(t, p.EncapsulationKeySize, s.Params().EncapsulationKeySize, s.Backend())
			require.Equal(t, p.CiphertextSize, s.Params().CiphertextSize, s.Backend())
			dk, err := s.GenerateKey()
			require.NoError(t, err)
			require.Len(t, dk.Bytes(), kem.SeedSize)
			require.Len(t, dk.EncapsulationKey().Bytes(), p.EncapsulationKeySize)
			if exp := expandedBytes(dk); exp != nil {
				require.Len(t, exp, p.DecapsulationKeySize)
			}
			k, c, err := dk.EncapsulationKey().Encapsulate()
			require.NoError(t, err)
			require.Len(t, k, kem.SharedKeySize)
			require.Len(t, c, p.CiphertextSize)
		}
	}
	for _, id := range []uint16{0, 0x01ff, 0x0203, 0x11ec, 0x6479, 0x647b, 0x7a64, 0xffff} {
		_, ok := kem.ParamsByID(id)
		require.False(t, ok, "%#04x", id)
	}
}

// TestXWingParams checks X-Wing's sizes against draft-connolly-cfrg-xwing-kem
// (Section 5.1, and Nsecret, Nenc, Npk, Nsk of Section 7): ML-KEM-768's plus
// X25519's 32 bytes, and its identifier 0x647A = 25722 = 25519 + 203.
func TestXWingParams(t *testing.T) {
	p, err := kem.ParamsFor(kem.XWing)
	require.NoError(t, err)
	m, err := kem.ParamsFor(kem.MLKEM768)
	require.NoError(t, err)
	require.Equal(t, kem.Params{
		Name:                 "X-Wing",
		ID:                   0x647A,
		EncapsulationKeySize: 1216,
		DecapsulationKeySize: 0,
		CiphertextSize:       1120,
		SeedSize:             32,
		EncapsSeedSize:       64,
	}, p)
	require.Equal(t, uint16(25519+203), p.ID)
	require.Equal(t, m.EncapsulationKeySize+32, p.EncapsulationKeySize)
	require.Equal(t, m.CiphertextSize+32, p.CiphertextSize)
	require.Equal(t, kem.EncapsSeedSize+32, p.EncapsSeedSize, "ML-KEM's m, then the X25519 ephemeral key")
	byID, ok := kem.ParamsByID(0x647A)
	require.True(t, ok)
	require.Equal(t, p, byID)

	for _, s := range schemesFor(t, kem.XWing) {
		require.Equal(t, p, s.Params(), s.Backend())
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		require.Len(t, dk.Bytes(), p.SeedSize)
		require.Len(t, dk.EncapsulationKey().Bytes(), p.EncapsulationKeySize)
		require.Nil(t, expandedBytes(dk), "X-Wing has no expanded key")
		_, isParser := s.(kem.ExpandedKeyParser)
		require.False(t, isParser)
		k, c, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		require.Len(t, k, kem.SharedKeySize)
		require.Len(t, c, p.CiphertextSize)
	}
	require.Len(t, schemesFor(t, kem.XWing), len(kem.Backends()), "X-Wing on every backend")
}

// TestGenerateKey checks that fresh keys are fresh and work.
func TestGenerateKey(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		a, err := s.GenerateKey()
		require.NoError(t, err)
		b, err := s.GenerateKey()
		require.NoError(t, err)
		require.NotEqual(t, a.Bytes(), b.Bytes())
		require.NotEqual(t, a.EncapsulationKey().Bytes(), b.EncapsulationKey().Bytes())

		// The key is the one its seed gives.
		again, err := s.NewDecapsulationKey(a.Bytes())
		require.NoError(t, err)
		require.Equal(t, a.EncapsulationKey().Bytes(), again.EncapsulationKey().Bytes())

		k, c, err := a.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		k2, c2, err := a.EncapsulationKey().Encapsulate()
		require.NoError(t, err)
		require.NotEqual(t, c, c2, "Encapsulate must use fresh randomness")
		require.NotEqual(t, k, k2)
		got, err := again.Decapsulate(c)
		require.NoError(t, err)
		require.Equal(t, k, got)
		other, err := b.Decapsulate(c)
		require.NoError(t, err)
		require.NotEqual(t, k, other, "another key decapsulates to the implicit-rejection key")
	})
}
