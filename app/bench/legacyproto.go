package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// legacyMessageSize is the size of the legacy section's messages: a short line
// of text, what the demo sends.
const legacyMessageSize = 64

// oneWay is one run of the legacy section: messages/s, what the client wrote
// per message, and what crossed before the first message.
type oneWay struct {
	perSec      float64
	wirePerMsg  float64
	setupBytes  int64
	messageSize int
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

// legacyServer is the legacy protocol's server (package legacy): a
// goroutine per connection that sends its key, then receives and decrypts
// messages until the client closes.
type legacyServer struct {
	*server
	scheme kem.Scheme
}

func startLegacyServer(s kem.Scheme) (*legacyServer, error) {
	key, err := s.GenerateKey()
	if err != nil {
		return nil, err
	}
	ln, err := loopback()
	if err != nil {
		return nil, err
	}
	srv := &server{ln: ln}
	srv.serve(func(c net.Conn) error {
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		sc, err := legacy.Accept(c, key, 0)
		if err != nil {
			return err
		}
		defer sc.Wipe()
		for {
			if _, err := sc.Recv(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
		}
	})
	return &legacyServer{server: srv, scheme: s}, nil
}

// legacyOneWay sends legacyMessageSize-byte messages over one legacy
// connection to srv for d, half-closes, and waits for the server to close:
// it has then decrypted every message.
func legacyOneWay(addr string, s kem.Scheme, d time.Duration) (oneWay, error) {
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return oneWay{}, err
	}
	cc := &countingConn{Conn: nc}
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(ioTimeout))
	sc, err := legacy.Connect(cc, s, 0)
	if err != nil {
		return oneWay{}, err
	}
	setup := cc.read.Load() + cc.written.Load()
	msg := bytes.Repeat([]byte{'s'}, legacyMessageSize)
	before := cc.written.Load()
	start := time.Now()
	sent, err := sendLoop(func() error { return sc.Send(msg) }, 1, limit{d: d})
	if err != nil {
		return oneWay{}, err
	}
	wire := cc.written.Load() - before
	if err := finish(cc); err != nil {
		return oneWay{}, err
	}
	el := time.Since(start)
	return oneWay{perSec: float64(sent) / el.Seconds(), wirePerMsg: float64(wire) / float64(sent), setupBytes: setup}, nil
}

// sessionOneWay is legacyOneWay over the session protocol: one Write per
// message, ended by CLOSE.
func sessionOneWay(srv *sessionServer, d time.Duration) (oneWay, error) {
	nc, err := net.DialTimeout("tcp", srv.addr(), ioTimeout)
	if err != nil {
		return oneWay{}, err
	}
	cc := &countingConn{Conn: nc}
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(ioTimeout))
	sc := session.Client(cc, srv.clientConfig(0))
	if err := sc.Handshake(); err != nil {
		return oneWay{}, err
	}
	setup := cc.read.Load() + cc.written.Load()
	msg := bytes.Repeat([]byte{'s'}, legacyMessageSize)
	before := cc.written.Load()
	start := time.Now()
	sent, err := sendLoop(func() error { _, err := sc.Write(msg); return err }, 1, limit{d: d})
	if err != nil {
		return oneWay{}, err
	}
	wire := cc.written.Load() - before
	if err := finish(sc); err != nil {
		return oneWay{}, err
	}
	el := time.Since(start)
	return oneWay{perSec: float64(sent) / el.Seconds(), wirePerMsg: float64(wire) / float64(sent), setupBytes: setup}, nil
}

// measureLegacy fills r.Legacy: for each KEM on the default backend, the legacy
// protocol (one encapsulation per message) next to session (one handshake
// per connection).
func (c *Config) measureLegacy(r *Report) error {
	for _, alg := range c.Algorithms {
		if !strings.HasPrefix(alg, "ML-KEM-") {
			continue // the legacy protocol has ML-KEM only
		}
		s, err := kem.Lookup(alg, "")
		if err != nil {
			return err
		}
		for _, proto := range []string{ProtoLegacy, ProtoSession} {
			c.progress("legacy: %s %s %s, %d-byte messages", proto, s.Backend(), alg, legacyMessageSize)
			res, err := c.legacyRow(s, proto)
			if err != nil {
				return fmt.Errorf("legacy section, %s %s: %w", proto, alg, err)
			}
			r.Legacy = append(r.Legacy, res)
		}
	}
	return nil
}

func (c *Config) legacyRow(s kem.Scheme, proto string) (LegacyResult, error) {
	var run func(time.Duration) (oneWay, error)
	var srv *server
	if proto == ProtoSession {
		ss, err := startSessionServer(s, modeSink, 0)
		if err != nil {
			return LegacyResult{}, err
		}
		srv, run = ss.server, func(d time.Duration) (oneWay, error) { return sessionOneWay(ss, d) }
	} else {
		ls, err := startLegacyServer(s)
		if err != nil {
			return LegacyResult{}, err
		}
		srv, run = ls.server, func(d time.Duration) (oneWay, error) { return legacyOneWay(ls.addr(), s, d) }
	}
	defer srv.Close()
	if _, err := run(c.Duration / 10); err != nil {
		return LegacyResult{}, err
	}
	var rates, wire []float64
	var setup int64
	for range c.Runs {
		runtime.GC()
		o, err := run(c.Duration)
		if err != nil {
			return LegacyResult{}, err
		}
		rates, wire, setup = append(rates, o.perSec), append(wire, o.wirePerMsg), o.setupBytes
	}
	if err := srv.failure(); err != nil {
		return LegacyResult{}, fmt.Errorf("%s server: %w", proto, err)
	}
	return LegacyResult{Protocol: proto, Backend: s.Backend(), Algorithm: s.Name(), MessageSize: legacyMessageSize,
		MessagesPerSec: NewStat(rates), WireBytesPerMessage: NewStat(wire).Median, SetupBytes: setup}, nil
}
