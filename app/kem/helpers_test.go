package kem_test

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// capabilities is what a backend is documented to offer (see the doc
// comments of kem.go). A backend that lacks something listed here for it
// makes the tests fail instead of skipping: a skip is only ever accepted
// where this table says the backend cannot do the thing. The expanded forms
// are ML-KEM's: X-Wing has none on any backend (see capabilitiesFor).
type capabilities struct {
	mlkem512       bool // implements ML-KEM-512
	expander       bool // its DecapsulationKeys implement kem.Expander
	expandedParser bool // its Schemes implement kem.ExpandedKeyParser
}

var documentedCapabilities = map[string]capabilities{
	kem.BackendLiboqs: {mlkem512: true, expander: true, expandedParser: true},
	kem.BackendCircl:  {mlkem512: true, expander: true, expandedParser: true},
	kem.BackendGo:     {mlkem512: false, expander: false, expandedParser: false},
}

// capabilitiesOf returns the documented capabilities of a compiled-in
// backend, failing the test for a backend the table does not know.
func capabilitiesOf(t testing.TB, backend string) capabilities {
	t.Helper()
	c, ok := documentedCapabilities[backend]
	require.Truef(t, ok, "backend %q is not in documentedCapabilities (helpers_test.go): add it", backend)
	return c
}

// capabilitiesFor returns what backend is documented to offer for alg:
// X-Wing keys have no expanded form on any backend (kem.Params), so neither
// kem.Expander nor kem.ExpandedKeyParser.
func capabilitiesFor(t testing.TB, backend, alg string) capabilities {
	t.Helper()
	c := capabilitiesOf(t, backend)
	if alg == kem.XWing {
		c.expander, c.expandedParser = false, false
	}
	return c
}

// mlkemAlgorithms returns kem.Algorithms() without X-Wing: the three ML-KEM
// parameter sets.
func mlkemAlgorithms() []string {
	return slices.DeleteFunc(kem.Algorithms(), func(alg string) bool { return alg == kem.XWing })
}

// mlkemEKSize returns the size of the ML-KEM encapsulation key inside an
// encapsulation key of p: all of it for ML-KEM, the leading pk_M of X-Wing.
func mlkemEKSize(p kem.Params) int {
	if p.Name == kem.XWing {
		return 1184
	}
	return p.EncapsulationKeySize
}

// documentedToSupport reports whether backend is documented to implement alg.
func documentedToSupport(t testing.TB, backend, alg string) bool {
	t.Helper()
	return alg != kem.MLKEM512 || capabilitiesOf(t, backend).mlkem512
}

// lookupScheme returns the Scheme of alg on backend, or false when the
// backend does not implement alg. That is accepted only when the backend is
// documented not to, and the error must wrap kem.ErrUnsupported.
func lookupScheme(t testing.TB, alg, backend string) (kem.Scheme, bool) {
	t.Helper()
	s, err := kem.Lookup(alg, backend)
	if err != nil {
		require.ErrorIsf(t, err, kem.ErrUnsupported, "Lookup(%q, %q)", alg, backend)
		require.Falsef(t, documentedToSupport(t, backend, alg), "%s is documented to implement %s, but Lookup says: %v", backend, alg, err)
		return nil, false
	}
	require.Truef(t, documentedToSupport(t, backend, alg), "%s is documented not to implement %s, but Lookup returned a Scheme: update documentedCapabilities", backend, alg)
	require.Equal(t, alg, s.Name())
	require.Equal(t, backend, s.Backend())
	return s, true
}

// allSchemes returns every Scheme of every compiled-in backend, in the order
// of kem.Backends() then kem.Algorithms().
func allSchemes(t testing.TB) []kem.Scheme {
	t.Helper()
	var out []kem.Scheme
	for _, b := range kem.Backends() {
		for _, alg := range kem.Algorithms() {
			if s, ok := lookupScheme(t, alg, b); ok {
				out = append(out, s)
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

// schemesFor returns the Schemes of alg on every compiled-in backend that
// implements it.
func schemesFor(t testing.TB, alg string) []kem.Scheme {
	t.Helper()
	var out []kem.Scheme
	for _, b := range kem.Backends() {
		if s, ok := lookupScheme(t, alg, b); ok {
			out = append(out, s)
		}
	}
	return out
}

// forEachScheme runs f in a subtest named "backend/algorithm" for every
// compiled-in backend and every algorithm it implements.
func forEachScheme(t *testing.T, f func(t *testing.T, s kem.Scheme)) {
	t.Helper()
	for _, s := range allSchemes(t) {
		t.Run(s.Backend()+"/"+s.Name(), func(t *testing.T) { f(t, s) })
	}
}

// paramsOf returns the sizes of s's algorithm.
func paramsOf(t testing.TB, s kem.Scheme) kem.Params {
	t.Helper()
	return s.Params()
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}

// mustHex decodes a hex string that is part of the test itself.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// expandedBytes returns dk's expanded key, or nil when its backend has none.
func expandedBytes(dk kem.DecapsulationKey) []byte {
	if e, ok := dk.(kem.Expander); ok {
		return e.ExpandedBytes()
	}
	return nil
}

// TestDocumentedCapabilities holds every compiled-in backend to what
// documentedCapabilities (and kem.go) say it offers, so that the skips the
// other tests make for missing interfaces can only be the documented ones.
func TestDocumentedCapabilities(t *testing.T) {
	for _, b := range kem.Backends() {
		for _, alg := range kem.Algorithms() {
			c := capabilitiesFor(t, b, alg)
			s, ok := lookupScheme(t, alg, b)
			if !ok {
				continue
			}
			_, isParser := s.(kem.ExpandedKeyParser)
			require.Equalf(t, c.expandedParser, isParser, "%s/%s: implements kem.ExpandedKeyParser", b, alg)

			dk, err := s.GenerateKey()
			require.NoError(t, err)
			_, isExpander := dk.(kem.Expander)
			require.Equalf(t, c.expander, isExpander, "%s/%s: DecapsulationKey implements kem.Expander", b, alg)
		}
	}
	require.True(t, slices.Contains(kem.Backends(), kem.BackendCircl))
}
