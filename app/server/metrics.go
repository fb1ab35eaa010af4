package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kemtcp/kemtcp/app/session"
)

// Metrics are a server's Prometheus metrics (prometheus/client_golang),
// named after Prometheus's conventions. A nil *Metrics counts nothing.
type Metrics struct {
	reg              prometheus.Registerer
	handshakes       *prometheus.CounterVec
	handshakeSeconds prometheus.Histogram
	accepted         prometheus.Counter
	refusedTotal     *prometheus.CounterVec
	bytesIn          prometheus.Counter
	bytesOut         prometheus.Counter
	updates          prometheus.Counter
}

// BuildInfo describes the running server for kemtcp_build_info.
type BuildInfo struct {
	Version, Proto, KEM, Backend, Liboqs string
}

// NewMetrics makes a server's metrics and registers them, with
// kemtcp_build_info, on reg.
func NewMetrics(reg prometheus.Registerer, info BuildInfo) *Metrics {
	m := &Metrics{
		reg: reg,
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kemtcp_handshakes_total",
			Help: "Handshakes by result (ok, failed) and, for failures, the stage that failed (PROXY header, ServerHello, ClientHello, client key, FINISHED, other).",
		}, []string{"result", "stage"}),
		handshakeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kemtcp_handshake_duration_seconds",
			Help:    "Time from accepting a connection to the end of its handshake, successful or not.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kemtcp_connections_total",
			Help: "Connections accepted and served (refused ones are counted apart).",
		}),
		refusedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kemtcp_connections_refused_total",
			Help: "Connections refused at a limit: max_conns, per_source.",
		}, []string{"limit"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kemtcp_received_bytes_total",
			Help: "Application bytes received from clients (plaintext).",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kemtcp_sent_bytes_total",
			Help: "Application bytes sent to clients (plaintext).",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kemtcp_key_updates_total",
			Help: "Key updates, both directions, of the connections that have ended.",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kemtcp_build_info",
		Help: "Always 1; the labels describe the server.",
		ConstLabels: prometheus.Labels{
			"version": info.Version, "proto": info.Proto, "kem": info.KEM,
			"backend": info.Backend, "liboqs": info.Liboqs,
		},
	})
	build.Set(1)
	for _, c := range []prometheus.Collector{m.handshakes, m.handshakeSeconds, m.accepted, m.refusedTotal, m.bytesIn, m.bytesOut, m.updates, build} {
		reg.MustRegister(c)
	}
	// Every label value exists from the start, at 0.
	m.refusedTotal.WithLabelValues("max_conns")
	m.refusedTotal.WithLabelValues("per_source")
	m.handshakes.WithLabelValues("ok", "")
	return m
}

// register adds the gauge of s's open connections.
func (m *Metrics) register(s *Server) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kemtcp_connections_active",
		Help: "Connections open now.",
	}, func() float64 { return float64(s.Active()) }))
}

func (m *Metrics) handshake(ok bool, stage string, d time.Duration) {
	if m == nil {
		return
	}
	if ok {
		m.handshakes.WithLabelValues("ok", "").Inc()
	} else {
		m.handshakes.WithLabelValues("failed", stage).Inc()
	}
	m.handshakeSeconds.Observe(d.Seconds())
}

// proxyHeaderFailed counts a connection turned away for its PROXY protocol
// header, before any handshake (so it adds no handshake duration).
func (m *Metrics) proxyHeaderFailed() {
	if m == nil {
		return
	}
	m.handshakes.WithLabelValues("failed", stageProxyHeader).Inc()
}

func (m *Metrics) opened() {
	if m != nil {
		m.accepted.Inc()
	}
}

func (m *Metrics) refused(reason session.RefusalReason) {
	if m == nil {
		return
	}
	limit := "max_conns"
	if reason == session.RefusedPerSource {
		limit = "per_source"
	}
	m.refusedTotal.WithLabelValues(limit).Inc()
}

func (m *Metrics) moved(in, out int64) {
	if m == nil {
		return
	}
	m.bytesIn.Add(float64(in))
	m.bytesOut.Add(float64(out))
}

func (m *Metrics) keyUpdates(n uint64) {
	if m != nil && n > 0 {
		m.updates.Add(float64(n))
	}
}
