package bench

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/kemtcp/kemtcp/app/kem"
)

// Names used in the rows of the baselines.
const (
	ProtoSession = "session"
	ProtoLegacy  = "legacy"
	ProtoTLS     = "tls"
	ProtoTCP     = "tcp"
	backendTLS   = "crypto/tls"
	backendTCP   = "plain TCP"
	groupTLS     = "X25519MLKEM768"
)

// measureHandshakes fills r.Handshakes: session per backend and KEM, with
// 1 and Clients clients, each run right after a run of TLS with as many
// clients (VsTLS is the median of those pairs' ratios). For each KEM, the
// first backend measured also gets the plain-TCP baseline (tcpbaseline.go)
// with the same writes, run between the two (VsTCP). The TLS rows give
// every TLS run.
func (c *Config) measureHandshakes(r *Report) error {
	tc, err := newTLSConfigs()
	if err != nil {
		return err
	}
	tlsSrv, err := startTLSServer(tc.server, modeSink)
	if err != nil {
		return err
	}
	defer tlsSrv.Close()
	if _, _, err := c.tlsHandshakes(tlsSrv.addr(), tc, 1); err != nil { // warm up
		return fmt.Errorf("tls handshakes: %w", err)
	}
	clientCounts := []int{1}
	if c.Clients > 1 {
		clientCounts = append(clientCounts, c.Clients)
	}
	tlsRuns := map[int][]float64{}
	var detail string
	tlsRun := func(n int) (float64, error) {
		x, d, err := c.tlsHandshakes(tlsSrv.addr(), tc, n)
		detail = d
		if err == nil {
			tlsRuns[n] = append(tlsRuns[n], x)
		}
		return x, err
	}
	var rows, tcpRows []HandshakeResult
	measured := false
	for _, backend := range c.Backends {
		for _, alg := range c.Algorithms {
			s, err := kem.Lookup(alg, backend)
			if err != nil {
				status := StatusUnsupported
				if errors.Is(err, kem.ErrNotCompiledIn) {
					status = StatusNotCompiled
				} else if !errors.Is(err, kem.ErrUnsupported) {
					return err
				}
				for _, n := range clientCounts {
					rows = append(rows, HandshakeResult{Protocol: ProtoSession, Backend: backend, Algorithm: alg, Clients: n, Status: status})
				}
				continue
			}
			script, err := recordHandshake(s)
			if err != nil {
				return fmt.Errorf("session handshake %s %s: %w", backend, alg, err)
			}
			var base *scriptServer
			if !hasBaseline(tcpRows, alg) {
				if base, err = startScriptServer(script); err != nil {
					return err
				}
			}
			for _, n := range clientCounts {
				row, tcpRow, err := c.sessionHandshakes(s, script, n, tlsRun, base)
				if err != nil {
					if base != nil {
						base.Close()
					}
					return err
				}
				rows = append(rows, row)
				if tcpRow != nil {
					tcpRows = append(tcpRows, *tcpRow)
				}
				measured = true
			}
			if base != nil {
				if err := base.Close(); err != nil {
					return fmt.Errorf("plain TCP baseline server: %w", err)
				}
			}
		}
	}
	if !measured { // no session row ran: TLS on its own
		for _, n := range clientCounts {
			c.progress("handshakes: tls %s, %d client(s)", groupTLS, n)
			for range c.Runs {
				if _, err := tlsRun(n); err != nil {
					return fmt.Errorf("tls handshakes: %w", err)
				}
			}
		}
	}
	for _, n := range clientCounts {
		r.Handshakes = append(r.Handshakes, HandshakeResult{Protocol: ProtoTLS, Backend: backendTLS, Algorithm: groupTLS,
			Clients: n, Status: StatusOK, Detail: detail, PerSec: NewStat(tlsRuns[n])})
	}
	r.Handshakes = append(r.Handshakes, tcpRows...)
	r.Handshakes = append(r.Handshakes, rows...)
	return nil
}

func hasBaseline(rows []HandshakeResult, alg string) bool {
	for _, h := range rows {
		if h.Algorithm == alg {
			return true
		}
	}
	return false
}

