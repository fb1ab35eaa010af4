package bench

import (
	"fmt"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
)

// Run measures every section of cfg and returns the report, its summary
// filled in.
func Run(cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := &Report{
		Machine: DescribeMachine(),
		Settings: Settings{Quick: cfg.Quick, Runs: cfg.Runs, DurationSeconds: cfg.Duration.Seconds(), Sections: cfg.Sections,
			Clients: cfg.Clients, BulkBytes: cfg.BulkBytes, BulkMessage: cfg.BulkMessage, EchoMessage: cfg.EchoMessage},
		Started: time.Now().UTC().Truncate(time.Second),
	}
	steps := []struct {
		section string
		run     func(*Report) error
	}{
		{SectionKEM, cfg.measureKEM},
		{SectionHandshake, cfg.measureHandshakes},
		{SectionBulk, cfg.measureBulk},
		{SectionEcho, cfg.measureEcho},
		{SectionLegacy, cfg.measureLegacy},
		{SectionScale, cfg.measureIdle},
		{SectionScale, cfg.measureSweep},
	}
	for _, st := range steps {
		if !cfg.has(st.section) {
			continue
		}
		if err := st.run(r); err != nil {
			return nil, err
		}
	}
	r.Settings.LoadAvgEnd = loadAvg()
	r.ElapsedSeconds = time.Since(r.Started).Seconds()
	r.Summary = summarize(r)
	return r, nil
}

// The targets (README, "Benchmarks").
const (
	targetCgo       = 1.10
	targetHandshake = 3.0
	targetBulk      = 1.2
	targetEcho      = 1.0
	targetIdleBytes = 64 << 10
)

// summarize computes the summary of the figures in r.
func summarize(r *Report) Summary {
	s := Summary{NullReasons: map[string]string{}}
	liboqs := false
	for _, b := range r.Machine.Backends {
		liboqs = liboqs || b == kem.BackendLiboqs
	}
	why := func(field, section string) {
		if !liboqs {
			s.NullReasons[field] = "liboqs is " + NotCompiledIn
		} else if !contains(r.Settings.Sections, section) {
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
		if h.Protocol == ProtoSession && h.Backend == kem.BackendLiboqs && h.Algorithm == kem.MLKEM768 {
			switch {
			case h.Clients == 1:
				s.HandshakeVsTLS = h.VsTLS
			case h.Clients == r.Settings.Clients:
				s.HandshakeVsTLSConcurrent = h.VsTLS
			}
		}
	}
	if s.HandshakeVsTLS == nil {
		why("handshake_vs_tls", SectionHandshake)
	}
	if s.HandshakeVsTLSConcurrent == nil {
		why("handshake_vs_tls_concurrent", SectionHandshake)
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
		}
	}
	if s.EchoVsTLS == nil {
		s.NullReasons["echo_vs_tls"] = "the echo section was not run"
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
	if len(s.NullReasons) == 0 {
		s.NullReasons = nil
	}

	atMost := func(v *float64, goal float64) *bool {
		if v == nil {
			return nil
		}
		ok := *v <= goal
		return &ok
	}
	atLeast := func(v *float64, goal float64) *bool {
		if v == nil {
			return nil
		}
		ok := *v >= goal
		return &ok
	}
	idleGoal := fmt.Sprintf("<= %d bytes per idle session connection", targetIdleBytes)
	if s.IdleConnCount > 0 {
		idleGoal += fmt.Sprintf(" (measured at %d)", s.IdleConnCount)
	}
	s.Targets = []Target{
		{Name: "cgo_overhead_max", Goal: fmt.Sprintf("<= %.2fx the same operation inside C", targetCgo), Value: s.CgoOverheadMax, Met: atMost(s.CgoOverheadMax, targetCgo)},
		{Name: "handshake_vs_tls", Goal: fmt.Sprintf(">= %.1fx TLS 1.3 X25519MLKEM768 handshakes/s (liboqs, ML-KEM-768)", targetHandshake), Value: s.HandshakeVsTLS, Met: atLeast(s.HandshakeVsTLS, targetHandshake)},
		{Name: "bulk_vs_tls", Goal: fmt.Sprintf(">= %.1fx crypto/tls throughput", targetBulk), Value: s.BulkVsTLS, Met: atLeast(s.BulkVsTLS, targetBulk)},
		{Name: "echo_vs_tls", Goal: fmt.Sprintf(">= %.1fx crypto/tls round trips/s", targetEcho), Value: s.EchoVsTLS, Met: atLeast(s.EchoVsTLS, targetEcho)},
		{Name: "idle_conn_bytes", Goal: idleGoal, Value: s.IdleConnBytes, Met: atMost(s.IdleConnBytes, targetIdleBytes)},
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
