package session

import (
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/kemtcp/kemtcp/app/kem"
)

// BenchmarkHandshake: one whole handshake (both sides) over net.Pipe, per
// KEM, on the default backend. Its cost should be the KEM operations': a
// key generation, two encapsulations and two decapsulations.
func BenchmarkHandshake(b *testing.B) {
	for _, alg := range kem.Algorithms() {
		b.Run(alg, func(b *testing.B) {
			sc, cc := defaultConfigs(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				srvRaw, cliRaw := net.Pipe()
				srv, cli, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
				if srvErr != nil || cliErr != nil || srv == nil || cli == nil {
					b.Fatal(srvErr, cliErr)
				}
				srvRaw.Close()
				cliRaw.Close()
			}
		})
	}
}

// BenchmarkHandshakeKEMOnly is the floor BenchmarkHandshake is compared
// with: the same KEM operations (a key generation, two modulus checks, two
// encapsulations, two decapsulations) with no I/O, hashing or records.
func BenchmarkHandshakeKEMOnly(b *testing.B) {
	for _, alg := range kem.Algorithms() {
		b.Run(alg, func(b *testing.B) {
			sc, _ := defaultConfigs(b, alg)
			ekS := sc.Static.EncapsulationKey().Bytes()
			b.ReportAllocs()
			for b.Loop() {
				dkE, err := sc.Scheme.GenerateKey()
				if err != nil {
					b.Fatal(err)
				}
				ks, err1 := sc.Scheme.NewEncapsulationKey(ekS)
				ke, err2 := sc.Scheme.NewEncapsulationKey(dkE.EncapsulationKey().Bytes())
				if err1 != nil || err2 != nil {
					b.Fatal(err1, err2)
				}
				_, ctS, err1 := ks.Encapsulate()
				_, ctE, err2 := ke.Encapsulate()
				if err1 != nil || err2 != nil {
					b.Fatal(err1, err2)
				}
				_, err1 = sc.Static.Decapsulate(ctS)
				_, err2 = dkE.Decapsulate(ctE)
				if err1 != nil || err2 != nil {
					b.Fatal(err1, err2)
				}
				dkE.Destroy()
			}
		})
	}
}

// BenchmarkRecord: sealing and opening one record in memory, with no framing
// or I/O: the AES-256-GCM floor of BenchmarkSendRecv.
func BenchmarkRecord(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			key := randomKey()
			s, _ := NewRecordSealer(key)
			o, _ := NewRecordOpener(key)
			msg := make([]byte, n)
			buf := make([]byte, 0, n+RecordOverhead)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := o.Open(s.Seal(buf, RecordData, msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchSizes = []int{64, 1 << 10, 64 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkSendRecv: one DATA record sent by the client and received by the
// server. "pipe" runs the two in their own goroutines over net.Pipe; "mem"
// runs both in one goroutine over an in-memory stream, which isolates the
// record layer's own cost.
func BenchmarkSendRecv(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("pipe/"+sizeName(n), func(b *testing.B) {
			sc, cc := defaultConfigs(b, kem.MLKEM768)
			srv, cli, _, _ := handshake(b, sc, cc, "pipe")
			msg := make([]byte, n)
			done := make(chan error, 1)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for {
					if _, err := srv.Recv(); err != nil {
						if err == io.EOF {
							err = nil
						}
						done <- err
						return
					}
				}
			}()
			for range b.N {
				if err := cli.Send(msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := cli.CloseWrite(); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
		b.Run("mem/"+sizeName(n), func(b *testing.B) {
			cli, srv, _, _ := memPair(b, 0)
			msg := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if err := cli.Send(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := srv.Recv(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
