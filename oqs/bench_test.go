//go:build liboqs

package oqs_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The benchmarks time each operation through the Go API. kem-bench (in its
// own module, app/bench) times the same operations inside C and reports the
// ratio: the cost of cgo and of the Go side.

func BenchmarkKeypair(b *testing.B) {
	forEachMLKEM(b, func(b *testing.B, name string) {
		k := newKEM(b, name)
		for b.Loop() {
			if _, err := k.GenerateKeyPair(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncaps(b *testing.B) {
	forEachMLKEM(b, func(b *testing.B, name string) {
		k := newKEM(b, name)
		pk, err := k.GenerateKeyPair()
		require.NoError(b, err)
		for b.Loop() {
			if _, _, err := k.EncapSecret(pk); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecaps(b *testing.B) {
	forEachMLKEM(b, func(b *testing.B, name string) {
		k := newKEM(b, name)
		pk, err := k.GenerateKeyPair()
		require.NoError(b, err)
		ct, _, err := k.EncapSecret(pk)
		require.NoError(b, err)
		for b.Loop() {
			if _, err := k.DecapSecret(ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}
