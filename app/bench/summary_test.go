package bench

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// summaryReport is a report with every figure the summary reads.
func summaryReport() *Report {
	return &Report{
		Machine:  Machine{Backends: []string{kem.BackendLiboqs, kem.BackendCircl}},
		Settings: Settings{Sections: AllSections(), Clients: 4},
		KEM: []KEMResult{
			{Backend: kem.BackendLiboqs, Algorithm: kem.MLKEM512, Op: OpKeygen, Status: StatusOK, NsPerOp: &Stat{Median: 7000}, GoOverC: &Stat{Median: 1.05}},
			{Backend: kem.BackendLiboqs, Algorithm: kem.MLKEM768, Op: OpKeygen, Status: StatusOK, NsPerOp: &Stat{Median: 10000}},
			{Backend: kem.BackendLiboqs, Algorithm: kem.MLKEM768, Op: OpEncaps, Status: StatusOK, NsPerOp: &Stat{Median: 11000}, GoOverC: &Stat{Median: 1.12}},
			{Backend: kem.BackendLiboqs, Algorithm: kem.MLKEM768, Op: OpDecaps, Status: StatusOK, NsPerOp: &Stat{Median: 12000}},
			{Backend: kem.BackendLiboqs, Algorithm: kem.XWing, Op: OpKeygen, Status: StatusOK, NsPerOp: &Stat{Median: 40000}},
			{Backend: kem.BackendLiboqs, Algorithm: kem.XWing, Op: OpEncaps, Status: StatusOK, NsPerOp: &Stat{Median: 80000}},
			{Backend: kem.BackendLiboqs, Algorithm: kem.XWing, Op: OpDecaps, Status: StatusOK, NsPerOp: &Stat{Median: 50000}},
			{Backend: kem.BackendCircl, Algorithm: kem.MLKEM768, Op: OpEncaps, Status: StatusOK},
		},
		Handshakes: []HandshakeResult{
			{Protocol: ProtoTCP, Backend: backendTCP, Algorithm: kem.MLKEM768, Clients: 1, Status: StatusOK, WireBytes: 4654, PerSec: &Stat{Median: 10000}},
			{Protocol: ProtoSession, Backend: kem.BackendLiboqs, Algorithm: kem.MLKEM768, Clients: 1, Status: StatusOK, WireBytes: 4654,
				PerSec: &Stat{Median: 4000}, VsTLS: ptr(3.5), VsTCP: ptr(0.4)},
			{Protocol: ProtoSession, Backend: kem.BackendLiboqs, Algorithm: kem.MLKEM768, Clients: 4, Status: StatusOK, VsTLS: ptr(2.5), VsTCP: ptr(0.9)},
			{Protocol: ProtoSession, Backend: kem.BackendLiboqs, Algorithm: kem.XWing, Clients: 1, Status: StatusOK, WireBytes: 4718,
				PerSec: &Stat{Median: 2500}, VsTLS: ptr(2.6)},
			{Protocol: ProtoSession, Backend: kem.BackendCircl, Algorithm: kem.MLKEM768, Clients: 1, Status: StatusOK, VsTLS: ptr(9), VsTCP: ptr(2)},
		},
		Bulk: []ThroughputResult{{Protocol: ProtoSession, VsTLS: ptr(1.1)}, {Protocol: ProtoTLS}},
		Echo: []EchoResult{{Protocol: ProtoSession, VsTLS: ptr(1.01), AllocsPerRoundTrip: &Stat{Median: 0.001}}, {Protocol: ProtoTLS}},
		Idle: []IdleResult{{Conns: 0}, {Conns: 10, PerConnBytes: &Stat{Median: 100e3}}, {Conns: 1000, PerConnBytes: &Stat{Median: 9000}}},
	}
}

func targetsByName(s Summary) map[string]Target {
	m := map[string]Target{}
	for _, tg := range s.Targets {
		m[tg.Name] = tg
	}
	return m
}

