package bench

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
)

// Names used in the rows of the crypto/tls baseline.
const (
	ProtoSession = "session"
	ProtoLegacy  = "legacy"
	ProtoTLS     = "tls"
	ProtoTCP     = "tcp"
	backendTLS   = "crypto/tls"
	groupTLS     = "X25519MLKEM768"
)

// measureHandshakes fills r.Handshakes: session per backend and KEM, with
// 1 and Clients clients, each run right after a run of TLS with as many
// clients; VsTLS is the median of those pairs' ratios. The TLS rows give
// every TLS run.
func (c *Config) measureHandshakes(r *Report) error {
	tc, err := newTLSConfigs()
	if err != nil {
		return err
	}
	tlsSrv, err := startStreamServer(tc.server, modeSink)
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
	var rows []HandshakeResult
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
			for _, n := range clientCounts {
				row, err := c.sessionHandshakes(s, n, tlsRun)
				if err != nil {
					return err
				}
				rows = append(rows, row)
				measured = true
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
	r.Handshakes = append(r.Handshakes, rows...)
	return nil
}

// sessionHandshakes measures full session handshakes per second against
// the kem-server logic (package server) with clients clients at once: dial,
// handshake to FINISHED with the server's key pinned, CLOSE. Each run
// follows a run of tlsRun with as many clients.
func (c *Config) sessionHandshakes(s kem.Scheme, clients int, tlsRun func(int) (float64, error)) (HandshakeResult, error) {
	row := HandshakeResult{Protocol: ProtoSession, Backend: s.Backend(), Algorithm: s.Name(), Clients: clients, Status: StatusOK,
		Detail: "server key pinned"}
	srv, err := startKEMServer(s, server.ProtoSession, false, 0)
	if err != nil {
		return row, err
	}
	defer srv.Close()
	op := func() error {
		sc, nc, err := srv.dialSession(0)
		if err != nil {
			return err
		}
		// Our CLOSE; we do not wait for the server's (a TLS client's
		// Close does not wait either).
		defer nc.Close()
		return sc.CloseWrite()
	}
	c.progress("handshakes: session %s %s and tls %s, %d client(s)", s.Backend(), s.Name(), groupTLS, clients)
	if _, err := rate(clients, c.Duration/10, op); err != nil { // warm up
		return row, fmt.Errorf("session handshakes %s %s: %w", s.Backend(), s.Name(), err)
	}
	var sv, tv []float64
	for range c.Runs {
		t, err := tlsRun(clients)
		if err != nil {
			return row, fmt.Errorf("tls handshakes: %w", err)
		}
		runtime.GC()
		x, err := rate(clients, c.Duration, op)
		if err != nil {
			return row, fmt.Errorf("session handshakes %s %s: %w", s.Backend(), s.Name(), err)
		}
		sv, tv = append(sv, x), append(tv, t)
	}
	row.PerSec, row.VsTLS = NewStat(sv), PairedRatio(sv, tv)
	return row, nil
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
