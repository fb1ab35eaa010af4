package session

import (
	"fmt"
	"io"
	"testing"

	"github.com/kemtcp/kemtcp/app/kem"
)

// BenchmarkStream moves data one way through a session over loopback TCP,
// in writes of the given size: what an io.Copy through a tunnel costs.
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{64, 16 << 10, 256 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) { benchStream(b, size) })
	}
}

// BenchmarkWipe is BenchmarkStream with and without the clearing of
// delivered plaintext, for the cost of wiping.
func BenchmarkWipe(b *testing.B) {
	for _, wipe := range []bool{true, false} {
		for _, size := range []int{64, 16 << 10, 256 << 10} {
			b.Run(fmt.Sprintf("wipe=%v/%d", wipe, size), func(b *testing.B) {
				defer func(w bool) { wipePlaintext = w }(wipePlaintext)
				wipePlaintext = wipe
				benchStream(b, size)
			})
		}
	}
}

func benchStream(b *testing.B, size int) {
	sc, cc := defaultConfigs(b, kem.MLKEM768)
	srv, cli := handshake(b, sc, cc)
	buf := make([]byte, size)
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, srv)
		done <- err
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cli.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	cli.CloseWrite()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
