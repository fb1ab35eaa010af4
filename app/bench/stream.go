package bench

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// streamScheme is the KEM of the bulk, echo and scale sections: ML-KEM-768
// on the default backend (liboqs when compiled in). The KEM does not take
// part once the handshake is done.
func streamScheme() (kem.Scheme, error) { return kem.Lookup(kem.MLKEM768, "") }

// sessionMaxFrame lets a session carry maxMessage-byte messages.
const sessionMaxFrame = maxMessage + session.RecordOverhead

// limit says when a one-way transfer stops: after bytes bytes, or, when
// bytes is 0, after d.
type limit struct {
	bytes int64
	d     time.Duration
}

// sendLoop calls send with msgSize-byte messages until lim, and returns the
// bytes sent.
func sendLoop(send func() error, msgSize int, lim limit) (int64, error) {
	var sent int64
	deadline := time.Now().Add(lim.d)
	for {
		if lim.bytes > 0 && sent >= lim.bytes {
			return sent, nil
		}
		if lim.bytes == 0 && sent > 0 && !time.Now().Before(deadline) {
			return sent, nil
		}
		if err := send(); err != nil {
			return sent, err
		}
		sent += int64(msgSize)
	}
}

// sessionThroughput sends over one session connection to srv and returns
// MB/s, timed from the first message until the server's CLOSE confirms it
// read everything.
func sessionThroughput(srv *kemServer, msgSize int, lim limit) (float64, error) {
	sc, nc, err := srv.dialSession(sessionMaxFrame)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Time{})
	msg := bytes.Repeat([]byte{'x'}, msgSize)
	start := time.Now()
	sent, err := sendLoop(func() error { return sc.Send(msg) }, msgSize, lim)
	if err != nil {
		return 0, err
	}
	if err := closeSession(sc, nc); err != nil {
		return 0, err
	}
	return float64(sent) / time.Since(start).Seconds() / 1e6, nil
}

// tlsThroughput is sessionThroughput over crypto/tls: Writes of msgSize
// bytes, then close_notify, timed until the server's close.
func tlsThroughput(addr string, cfg *tls.Config, msgSize int, lim limit) (float64, string, error) {
	c, err := dialTLS(addr, cfg)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	detail, err := tlsDetail(c.ConnectionState())
	if err != nil {
		return 0, "", err
	}
	c.SetDeadline(time.Time{})
	msg := bytes.Repeat([]byte{'x'}, msgSize)
	start := time.Now()
	sent, err := sendLoop(func() error { _, err := c.Write(msg); return err }, msgSize, lim)
	if err != nil {
		return 0, "", err
	}
	if err := closeTLS(c); err != nil {
		return 0, "", err
	}
	return float64(sent) / time.Since(start).Seconds() / 1e6, detail, nil
}

// throughputPair measures session and TLS with the same message size and
// limit, alternating runs, and returns their two rows.
func (c *Config) throughputPair(srv *kemServer, tlsSrv *streamServer, tc *tlsConfigs, msgSize int, lim limit) (ThroughputResult, ThroughputResult, error) {
	var sv, tv []float64
	var detail string
	warm := limit{bytes: min(lim.bytes, 8<<20), d: lim.d / 10}
	if _, err := sessionThroughput(srv, msgSize, warm); err != nil {
		return ThroughputResult{}, ThroughputResult{}, fmt.Errorf("session: %w", err)
	}
	if _, _, err := tlsThroughput(tlsSrv.addr(), tc.client, msgSize, warm); err != nil {
		return ThroughputResult{}, ThroughputResult{}, fmt.Errorf("tls: %w", err)
	}
	for range c.Runs {
		runtime.GC()
		s, err := sessionThroughput(srv, msgSize, lim)
		if err != nil {
			return ThroughputResult{}, ThroughputResult{}, fmt.Errorf("session: %w", err)
		}
		runtime.GC()
		t, d, err := tlsThroughput(tlsSrv.addr(), tc.client, msgSize, lim)
		if err != nil {
			return ThroughputResult{}, ThroughputResult{}, fmt.Errorf("tls: %w", err)
		}
		sv, tv, detail = append(sv, s), append(tv, t), d
	}
	ss, ts := NewStat(sv), NewStat(tv)
	return ThroughputResult{Protocol: ProtoSession, Detail: "AES-256-GCM, " + srv.scheme.Backend() + " " + srv.scheme.Name(), MessageSize: msgSize, MBPerSec: ss, VsTLS: PairedRatio(sv, tv)},
		ThroughputResult{Protocol: ProtoTLS, Detail: detail, MessageSize: msgSize, MBPerSec: ts}, nil
}

// measureBulk fills r.Bulk: BulkBytes in BulkMessage-byte messages.
func (c *Config) measureBulk(r *Report) error {
	return withStreamServers(func(srv *kemServer, tlsSrv *streamServer, tc *tlsConfigs) error {
		c.progress("bulk: %d bytes in %d-byte messages, session and tls", c.BulkBytes, c.BulkMessage)
		sr, tr, err := c.throughputPair(srv, tlsSrv, tc, c.BulkMessage, limit{bytes: c.BulkBytes})
		if err != nil {
			return fmt.Errorf("bulk: %w", err)
		}
		r.Bulk = append(r.Bulk, sr, tr)
		return nil
	})
}

