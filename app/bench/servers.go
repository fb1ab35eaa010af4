package bench

import (
	"bytes"
	"context"
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
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// ioTimeout bounds every blocking step of a measurement, so that a broken
// peer fails the run instead of hanging it.
const ioTimeout = 2 * time.Minute

// kemServer is package server's Server (the kem-server logic) on a loopback
// listener, in this process.
type kemServer struct {
	addr   string
	scheme kem.Scheme
	ek     []byte // the static key's encapsulation key, for pinning
	srv    *server.Server
	cancel context.CancelFunc
	done   chan error
}

// startKEMServer starts a quiet server of proto with a fresh static key.
func startKEMServer(scheme kem.Scheme, proto string, echo bool, maxFrame int) (*kemServer, error) {
	key, err := scheme.GenerateKey()
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{
		Proto: proto, Scheme: scheme, Key: key, Echo: echo, Quiet: true,
		MaxFrame: maxFrame, MaxConns: maxIdleConns + 64, Grace: time.Second,
	})
	if err == nil {
		var ln net.Listener
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
			ctx, cancel := context.WithCancel(context.Background())
			s := &kemServer{addr: ln.Addr().String(), scheme: scheme, ek: key.EncapsulationKey().Bytes(), srv: srv, cancel: cancel, done: make(chan error, 1)}
			go func() { s.done <- srv.Serve(ctx, ln) }()
			return s, nil
		}
	}
	return nil, err
}

// Close stops the server and waits for it.
func (s *kemServer) Close() error {
	s.cancel()
	err := <-s.done
	return err
}

// dialSession connects and runs the client's handshake, pinning the
// server's static key as `kem-client -pin` does. It returns once FINISHED
// has opened.
func (s *kemServer) dialSession(maxFrame int) (*session.Conn, net.Conn, error) {
	return dialSessionTo(s.addr, s.scheme, s.ek, maxFrame, nil)
}

// dialSessionTo is dialSession for any address; wrap, if not nil, wraps the
// connection (to count its bytes).
func dialSessionTo(addr string, scheme kem.Scheme, pin []byte, maxFrame int, wrap func(net.Conn) net.Conn) (*session.Conn, net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if wrap != nil {
		nc = wrap(nc)
	}
	nc.SetDeadline(time.Now().Add(ioTimeout))
	sc, err := session.Client(nc, &session.ClientConfig{
		Scheme:   scheme,
		MaxFrame: maxFrame,
		VerifyServerKey: func(ek []byte) error {
			if !bytes.Equal(ek, pin) {
				return errors.New("not the pinned key")
			}
			return nil
		},
	})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return sc, nc, nil
}

// closeSession ends a session cleanly: our CLOSE, then the server's.
func closeSession(sc *session.Conn, nc net.Conn) error {
	defer nc.Close()
	if err := sc.CloseWrite(); err != nil {
		return err
	}
	for {
		_, err := sc.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
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

// Modes of a streamServer.
const (
	modeSink = iota // read until the end, then close
	modeEcho        // write back what arrives
)

// streamServer is a plain Go server over TCP or crypto/tls: what a Go user
// writes with net.Listen or tls.Listen.
type streamServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	errs atomic.Int64
}

// startStreamServer serves mode on a loopback listener, with TLS when
// tlsCfg is not nil.
func startStreamServer(tlsCfg *tls.Config, mode int) (*streamServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s := &streamServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				if err := serveStream(c, mode); err != nil {
					s.errs.Add(1)
				}
			}()
		}
	}()
	return s, nil
}

func serveStream(c net.Conn, mode int) error {
	c.SetDeadline(time.Now().Add(ioTimeout))
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			return err
		}
	}
	c.SetDeadline(time.Time{})
	buf := make([]byte, 64<<10)
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

func (s *streamServer) addr() string { return s.ln.Addr().String() }

// Close stops accepting and waits for the connections to end.
func (s *streamServer) Close() error {
	s.ln.Close()
	s.wg.Wait()
	return nil
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

// closeTLS ends a TLS connection cleanly: our close_notify, then the
// server's close (read until EOF).
func closeTLS(c *tls.Conn) error {
	defer c.Close()
	if err := c.CloseWrite(); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, c)
	return err
}

// countingConn counts the bytes a connection reads and writes.
type countingConn struct {
	net.Conn
	read, written atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// CloseWrite half-closes the TCP connection.
func (c *countingConn) CloseWrite() error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return nil
}

// rate runs op from clients goroutines at once for about d and returns the
// operations per second. The first error stops it.
func rate(clients int, d time.Duration, op func() error) (float64, error) {
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
		return 0, firstErr
	}
	return float64(total.Load()) / el.Seconds(), nil
}
