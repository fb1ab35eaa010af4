package kem_test

// Bad input: every wrong length of every input, keys failing the FIPS 203
// checks, unknown names. Each must give an error matching the right
// sentinel (errors.Is), and nothing may panic.

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// wrongLengths returns every length from 0 to 2*size but size itself: every
// wrong length an input can have up to twice its size.
func wrongLengths(size int) []int {
	ls := make([]int, 0, 2*size)
	for n := range 2*size + 1 {
		if n != size {
			ls = append(ls, n)
		}
	}
	return ls
}

// inputsOfLength returns the inputs of length n to try: the first n bytes
// of random (capped, so that nothing can reach the bytes after them), and
// for 0 both nil and an empty slice.
func inputsOfLength(random []byte, n int) [][]byte {
	if n == 0 {
		return [][]byte{nil, {}}
	}
	return [][]byte{random[:n:n]}
}

// strictlyNil reports whether r is a nil interface or a nil []byte: a key
// returned with an error must be a nil interface, not a typed nil pointer
// that compares unequal to nil.
func strictlyNil(r any) bool {
	if b, ok := r.([]byte); ok {
		return b == nil
	}
	return r == nil
}

// callNoPanic runs f, failing the test (not crashing it) if f panics.
func callNoPanic(t *testing.T, what string, f func() error) error {
	t.Helper()
	var err error
	if !assert.NotPanics(t, func() { err = f() }, what) {
		return nil
	}
	return err
}

// TestWrongLengths gives every input of every Scheme (seed, encapsulation
// key, encapsulation randomness, ciphertext, expanded decapsulation key)
// every length from 0 to twice its size.
func TestWrongLengths(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		p := paramsOf(t, s)
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		parsedEK, err := s.NewEncapsulationKey(dk.EncapsulationKey().Bytes())
		require.NoError(t, err)
		dks := []kem.DecapsulationKey{dk}
		parser, isParser := s.(kem.ExpandedKeyParser)
		if exp := expandedBytes(dk); exp != nil && isParser {
			dk2, err := parser.NewDecapsulationKeyExpanded(exp)
			require.NoError(t, err)
			dks = append(dks, dk2)
		}

		// Each input, with a valid value of the right size.
		type input struct {
			name     string
			size     int
			sentinel error
			valid    []byte
			call     func(b []byte) (results []any, err error)
		}
		inputs := []input{
			{"NewDecapsulationKey(seed)", p.SeedSize, kem.ErrSeedSize, randomBytes(p.SeedSize), func(b []byte) ([]any, error) {
				k, err := s.NewDecapsulationKey(b)
				return []any{k}, err
			}},
			{"NewEncapsulationKey(ek)", p.EncapsulationKeySize, kem.ErrEncapsKeySize, dk.EncapsulationKey().Bytes(), func(b []byte) ([]any, error) {
				k, err := s.NewEncapsulationKey(b)
				return []any{k}, err
			}},
		}
		for _, ek := range []kem.EncapsulationKey{dk.EncapsulationKey(), parsedEK} {
			inputs = append(inputs, input{"EncapsulateDerand(m)", p.EncapsSeedSize, kem.ErrEncapsSeedSize, randomBytes(p.EncapsSeedSize), func(b []byte) ([]any, error) {
				k, c, err := ek.EncapsulateDerand(b)
				return []any{k, c}, err
			}})
		}
		for _, dk := range dks {
			inputs = append(inputs, input{"Decapsulate(ciphertext)", p.CiphertextSize, kem.ErrCiphertextSize, randomBytes(p.CiphertextSize), func(b []byte) ([]any, error) {
				k, err := dk.Decapsulate(b)
				return []any{k}, err
			}})
		}
		if isParser {
			inputs = append(inputs, input{"NewDecapsulationKeyExpanded(dk)", p.DecapsulationKeySize, kem.ErrDecapsKeySize, expandedBytes(dk), func(b []byte) ([]any, error) {
				k, err := parser.NewDecapsulationKeyExpanded(b)
				return []any{k}, err
			}})
		} else {
			require.False(t, capabilitiesFor(t, s.Backend(), s.Name()).expandedParser)
		}

		for _, in := range inputs {
			random := randomBytes(2 * in.size)
			tried := 0
			for _, n := range wrongLengths(in.size) {
				tried++
				for _, b := range inputsOfLength(random, n) {
					what := fmt.Sprintf("%s with %d bytes (nil: %v)", in.name, n, b == nil)
					var results []any
					err := callNoPanic(t, what, func() (err error) {
						results, err = in.call(b)
						return err
					})
					if assert.ErrorIs(t, err, in.sentinel, what) {
						// The error says what was wrong: the size received.
						assert.Contains(t, err.Error(), strconv.Itoa(n)+" bytes", what)
					}
					for _, r := range results {
						assert.Truef(t, strictlyNil(r), "%s: a result besides the error: %T", what, r)
					}
				}
			}
			require.Equal(t, 2*in.size, tried, "%s: lengths tried", in.name)
			// A valid value of the right size is accepted: the error above
			// was about the size.
			require.Len(t, in.valid, in.size, in.name)
			err := callNoPanic(t, in.name+" with a valid value", func() (err error) {
				_, err = in.call(in.valid)
				return err
			})
			assert.NoError(t, err, in.name+" with a valid value")
		}
	})
}

