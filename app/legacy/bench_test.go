package legacy_test

// Benchmarks of the legacy protocol's per-message work, for benchstat (the
// whole path over TCP is BenchmarkLegacyMessageTCP in package server, and
// kem-bench's "seed" section):
//
//	go test -run '^$' -bench . -benchmem -count 10 -tags liboqs ./app/legacy/

import (
	"fmt"
	"io"
	"testing"

	"github.com/kemtcp/kemtcp/app/frame"
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

// loopReader reads data over and over.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// BenchmarkServerRecv: what the server does per message through
// ServerConn.Recv: read the frame, parse, decapsulate, derive, decrypt,
// and wipe the previous message's plaintext. Compare with the clear in
// ServerConn.Wipe removed to see what wiping costs.
func BenchmarkServerRecv(b *testing.B) {
	s, err := kem.Lookup(kem.MLKEM768, "")
	if err != nil {
		b.Fatal(err)
	}
	dk, err := s.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%s/%dB", s.Name(), size), func(b *testing.B) {
			bundle, err := legacy.Seal(dk.EncapsulationKey(), make([]byte, size), nil)
			if err != nil {
				b.Fatal(err)
			}
			rw := struct {
				io.Reader
				io.Writer
			}{&loopReader{data: frame.Append(nil, bundle.Marshal())}, io.Discard}
			c, err := legacy.Accept(rw, dk, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Recv(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