// sessionHandshakes measures full session handshakes per second with
// clients clients at once: session.Dial (TCP connect, handshake to the
// server's FINISHED with its key pinned, the client's FINISHED), then Close
// (CLOSE); the server, a goroutine per connection, handshakes, reads to
// CLOSE and closes. Each run follows a run of tlsRun with as many clients,
// and, when base is not nil, a run of the plain-TCP baseline on base, whose
// row it returns too.
func (c *Config) sessionHandshakes(s kem.Scheme, script wireScript, clients int, tlsRun func(int) (float64, error), base *scriptServer) (HandshakeResult, *HandshakeResult, error) {
	row := HandshakeResult{Protocol: ProtoSession, Backend: s.Backend(), Algorithm: s.Name(), Clients: clients, Status: StatusOK,
		Detail: "server key pinned", WireBytes: script.total()}
	srv, err := startSessionServer(s, modeSink, 0)
	if err != nil {
		return row, nil, err
	}
	defer srv.Close()
	cfg := srv.clientConfig(0)
	op := func() error {
		sc, err := dialSession(srv.addr(), cfg)
		if err != nil {
			return err
		}
		// Our CLOSE; we do not wait for the server's (a TLS client's
		// Close does not wait either).
		return sc.Close()
	}
	var tcpOp func() error
	if base != nil {
		tcpOp = scriptClient(base.addr(), script)
		c.progress("handshakes: session %s %s, plain TCP with its writes, and tls %s, %d client(s)", s.Backend(), s.Name(), groupTLS, clients)
	} else {
		c.progress("handshakes: session %s %s and tls %s, %d client(s)", s.Backend(), s.Name(), groupTLS, clients)
	}
	for _, f := range []func() error{op, tcpOp} { // warm up
		if f == nil {
			continue
		}
		if _, err := rate(clients, c.Duration/10, f); err != nil {
			return row, nil, fmt.Errorf("handshakes %s %s: %w", s.Backend(), s.Name(), err)
		}
	}
	var sv, tv, pv []float64
	for range c.Runs {
		t, err := tlsRun(clients)
		if err != nil {
			return row, nil, fmt.Errorf("tls handshakes: %w", err)
		}
		tv = append(tv, t)
		if tcpOp != nil {
			runtime.GC()
			p, err := rate(clients, c.Duration, tcpOp)
			if err != nil {
				return row, nil, fmt.Errorf("plain TCP baseline with %s's writes: %w", s.Name(), err)
			}
			pv = append(pv, p)
		}
		runtime.GC()
		x, err := rate(clients, c.Duration, op)
		if err != nil {
			return row, nil, fmt.Errorf("session handshakes %s %s: %w", s.Backend(), s.Name(), err)
		}
		sv = append(sv, x)
	}
	if err := srv.failure(); err != nil {
		return row, nil, fmt.Errorf("session server %s %s: %w", s.Backend(), s.Name(), err)
	}
	row.PerSec, row.VsTLS = NewStat(sv), PairedRatio(sv, tv)
	if tcpOp == nil {
		return row, nil, nil
	}
	row.VsTCP = PairedRatio(sv, pv)
	tcpRow := &HandshakeResult{Protocol: ProtoTCP, Backend: backendTCP, Algorithm: s.Name(), Clients: clients, Status: StatusOK,
		Detail: fmt.Sprintf("%s's writes, no cryptography: %s", s.Name(), script), WireBytes: script.total(), PerSec: NewStat(pv)}
	return row, tcpRow, nil
}

// tlsHandshakes runs full TLS handshakes (dial, handshake, Close, which
// sends close_notify) from clients clients for Duration, and returns the
// rate and what was negotiated.
func (c *Config) tlsHandshakes(addr string, tc *tlsConfigs, clients int) (float64, string, error) {
	conn, err := dialTLS(addr, tc.client)
	if err != nil {
		return 0, "", err
	}
	detail, err := tlsDetail(conn.ConnectionState())
	conn.Close()
	if err != nil {
		return 0, "", err
	}
	op := func() error {
		conn, err := dialTLS(addr, tc.client)
		if err != nil {
			return err
		}
		if conn.ConnectionState().DidResume {
			conn.Close()
			return errors.New("tls: a handshake resumed a session")
		}
		return conn.Close()
	}
	runtime.GC()
	x, err := rate(clients, c.Duration, op)
	return x, detail, err
}
