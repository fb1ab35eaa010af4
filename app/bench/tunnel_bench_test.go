package bench

// BenchmarkTunnel runs the code of kem-server -forward (server.Forward) and
// kem-client -listen (client.Tunnel) in this process, so that the tunnel's
// hot spots show in a Go profile (the commands have no profiling flag):
//
//	go test -C app/bench -run '^$' -bench Tunnel -tags liboqs -cpuprofile cpu.out
//	go tool pprof -top cpu.out
//
// The tunnel section measures the real processes; this is the same work
// without the processes' boundaries. relay=plain is a Go TCP relay with the
// same structure (a goroutine each way, io.Copy, half-close) and no
// cryptography: what any two-hop Go tunnel costs.

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kemtcp/kemtcp/app/client"
	"github.com/kemtcp/kemtcp/app/kem"
	kemserver "github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// inProcessTunnel starts a server.Forward to target and a client.Tunnel to
// it, and returns the tunnel's entry.
func inProcessTunnel(b *testing.B, target string) string {
	b.Helper()
	s := benchScheme(b, kem.MLKEM768)
	key, err := s.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	srv, err := kemserver.New(kemserver.Config{Proto: kemserver.ProtoSession, Session: &session.ServerConfig{Scheme: s, Static: key},
		Handler: &kemserver.Forward{Target: target}})
	if err != nil {
		b.Fatal(err)
	}
	exit, err := loopback()
	if err != nil {
		b.Fatal(err)
	}
	entry, err := loopback()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ctx, exit) })
	pin := key.EncapsulationKey().Bytes()
	tun := &client.Tunnel{Config: client.Config{Addr: exit.Addr().String(), Proto: kemserver.ProtoSession, Scheme: s,
		Verify: func(ek []byte) (func() (string, error), error) {
			if !bytes.Equal(ek, pin) {
				return nil, errNotPinned
			}
			return nil, nil
		}}}
	wg.Go(func() { tun.Serve(ctx, entry) })
	b.Cleanup(func() { cancel(); wg.Wait() })
	return entry.Addr().String()
}

var errNotPinned = io.ErrUnexpectedEOF

// plainRelay is a Go TCP relay from a listener to target, with a
// goroutine each way and half-close, and no cryptography.
func plainRelay(b *testing.B, target string) string {
	b.Helper()
	ln, err := loopback()
	if err != nil {
		b.Fatal(err)
	}
	srv := &server{ln: ln}
	srv.serve(func(c net.Conn) error {
		defer c.Close()
		t, err := net.Dial("tcp", target)
		if err != nil {
			return err
		}
		defer t.Close()
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(t, c); t.(*net.TCPConn).CloseWrite() })
		io.Copy(c, t)
		c.(*net.TCPConn).CloseWrite()
		wg.Wait()
		return nil
	})
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func BenchmarkTunnel(b *testing.B) {
	for _, relay := range []string{"kemtcp", "plain"} {
		start := func(b *testing.B) string {
			echo, err := startTCPServer(modeEcho)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { echo.Close() })
			if relay == "plain" {
				return plainRelay(b, plainRelay(b, echo.addr()))
			}
			return inProcessTunnel(b, echo.addr())
		}
		b.Run("relay="+relay+"/op=conn", func(b *testing.B) {
			entry := start(b)
			b.ReportAllocs()
			cpu := cpuNow()
			for b.Loop() {
				if err := connOnce(entry); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
		b.Run("relay="+relay+"/op=roundtrip", func(b *testing.B) {
			c, err := net.DialTimeout("tcp", start(b), ioTimeout)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			rt := roundTrip(c, make([]byte, tunnelMessage))
			c.SetDeadline(time.Now().Add(ioTimeout))
			if err := rt(); err != nil {
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