// measureSweep fills r.Sweep: throughput for each of Sizes, for Duration.
func (c *Config) measureSweep(r *Report) error {
	return withStreamServers(func(srv *kemServer, tlsSrv *streamServer, tc *tlsConfigs) error {
		for _, n := range c.Sizes {
			c.progress("scale: throughput with %d-byte messages, session and tls", n)
			sr, tr, err := c.throughputPair(srv, tlsSrv, tc, n, limit{d: c.Duration})
			if err != nil {
				return fmt.Errorf("throughput with %d-byte messages: %w", n, err)
			}
			r.Sweep = append(r.Sweep, sr, tr)
		}
		return nil
	})
}

// withStreamServers runs measure with a session server and a TLS server
// that both discard what they receive, and stops them afterwards.
func withStreamServers(measure func(srv *kemServer, tlsSrv *streamServer, tc *tlsConfigs) error) error {
	s, err := streamScheme()
	if err != nil {
		return err
	}
	tc, err := newTLSConfigs()
	if err != nil {
		return err
	}
	srv, err := startKEMServer(s, server.ProtoSession, false, sessionMaxFrame)
	if err != nil {
		return err
	}
	defer srv.Close()
	tlsSrv, err := startStreamServer(tc.server, modeSink)
	if err != nil {
		return err
	}
	defer tlsSrv.Close()
	return measure(srv, tlsSrv, tc)
}

// measureEcho fills r.Echo: round trips of EchoMessage bytes through the
// kem-server echo logic, a crypto/tls echo server and a plain TCP one.
func (c *Config) measureEcho(r *Report) error {
	s, err := streamScheme()
	if err != nil {
		return err
	}
	tc, err := newTLSConfigs()
	if err != nil {
		return err
	}
	msg := bytes.Repeat([]byte{'e'}, c.EchoMessage)

	srv, err := startKEMServer(s, server.ProtoSession, true, 0)
	if err != nil {
		return err
	}
	defer srv.Close()
	sc, snc, err := srv.dialSession(0)
	if err != nil {
		return err
	}
	snc.SetDeadline(time.Time{})
	defer snc.Close()
	sessionRT := func() error {
		if err := sc.Send(msg); err != nil {
			return err
		}
		got, err := sc.Recv()
		if err != nil {
			return err
		}
		if len(got) != len(msg) {
			return fmt.Errorf("echo: got %d bytes back, sent %d", len(got), len(msg))
		}
		return nil
	}

	tlsSrv, err := startStreamServer(tc.server, modeEcho)
	if err != nil {
		return err
	}
	defer tlsSrv.Close()
	tconn, err := dialTLS(tlsSrv.addr(), tc.client)
	if err != nil {
		return err
	}
	defer tconn.Close()
	detail, err := tlsDetail(tconn.ConnectionState())
	if err != nil {
		return err
	}
	tconn.SetDeadline(time.Time{})

	tcpSrv, err := startStreamServer(nil, modeEcho)
	if err != nil {
		return err
	}
	defer tcpSrv.Close()
	pconn, err := net.Dial("tcp", tcpSrv.addr())
	if err != nil {
		return err
	}
	defer pconn.Close()

	buf := make([]byte, len(msg))
	streamRT := func(c net.Conn) func() error {
		return func() error {
			if _, err := c.Write(msg); err != nil {
				return err
			}
			_, err := io.ReadFull(c, buf)
			return err
		}
	}
	rows := []struct {
		proto, detail string
		op            func() error
	}{
		{ProtoSession, "kem-server -echo logic, " + s.Backend() + " " + s.Name(), sessionRT},
		{ProtoTLS, detail, streamRT(tconn)},
		{ProtoTCP, "plain TCP, TCP_NODELAY (Go's default)", streamRT(pconn)},
	}
	stats := make([][]float64, len(rows))
	for i, row := range rows { // warm up
		c.progress("echo: %s, %d-byte messages", row.proto, c.EchoMessage)
		if _, err := rate(1, c.Duration/10, row.op); err != nil {
			return fmt.Errorf("echo %s: %w", rows[i].proto, err)
		}
	}
	for range c.Runs { // interleaved, so that a busy moment hits all three
		for i, row := range rows {
			runtime.GC()
			x, err := rate(1, c.Duration, row.op)
			if err != nil {
				return fmt.Errorf("echo %s: %w", row.proto, err)
			}
			stats[i] = append(stats[i], x)
		}
	}
	for i, row := range rows {
		res := EchoResult{Protocol: row.proto, Detail: row.detail, MessageSize: c.EchoMessage, RoundTripsPerSec: NewStat(stats[i])}
		if row.proto != ProtoTLS {
			res.VsTLS = PairedRatio(stats[i], stats[1])
		}
		r.Echo = append(r.Echo, res)
	}
	return nil
}
