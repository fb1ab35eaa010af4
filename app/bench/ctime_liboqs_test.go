//go:build liboqs

package bench

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// BenchmarkLiboqsVsC times each operation through the kem API of the liboqs
// backend and inside C (timeInC), and reports the ratio "go/C": the cost
// of cgo and of the Go side. "encaps" is what a client does with a peer's
// key: NewEncapsulationKey (with the Go modulus check) and Encapsulate; in C,
// copying the received key and OQS_KEM_encaps (which checks it too).
func BenchmarkLiboqsVsC(b *testing.B) {
	for _, alg := range kem.Algorithms() {
		s, err := kem.Lookup(alg, kem.BackendLiboqs)
		require.NoError(b, err)
		dk, err := s.GenerateKey()
		require.NoError(b, err)
		ek := dk.EncapsulationKey().Bytes()
		_, ct, err := dk.EncapsulationKey().Encapsulate()
		require.NoError(b, err)
		ops := []struct {
			name string
			op   cOp
			f    func() error
		}{
			{"keypair", cKeypair, func() error {
				k, err := s.GenerateKey()
				k.Destroy()
				return err
			}},
			{"encaps", cEncaps, func() error {
				k, err := s.NewEncapsulationKey(ek)
				if err != nil {
					return err
				}
				_, _, err = k.Encapsulate()
				return err
			}},
			{"decaps", cDecaps, func() error {
				_, err := dk.Decapsulate(ct)
				return err
			}},
		}
		for _, o := range ops {
			b.Run(o.name+"/"+alg, func(b *testing.B) {
				for b.Loop() {
					if err := o.f(); err != nil {
						b.Fatal(err)
					}
				}
				goTime := b.Elapsed()
				cTime, err := timeInC(alg, o.op, b.N)
				require.NoError(b, err)
				b.ReportMetric(float64(cTime.Nanoseconds())/float64(b.N), "C-ns/op")
				b.ReportMetric(float64(goTime)/float64(cTime), "go/C")
			})
		}
		dk.Destroy()
	}
}
