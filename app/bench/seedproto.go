package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/seed"
	"github.com/kemtcp/kemtcp/app/server"
)

// seedMessageSize is the size of the seed section's messages: a short line
// of text, what the demo sends.
const seedMessageSize = 64

// oneWay is one run of the seed section: messages/s, what the client wrote
// per message, and what crossed before the first message.
type oneWay struct {
	perSec      float64
	wirePerMsg  float64
	setupBytes  int64
	messageSize int
}

// seedOneWay sends seedMessageSize-byte messages over one seed connection
// to srv for d, half-closes, and waits for the server to close: it has then
// decrypted every message.
func seedOneWay(srv *kemServer, d time.Duration) (oneWay, error) {
	nc, err := net.Dial("tcp", srv.addr)
	if err != nil {
		return oneWay{}, err
	}
	cc := &countingConn{Conn: nc}
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(ioTimeout))
	sc, err := seed.Connect(cc, srv.scheme, 0)
	if err != nil {
		return oneWay{}, err
	}
	setup := cc.read.Load() + cc.written.Load()
	msg := bytes.Repeat([]byte{'s'}, seedMessageSize)
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

// sessionOneWay is seedOneWay over the session protocol, ended by CLOSE.
func sessionOneWay(srv *kemServer, d time.Duration) (oneWay, error) {
	var cc *countingConn
	wrap := func(c net.Conn) net.Conn { cc = &countingConn{Conn: c}; return cc }
	sc, nc, err := dialSessionTo(srv.addr, srv.scheme, srv.ek, 0, wrap)
	if err != nil {
		return oneWay{}, err
	}
	defer nc.Close()
	setup := cc.read.Load() + cc.written.Load()
	msg := bytes.Repeat([]byte{'s'}, seedMessageSize)
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

// measureSeed fills r.Seed: for each KEM on the default backend, the seed
// protocol (one encapsulation per message) next to session (one handshake
// per connection).
func (c *Config) measureSeed(r *Report) error {
	for _, alg := range c.Algorithms {
		s, err := kem.Lookup(alg, "")
		if err != nil {
			return err
		}
		for _, proto := range []string{ProtoSeed, ProtoSession} {
			c.progress("seed: %s %s %s, %d-byte messages", proto, s.Backend(), alg, seedMessageSize)
			res, err := c.seedRow(s, proto)
			if err != nil {
				return fmt.Errorf("seed section, %s %s: %w", proto, alg, err)
			}
			r.Seed = append(r.Seed, res)
		}
	}
	return nil
}

func (c *Config) seedRow(s kem.Scheme, proto string) (SeedResult, error) {
	srvProto := server.ProtoSeed
	run := seedOneWay
	if proto == ProtoSession {
		srvProto, run = server.ProtoSession, sessionOneWay
	}
	srv, err := startKEMServer(s, srvProto, false, 0)
	if err != nil {
		return SeedResult{}, err
	}
	defer srv.Close()
	if _, err := run(srv, c.Duration/10); err != nil {
		return SeedResult{}, err
	}
	var rates, wire []float64
	var setup int64
	for range c.Runs {
		runtime.GC()
		o, err := run(srv, c.Duration)
		if err != nil {
			return SeedResult{}, err
		}
		rates, wire, setup = append(rates, o.perSec), append(wire, o.wirePerMsg), o.setupBytes
	}
	return SeedResult{Protocol: proto, Backend: s.Backend(), Algorithm: s.Name(), MessageSize: seedMessageSize,
		MessagesPerSec: NewStat(rates), WireBytesPerMessage: NewStat(wire).Median, SetupBytes: setup}, nil
}
