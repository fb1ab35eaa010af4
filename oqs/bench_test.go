//go:build liboqs

package oqs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/oqs"
)

// The benchmarks time each operation through the Go API and report, beside
// ns/op, the same operation timed inside C by TimeInC ("C-ns/op") and the
// ratio of the two ("go/C"): the cost of cgo and of the Go side.

func BenchmarkKeypair(b *testing.B) {
	forEachMLKEM(b, func(b *testing.B, name string) {
		k := newKEM(b, name)
		for b.Loop() {
			if _, err := k.GenerateKeyPair(); err != nil {
				b.Fatal(err)
			}
		}
		reportC(b, name, oqs.OpKeypair)
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
		reportC(b, name, oqs.OpEncaps)
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
		reportC(b, name, oqs.OpDecaps)
	})
}

// reportC times b.N iterations of op in C and reports them beside the Go
// timing of the same b.N iterations.
func reportC(b *testing.B, name string, op oqs.Op) {
	b.Helper()
	goTime := b.Elapsed()
	cTime, err := oqs.TimeInC(name, op, b.N)
	require.NoError(b, err)
	b.ReportMetric(float64(cTime.Nanoseconds())/float64(b.N), "C-ns/op")
	if cTime > 0 {
		b.ReportMetric(float64(goTime)/float64(cTime), "go/C")
	}
}