// setCoefficient sets coefficient j of an encoded encapsulation key's
// vector t (ByteEncode12, FIPS 203 Algorithm 5) to v.
func setCoefficient(ek []byte, j int, v uint16) {
	o := 3 * (j / 2)
	if j%2 == 0 {
		ek[o] = byte(v)
		ek[o+1] = ek[o+1]&0xf0 | byte(v>>8)&0x0f
	} else {
		ek[o+1] = ek[o+1]&0x0f | byte(v<<4)
		ek[o+2] = byte(v >> 4)
	}
}

// coefficient returns coefficient j of an encoded encapsulation key.
func coefficient(ek []byte, j int) uint16 {
	o := 3 * (j / 2)
	if j%2 == 0 {
		return uint16(ek[o]) | uint16(ek[o+1]&0x0f)<<8
	}
	return uint16(ek[o+1]>>4) | uint16(ek[o+2])<<4
}

// TestModulusCheck gives NewEncapsulationKey keys with one coefficient of
// t at q = 3329 or above (FIPS 203, Section 7.2), which must be refused with
// kem.ErrEncapsKey, and keys with a coefficient at q-1, which are valid. An
// X-Wing key gets them in its ML-KEM-768 half, pk_M, which comes first.
func TestModulusCheck(t *testing.T) {
	const q = 3329
	rng := rand.New(rand.NewPCG(3, 4))
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		good := dk.EncapsulationKey().Bytes()
		coeffs := (mlkemEKSize(s.Params()) - 32) * 8 / 12 // 256·k

		// The encoding helpers agree with each other.
		for j := range coeffs {
			require.Less(t, coefficient(good, j), uint16(q), "coefficient %d of a fresh key", j)
		}

		positions := []int{0, 1, 255, 256, coeffs - 2, coeffs - 1, rng.IntN(coeffs), rng.IntN(coeffs)}
		for _, j := range positions {
			for _, v := range []uint16{q, q + 1, 4095, q + uint16(rng.IntN(4096-q))} {
				bad := bytes.Clone(good)
				setCoefficient(bad, j, v)
				require.Equal(t, v, coefficient(bad, j))
				what := fmt.Sprintf("coefficient %d set to %d", j, v)
				var ek kem.EncapsulationKey
				err := callNoPanic(t, what, func() (err error) {
					ek, err = s.NewEncapsulationKey(bad)
					return err
				})
				require.ErrorIs(t, err, kem.ErrEncapsKey, what)
				require.Contains(t, err.Error(), s.Name(), what)
				require.Nil(t, ek, what)
			}
			// q-1 is in range: the key is valid, and a different one.
			edge := bytes.Clone(good)
			setCoefficient(edge, j, q-1)
			ek, err := s.NewEncapsulationKey(edge)
			require.NoError(t, err, "coefficient %d set to q-1", j)
			require.Equal(t, edge, ek.Bytes())
		}
	})
}

