package bench

// Go benchmarks of the paths kem-bench measures, all through the net.Conn
// API, each next to its crypto/tls (and plain TCP) counterpart, for
// benchstat; cpu-ns/op is the process's CPU time per operation (client and
// server are both in this process), which a busy machine skews less than
// the wall time, and allocs/op counts both sides too (the steady-state
// Read and Write of a session allocate nothing):
//
//	go install golang.org/x/perf/cmd/benchstat@latest
//	go test -C app/bench -run '^$' -bench . -benchmem -count 10 -tags liboqs > new.txt
//	benchstat -col /proto new.txt
//	benchstat old.txt new.txt

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
)

func cpuNow() time.Duration {
	d, _ := processCPU()
	return d
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
}

func benchScheme(b *testing.B, alg string) kem.Scheme {
	b.Helper()
	s, err := kem.Lookup(alg, "")
	if err != nil {
		b.Skip(err)
	}
	return s
}

// BenchmarkHandshake: one full handshake after another over loopback TCP:
// session (ML-KEM-768 and X-Wing, default backend), TLS 1.3
// X25519MLKEM768, and the plain-TCP baseline with ML-KEM-768's writes.
func BenchmarkHandshake(b *testing.B) {
	for _, alg := range []string{kem.MLKEM768, kem.XWing} {
		b.Run("proto=session/kem="+alg, func(b *testing.B) {
			srv, err := startSessionServer(benchScheme(b, alg), modeSink, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			cfg := srv.clientConfig(0)
			b.ReportAllocs()
			cpu := cpuNow()
			for b.Loop() {
				c, err := dialSession(srv.addr(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			reportCPU(b, cpu)
		})
	}
	b.Run("proto=tls", func(b *testing.B) {
		tc, err := newTLSConfigs()
		if err != nil {
			b.Fatal(err)
		}
		srv, err := startTLSServer(tc.server, modeSink)
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		b.ReportAllocs()
		cpu := cpuNow()
		for b.Loop() {
			c, err := dialTLS(srv.addr(), tc.client)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		reportCPU(b, cpu)
	})
	b.Run("proto=tcp/kem="+kem.MLKEM768, func(b *testing.B) {
		script, err := recordHandshake(benchScheme(b, kem.MLKEM768))
		if err != nil {
			b.Fatal(err)
		}
		srv, err := startScriptServer(script)
		if err != nil {
			b.Fatal(err)
		}
		op := scriptClient(srv.addr(), script)
		b.ReportAllocs()
		cpu := cpuNow()
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
		if err := srv.Close(); err != nil {
			b.Fatal(err)
		}
	})
}

// streamBench dials proto's server in mode: session (ML-KEM-768, default
// backend), tls or tcp.
func streamBench(b *testing.B, proto string, mode int) net.Conn {
	b.Helper()
	var c net.Conn
	var err error
	switch proto {
	case ProtoSession:
		srv, err2 := startSessionServer(benchScheme(b, kem.MLKEM768), mode, 0)
		if err2 != nil {
			b.Fatal(err2)
		}
		b.Cleanup(func() { srv.Close() })
		c, err = dialSession(srv.addr(), srv.clientConfig(0))
	case ProtoTLS:
		tc, err2 := newTLSConfigs()
		if err2 != nil {
			b.Fatal(err2)
		}
		srv, err2 := startTLSServer(tc.server, mode)
		if err2 != nil {
			b.Fatal(err2)
		}
		b.Cleanup(func() { srv.Close() })
		c, err = dialTLS(srv.addr(), tc.client)
	default:
		srv, err2 := startTCPServer(mode)
		if err2 != nil {
			b.Fatal(err2)
		}
		b.Cleanup(func() { srv.Close() })
		c, err = net.Dial("tcp", srv.addr())
	}
	if err != nil {
		b.Fatal(err)
	}
	c.SetDeadline(time.Time{})
	b.Cleanup(func() { c.Close() }) // runs before the server's Close
	return c
}

// BenchmarkEcho: a 64-byte round trip (Write, io.ReadFull; the server Reads
// and Writes back) over session, crypto/tls and plain TCP.
func BenchmarkEcho(b *testing.B) {
	msg := bytes.Repeat([]byte{'e'}, 64)
	for _, proto := range []string{ProtoSession, ProtoTLS, ProtoTCP} {
		b.Run("proto="+proto, func(b *testing.B) {
			rt := roundTrip(streamBench(b, proto, modeEcho), msg)
			if err := rt(); err != nil { // the first allocates the buffers
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := cpuNow()
			for b.Loop() {
				if err := rt(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkBulk: 64 KiB Writes one way, session vs crypto/tls, the server
// reading with a 64 KiB buffer.
func BenchmarkBulk(b *testing.B) {
	const size = 64 << 10
	msg := bytes.Repeat([]byte{'x'}, size)
	for _, proto := range []string{ProtoSession, ProtoTLS} {
		b.Run("proto="+proto, func(b *testing.B) {
			c := streamBench(b, proto, modeSink)
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			cpu := cpuNow()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := finish(c); err != nil {
				b.Fatal(err)
			}
			reportCPU(b, cpu)
		})
	}
}