// TestSummaryTargets: the targets follow the figures, and a figure that
// was not measured is null with a reason.
func TestSummaryTargets(t *testing.T) {
	r := summaryReport()
	s := summarize(r)
	assert.InDelta(t, 1.12, *s.CgoOverheadMax, 1e-12, "the largest liboqs ratio")
	assert.InDelta(t, 3.5, *s.HandshakeVsTLS, 1e-12, "liboqs, ML-KEM-768, one client")
	assert.InDelta(t, 2.5, *s.HandshakeVsTLSConcurrent, 1e-12)
	assert.InDelta(t, 0.4, *s.HandshakeVsTCP, 1e-12, "liboqs, ML-KEM-768, one client, not circl's")
	assert.InDelta(t, 0.9, *s.HandshakeVsTCPConcurrent, 1e-12)
	assert.InDelta(t, 2.6, *s.XWingVsTLS, 1e-12)
	assert.InDelta(t, 1.01, *s.EchoVsTLS, 1e-12)
	assert.InDelta(t, 0.001, *s.EchoAllocs, 1e-12)
	assert.InDelta(t, 9000, *s.IdleConnBytes, 1e-12, "at the most connections")
	assert.Equal(t, 1000, s.IdleConnCount)

	met := targetsByName(s)
	assert.False(t, *met["cgo_overhead_max"].Met)
	assert.True(t, *met["handshake_vs_tls"].Met)
	assert.False(t, *met["handshake_vs_tcp"].Met, "0.4 < 0.85")
	assert.True(t, *met["xwing_vs_tls"].Met, "2.6 >= 2.5")
	assert.False(t, *met["bulk_vs_tls"].Met)
	assert.True(t, *met["echo_vs_tls"].Met)
	assert.True(t, *met["echo_allocs_per_round_trip"].Met)
	assert.True(t, *met["idle_conn_bytes"].Met)
	assert.Nil(t, met["tunnel_bulk_vs_direct"].Met)
	assert.Equal(t, "the tunnel section was not run", met["tunnel_bulk_vs_direct"].Why)
	for _, tg := range s.Targets {
		assert.Equal(t, tg.Value == nil, tg.Met == nil, tg.Name)
		if tg.Value == nil {
			assert.NotEmpty(t, tg.Why, "a null target says why: %s", tg.Name)
		}
	}

	// Without liboqs, the liboqs figures are null and say so.
	r.Machine.Backends = []string{kem.BackendCircl}
	r.KEM, r.Handshakes, r.Echo = r.KEM[7:], r.Handshakes[4:], nil
	s = summarize(r)
	assert.Nil(t, s.CgoOverheadMax)
	assert.Nil(t, s.HandshakeVsTLS)
	assert.Nil(t, s.HandshakeVsTCP)
	assert.Nil(t, s.XWingVsTLS)
	assert.Nil(t, s.EchoVsTLS)
	for _, f := range []string{"cgo_overhead_max", "handshake_vs_tls", "handshake_vs_tcp", "xwing_vs_tls"} {
		assert.Contains(t, s.NullReasons[f], "liboqs is not compiled in", f)
		assert.Equal(t, s.NullReasons[f], targetsByName(s)[f].Why, f)
	}
	assert.Contains(t, s.NullReasons["echo_vs_tls"], "not run")
}

// TestHybridCost: X-Wing's extra time per operation and per handshake, and
// its extra bytes.
func TestHybridCost(t *testing.T) {
	c := summarize(summaryReport()).XWingCost
	require.NotNil(t, c)
	assert.Equal(t, kem.BackendLiboqs, c.Backend)
	assert.InDelta(t, 30, *c.KeygenMicros, 1e-9, "40 µs - 10 µs")
	assert.InDelta(t, 69, *c.EncapsMicros, 1e-9)
	assert.InDelta(t, 38, *c.DecapsMicros, 1e-9)
	assert.InDelta(t, 1e6/2500-1e6/4000, *c.HandshakeMicros, 1e-9)
	assert.Equal(t, 64, c.HandshakeBytes)
	if p, err := kem.ParamsFor(kem.XWing); err == nil {
		m, _ := kem.ParamsFor(kem.MLKEM768)
		assert.Equal(t, p.EncapsulationKeySize-m.EncapsulationKeySize, c.EncapsulationKeyBytes)
		assert.Equal(t, 32, c.CiphertextBytes, "X25519's share")
	}

	r := summaryReport()
	r.KEM, r.Handshakes = nil, nil
	s := summarize(r)
	assert.Nil(t, s.XWingCost)
	assert.Contains(t, s.NullReasons["xwing_cost"], "X-Wing and ML-KEM-768 were not both measured")
}

// TestQuickRunDoesNotJudge: a quick run shows the ratios but no met or
// MISSED, and says why, in the table and in the JSON; a full run judges.
func TestQuickRunDoesNotJudge(t *testing.T) {
	for _, quick := range []bool{false, true} {
		r := summaryReport()
		r.Settings.Quick = quick
		r.Summary = summarize(r)
		var out bytes.Buffer
		require.NoError(t, r.WriteTable(&out))
		table := out.String()
		tg := targetsByName(r.Summary)["handshake_vs_tls"]
		require.NotNil(t, tg.Value, "the ratio is there either way")
		if quick {
			assert.Nil(t, tg.Met)
			assert.Equal(t, QuickNote, tg.Why)
			assert.Contains(t, table, "A quick run cannot judge targets")
			assert.Contains(t, table, "not judged (quick run)")
			assert.NotContains(t, table, "MISSED")
			assert.NotRegexp(t, `\bmet\b`, table[bytes.Index(out.Bytes(), []byte("Targets")):])
			assert.Contains(t, table, "3.500x", "the ratio is shown")
		} else {
			assert.True(t, *tg.Met)
			assert.Empty(t, tg.Why)
			assert.Contains(t, table, "MISSED")
			assert.NotContains(t, table, "cannot judge")
		}
		assert.Contains(t, table, "go install golang.org/x/perf/cmd/benchstat@latest", "the header says how to get benchstat")

		path := filepath.Join(t.TempDir(), "r.json")
		require.NoError(t, r.WriteJSON(path))
		back, err := ReadJSON(path)
		require.NoError(t, err)
		assert.Equal(t, r.Summary, back.Summary)
		b, err := json.Marshal(back.Summary.Targets)
		require.NoError(t, err)
		assert.Equal(t, quick, bytes.Contains(b, []byte(`"why":"not judged: a quick run`)))
	}
}