// TestExpandedKeyChecks gives NewDecapsulationKeyExpanded expanded keys that
// fail the hash check of FIPS 203, Section 7.3, or hold an encapsulation key
// failing the modulus check.
func TestExpandedKeyChecks(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		parser, ok := s.(kem.ExpandedKeyParser)
		if !ok {
			require.False(t, capabilitiesFor(t, s.Backend(), s.Name()).expandedParser)
			t.Skipf("%s/%s: no kem.ExpandedKeyParser", s.Backend(), s.Name())
		}
		p := paramsOf(t, s)
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		good := expandedBytes(dk)
		require.Len(t, good, p.DecapsulationKeySize)

		ekOff := p.DecapsulationKeySize - p.EncapsulationKeySize - 64 // dk_PKE || ek || H(ek) || z
		hOff := p.DecapsulationKeySize - 64
		for _, tc := range []struct {
			name string
			at   int
		}{
			{"first byte of H(ek)", hOff},
			{"last byte of H(ek)", hOff + 31},
			{"first byte of ek", ekOff},
			{"last byte of ek (in rho)", hOff - 1},
		} {
			bad := bytes.Clone(good)
			bad[tc.at] ^= 0x01
			var k kem.DecapsulationKey
			err := callNoPanic(t, tc.name, func() (err error) {
				k, err = parser.NewDecapsulationKeyExpanded(bad)
				return err
			})
			require.ErrorIs(t, err, kem.ErrDecapsKey, tc.name)
			require.Nil(t, k, tc.name)
		}

		// An ek failing the modulus check, with a correct H(ek) beside it:
		// the hash check passes, but the key must still be refused, since
		// EncapsulationKey() promises a checked key.
		bad := bytes.Clone(good)
		setCoefficient(bad[ekOff:], 0, 3329)
		h := sha3.Sum256(bad[ekOff : ekOff+p.EncapsulationKeySize])
		copy(bad[hOff:], h[:])
		var k kem.DecapsulationKey
		err = callNoPanic(t, "ek with coefficient 0 = q", func() (err error) {
			k, err = parser.NewDecapsulationKeyExpanded(bad)
			return err
		})
		require.Error(t, err, "an expanded key holding an ek that fails the modulus check was accepted")
		require.Truef(t, errors.Is(err, kem.ErrDecapsKey) || errors.Is(err, kem.ErrEncapsKey), "error %v matches neither ErrDecapsKey nor ErrEncapsKey", err)
		require.Nil(t, k)

		// The untouched key still loads.
		k, err = parser.NewDecapsulationKeyExpanded(good)
		require.NoError(t, err)
		require.Equal(t, dk.EncapsulationKey().Bytes(), k.EncapsulationKey().Bytes())
	})
}

// TestNoAliasing checks that keys copy what they are given and what they
// return: changing a caller's buffer afterwards changes no key.
func TestNoAliasing(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		seed := randomBytes(s.Params().SeedSize)
		orig := bytes.Clone(seed)
		dk, err := s.NewDecapsulationKey(seed)
		require.NoError(t, err)
		ekBytes := dk.EncapsulationKey().Bytes()
		clear(seed)
		require.Equal(t, orig, dk.Bytes(), "the key kept the caller's seed buffer")

		b := dk.Bytes()
		clear(b)
		require.Equal(t, orig, dk.Bytes(), "Bytes returned the key's own seed buffer")

		e := dk.EncapsulationKey().Bytes()
		clear(e)
		require.Equal(t, ekBytes, dk.EncapsulationKey().Bytes(), "EncapsulationKey().Bytes returned the key's own buffer")

		in := bytes.Clone(ekBytes)
		ek, err := s.NewEncapsulationKey(in)
		require.NoError(t, err)
		clear(in)
		require.Equal(t, ekBytes, ek.Bytes(), "the parsed ek kept the caller's buffer")

		if x, ok := dk.(kem.Expander); ok {
			exp := x.ExpandedBytes()
			want := bytes.Clone(exp)
			clear(exp)
			require.Equal(t, want, x.ExpandedBytes(), "ExpandedBytes returned the key's own buffer")

			if parser, ok := s.(kem.ExpandedKeyParser); ok {
				in := bytes.Clone(want)
				dk2, err := parser.NewDecapsulationKeyExpanded(in)
				require.NoError(t, err)
				clear(in)
				k, c, err := ek.Encapsulate()
				require.NoError(t, err)
				got, err := dk2.Decapsulate(c)
				require.NoError(t, err)
				require.Equal(t, k, got, "the loaded expanded key kept the caller's buffer")
			}
		}

		// Decapsulate and EncapsulateDerand leave their inputs alone.
		m := randomBytes(s.Params().EncapsSeedSize)
		mOrig := bytes.Clone(m)
		_, c, err := ek.EncapsulateDerand(m)
		require.NoError(t, err)
		require.Equal(t, mOrig, m)
		cOrig := bytes.Clone(c)
		_, err = dk.Decapsulate(c)
		require.NoError(t, err)
		require.Equal(t, cOrig, c)
	})
}

