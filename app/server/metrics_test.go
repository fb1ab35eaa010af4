package server_test

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// scrape reads reg's text exposition, as Prometheus would over HTTP, and
// parses it.
func scrape(t testing.TB, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err, "the exposition does not parse:\n%s", rec.Body)
	return mfs
}

// metricValue returns the value of the sample of family name whose labels
// are exactly labels (name, value pairs), or fails.
func metricValue(t testing.TB, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	require.True(t, ok, "no metric %s", name)
	want := map[string]string{}
	for i := 0; i < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("no sample of %s with labels %v", name, want)
	return 0
}

// TestMetrics: the counters equal what the test did: handshakes by result
// and failed stage, refusals by limit, plaintext bytes each way, key
// updates, and the open connections.
func TestMetrics(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	reg := prometheus.NewRegistry()
	m := server.NewMetrics(reg, server.BuildInfo{Version: "test", Proto: "session", KEM: "ML-KEM-768", Backend: "x", Liboqs: "none"})
	ts := startServer(t, server.Config{Metrics: m, MaxConns: 2, MaxConnsPerSource: 1})
	mfs := scrape(t, reg)
	require.Equal(t, 0.0, metricValue(t, mfs, "kemtcp_connections_active"))
	require.Equal(t, 0.0, metricValue(t, mfs, "kemtcp_connections_refused_total", "limit", "max_conns"))
	require.Equal(t, 1.0, metricValue(t, mfs, "kemtcp_build_info", "version", "test", "proto", "session", "kem", "ML-KEM-768", "backend", "x", "liboqs", "none"))

	// Two clients open at once (one per address), with messages that the
	// server echoes: 5 + 7 bytes in, the same out.
	a, err := ts.dialSession(ts.addr, "127.0.0.1")
	require.NoError(t, err)
	// Refused: a second connection from 127.0.0.1 (per source).
	_, err = ts.dialSession(ts.addr, "127.0.0.1")
	require.ErrorIs(t, err, session.ErrRefused)
	b, err := ts.dialSession(ts.addr, "127.0.0.2")
	require.NoError(t, err)
	for _, x := range []struct {
		c   *session.Conn
		msg string
	}{{a, "hello"}, {b, "goodbye"}} {
		require.NoError(t, x.c.WriteMessage([]byte(x.msg)))
		echo, err := x.c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, x.msg, string(echo))
	}
	mfs = scrape(t, reg)
	require.Equal(t, 2.0, metricValue(t, mfs, "kemtcp_connections_active"))

	// Refused: one from 127.0.0.3 (the server is full).
	_, err = ts.dialSession(ts.addr, "127.0.0.3")
	require.ErrorIs(t, err, session.ErrRefused)
	for _, c := range []*session.Conn{a, b} {
		require.NoError(t, c.CloseWrite())
		_, err := c.ReadMessage()
		require.Error(t, err)
		c.Close()
	}
	eventually(t, waitLong, "no connections", func() bool { return ts.srv.Active() == 0 })

	// Failed handshakes: two at the ClientHello, one at the client's
	// FINISHED.
	c := ts.dial()
	send(t, c, frame.Append(nil, clientHello("KEMTCQ", 2, 0x0201, 2185)))
	ts.requireFailure(c.LocalAddr().String(), "handshake", "^ClientHello: bad magic")
	c = ts.dial()
	c.(interface{ CloseWrite() error }).CloseWrite()
	ts.requireFailure(c.LocalAddr().String(), "handshake", "^ClientHello: .*truncated")
	c = ts.dial()
	rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{randomCtE: true})
	send(t, c, rs.record(wire.RecordFinished, ""))
	ts.requireFailure(c.LocalAddr().String(), "handshake", "^FINISHED: ")

	// Three key updates from a client, then 3 bytes and CLOSE; the
	// server's echo and CLOSE follow.
	c = ts.dial()
	rs = established(t, ts, c)
	send(t, c, rs.keyUpdate(t), rs.keyUpdate(t), rs.data("abc"), rs.keyUpdate(t), rs.record(wire.RecordClose, ""))
	requireClosedByServer(t, c)
	eventually(t, waitLong, "no connections", func() bool { return ts.srv.Active() == 0 })

	mfs = scrape(t, reg)
	require.Equal(t, 3.0, metricValue(t, mfs, "kemtcp_handshakes_total", "result", "ok", "stage", ""))
	require.Equal(t, 2.0, metricValue(t, mfs, "kemtcp_handshakes_total", "result", "failed", "stage", "ClientHello"))
	require.Equal(t, 1.0, metricValue(t, mfs, "kemtcp_handshakes_total", "result", "failed", "stage", "FINISHED"))
	require.Equal(t, 6.0, metricValue(t, mfs, "kemtcp_handshake_duration_seconds"), "one observation per handshake")
	require.Equal(t, 1.0, metricValue(t, mfs, "kemtcp_connections_refused_total", "limit", "per_source"))
	require.Equal(t, 1.0, metricValue(t, mfs, "kemtcp_connections_refused_total", "limit", "max_conns"))
	require.Equal(t, 6.0, metricValue(t, mfs, "kemtcp_connections_total"), "served connections, refused ones apart")
	require.Equal(t, 15.0, metricValue(t, mfs, "kemtcp_received_bytes_total"))
	require.Equal(t, 15.0, metricValue(t, mfs, "kemtcp_sent_bytes_total"))
	require.Equal(t, 3.0, metricValue(t, mfs, "kemtcp_key_updates_total"))
	require.Equal(t, 0.0, metricValue(t, mfs, "kemtcp_connections_active"))
	ts.stop()
	goleak.VerifyNone(t, ign)
}
