package bench

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"

	"github.com/kemtcp/kemtcp/app/kem"
)

// TestWriteBenchfmt: every run of every figure is a benchmark line that
// benchstat's reader takes, with the machine as configuration.
func TestWriteBenchfmt(t *testing.T) {
	r := &Report{
		Machine: Machine{CPU: "Test CPU @ 1 GHz", Cores: 2, OS: "linux", Arch: "amd64", Go: "go1.26", Liboqs: "0.16.0", LoadAvg: "0.1 0.2 0.3"},
		KEM:     []KEMResult{{Backend: kem.BackendLiboqs, Algorithm: kem.MLKEM768, Op: OpKeygen, Status: StatusOK, NsPerOp: NewStat([]float64{9000, 9500, 9100})}},
		Handshakes: []HandshakeResult{
			{Protocol: ProtoSession, Backend: kem.BackendLiboqs, Algorithm: kem.XWing, Clients: 16, PerSec: NewStat([]float64{2000, 2100})},
			{Protocol: ProtoTCP, Backend: backendTCP, Algorithm: kem.MLKEM768, Clients: 1, PerSec: NewStat([]float64{15000})},
		},
		Tunnel: &TunnelReport{Workers: 16, Tools: []TunnelResult{
			{Tool: ToolKemtcp, Status: StatusOK, BulkGbps: NewStat([]float64{6, 7}), ConnsConcurrent: NewStat([]float64{2500, 2400})},
			{Tool: ToolStunnel, Status: TunnelNotInstalled},
		}},
	}
	var out bytes.Buffer
	require.NoError(t, r.WriteBenchfmt(&out))
	rd := benchfmt.NewReader(bytes.NewReader(out.Bytes()), "test")
	type key struct{ name, unit string }
	got := map[key][]float64{}
	var cpu string
	for rd.Scan() {
		res, ok := rd.Result().(*benchfmt.Result)
		if !ok {
			t.Fatalf("not a result: %v", rd.Result())
		}
		if v := res.GetConfig("cpu"); v != "" {
			cpu = v
		}
		for _, v := range res.Values {
			k := key{string(res.Name), v.Unit}
			got[k] = append(got[k], v.Value)
		}
	}
	require.NoError(t, rd.Err())
	assert.Equal(t, "Test CPU @ 1 GHz", cpu)
	kemKey := key{"KEM/backend=liboqs/kem=ML-KEM-768/op=keygen", "sec/op"} // benchfmt reads ns/op as seconds
	assert.InDeltaSlice(t, []float64{9000e-9, 9500e-9, 9100e-9}, got[kemKey], 1e-15)
	delete(got, kemKey)
	assert.Equal(t, map[key][]float64{
		{"Handshake/proto=session/backend=liboqs/kem=X-Wing/clients=16", "handshakes/s"}:   {2000, 2100},
		{"Handshake/proto=tcp/backend=plain_TCP/kem=ML-KEM-768/clients=1", "handshakes/s"}: {15000},
		{"Tunnel/tool=kemtcp/figure=bulk", "Gbit/s"}:                                       {6, 7},
		{"Tunnel/tool=kemtcp/figure=conns/workers=16", "conns/s"}:                          {2500, 2400},
	}, got)

	// Through the command line, from a saved report.
	dir := t.TempDir()
	js, bf := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.txt")
	require.NoError(t, r.WriteJSON(js))
	var stdout, stderr bytes.Buffer
	require.Equal(t, ExitOK, Main([]string{"-q", "-replay", js, "-benchfmt", bf}, nil, &stdout, &stderr), stderr.String())
	assert.FileExists(t, bf)
	assert.Equal(t, ExitFailure, Main([]string{"-q", "-replay", js, "-benchfmt", filepath.Join(dir, "no", "r.txt")}, nil, &stdout, &stderr))
}
