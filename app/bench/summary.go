package bench

import (
	"fmt"
	"slices"

	"github.com/kemtcp/kemtcp/app/kem"
)

// The targets (README, "Benchmarks"; the issues of the performance work).
const (
	targetCgo        = 1.10
	targetHandshake  = 3.0
	targetVsTCP      = 0.85
	targetXWing      = 2.5
	targetBulk       = 1.2
	targetEcho       = 1.0
	targetEchoAllocs = 0.05 // "zero", less what the measuring itself allocates
	targetIdleBytes  = 64 << 10

	targetTunnelBulkVsTool = 2.0
	targetTunnelBulkDirect = 0.35
	targetTunnelConnsSt    = 5.0
	targetTunnelConnsSSH   = 1.0
	targetTunnelConnsDir   = 0.5
	targetTunnelRT         = 1.5
	targetTunnelCPU        = 0.5
)

// QuickNote is what a quick run says instead of judging a target.
const QuickNote = "not judged: a quick run is too short and noisy to judge targets (run without -quick)"

// summarize computes the summary of the figures in r.
func summarize(r *Report) Summary {
	s := Summary{NullReasons: map[string]string{}}
	liboqs := slices.Contains(r.Machine.Backends, kem.BackendLiboqs)
	why := func(field, section string) {
		if !liboqs {
			s.NullReasons[field] = "liboqs is " + NotCompiledIn
		} else if !slices.Contains(r.Settings.Sections, section) {
			s.NullReasons[field] = "the " + section + " section was not run"
		} else {
			s.NullReasons[field] = "the figure it needs was not measured (see -backends, -algs)"
		}
	}

	for _, k := range r.KEM {
		if k.Backend == kem.BackendLiboqs && k.GoOverC != nil {
			if s.CgoOverheadMax == nil || k.GoOverC.Median > *s.CgoOverheadMax {
				v := k.GoOverC.Median
				s.CgoOverheadMax = &v
			}
		}
	}
	if s.CgoOverheadMax == nil {
		why("cgo_overhead_max", SectionKEM)
	}
	for _, h := range r.Handshakes {
		if h.Protocol != ProtoSession || h.Backend != kem.BackendLiboqs {
			continue
		}
		switch {
		case h.Algorithm == kem.MLKEM768 && h.Clients == 1:
			s.HandshakeVsTLS, s.HandshakeVsTCP = h.VsTLS, h.VsTCP
		case h.Algorithm == kem.MLKEM768 && h.Clients == r.Settings.Clients:
			s.HandshakeVsTLSConcurrent, s.HandshakeVsTCPConcurrent = h.VsTLS, h.VsTCP
		case h.Algorithm == kem.XWing && h.Clients == 1:
			s.XWingVsTLS = h.VsTLS
		}
	}
	for field, v := range map[string]*float64{"handshake_vs_tls": s.HandshakeVsTLS, "handshake_vs_tls_concurrent": s.HandshakeVsTLSConcurrent,
		"handshake_vs_tcp": s.HandshakeVsTCP, "handshake_vs_tcp_concurrent": s.HandshakeVsTCPConcurrent, "xwing_vs_tls": s.XWingVsTLS} {
		if v == nil {
			why(field, SectionHandshake)
		}
	}
	s.XWingCost = hybridCost(r)
	if s.XWingCost == nil {
		s.NullReasons["xwing_cost"] = "X-Wing and ML-KEM-768 were not both measured on one backend (kem and handshake sections)"
	}
	for _, b := range r.Bulk {
		if b.Protocol == ProtoSession {
			s.BulkVsTLS = b.VsTLS
		}
	}
	if s.BulkVsTLS == nil {
		s.NullReasons["bulk_vs_tls"] = "the bulk section was not run"
	}
	for _, e := range r.Echo {
		if e.Protocol == ProtoSession {
			s.EchoVsTLS = e.VsTLS
			if e.AllocsPerRoundTrip != nil {
				v := e.AllocsPerRoundTrip.Median
				s.EchoAllocs = &v
			}
		}
	}
	if s.EchoVsTLS == nil {
		s.NullReasons["echo_vs_tls"] = "the echo section was not run"
	}
	if s.EchoAllocs == nil {
		s.NullReasons["echo_allocs_per_round_trip"] = "the echo section was not run"
	}
	for _, i := range r.Idle {
		if i.Conns > s.IdleConnCount && i.PerConnBytes != nil {
			v := i.PerConnBytes.Median
			s.IdleConnBytes, s.IdleConnCount = &v, i.Conns
		}
	}
	if s.IdleConnBytes == nil {
		s.NullReasons["idle_conn_bytes"] = "the scale section was not run"
	}
	s.Tunnel = summarizeTunnel(r.Tunnel)
	if len(s.NullReasons) == 0 {
		s.NullReasons = nil
	}

	idleGoal := fmt.Sprintf("<= %d bytes per idle session connection", targetIdleBytes)
	if s.IdleConnCount > 0 {
		idleGoal += fmt.Sprintf(" (measured at %d)", s.IdleConnCount)
	}
	t := s.Tunnel
	s.Targets = []Target{
		{Name: "cgo_overhead_max", Goal: fmt.Sprintf("<= %.2fx the same operation inside C", targetCgo), Value: s.CgoOverheadMax, Met: atMost(s.CgoOverheadMax, targetCgo)},
		{Name: "handshake_vs_tls", Goal: fmt.Sprintf(">= %.1fx TLS 1.3 X25519MLKEM768 handshakes/s (liboqs, ML-KEM-768)", targetHandshake), Value: s.HandshakeVsTLS, Met: atLeast(s.HandshakeVsTLS, targetHandshake)},
		{Name: "handshake_vs_tcp", Goal: fmt.Sprintf(">= %.2fx the plain-TCP baseline with the same writes, one client after another", targetVsTCP), Value: s.HandshakeVsTCP, Met: atLeast(s.HandshakeVsTCP, targetVsTCP)},
		{Name: "xwing_vs_tls", Goal: fmt.Sprintf(">= %.1fx TLS 1.3 X25519MLKEM768 handshakes/s (liboqs, X-Wing)", targetXWing), Value: s.XWingVsTLS, Met: atLeast(s.XWingVsTLS, targetXWing)},
		{Name: "bulk_vs_tls", Goal: fmt.Sprintf(">= %.1fx crypto/tls throughput", targetBulk), Value: s.BulkVsTLS, Met: atLeast(s.BulkVsTLS, targetBulk)},
		{Name: "echo_vs_tls", Goal: fmt.Sprintf(">= %.1fx crypto/tls round trips/s", targetEcho), Value: s.EchoVsTLS, Met: atLeast(s.EchoVsTLS, targetEcho)},
		{Name: "echo_allocs_per_round_trip", Goal: fmt.Sprintf("no allocation per Read and Write (< %.2f heap objects per round trip, all told)", targetEchoAllocs), Value: s.EchoAllocs, Met: below(s.EchoAllocs, targetEchoAllocs)},
		{Name: "idle_conn_bytes", Goal: idleGoal, Value: s.IdleConnBytes, Met: atMost(s.IdleConnBytes, targetIdleBytes)},
		{Name: "tunnel_bulk_vs_best_tool", Goal: fmt.Sprintf(">= %.0fx the better of stunnel4 and ssh -L", targetTunnelBulkVsTool), Value: t.BulkVsBestTool, Met: atLeast(t.BulkVsBestTool, targetTunnelBulkVsTool)},
		{Name: "tunnel_bulk_vs_direct", Goal: fmt.Sprintf(">= %.2fx direct TCP", targetTunnelBulkDirect), Value: t.BulkVsDirect, Met: atLeast(t.BulkVsDirect, targetTunnelBulkDirect)},
		{Name: "tunnel_conns_vs_stunnel", Goal: fmt.Sprintf(">= %.0fx stunnel4's connections/s, one at a time and %d at once", targetTunnelConnsSt, r.Settings.Clients), Value: t.ConnsVsStunnel, Met: atLeast(t.ConnsVsStunnel, targetTunnelConnsSt)},
		{Name: "tunnel_conns_vs_ssh", Goal: fmt.Sprintf(">= %.0fx ssh -L's channel rate, one at a time and %d at once", targetTunnelConnsSSH, r.Settings.Clients), Value: t.ConnsVsSSH, Met: atLeast(t.ConnsVsSSH, targetTunnelConnsSSH)},
		{Name: "tunnel_conns_vs_direct", Goal: fmt.Sprintf(">= %.1fx direct TCP's connections/s, one at a time and %d at once", targetTunnelConnsDir, r.Settings.Clients), Value: t.ConnsVsDirect, Met: atLeast(t.ConnsVsDirect, targetTunnelConnsDir)},
		{Name: "tunnel_rt_vs_best_tool", Goal: fmt.Sprintf(">= %.1fx the best of stunnel4, spiped and ssh -L in 64-byte round trips/s", targetTunnelRT), Value: t.RTVsBestTool, Met: atLeast(t.RTVsBestTool, targetTunnelRT)},
		{Name: "tunnel_cpu_per_gb_vs_stunnel", Goal: fmt.Sprintf("<= %.1fx stunnel4's CPU seconds per GB", targetTunnelCPU), Value: t.CPUPerGBVsStunnel, Met: atMost(t.CPUPerGBVsStunnel, targetTunnelCPU)},
	}
	for i := range s.Targets {
		tg := &s.Targets[i]
		switch {
		case tg.Value == nil:
			tg.Why = s.NullReasons[tg.Name]
			if tg.Why == "" && t.NullReasons != nil {
				tg.Why = t.NullReasons[tunnelField(tg.Name)]
			}
		case r.Settings.Quick:
			tg.Met, tg.Why = nil, QuickNote
		}
	}
	return s
}

