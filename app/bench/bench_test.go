package bench

// Go benchmarks of the paths kem-bench measures, each next to its crypto/tls
// (and plain TCP) counterpart, for benchstat; cpu-ns/op is the process's CPU
// time per operation (client and server are both in this process), which a
// busy machine skews less than the wall time:
//
//	go test -run '^$' -bench . -benchmem -count 10 -tags liboqs ./app/bench/ > new.txt
//	benchstat -col /proto new.txt

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
)

func cpuNow() time.Duration {
	d, _ := processCPU()
	return d
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
}

func benchScheme(b *testing.B) kem.Scheme {
	b.Helper()
	s, err := streamScheme()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkHandshake: one full handshake after another over loopback TCP:
// session (ML-KEM-768, default backend) and TLS 1.3 X25519MLKEM768.
func BenchmarkHandshake(b *testing.B) {
	b.Run("proto=session", func(b *testing.B) {
		srv, err := startKEMServer(benchScheme(b), server.ProtoSession, false, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		b.ReportAllocs()
		cpu := cpuNow()
		for b.Loop() {
			sc, nc, err := srv.dialSession(0)
			if err != nil {
				b.Fatal(err)
			}
			sc.CloseWrite()
			nc.Close()
		}
		reportCPU(b, cpu)
	})
	b.Run("proto=tls", func(b *testing.B) {
		tc, err := newTLSConfigs()
		if err != nil {
			b.Fatal(err)
		}
		srv, err := startStreamServer(tc.server, modeSink)
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
}

// BenchmarkEcho: a 64-byte round trip through the kem-server echo logic, a
// crypto/tls echo server and a plain TCP one.
func BenchmarkEcho(b *testing.B) {
	msg := bytes.Repeat([]byte{'e'}, 64)
	b.Run("proto=session", func(b *testing.B) {
		srv, err := startKEMServer(benchScheme(b), server.ProtoSession, true, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		sc, nc, err := srv.dialSession(0)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		b.ReportAllocs()
		cpu := cpuNow()
		for b.Loop() {
			if err := sc.Send(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := sc.Recv(); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	stream := func(b *testing.B, tlsOn bool) {
		var c net.Conn
		var srv *streamServer
		var err error
		if tlsOn {
			tc, err := newTLSConfigs()
			if err != nil {
				b.Fatal(err)
			}
			if srv, err = startStreamServer(tc.server, modeEcho); err != nil {
				b.Fatal(err)
			}
			c, err = dialTLS(srv.addr(), tc.client)
		} else {
			if srv, err = startStreamServer(nil, modeEcho); err != nil {
				b.Fatal(err)
			}
			c, err = net.Dial("tcp", srv.addr())
		}
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		defer c.Close()
		buf := make([]byte, len(msg))
		b.ReportAllocs()
		cpu := cpuNow()
		for b.Loop() {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	}
	b.Run("proto=tls", func(b *testing.B) { stream(b, true) })
	b.Run("proto=tcp", func(b *testing.B) { stream(b, false) })
}

// BenchmarkBulk: 64 KiB messages one way, session vs crypto/tls, timed
// until the server has read them all.
func BenchmarkBulk(b *testing.B) {
	const size = 64 << 10
	b.Run("proto=session", func(b *testing.B) {
		srv, err := startKEMServer(benchScheme(b), server.ProtoSession, false, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		b.SetBytes(size)
		b.ReportAllocs()
		cpu := cpuNow()
		if _, err := sessionThroughput(srv, size, limit{bytes: int64(b.N) * size}); err != nil {
			b.Fatal(err)
		}
		reportCPU(b, cpu)
	})
	b.Run("proto=tls", func(b *testing.B) {
		tc, err := newTLSConfigs()
		if err != nil {
			b.Fatal(err)
		}
		srv, err := startStreamServer(tc.server, modeSink)
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		b.SetBytes(size)
		b.ReportAllocs()
		cpu := cpuNow()
		if _, _, err := tlsThroughput(srv.addr(), tc.client, size, limit{bytes: int64(b.N) * size}); err != nil {
			b.Fatal(err)
		}
		reportCPU(b, cpu)
	})
}