func TestLookupNames(t *testing.T) {
	for _, name := range []string{"X-Wing", "xwing", "x-wing", "XWING", "X-WING", "XWing", "xWiNg", " x-Wing ", "\tX-Wing\n"} {
		name2, err := kem.CanonicalName(name)
		require.NoError(t, err, "%q", name)
		require.Equal(t, kem.XWing, name2, "%q", name)
		for _, b := range kem.Backends() {
			s, err := kem.Lookup(name, b)
			require.NoError(t, err, "%q on %s", name, b)
			require.Equal(t, kem.XWing, s.Name())
			require.Equal(t, b, s.Backend())
		}
		p, err := kem.ParamsFor(name)
		require.NoError(t, err)
		require.Equal(t, kem.XWing, p.Name)
	}
	for _, alg := range mlkemAlgorithms() {
		bits := alg[len("ML-KEM-"):]
		for _, name := range []string{alg, bits, "ml-kem-" + bits, "MLKEM" + bits, "mlkem" + bits, " " + bits + " ", "Ml-Kem-" + bits} {
			if !documentedToSupport(t, kem.DefaultBackend(), alg) {
				continue
			}
			s, err := kem.Lookup(name, "")
			require.NoError(t, err, name)
			require.Equal(t, alg, s.Name(), name)
			require.Equal(t, kem.DefaultBackend(), s.Backend(), name)
			name2, err := kem.CanonicalName(name)
			require.NoError(t, err)
			require.Equal(t, alg, name2)
		}
	}
	for _, b := range kem.Backends() {
		for _, name := range []string{b, " " + b + " ", strconvUpper(b)} {
			s, err := kem.Lookup("768", name)
			require.NoError(t, err, name)
			require.Equal(t, b, s.Backend(), name)
		}
	}
}

func strconvUpper(s string) string { return string(bytes.ToUpper([]byte(s))) }

func TestLookupErrors(t *testing.T) {
	for _, alg := range []string{"", "ML-KEM", "ML-KEM-769", "kyber768", "768x", "ML-DSA-65", "1024 768", "ML-KEM-ML-KEM-768",
		"X-Wing-768", "X Wing", "x_wing", "X--Wing", "ML-KEM-X-Wing", "MLKEMX-Wing", "xwing768", "X-Wing X-Wing", "X25519", "MLKEM768-X25519"} {
		_, err := kem.Lookup(alg, "")
		require.ErrorIs(t, err, kem.ErrUnknownAlgorithm, "%q", alg)
		require.Contains(t, err.Error(), strconv.Quote(alg), "the error quotes the bad name")
		_, err = kem.Lookup(alg, kem.BackendCircl)
		require.ErrorIs(t, err, kem.ErrUnknownAlgorithm, "%q", alg)
		_, err = kem.ParamsFor(alg)
		require.ErrorIs(t, err, kem.ErrUnknownAlgorithm, "%q", alg)
	}

	for _, b := range []string{"boringssl", "openssl", "liboqs2", "circl-go", "-"} {
		_, err := kem.Lookup(kem.MLKEM768, b)
		require.ErrorIs(t, err, kem.ErrUnknownBackend, "%q", b)
		require.Contains(t, err.Error(), strconv.Quote(b), "the error quotes the bad name")
		for _, known := range kem.AllBackends() {
			require.Contains(t, err.Error(), known, "the error lists the known backends")
		}
		require.Empty(t, kem.BackendVersion(b))
	}

	_, err := kem.Lookup(kem.MLKEM768, kem.BackendLiboqs)
	if builtWithLiboqs {
		require.NoError(t, err)
	} else {
		require.ErrorIs(t, err, kem.ErrNotCompiledIn)
		require.Contains(t, err.Error(), "built without the liboqs build tag", "the error says why liboqs is missing (the CLI adds how to get it)")
		require.Empty(t, kem.BackendVersion(kem.BackendLiboqs))
	}

	_, err = kem.Lookup(kem.MLKEM512, kem.BackendGo)
	require.ErrorIs(t, err, kem.ErrUnsupported)
	require.Contains(t, err.Error(), kem.MLKEM512)
}
