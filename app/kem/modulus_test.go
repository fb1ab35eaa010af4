package kem

import (
	"crypto/rand"
	"fmt"
	mathrand "math/rand/v2"
	"testing"

	"github.com/cloudflare/circl/kem/mlkem/mlkem1024"
	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// modulusReference is the modulus check written as FIPS 203 puts it:
// decode each 12-bit value and compare it with q.
func modulusReference(b []byte) bool {
	for i := 0; i+3 <= len(b); i += 3 {
		lo := int(b[i]) | int(b[i+1]&0x0f)<<8
		hi := int(b[i+1]>>4) | int(b[i+2])<<4
		if lo >= mlkemQ || hi >= mlkemQ {
			return false
		}
	}
	return true
}

// setCoefficient stores v as the j-th 12-bit value of b.
func setCoefficient(b []byte, j int, v uint16) {
	i := 3 * (j / 2)
	if j%2 == 0 {
		b[i] = byte(v)
		b[i+1] = b[i+1]&0xf0 | byte(v>>8)
	} else {
		b[i+1] = b[i+1]&0x0f | byte(v<<4)
		b[i+2] = byte(v >> 4)
	}
}

// validCoefficients returns n bytes of random values below q.
func validCoefficients(r *mathrand.Rand, n int) []byte {
	b := make([]byte, n)
	for j := range 2 * n / 3 {
		setCoefficient(b, j, uint16(r.IntN(mlkemQ)))
	}
	return b
}

// TestCoefficientsBelowQEveryPosition puts one bad value at every position
// (both halves of every byte triple, both lanes of every word the fast loop
// reads, and the tail), for every length the three parameter sets use and
// some odd ones.
func TestCoefficientsBelowQEveryPosition(t *testing.T) {
	r := mathrand.New(mathrand.NewPCG(1, 2))
	for _, n := range []int{0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 384, 768, 1152, 1536} {
		good := validCoefficients(r, n)
		require.True(t, coefficientsBelowQ(good), "n=%d", n)
		for j := range 2 * n / 3 {
			for _, v := range []uint16{mlkemQ, mlkemQ + 1, 4095, 0xe00, 0xd01 + uint16(r.IntN(4096-0xd01))} {
				b := append([]byte(nil), good...)
				setCoefficient(b, j, v)
				if coefficientsBelowQ(b) {
					t.Fatalf("n=%d: value %d at coefficient %d was accepted", n, v, j)
				}
			}
			b := append([]byte(nil), good...)
			setCoefficient(b, j, mlkemQ-1)
			require.True(t, coefficientsBelowQ(b), "n=%d: q-1 at %d refused", n, j)
			setCoefficient(b, j, 0)
			require.True(t, coefficientsBelowQ(b), "n=%d: 0 at %d refused", n, j)
		}
	}
}

// TestCoefficientsBelowQRandom compares with the plain reference on random
// inputs, mostly valid with a few values of q or more sprinkled in.
func TestCoefficientsBelowQRandom(t *testing.T) {
	r := mathrand.New(mathrand.NewPCG(3, 4))
	for range 5000 {
		n := 3 * r.IntN(520)
		b := validCoefficients(r, n)
		if n > 0 {
			for range r.IntN(3) {
				setCoefficient(b, r.IntN(2*n/3), uint16(mlkemQ-2+r.IntN(4096-mlkemQ+2)))
			}
		}
		require.Equal(t, modulusReference(b), coefficientsBelowQ(b), "%x", b)
	}
	// Uniformly random bytes almost always fail.
	b := make([]byte, 1152)
	rand.Read(b)
	require.Equal(t, modulusReference(b), coefficientsBelowQ(b))
}

// TestCheckModulusAgreesWithCircl holds checkModulus to circl's own public
// key check on real keys, intact and with one coefficient raised.
func TestCheckModulusAgreesWithCircl(t *testing.T) {
	type unmarshaler interface {
		UnmarshalBinaryPublicKey([]byte) (any, error)
	}
	schemes := map[string]func([]byte) error{
		MLKEM512:  func(b []byte) error { _, err := mlkem512.Scheme().UnmarshalBinaryPublicKey(b); return err },
		MLKEM768:  func(b []byte) error { _, err := mlkem768.Scheme().UnmarshalBinaryPublicKey(b); return err },
		MLKEM1024: func(b []byte) error { _, err := mlkem1024.Scheme().UnmarshalBinaryPublicKey(b); return err },
	}
	r := mathrand.New(mathrand.NewPCG(5, 6))
	for _, p := range mlkemParams() {
		t.Run(p.Name, func(t *testing.T) {
			circlCheck := schemes[p.Name]
			s, err := Lookup(p.Name, BackendCircl)
			require.NoError(t, err)
			for i := range 200 {
				dk, err := s.GenerateKey()
				require.NoError(t, err)
				ek := dk.EncapsulationKey().Bytes()
				if i%2 == 1 {
					coefficients := 2 * (p.EncapsulationKeySize - 32) / 3
					setCoefficient(ek, r.IntN(coefficients), uint16(mlkemQ+r.IntN(4096-mlkemQ)))
				}
				want := circlCheck(ek)
				got := checkModulus(p, ek)
				if want == nil {
					require.NoError(t, got)
				} else {
					require.ErrorIs(t, got, ErrEncapsKey)
					assert.Contains(t, got.Error(), p.Name)
				}
				require.Equal(t, i%2 == 0, got == nil)
			}
		})
	}
}

// TestCheckModulusLength gives checkModulus every wrong length up to twice
// the size.
func TestCheckModulusLength(t *testing.T) {
	for _, p := range mlkemParams() {
		for n := range 2*p.EncapsulationKeySize + 1 {
			if n == p.EncapsulationKeySize {
				continue
			}
			err := checkModulus(p, make([]byte, n))
			require.ErrorIs(t, err, ErrEncapsKeySize)
			assert.Contains(t, err.Error(), fmt.Sprintf("got %d bytes, want %d", n, p.EncapsulationKeySize))
		}
		require.NoError(t, checkModulus(p, make([]byte, p.EncapsulationKeySize)))
	}
}

func BenchmarkCheckModulus(b *testing.B) {
	for _, p := range mlkemParams() {
		s, err := Lookup(p.Name, BackendCircl)
		require.NoError(b, err)
		dk, err := s.GenerateKey()
		require.NoError(b, err)
		ek := dk.EncapsulationKey().Bytes()
		b.Run(p.Name, func(b *testing.B) {
			b.SetBytes(int64(len(ek)))
			for b.Loop() {
				if err := checkModulus(p, ek); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// mlkemParams returns the Params of the three ML-KEM parameter sets, the ones
// checkModulus is for (X-Wing's Scheme checks its ML-KEM-768 half).
func mlkemParams() []Params {
	var out []Params
	for _, p := range params {
		if p.Name != XWing {
			out = append(out, p)
		}
	}
	return out
}
