package session

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// testTimeout bounds every blocking step of a test, so a bug shows up as a
// failure, not a hang.
const testTimeout = 20 * time.Second

// lookup returns a Scheme, skipping the test when the backend does not
// implement the algorithm (the go backend has no ML-KEM-512).
func lookup(t testing.TB, alg, backend string) kem.Scheme {
	t.Helper()
	s, err := kem.Lookup(alg, backend)
	if errors.Is(err, kem.ErrUnsupported) {
		t.Skipf("%s: %v", backend, err)
	}
	require.NoError(t, err)
	return s
}

// staticKeys caches one static key per algorithm: every backend derives the
// same key from a seed, so one seed serves them all.
var (
	staticMu   sync.Mutex
	staticSeed = map[string][]byte{}
)

func staticKey(t testing.TB, s kem.Scheme) kem.DecapsulationKey {
	t.Helper()
	staticMu.Lock()
	seed, ok := staticSeed[s.Name()]
	if !ok {
		seed = make([]byte, kem.SeedSize)
		rand.Read(seed)
		staticSeed[s.Name()] = seed
	}
	staticMu.Unlock()
	dk, err := s.NewDecapsulationKey(seed)
	require.NoError(t, err)
	return dk
}

// pipe returns the two ends of a connection: net.Pipe or 127.0.0.1 TCP.
func pipe(t testing.TB, transport string) (server, client net.Conn) {
	t.Helper()
	switch transport {
	case "pipe":
		server, client = net.Pipe()
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		client, err = net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		server = <-accepted
		require.NotNil(t, server)
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	t.Cleanup(func() {
		server.Close()
		client.Close()
	})
	deadline := time.Now().Add(testTimeout)
	server.SetDeadline(deadline)
	client.SetDeadline(deadline)
	return server, client
}

type handshakeResult struct {
	conn *Conn
	err  error
}

// handshake runs Server on one end and Client on the other.
func handshake(t testing.TB, sc *ServerConfig, cc *ClientConfig, transport string) (srv, cli *Conn, srvRaw, cliRaw net.Conn) {
	t.Helper()
	srvRaw, cliRaw = pipe(t, transport)
	srv, cli, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.NoError(t, srvErr, "server")
	require.NoError(t, cliErr, "client")
	return srv, cli, srvRaw, cliRaw
}

// handshakeOn runs Server and Client concurrently and returns both results.
// A side that fails closes its end, as a caller would, so the other side
// does not wait forever.
func handshakeOn(srvRW, cliRW io.ReadWriter, sc *ServerConfig, cc *ClientConfig) (srv, cli *Conn, srvErr, cliErr error) {
	done := make(chan handshakeResult, 1)
	go func() {
		c, err := Server(srvRW, sc)
		if err != nil {
			if cl, ok := srvRW.(io.Closer); ok {
				cl.Close()
			}
		}
		done <- handshakeResult{c, err}
	}()
	cli, cliErr = Client(cliRW, cc)
	if cliErr != nil {
		if cl, ok := cliRW.(io.Closer); ok {
			cl.Close()
		}
	}
	r := <-done
	return r.conn, cli, r.err, cliErr
}

// defaultConfigs returns matching configs for an algorithm on the default
// backend.
func defaultConfigs(t testing.TB, alg string) (*ServerConfig, *ClientConfig) {
	s := lookup(t, alg, "")
	return &ServerConfig{Scheme: s, Static: staticKey(t, s)}, &ClientConfig{Scheme: s}
}

// recorder is an io.ReadWriter that reads from r and records every Write;
// Close closes r if it can.
type recorder struct {
	r      io.Reader
	mu     sync.Mutex
	writes [][]byte
}

func (w *recorder) Close() error {
	if c, ok := w.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (w *recorder) Read(p []byte) (int, error) { return w.r.Read(p) }

func (w *recorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func (w *recorder) written() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

// loopback is an in-memory one-way byte stream that does not allocate once
// its buffer has grown: Write appends, Read consumes, and a drained buffer
// is reused. Reading an empty loopback gives io.EOF.
type loopback struct {
	buf []byte
	r   int
}

func (l *loopback) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	return len(p), nil
}

func (l *loopback) Read(p []byte) (int, error) {
	if l.r == len(l.buf) {
		return 0, io.EOF
	}
	n := copy(p, l.buf[l.r:])
	l.r += n
	if l.r == len(l.buf) {
		l.buf, l.r = l.buf[:0], 0
	}
	return n, nil
}

// duplex joins a reader and a writer.
type duplex struct {
	io.Reader
	io.Writer
}

// randomKey returns a fresh KeySize-byte key.
func randomKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// memPair returns a client and a server Conn sharing fresh keys, over
// in-memory loopbacks (c2s: what the client wrote, s2c: what the server
// wrote). No handshake runs: the server's FINISHED is not sent, so the
// server's first record has seq 0 unless the test sends FINISHED.
func memPair(t testing.TB, maxFrame int) (cli, srv *Conn, c2s, s2c *loopback) {
	t.Helper()
	if maxFrame == 0 {
		maxFrame = frame.DefaultMaxSize
	}
	c2s, s2c = new(loopback), new(loopback)
	kc, ks := randomKey(), randomKey()
	s := lookup(t, kem.MLKEM768, "")
	var err error
	cli, err = newConn(duplex{s2c, c2s}, s, true, bytes.Clone(kc), bytes.Clone(ks), maxFrame)
	require.NoError(t, err)
	srv, err = newConn(duplex{c2s, s2c}, s, false, kc, ks, maxFrame)
	require.NoError(t, err)
	return cli, srv, c2s, s2c
}

// frames splits a byte stream into frame payloads.
func frames(t testing.TB, stream []byte) [][]byte {
	t.Helper()
	r := frame.NewReader(bytes.NewReader(stream), frame.MaxSize)
	var out [][]byte
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, bytes.Clone(p))
	}
}

// joinFrames makes a byte stream of frames holding payloads.
func joinFrames(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = frame.Append(b, p)
	}
	return b
}

// recvAll reads DATA bodies until an error, which it returns with them.
func recvAll(c *Conn) ([][]byte, error) {
	var got [][]byte
	for {
		b, err := c.Recv()
		if err != nil {
			return got, err
		}
		got = append(got, bytes.Clone(b))
	}
}
