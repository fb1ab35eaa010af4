package session

import (
	"crypto/rand"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// testTimeout bounds every blocking step of a test, so a bug shows up as a
// failure, not a hang.
const testTimeout = 30 * time.Second

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

// forEachBackend runs f for alg on every backend compiled in.
func forEachBackend(t *testing.T, alg string, f func(t *testing.T, s kem.Scheme)) {
	for _, b := range kem.Backends() {
		t.Run(b, func(t *testing.T) { f(t, lookup(t, alg, b)) })
	}
}

// forEachScheme runs f for every algorithm on every backend compiled in.
func forEachScheme(t *testing.T, f func(t *testing.T, s kem.Scheme)) {
	for _, alg := range kem.Algorithms() {
		for _, b := range kem.Backends() {
			t.Run(b+"/"+alg, func(t *testing.T) { f(t, lookup(t, alg, b)) })
		}
	}
}

// keyCache holds one key seed per algorithm and role: every backend derives
// the same key from a seed, so one seed serves them all, and tests do not
// pay for a key generation each.
var (
	keyMu    sync.Mutex
	keySeeds = map[string][]byte{}
)

func cachedKey(t testing.TB, s kem.Scheme, role string) kem.DecapsulationKey {
	t.Helper()
	keyMu.Lock()
	seed, ok := keySeeds[s.Name()+role]
	if !ok {
		seed = make([]byte, s.Params().SeedSize)
		rand.Read(seed)
		keySeeds[s.Name()+role] = seed
	}
	keyMu.Unlock()
	dk, err := s.NewDecapsulationKey(seed)
	require.NoError(t, err)
	t.Cleanup(dk.Destroy)
	return dk
}

func staticKey(t testing.TB, s kem.Scheme) kem.DecapsulationKey { return cachedKey(t, s, "static") }
func clientKey(t testing.TB, s kem.Scheme) kem.DecapsulationKey { return cachedKey(t, s, "client") }

// configs returns matching configs for s.
func configs(t testing.TB, s kem.Scheme) (*ServerConfig, *ClientConfig) {
	t.Helper()
	return &ServerConfig{Scheme: s, Static: staticKey(t, s)}, &ClientConfig{Scheme: s}
}

// defaultConfigs returns matching configs for an algorithm on the default
// backend.
func defaultConfigs(t testing.TB, alg string) (*ServerConfig, *ClientConfig) {
	return configs(t, lookup(t, alg, ""))
}

// tcpPair returns the two ends of a 127.0.0.1 TCP connection, closed at the
// end of the test, with deadlines of testTimeout.
func tcpPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
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
	t.Cleanup(func() {
		server.Close()
		client.Close()
	})
	deadline := time.Now().Add(testTimeout)
	server.SetDeadline(deadline)
	client.SetDeadline(deadline)
	return server, client
}

// pipePair is tcpPair over net.Pipe.
func pipePair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	server, client = net.Pipe()
	t.Cleanup(func() {
		server.Close()
		client.Close()
	})
	deadline := time.Now().Add(testTimeout)
	server.SetDeadline(deadline)
	client.SetDeadline(deadline)
	return server, client
}

// handshakeOn runs both handshakes over the two ends at once, and returns
// both Conns and errors. A side that fails closes its end, as a caller
// would, so the other side does not wait forever.
func handshakeOn(srvRaw, cliRaw net.Conn, sc *ServerConfig, cc *ClientConfig) (srv, cli *Conn, srvErr, cliErr error) {
	srv, cli = Server(srvRaw, sc), Client(cliRaw, cc)
	done := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err != nil {
			srvRaw.Close()
		}
		done <- err
	}()
	cliErr = cli.Handshake()
	if cliErr != nil {
		cliRaw.Close()
	}
	return srv, cli, <-done, cliErr
}

// handshake runs both handshakes over TCP and requires them to succeed.
func handshake(t testing.TB, sc *ServerConfig, cc *ClientConfig) (srv, cli *Conn) {
	t.Helper()
	srvRaw, cliRaw := tcpPair(t)
	srv, cli, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.NoError(t, srvErr, "server")
	require.NoError(t, cliErr, "client")
	return srv, cli
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// lowLimits are usage limits low enough that a test sees many key
// updates: a sender updates after updateAt records, a receiver refuses
// more than max; the block limits follow, for records of up to 64 bytes.
func lowLimits(updateAt, max uint64) *wire.Limits {
	return &wire.Limits{MaxRecords: max, MaxBlocks: 6 * max, UpdateAtRecords: updateAt, UpdateAtBlocks: 6 * updateAt}
}