// tunnelField is the TunnelSummary field of a tunnel_ target.
func tunnelField(target string) string {
	const p = "tunnel_"
	if len(target) > len(p) && target[:len(p)] == p {
		return target[len(p):]
	}
	return target
}

func atMost(v *float64, goal float64) *bool {
	if v == nil {
		return nil
	}
	ok := *v <= goal
	return &ok
}

func atLeast(v *float64, goal float64) *bool {
	if v == nil {
		return nil
	}
	ok := *v >= goal
	return &ok
}

func below(v *float64, goal float64) *bool {
	if v == nil {
		return nil
	}
	ok := *v < goal
	return &ok
}

// hybridCost compares X-Wing with ML-KEM-768 on liboqs, or else on the
// first backend that has both, or returns nil.
func hybridCost(r *Report) *HybridCost {
	kemNs := func(backend, alg, op string) *Stat {
		for _, k := range r.KEM {
			if k.Backend == backend && k.Algorithm == alg && k.Op == op && k.Status == StatusOK {
				return k.NsPerOp
			}
		}
		return nil
	}
	hs := func(backend, alg string) *HandshakeResult {
		for i, h := range r.Handshakes {
			if h.Protocol == ProtoSession && h.Backend == backend && h.Algorithm == alg && h.Clients == 1 && h.PerSec != nil {
				return &r.Handshakes[i]
			}
		}
		return nil
	}
	diff := func(a, b *Stat, scale float64) *float64 {
		if a == nil || b == nil {
			return nil
		}
		v := (a.Median - b.Median) * scale
		return &v
	}
	for _, backend := range r.Machine.Backends {
		x, m := hs(backend, kem.XWing), hs(backend, kem.MLKEM768)
		keygen := diff(kemNs(backend, kem.XWing, OpKeygen), kemNs(backend, kem.MLKEM768, OpKeygen), 1e-3)
		if (x == nil || m == nil) && keygen == nil {
			continue
		}
		c := &HybridCost{Backend: backend, KeygenMicros: keygen,
			EncapsMicros: diff(kemNs(backend, kem.XWing, OpEncaps), kemNs(backend, kem.MLKEM768, OpEncaps), 1e-3),
			DecapsMicros: diff(kemNs(backend, kem.XWing, OpDecaps), kemNs(backend, kem.MLKEM768, OpDecaps), 1e-3)}
		if x != nil && m != nil {
			v := 1e6/x.PerSec.Median - 1e6/m.PerSec.Median
			c.HandshakeMicros = &v
			c.HandshakeBytes = x.WireBytes - m.WireBytes
		}
		xp, err1 := kem.ParamsFor(kem.XWing)
		mp, err2 := kem.ParamsFor(kem.MLKEM768)
		if err1 == nil && err2 == nil {
			c.EncapsulationKeyBytes = xp.EncapsulationKeySize - mp.EncapsulationKeySize
			c.CiphertextBytes = xp.CiphertextSize - mp.CiphertextSize
		}
		return c
	}
	return nil
}
