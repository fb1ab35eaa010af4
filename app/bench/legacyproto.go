package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/server"
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

// legacyOneWay sends legacyMessageSize-byte messages over one legacy connection
// to srv for d, half-closes, and waits for the server to close: it has then
// decrypted every message.
func legacyOneWay(srv *kemServer, d time.Duration) (oneWay, error) {
	nc, err := net.Dial("tcp", srv.addr)
	if err != nil {
		return oneWay{}, err
	}
	cc := &countingConn{Conn: nc}
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(ioTimeout))
	sc, err := legacy.Connect(cc, srv.scheme, 0)
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
	if err := cc.CloseWrite(); err != nil {
		return oneWay{}, err
	}
	if _, err := io.Copy(io.Discard, cc); err != nil {
		return oneWay{}, err
	}
	el := time.Since(start)
	return oneWay{perSec: float64(sent) / el.Seconds(), wirePerMsg: float64(wire) / float64(sent), setupBytes: setup}, nil
}

// sessionOneWay is legacyOneWay over the session protocol, ended by CLOSE.
func sessionOneWay(srv *kemServer, d time.Duration) (oneWay, error) {
	var cc *countingConn
	wrap := func(c net.Conn) net.Conn { cc = &countingConn{Conn: c}; return cc }
	sc, nc, err := dialSessionTo(srv.addr, srv.scheme, srv.ek, 0, wrap)
	if err != nil {
		return oneWay{}, err
	}
	defer nc.Close()
	setup := cc.read.Load() + cc.written.Load()
	msg := bytes.Repeat([]byte{'s'}, legacyMessageSize)
	before := cc.written.Load()
	start := time.Now()
	sent, err := sendLoop(func() error { return sc.Send(msg) }, 1, limit{d: d})
	if err != nil {
		return oneWay{}, err
	}
	wire := cc.written.Load() - before
	if err := closeSession(sc, nc); err != nil {
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
	srvProto := server.ProtoLegacy
	run := legacyOneWay
	if proto == ProtoSession {
		srvProto, run = server.ProtoSession, sessionOneWay
	}
	srv, err := startKEMServer(s, srvProto, false, 0)
	if err != nil {
		return LegacyResult{}, err
	}
	defer srv.Close()
	if _, err := run(srv, c.Duration/10); err != nil {
		return LegacyResult{}, err
	}
	var rates, wire []float64
	var setup int64
	for range c.Runs {
		runtime.GC()
		o, err := run(srv, c.Duration)
		if err != nil {
			return LegacyResult{}, err
		}
		rates, wire, setup = append(rates, o.perSec), append(wire, o.wirePerMsg), o.setupBytes
	}
	return LegacyResult{Protocol: proto, Backend: s.Backend(), Algorithm: s.Name(), MessageSize: legacyMessageSize,
		MessagesPerSec: NewStat(rates), WireBytesPerMessage: NewStat(wire).Median, SetupBytes: setup}, nil
}
