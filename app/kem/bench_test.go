package kem_test

// Benchmarks of every backend and parameter set, named
// Benchmark<Op>/<backend>/<algorithm> so that benchstat can compare them:
//
//	go test -run '^$' -bench . -count 10 ./app/kem/ > old.txt
//	go test -run '^$' -bench . -count 10 -tags liboqs ./app/kem/ > new.txt
//	benchstat old.txt new.txt
//
// or, within one run, across backends:
//
//	benchstat -col /backend bench.txt
//
// Performance goals belong in ratios between these, never in timed tests.

import (
	"testing"

	"github.com/kemtcp/kemtcp/app/kem"
)

// benchEach runs f as a sub-benchmark backend/algorithm for every
// compiled-in backend and every ML-KEM parameter set it implements (X-Wing
// has BenchmarkXWing).
func benchEach(b *testing.B, f func(b *testing.B, s kem.Scheme)) {
	for _, backend := range kem.Backends() {
		b.Run(backend, func(b *testing.B) {
			for _, alg := range mlkemAlgorithms() {
				s, err := kem.Lookup(alg, backend)
				if err != nil {
					continue // not implemented by this backend (go: ML-KEM-512)
				}
				b.Run(alg, func(b *testing.B) {
					b.ReportAllocs()
					f(b, s)
				})
			}
		})
	}
}

// BenchmarkKeyGen derives a key pair from a seed (ML-KEM.KeyGen_internal),
// then destroys it, as a server does for each connection.
func BenchmarkKeyGen(b *testing.B) {
	benchEach(b, func(b *testing.B, s kem.Scheme) {
		seed := randomBytes(kem.SeedSize)
		for b.Loop() {
			dk, err := s.NewDecapsulationKey(seed)
			if err != nil {
				b.Fatal(err)
			}
			dk.Destroy()
		}
	})
}

// BenchmarkParseEncapsulationKey parses and checks a peer's encapsulation
// key (with the FIPS 203 modulus check), as a client does.
func BenchmarkParseEncapsulationKey(b *testing.B) {
	benchEach(b, func(b *testing.B, s kem.Scheme) {
		dk, err := s.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		ek := dk.EncapsulationKey().Bytes()
		for b.Loop() {
			if _, err := s.NewEncapsulationKey(ek); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncaps encapsulates with fresh randomness to a parsed key.
func BenchmarkEncaps(b *testing.B) {
	benchEach(b, func(b *testing.B, s kem.Scheme) {
		dk, err := s.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		ek, err := s.NewEncapsulationKey(dk.EncapsulationKey().Bytes())
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, _, err := ek.Encapsulate(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecaps decapsulates a valid ciphertext.
func BenchmarkDecaps(b *testing.B) {
	benchEach(b, func(b *testing.B, s kem.Scheme) {
		dk, err := s.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		_, c, err := dk.EncapsulationKey().Encapsulate()
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := dk.Decapsulate(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkXWing measures X-Wing on every backend (the backend doing its
// ML-KEM-768 half), as BenchmarkXWing/<backend>/<op>: KeyGen derives a key
// pair from a seed and destroys it; Encaps encapsulates with fresh
// randomness to a parsed key; Decaps decapsulates a valid ciphertext.
func BenchmarkXWing(b *testing.B) {
	for _, backend := range kem.Backends() {
		s, err := kem.Lookup(kem.XWing, backend)
		if err != nil {
			b.Fatal(err)
		}
		dk, err := s.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		ek, err := s.NewEncapsulationKey(dk.EncapsulationKey().Bytes())
		if err != nil {
			b.Fatal(err)
		}
		_, c, err := ek.Encapsulate()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(backend+"/KeyGen", func(b *testing.B) {
			b.ReportAllocs()
			seed := randomBytes(s.Params().SeedSize)
			for b.Loop() {
				dk, err := s.NewDecapsulationKey(seed)
				if err != nil {
					b.Fatal(err)
				}
				dk.Destroy()
			}
		})
		b.Run(backend+"/Encaps", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ek.Encapsulate(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(backend+"/Decaps", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dk.Decapsulate(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
