package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// streamScheme is the KEM of the bulk, echo and scale sections: ML-KEM-768
// on the default backend (liboqs when compiled in). The KEM does not take
// part once the handshake is done.
func streamScheme() (kem.Scheme, error) { return kem.Lookup(kem.MLKEM768, "") }

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

// heapAllocs is the number of heap objects this process has allocated so
// far (runtime/metrics; it does not stop the world).
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// transfer is one run of a one-way transfer.
type transfer struct {
	mbPerSec       float64
	allocsPerWrite float64
	keyUpdates     uint64 // the session's, sent
}

// throughput dials a connection, Writes msgSize-byte messages until lim,
// then ends it cleanly (finish) and returns MB/s, timed from the first
// Write until the server's end confirms it read everything, and the heap
// objects the process allocated per Write (client and server together).
func throughput(dial func() (net.Conn, error), msgSize int, lim limit) (transfer, error) {
	c, err := dial()
	if err != nil {
		return transfer{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Time{})
	msg := bytes.Repeat([]byte{'x'}, msgSize)
	allocs := heapAllocs()
	start := time.Now()
	sent, err := sendLoop(func() error { _, err := c.Write(msg); return err }, msgSize, lim)
	if err != nil {
		return transfer{}, err
	}
	if err := finish(c); err != nil {
		return transfer{}, err
	}
	el := time.Since(start)
	writes := float64(sent) / float64(msgSize)
	t := transfer{mbPerSec: float64(sent) / el.Seconds() / 1e6, allocsPerWrite: float64(heapAllocs()-allocs) / writes}
	if sc, ok := c.(*session.Conn); ok {
		t.keyUpdates = sc.ConnectionState().KeyUpdatesSent
	}
	return t, nil
}

// streamServers are a session server and a TLS server in one mode, and how
// to dial each.
type streamServers struct {
	session    *sessionServer
	tls        *server
	tc         *tlsConfigs
	maxFrame   int
	tlsDetail  string
	sessDetail string
}

func (ss *streamServers) dialSession() (net.Conn, error) {
	return dialSession(ss.session.addr(), ss.session.clientConfig(ss.maxFrame))
}

func (ss *streamServers) dialTLS() (net.Conn, error) { return dialTLS(ss.tls.addr(), ss.tc.client) }

// withStreamServers runs measure with a session server (MaxFrame maxFrame)
// and a TLS server, both in mode, and stops them afterwards.
func withStreamServers(mode, maxFrame int, measure func(*streamServers) error) error {
	s, err := streamScheme()
	if err != nil {
		return err
	}
	tc, err := newTLSConfigs()
	if err != nil {
		return err
	}
	srv, err := startSessionServer(s, mode, maxFrame)
	if err != nil {
		return err
	}
	defer srv.Close()
	tlsSrv, err := startTLSServer(tc.server, mode)
	if err != nil {
		return err
	}
	defer tlsSrv.Close()
	ss := &streamServers{session: srv, tls: tlsSrv, tc: tc, maxFrame: maxFrame,
		sessDetail: "AES-256-GCM, " + s.Backend() + " " + s.Name()}
	probe, err := dialTLS(tlsSrv.addr(), tc.client)
	if err != nil {
		return err
	}
	ss.tlsDetail, err = tlsDetail(probe.ConnectionState())
	probe.Close()
	if err != nil {
		return err
	}
	if err := measure(ss); err != nil {
		return err
	}
	if err := srv.failure(); err != nil {
		return fmt.Errorf("session server: %w", err)
	}
	if err := tlsSrv.failure(); err != nil {
		return fmt.Errorf("tls server: %w", err)
	}
	return nil
}

// throughputPair measures session and TLS with the same message size and
// limit, alternating runs, and returns their two rows.
func (c *Config) throughputPair(ss *streamServers, msgSize int, lim limit) (ThroughputResult, ThroughputResult, error) {
	var sv, tv, sa, ta []float64
	var updates uint64
	warm := limit{bytes: min(lim.bytes, 8<<20), d: lim.d / 10}
	if _, err := throughput(ss.dialSession, msgSize, warm); err != nil {
		return ThroughputResult{}, ThroughputResult{}, fmt.Errorf("session: %w", err)
	}
	if _, err := throughput(ss.dialTLS, msgSize, warm); err != nil {
		return ThroughputResult{}, ThroughputResult{}, fmt.Errorf("tls: %w", err)
	}
	for range c.Runs {
		runtime.GC()
		s, err := throughput(ss.dialSession, msgSize, lim)
		if err != nil {
			return ThroughputResult{}, ThroughputResult{}, fmt.Errorf("session: %w", err)
		}
		runtime.GC()
		t, err := throughput(ss.dialTLS, msgSize, lim)
		if err != nil {
			return ThroughputResult{}, ThroughputResult{}, fmt.Errorf("tls: %w", err)
		}
		sv, tv = append(sv, s.mbPerSec), append(tv, t.mbPerSec)
		updates += s.keyUpdates
		sa, ta = append(sa, s.allocsPerWrite), append(ta, t.allocsPerWrite)
	}
	return ThroughputResult{Protocol: ProtoSession, Detail: fmt.Sprintf("%s; key updates: %d", ss.sessDetail, updates), MessageSize: msgSize,
			MBPerSec: NewStat(sv), AllocsPerWrite: NewStat(sa), KeyUpdates: &updates, VsTLS: PairedRatio(sv, tv)},
		ThroughputResult{Protocol: ProtoTLS, Detail: ss.tlsDetail, MessageSize: msgSize, MBPerSec: NewStat(tv), AllocsPerWrite: NewStat(ta)}, nil
}

// measureBulk fills r.Bulk: BulkBytes in BulkMessage-byte Writes over one
// connection, with the library's default limits (MaxFrame, key update).
func (c *Config) measureBulk(r *Report) error {
	return withStreamServers(modeSink, 0, func(ss *streamServers) error {
		c.progress("bulk: %d bytes in %d-byte Writes, session and tls", c.BulkBytes, c.BulkMessage)
		sr, tr, err := c.throughputPair(ss, c.BulkMessage, limit{bytes: c.BulkBytes})
		if err != nil {
			return fmt.Errorf("bulk: %w", err)
		}
		r.Bulk = append(r.Bulk, sr, tr)
		return nil
	})
}

// measureSweep fills r.Sweep: throughput for each of Sizes, for Duration;
// the session's MaxFrame lets each Write be one record.
func (c *Config) measureSweep(r *Report) error {
	return withStreamServers(modeSink, sessionMaxFrame, func(ss *streamServers) error {
		for _, n := range c.Sizes {
			c.progress("scale: throughput with %d-byte Writes, session and tls", n)
			sr, tr, err := c.throughputPair(ss, n, limit{d: c.Duration})
			if err != nil {
				return fmt.Errorf("throughput with %d-byte Writes: %w", n, err)
			}
			r.Sweep = append(r.Sweep, sr, tr)
		}
		return nil
	})
}

// roundTrip returns one round trip of msg on c: Write, then io.ReadFull
// of as many bytes.
func roundTrip(c net.Conn, msg []byte) func() error {
	buf := make([]byte, len(msg))
	return func() error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(c, buf)
		return err
	}
}

