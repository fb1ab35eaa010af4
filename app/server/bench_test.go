package server

// Benchmarks of the server's hot paths over loopback TCP, the way kem-bench
// measures them (package bench), for benchstat:
//
//	go test -run '^$' -bench . -benchmem -count 10 -tags liboqs ./app/server/ > new.txt
//
// Each server runs in this process, quiet, on 127.0.0.1.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// benchServer serves cfg, with a fresh key of s and the quiet chat (with
// echo if asked), on a loopback port until the benchmark ends.
func benchServer(b *testing.B, cfg Config, s kem.Scheme, echo bool) (addr string, ek []byte) {
	b.Helper()
	key, err := s.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	cfg.Session = &session.ServerConfig{Scheme: s, Static: key}
	cfg.Handler = &Chat{Quiet: true, Echo: echo}
	cfg.Grace = time.Second
	srv, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return ln.Addr().String(), key.EncapsulationKey().Bytes()
}

func benchScheme(b *testing.B, alg string) kem.Scheme {
	b.Helper()
	s, err := kem.Lookup(alg, "")
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchDial connects and completes a session handshake, pinning ek.
func benchDial(b *testing.B, addr string, s kem.Scheme, ek []byte) (*session.Conn, net.Conn) {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	sc := session.Client(nc, &session.ClientConfig{Scheme: s, VerifyServerKey: func(k []byte) error {
		if !bytes.Equal(k, ek) {
			return errors.New("not the pinned key")
		}
		return nil
	}})
	if err := sc.Handshake(); err != nil {
		nc.Close()
		b.Fatal(err)
	}
	return sc, nc
}

// BenchmarkHandshakeTCP: one client after another: dial, full handshake to
// FINISHED, CLOSE, close (kem-bench's "handshakes/s, 1 client").
func BenchmarkHandshakeTCP(b *testing.B) {
	for _, alg := range kem.Algorithms() {
		b.Run(alg, func(b *testing.B) {
			s := benchScheme(b, alg)
			addr, ek := benchServer(b, Config{Proto: ProtoSession}, s, false)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				sc, nc := benchDial(b, addr, s, ek)
				if err := sc.CloseWrite(); err != nil {
					b.Fatal(err)
				}
				nc.Close()
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkEchoTCP: one DATA record to the echoing chat and back.
func BenchmarkEchoTCP(b *testing.B) {
	for _, n := range []int{64, 1 << 10} {
		b.Run(sizeName(n), func(b *testing.B) {
			s := benchScheme(b, kem.MLKEM768)
			addr, ek := benchServer(b, Config{Proto: ProtoSession}, s, true)
			sc, nc := benchDial(b, addr, s, ek)
			defer nc.Close()
			msg := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if err := sc.WriteMessage(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := sc.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkBulkTCP: DATA records one way to the server, which reads and
// drops them; the time includes the server's CLOSE after the last one.
func BenchmarkBulkTCP(b *testing.B) {
	for _, n := range []int{64, 16 << 10, 64 << 10} {
		b.Run(sizeName(n), func(b *testing.B) {
			s := benchScheme(b, kem.MLKEM768)
			addr, ek := benchServer(b, Config{Proto: ProtoSession}, s, false)
			sc, nc := benchDial(b, addr, s, ek)
			defer nc.Close()
			msg := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if err := sc.WriteMessage(msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := sc.CloseWrite(); err != nil {
				b.Fatal(err)
			}
			if _, err := sc.ReadMessage(); err != io.EOF {
				b.Fatal(err)
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkLegacyMessageTCP: the legacy protocol's per-message encapsulation,
// one way to the server; the time includes the server reading the last one.
func BenchmarkLegacyMessageTCP(b *testing.B) {
	for _, alg := range kem.Algorithms() {
		if alg == kem.XWing {
			continue // the legacy protocol speaks ML-KEM only
		}
		b.Run(alg, func(b *testing.B) {
			s := benchScheme(b, alg)
			addr, _ := benchServer(b, Config{Proto: ProtoLegacy}, s, false)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			c, err := legacy.Connect(nc, s, 0)
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 64)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if err := c.Send(msg); err != nil {
					b.Fatal(err)
				}
			}
			nc.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, nc)
			reportCPU(b, cpu)
		})
	}
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the metric "cpu-ns/op": the process's CPU time (client
// and server together) per operation since start, which a busy machine
// skews less than the wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func sizeName(n int) string {
	switch {
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
