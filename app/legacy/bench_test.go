package legacy_test

// Benchmarks of the legacy protocol's per-message work, for benchstat (the
// whole path over TCP is BenchmarkLegacyMessageTCP in package server, and
// kem-bench's "seed" section):
//
//	go test -run '^$' -bench . -benchmem -count 10 -tags liboqs ./app/legacy/

import (
	"testing"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
)

// BenchmarkSealMarshal: what the client does per line: a fresh
// encapsulation, the key, AES-256-GCM, the pickle.
func BenchmarkSealMarshal(b *testing.B) {
	for _, alg := range kem.Algorithms() {
		b.Run(alg, func(b *testing.B) {
			s, err := kem.Lookup(alg, "")
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
			msg := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				bundle, err := legacy.Seal(ek, msg, nil)
				if err != nil {
					b.Fatal(err)
				}
				_ = bundle.Marshal()
			}
		})
	}
}

// BenchmarkParseOpen: what the server does per message: parse the pickle,
// decapsulate, derive the key, open.
func BenchmarkParseOpen(b *testing.B) {
	for _, alg := range kem.Algorithms() {
		b.Run(alg, func(b *testing.B) {
			s, err := kem.Lookup(alg, "")
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
			bundle, err := legacy.Seal(ek, make([]byte, 64), nil)
			if err != nil {
				b.Fatal(err)
			}
			payload := bundle.Marshal()
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				got, err := legacy.ParseBundle(payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := legacy.Open(dk, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
