package session

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// randomChunks writes n bytes of r to w in writes of random sizes from 0
// to 1 MiB, and returns their SHA-256.
func randomChunks(w io.Writer, r *rand.Rand, n int) ([32]byte, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, r.IntN(len(buf)+1))
		b := buf[:k]
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			return [32]byte{}, err
		}
		n -= k
	}
	return [32]byte(h.Sum(nil)), nil
}

// readRandomly reads r to its end with reads of random sizes, and returns
// the SHA-256 and count of what it read.
func readRandomly(rd io.Reader, r *rand.Rand) ([32]byte, int, error) {
	h := sha256.New()
	buf := make([]byte, 1<<17)
	total := 0
	for {
		n, err := rd.Read(buf[:1+r.IntN(len(buf))])
		h.Write(buf[:n])
		total += n
		if err == io.EOF {
			return [32]byte(h.Sum(nil)), total, nil
		}
		if err != nil {
			return [32]byte{}, total, err
		}
	}
}

// TestStreamBothWays: both sides write at once, in writes of random sizes
// (0 to 1 MiB), read with buffers of random sizes, and half-close; every
// byte arrives, in order.
func TestStreamBothWays(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	var wg sync.WaitGroup
	for i, pair := range [][2]*Conn{{cli, srv}, {srv, cli}} {
		w, rd := pair[0], pair[1]
		sent := make(chan [32]byte, 1)
		const n = 24 << 20
		wg.Go(func() {
			sum, err := randomChunks(w, rand.New(rand.NewPCG(uint64(i), 1)), n)
			assert.NoError(t, err)
			assert.NoError(t, w.CloseWrite())
			sent <- sum
		})
		wg.Go(func() {
			sum, total, err := readRandomly(rd, rand.New(rand.NewPCG(uint64(i), 2)))
			assert.NoError(t, err)
			assert.Equal(t, n, total)
			assert.Equal(t, <-sent, sum)
		})
	}
	wg.Wait()
}

// TestIOCopyHalfClose: io.Copy both ways through a pair of sessions, as a
// tunnel does, with the half-close carried through.
func TestIOCopyHalfClose(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	// The server echoes everything back, then half-closes.
	go func() {
		io.Copy(srv, srv)
		srv.CloseWrite()
	}()
	r := rand.New(rand.NewPCG(7, 7))
	done := make(chan error, 1)
	var sum [32]byte
	go func() {
		var err error
		sum, err = randomChunks(cli, r, 8<<20)
		if err == nil {
			err = cli.CloseWrite()
		}
		done <- err
	}()
	got, total, err := readRandomly(cli, rand.New(rand.NewPCG(8, 8)))
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.Equal(t, 8<<20, total)
	assert.Equal(t, sum, got)
}

// TestManyConnections: 1,000 concurrent connections through one listener,
// each with its own data, each checked.
func TestManyConnections(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	ln, err := Listen("tcp", "127.0.0.1:0", sc)
	require.NoError(t, err)
	defer ln.Close()
	var served sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*Conn).CloseWrite()
			})
		}
	}()
	const conns = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 250) // the machine's file descriptor limit
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := Dial("tcp", ln.Addr().String(), cc)
			if !assert.NoError(t, err) {
				return
			}
			defer c.Close()
			msg := make([]byte, 100+i)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			go func() {
				c.Write(msg)
				c.CloseWrite()
			}()
			got, err := io.ReadAll(c)
			assert.NoError(t, err)
			assert.Equal(t, msg, got, "connection %d", i)
		})
	}
	wg.Wait()
	ln.Close()
	served.Wait()
	var _ net.Listener = ln
}
