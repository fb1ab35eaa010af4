package bench

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// ioTimeout bounds every blocking step of a measurement, so that a broken
// peer fails the run instead of hanging it.
const ioTimeout = 2 * time.Minute

// recordOverhead is what a session record adds to its data inside a frame:
// the type byte and the AES-GCM tag (PROTOCOL.md, "Records").
const recordOverhead = 1 + 16

// sessionMaxFrame lets a session carry maxMessage-byte Writes as one record
// each; the bulk and sweep sections set it on both sides.
const sessionMaxFrame = maxMessage + recordOverhead

// Modes of a server: what each connection's goroutine does.
const (
	modeSink = iota // read until the end, then close
	modeEcho        // write back what arrives, until the end
)

// server is what a Go programmer writes with net.Listen, tls.Listen or
// session.Listen: a goroutine per accepted connection that runs the
// handshake (if any), then reads with a 64 KiB buffer (from a pool) and
// either discards or echoes, until the peer's end, and closes. The same code serves plain
// TCP, crypto/tls and session, so that the figures compare the transports
// and nothing else.
type server struct {
	ln       net.Listener
	wg       sync.WaitGroup
	firstErr atomic.Pointer[error]
}

// startServer serves mode on ln.
func startServer(ln net.Listener, mode int) *server {
	s := &server{ln: ln}
	s.serve(func(c net.Conn) error { return serveConn(c, mode) })
	return s
}

// serve accepts connections on s.ln until it is closed, and runs handle on
// each in a goroutine of its own.
func (s *server) serve(handle func(net.Conn) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := handle(c); err != nil {
					s.firstErr.CompareAndSwap(nil, &err)
				}
			}()
		}
	}()
}

// handshaker is a connection with a handshake: *tls.Conn, *session.Conn.
type handshaker interface{ Handshake() error }

// serveBuffers are the servers' read buffers, kept from one connection to
// the next as a server that handles many connections keeps them.
var serveBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func serveConn(c net.Conn, mode int) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if h, ok := c.(handshaker); ok {
		if err := h.Handshake(); err != nil {
			return err
		}
	}
	bp := serveBuffers.Get().(*[]byte)
	defer serveBuffers.Put(bp)
	buf := *bp
	for {
		n, err := c.Read(buf)
		if mode == modeEcho && n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *server) addr() string { return s.ln.Addr().String() }

// failure returns the first error a connection's goroutine met, if any.
func (s *server) failure() error {
	if p := s.firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops accepting and waits for the connections to end.
func (s *server) Close() error {
	s.ln.Close()
	s.wg.Wait()
	return nil
}

// loopback listens on a free loopback port.
func loopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// startTCPServer serves mode over plain TCP.
func startTCPServer(mode int) (*server, error) {
	ln, err := loopback()
	if err != nil {
		return nil, err
	}
	return startServer(ln, mode), nil
}

// startTLSServer serves mode over crypto/tls.
func startTLSServer(cfg *tls.Config, mode int) (*server, error) {
	ln, err := loopback()
	if err != nil {
		return nil, err
	}
	return startServer(tls.NewListener(ln, cfg), mode), nil
}

// sessionServer is a server over session.Listen, with what a client needs
// to reach it: the KEM and the static key to pin.
type sessionServer struct {
	*server
	scheme kem.Scheme
	ek     []byte
}

// startSessionServer serves mode over session with a fresh static key;
// maxFrame 0 is the library's default.
func startSessionServer(scheme kem.Scheme, mode, maxFrame int) (*sessionServer, error) {
	key, err := scheme.GenerateKey()
	if err != nil {
		return nil, err
	}
	ln, err := session.Listen("tcp", "127.0.0.1:0", &session.ServerConfig{Scheme: scheme, Static: key, MaxFrame: maxFrame})
	if err != nil {
		return nil, err
	}
	return &sessionServer{server: startServer(ln, mode), scheme: scheme, ek: key.EncapsulationKey().Bytes()}, nil
}

// clientConfig is how the bench's clients reach srv: its key pinned, as
// `kem-client -pin` does.
func (srv *sessionServer) clientConfig(maxFrame int) *session.ClientConfig {
	return pinnedConfig(srv.scheme, srv.ek, maxFrame)
}

// pinnedConfig accepts only the server key pin.
func pinnedConfig(scheme kem.Scheme, pin []byte, maxFrame int) *session.ClientConfig {
	return &session.ClientConfig{
		Scheme:   scheme,
		MaxFrame: maxFrame,
		VerifyServerKey: func(ek []byte) error {
			if !bytes.Equal(ek, pin) {
				return errors.New("not the pinned key")
			}
			return nil
		},
	}
}

// dialSession connects to addr and completes the handshake (session.Dialer).
func dialSession(addr string, cfg *session.ClientConfig) (*session.Conn, error) {
	d := &session.Dialer{NetDialer: &net.Dialer{Timeout: ioTimeout}, Config: cfg}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c.(*session.Conn), nil
}

// tlsConfigs are the crypto/tls baseline: TLS 1.3 with the X25519MLKEM768
// group only, an ECDSA P-256 certificate made here, session tickets off. The
// certificate is self-signed and is the client's only root, the TLS
// counterpart of pinning the session server's key (and the cheapest chain
// to verify).
type tlsConfigs struct {
	server, client *tls.Config
}

func newTLSConfigs() (*tlsConfigs, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kem-bench"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	groups := []tls.CurveID{tls.X25519MLKEM768}
	return &tlsConfigs{
		server: &tls.Config{
			Certificates:           []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
			MinVersion:             tls.VersionTLS13,
			CurvePreferences:       groups,
			SessionTicketsDisabled: true,
		},
		client: &tls.Config{
			RootCAs:          roots,
			ServerName:       "localhost",
			MinVersion:       tls.VersionTLS13,
			CurvePreferences: groups,
		},
	}, nil
}

// tlsDetail describes a TLS connection's parameters, and checks that they
// are the baseline's: a full TLS 1.3 handshake with X25519MLKEM768.
func tlsDetail(cs tls.ConnectionState) (string, error) {
	if cs.Version != tls.VersionTLS13 || cs.CurveID != tls.X25519MLKEM768 || cs.DidResume {
		return "", fmt.Errorf("tls: negotiated %s with %v (resumed: %v), want a full TLS 1.3 handshake with X25519MLKEM768",
			tls.VersionName(cs.Version), cs.CurveID, cs.DidResume)
	}
	return fmt.Sprintf("TLS 1.3, %v, ECDSA P-256, %s", cs.CurveID, tls.CipherSuiteName(cs.CipherSuite)), nil
}

// dialTLS connects and completes a TLS handshake.
func dialTLS(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: ioTimeout}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c, nil
}

// finish ends a connection cleanly and waits for the server to have read
// everything: our end (CloseWrite: session CLOSE, TLS close_notify, TCP
// FIN), then read until the server's end.
func finish(c net.Conn) error {
	defer c.Close()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, c)
	return err
}

// rate runs op from clients goroutines at once for about d and returns the
// operations per second. The first error stops it.
func rate(clients int, d time.Duration, op func() error) (float64, error) {
	x, _, err := rateCount(clients, d, op)
	return x, err
}

// rateCount is rate that also returns how many operations ran.
func rateCount(clients int, d time.Duration, op func() error) (float64, int64, error) {
	var total atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && time.Now().Before(deadline) {
				if err := op(); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return 0, total.Load(), firstErr
	}
	return float64(total.Load()) / el.Seconds(), total.Load(), nil
}
