package kem_test

// The accumulated tests: 10,000 pseudo-random test cases per run, drawn from
// a SHAKE-128 stream, with everything the backend outputs written into a
// second SHAKE-128 whose first 32 bytes are compared with a published value.
// This stands in for about 150 MB of known-answer vectors.
//
// Two variants exist, and both are run:
//
//   - C2SP CCTV (https://github.com/C2SP/CCTV, ML-KEM, FIPS 203 final):
//     per test, read d, z (the 64-byte seed), m and a random ciphertext;
//     write ek, the expanded dk, the ciphertext and shared key of
//     EncapsulateDerand(m), and the key that decapsulating the random
//     ciphertext gives. It needs the expanded dk, so it runs on the backends
//     with kem.Expander, for all three parameter sets.
//   - Go's crypto/mlkem TestAccumulated: the same, without the expanded dk.
//     Only its ML-KEM-768 value is published, and it runs on every backend.

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// accumulatedN is the number of test cases of every accumulated run. It is
// not lowered in -short mode: the published values are for 10,000.
const accumulatedN = 10000

// The published values after accumulatedN test cases.
var (
	cctvAccumulated = map[string]string{
		kem.MLKEM512:  "705dcffc87f4e67e35a09dcaa31772e86f3341bd3ccf1e78a5fef99ae6a35a13",
		kem.MLKEM768:  "f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1",
		kem.MLKEM1024: "e3bf82b013307b2e9d47dde791ff6dfc82e694e6382404abdb948b908b75bad5",
	}
	goAccumulated = map[string]string{
		kem.MLKEM768: "8a518cc63da366322a8e7a818c7a0d63483cb3528d34a4cf42f35d5ad73f22fc",
	}
)

// accumulated is what one accumulated run gives: the first 32 bytes of each
// output SHAKE-128, in hex.
type accumulated struct {
	cctv string // with the expanded dk; "" for a backend without kem.Expander
	go_  string // without it (Go's variant)
}

// accumulate runs n accumulated test cases on s, feeding both variants'
// outputs in one pass (they read the same input stream), and checks in
// every test case that decapsulating the ciphertext of EncapsulateDerand
// gives its shared key.
func accumulate(t *testing.T, s kem.Scheme, n int) accumulated {
	t.Helper()
	in := sha3.NewSHAKE128()
	outCCTV := sha3.NewSHAKE128()
	outGo := sha3.NewSHAKE128()
	seed := make([]byte, kem.SeedSize) // d || z
	m := make([]byte, kem.EncapsSeedSize)
	random := make([]byte, s.Params().CiphertextSize)
	withDK := false

	for i := range n {
		in.Read(seed)
		dk, err := s.NewDecapsulationKey(seed)
		if err != nil {
			t.Fatalf("test %d: NewDecapsulationKey: %v", i, err)
		}
		ek := dk.EncapsulationKey().Bytes()
		outCCTV.Write(ek)
		outGo.Write(ek)
		e, ok := dk.(kem.Expander)
		if i == 0 {
			withDK = ok
		}
		if ok {
			outCCTV.Write(e.ExpandedBytes())
		}

		in.Read(m)
		k, c, err := dk.EncapsulationKey().EncapsulateDerand(m)
		if err != nil {
			t.Fatalf("test %d: EncapsulateDerand: %v", i, err)
		}
		kk, err := dk.Decapsulate(c)
		if err != nil {
			t.Fatalf("test %d: Decapsulate: %v", i, err)
		}
		if !bytes.Equal(kk, k) {
			t.Fatalf("test %d (seed %x, m %x): Decapsulate gives %x, EncapsulateDerand gave %x", i, seed, m, kk, k)
		}

		in.Read(random)
		k1, err := dk.Decapsulate(random)
		if err != nil {
			t.Fatalf("test %d: Decapsulate (random ciphertext): %v", i, err)
		}
		for _, out := range []*sha3.SHAKE{outCCTV, outGo} {
			out.Write(c)
			out.Write(k)
			out.Write(k1)
		}
		dk.Destroy()
	}

	var r accumulated
	sum := make([]byte, 32)
	if withDK {
		outCCTV.Read(sum)
		r.cctv = hex.EncodeToString(sum)
	}
	outGo.Read(sum)
	r.go_ = hex.EncodeToString(sum)
	return r
}

// TestAccumulated runs the CCTV variant on every backend with kem.Expander
// for the three parameter sets, and Go's variant on every backend for
// ML-KEM-768, in one pass per backend and parameter set. (X-Wing has no
// published accumulated value: xwing_test.go checks it against the draft's
// vectors and against circl's kem/xwing instead.)
func TestAccumulated(t *testing.T) {
	ranCCTV := map[string]int{}
	ranGo := map[string]int{}
	t.Run("group", func(t *testing.T) { // waits for the parallel subtests
		for _, alg := range mlkemAlgorithms() {
			wantCCTV, ok := cctvAccumulated[alg]
			require.True(t, ok, alg)
			wantGo, hasGo := goAccumulated[alg]
			for _, s := range schemesFor(t, alg) {
				dk, err := s.GenerateKey()
				require.NoError(t, err)
				_, expander := dk.(kem.Expander)
				if !expander {
					require.Falsef(t, capabilitiesOf(t, s.Backend()).expander, "%s is documented to implement kem.Expander", s.Backend())
					if !hasGo {
						t.Logf("%s/%s: skipped: no kem.Expander for the CCTV variant, and no published value for Go's variant", s.Backend(), alg)
						continue
					}
					t.Logf("%s/%s: CCTV variant skipped (no kem.Expander); Go's variant only", s.Backend(), alg)
				}
				if expander {
					ranCCTV[alg]++
				}
				if hasGo {
					ranGo[alg]++
				}
				t.Run(s.Backend()+"/"+alg, func(t *testing.T) {
					t.Parallel()
					start := time.Now()
					got := accumulate(t, s, accumulatedN)
					if expander {
						require.Equal(t, wantCCTV, got.cctv, "CCTV variant")
					}
					if hasGo {
						require.Equal(t, wantGo, got.go_, "Go's variant")
					}
					t.Logf("%d test cases in %v", accumulatedN, time.Since(start).Round(time.Millisecond))
				})
			}
		}
	})
	for _, alg := range mlkemAlgorithms() {
		assert.Positivef(t, ranCCTV[alg], "no backend ran the CCTV accumulated test for %s", alg)
	}
	for alg := range goAccumulated {
		assert.Equalf(t, len(schemesFor(t, alg)), ranGo[alg], "Go's accumulated test for %s must run on every backend", alg)
	}
}