// measureEcho fills r.Echo: round trips of EchoMessage bytes over session,
// crypto/tls and plain TCP, each to the same echo server code.
func (c *Config) measureEcho(r *Report) error {
	return withStreamServers(modeEcho, 0, func(ss *streamServers) error {
		tcpSrv, err := startTCPServer(modeEcho)
		if err != nil {
			return err
		}
		defer tcpSrv.Close()
		msg := bytes.Repeat([]byte{'e'}, c.EchoMessage)
		var conns []net.Conn
		defer func() {
			for _, nc := range conns {
				nc.Close()
			}
		}()
		dials := []func() (net.Conn, error){ss.dialSession, ss.dialTLS, func() (net.Conn, error) { return net.DialTimeout("tcp", tcpSrv.addr(), ioTimeout) }}
		for _, dial := range dials {
			nc, err := dial()
			if err != nil {
				return fmt.Errorf("echo: %w", err)
			}
			nc.SetDeadline(time.Time{})
			conns = append(conns, nc)
		}
		const server = "echo server: a goroutine per connection, Read and Write back"
		rows := []struct {
			proto, detail string
			op            func() error
		}{
			{ProtoSession, ss.sessDetail + "; " + server, roundTrip(conns[0], msg)},
			{ProtoTLS, ss.tlsDetail, roundTrip(conns[1], msg)},
			{ProtoTCP, "plain TCP, TCP_NODELAY (Go's default)", roundTrip(conns[2], msg)},
		}
		stats := make([][]float64, len(rows))
		allocs := make([][]float64, len(rows))
		for i, row := range rows { // warm up
			c.progress("echo: %s, %d-byte messages", row.proto, c.EchoMessage)
			if _, err := rate(1, c.Duration/10, row.op); err != nil {
				return fmt.Errorf("echo %s: %w", rows[i].proto, err)
			}
		}
		for range c.Runs { // interleaved, so that a busy moment hits all three
			for i, row := range rows {
				runtime.GC()
				a := heapAllocs()
				x, ops, err := rateCount(1, c.Duration, row.op)
				if err != nil {
					return fmt.Errorf("echo %s: %w", row.proto, err)
				}
				stats[i] = append(stats[i], x)
				allocs[i] = append(allocs[i], float64(heapAllocs()-a)/float64(max(ops, 1)))
			}
		}
		for i, row := range rows {
			res := EchoResult{Protocol: row.proto, Detail: row.detail, MessageSize: c.EchoMessage, RoundTripsPerSec: NewStat(stats[i]),
				AllocsPerRoundTrip: NewStat(allocs[i])}
			if row.proto != ProtoTLS {
				res.VsTLS = PairedRatio(stats[i], stats[1])
			}
			r.Echo = append(r.Echo, res)
		}
		return nil
	})
}
