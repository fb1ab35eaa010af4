package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/oqs"
)

// childEnv makes this test binary the scale section's child server.
const childEnv = "KEMTCP_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := ServeChild(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// testChild runs this test binary as the child server.
func testChild(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd
}

func TestNewStat(t *testing.T) {
	assert.Nil(t, NewStat(nil))
	assert.Nil(t, NewStat([]float64{math.NaN(), math.Inf(1)}), "runs that measured nothing")

	s := NewStat([]float64{30, 10, 20})
	require.NotNil(t, s)
	assert.Equal(t, Stat{Median: 20, Min: 10, Max: 30, SpreadPct: 50, Runs: 3, Values: []float64{30, 10, 20}}, *s, "the runs in their order")

	s = NewStat([]float64{4, 1, 3, 2})
	assert.Equal(t, 2.5, s.Median, "the mean of the middle two")
	assert.Equal(t, 4, s.Runs)
	assert.InDelta(t, 60, s.SpreadPct, 1e-9)

	s = NewStat([]float64{7, math.NaN()})
	assert.Equal(t, Stat{Median: 7, Min: 7, Max: 7, Runs: 1, Values: []float64{7}}, *s)

	assert.Equal(t, 0.0, NewStat([]float64{0, 0}).SpreadPct, "no division by a zero median")
}

func TestRatios(t *testing.T) {
	assert.Nil(t, Ratio(nil, NewStat([]float64{1})))
	assert.Nil(t, Ratio(NewStat([]float64{1}), NewStat([]float64{0})))
	assert.InDelta(t, 2.0, *Ratio(NewStat([]float64{4}), NewStat([]float64{2})), 1e-12)

	assert.Nil(t, PairedRatio(nil, nil))
	// Pairs 10/5, 30/10, 8/8: the median of 2, 3, 1 is 2 (the ratio of the
	// medians would be 10/8).
	assert.InDelta(t, 2.0, *PairedRatio([]float64{10, 30, 8}, []float64{5, 10, 8}), 1e-12)
	assert.InDelta(t, 2.0, *PairedRatio([]float64{10, 1}, []float64{5, 0}), 1e-12, "a zero baseline is skipped")
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "1,234,567", group(1234567, 0))
	assert.Equal(t, "-1,234.50", group(-1234.5, 2))
	assert.Equal(t, "999", group(999, 0))
	assert.Equal(t, "-", group(math.NaN(), 0))
	assert.Equal(t, "12,346 ±1.5%", (&Stat{Median: 12345.6, SpreadPct: 1.54}).format(0))
	assert.Equal(t, "-", (*Stat)(nil).format(0))
	assert.Equal(t, "1 GiB", sizeName(1<<30))
	assert.Equal(t, "64 KiB", sizeName(64<<10))
	assert.Equal(t, "100 B", sizeName(100))
	assert.Equal(t, "2.00x", ratioString(ptr(2.0)))
	assert.Equal(t, "-", ratioString(nil))
}

func ptr(x float64) *float64 { return &x }

func TestConfigCheck(t *testing.T) {
	ok := DefaultConfig(true)
	require.NoError(t, ok.check())
	assert.Less(t, ok.Duration, DefaultConfig(false).Duration)
	assert.Less(t, ok.BulkBytes, DefaultConfig(false).BulkBytes)
	assert.Equal(t, int64(1<<30), DefaultConfig(false).BulkBytes, "the full run sends 1 GiB")
	assert.Equal(t, []int{1, 100, 1000}, DefaultConfig(false).IdleConns)

	for name, mutate := range map[string]func(*Config){
		"runs":        func(c *Config) { c.Runs = 0 },
		"duration":    func(c *Config) { c.Duration = 0 },
		"section":     func(c *Config) { c.Sections = []string{"kem", "nope"} },
		"backend":     func(c *Config) { c.Backends = []string{"openssl"} },
		"algorithm":   func(c *Config) { c.Algorithms = []string{"ML-KEM-999"} },
		"clients":     func(c *Config) { c.Clients = 0 },
		"bulk":        func(c *Config) { c.BulkBytes = 10 },
		"message":     func(c *Config) { c.BulkMessage = 2 << 20 },
		"echo":        func(c *Config) { c.EchoMessage = 0 },
		"idle":        func(c *Config) { c.IdleConns = []int{0} },
		"sizes":       func(c *Config) { c.Sizes = []int{1, 4 << 20} },
		"tool":        func(c *Config) { c.TunnelTools = []string{ToolDirect, "wireguard"} },
		"tunnel runs": func(c *Config) { c.TunnelRuns = 0 },
		"tunnel bulk": func(c *Config) { c.TunnelBulk = 0 },
		"tunnel rt":   func(c *Config) { c.TunnelRT = -time.Second },
	} {
		c := DefaultConfig(true)
		c.Algorithms = slices.Clone(c.Algorithms)
		mutate(&c)
		assert.Error(t, c.check(), name)
	}
	c := DefaultConfig(true)
	c.Algorithms = []string{"768", "mlkem512"}
	require.NoError(t, c.check())
	assert.Equal(t, []string{kem.MLKEM768, kem.MLKEM512}, c.Algorithms, "names made canonical")
}

// tinyConfig is a run of every section in a few seconds (figures too noisy
// to mean anything, but every code path runs).
func tinyConfig() Config {
	c := DefaultConfig(true)
	c.Runs = 2
	c.Duration = 15 * time.Millisecond
	c.Algorithms = []string{kem.MLKEM512, kem.MLKEM768, kem.XWing}
	c.Clients = 2
	c.BulkBytes = 1 << 20
	c.IdleConns = []int{1, 3}
	c.Sizes = []int{64, 64 << 10}
	c.ChildServer = testChild
	c.TunnelTools = []string{ToolDirect}
	c.TunnelBulk, c.TunnelConns, c.TunnelRT = 50*time.Millisecond, 30*time.Millisecond, 20*time.Millisecond
	return c
}

// TestTinyRun runs every section briefly and checks that each produced
// positive figures, the summary and the JSON.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers and a child process")
	}
	var progress bytes.Buffer
	cfg := tinyConfig()
	cfg.Progress = &progress
	r, err := Run(cfg)
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "kem-bench: handshakes: session")

	m := r.Machine
	assert.NotEmpty(t, m.CPU)
	assert.Positive(t, m.Cores)
	assert.Equal(t, kem.Backends(), m.Backends)
	if oqs.Compiled {
		assert.Equal(t, oqs.LiboqsVersion(), m.Liboqs)
	} else {
		assert.Equal(t, NotCompiledIn, m.Liboqs)
	}

	// KEM operations: every backend and algorithm has three rows, measured
	// or saying why not.
	require.Len(t, r.KEM, len(kem.AllBackends())*3*3)
	for _, k := range r.KEM {
		name := k.Backend + " " + k.Algorithm + " " + k.Op
		switch {
		case k.Backend == kem.BackendGo && k.Algorithm == kem.MLKEM512:
			assert.Equal(t, StatusUnsupported, k.Status, name)
		case k.Backend == kem.BackendLiboqs && !oqs.Compiled:
			assert.Equal(t, StatusNotCompiled, k.Status, name)
			assert.Nil(t, k.NsPerOp, name)
		default:
			require.Equal(t, StatusOK, k.Status, name)
			positive(t, k.NsPerOp, name)
			positive(t, k.OpsPerSec, name)
			assert.Equal(t, cfg.Runs, k.NsPerOp.Runs, name)
			if k.Backend == kem.BackendLiboqs && k.Algorithm != kem.XWing {
				positive(t, k.CNsPerOp, name)
				positive(t, k.GoOverC, name)
			} else {
				assert.Nil(t, k.CNsPerOp, name)
			}
		}
	}

	// Handshakes: TLS with 1 and 2 clients, the plain-TCP baselines, then
	// every session row.
	require.GreaterOrEqual(t, len(r.Handshakes), 2)
	for _, h := range r.Handshakes[:2] {
		assert.Equal(t, ProtoTLS, h.Protocol)
		positive(t, h.PerSec, "tls")
		assert.Contains(t, h.Detail, "TLS 1.3, X25519MLKEM768, ECDSA P-256, TLS_")
	}
	sessionRows, tcpRows := 0, 0
	wire := map[string]int{}
	for _, h := range r.Handshakes[2:] {
		switch h.Protocol {
		case ProtoTCP:
			tcpRows++
			positive(t, h.PerSec, "tcp "+h.Algorithm)
			assert.Positive(t, h.WireBytes)
			wire[h.Algorithm] = h.WireBytes
		case ProtoSession:
			if h.Status == StatusOK {
				sessionRows++
				positive(t, h.PerSec, h.Backend+" "+h.Algorithm)
				require.NotNil(t, h.VsTLS)
				assert.Positive(t, *h.VsTLS)
				assert.Equal(t, wire[h.Algorithm], h.WireBytes, "the baseline makes the session's writes")
				if h.Backend == kem.Backends()[0] {
					require.NotNil(t, h.VsTCP, "the first backend is paired with the baseline")
				}
			}
		default:
			t.Errorf("unexpected row %+v", h)
		}
	}
	assert.Positive(t, sessionRows)
	assert.Equal(t, 2*len(cfg.Algorithms), tcpRows, "a baseline per KEM and client count")

	require.Len(t, r.Bulk, 2)
	for _, b := range r.Bulk {
		positive(t, b.MBPerSec, "bulk "+b.Protocol)
		assert.Equal(t, cfg.BulkMessage, b.MessageSize)
		require.NotNil(t, b.AllocsPerWrite, "bulk "+b.Protocol)
	}
	assert.NotNil(t, r.Bulk[0].VsTLS)
	require.NotNil(t, r.Bulk[0].KeyUpdates)
	assert.Zero(t, *r.Bulk[0].KeyUpdates, "the default limits: no key update in the bulk figure")
	assert.Contains(t, r.Bulk[0].Detail, "key updates: 0")
	assert.Contains(t, r.Bulk[1].Detail, "TLS_AES_", "the negotiated suite is named")

	require.Len(t, r.Echo, 3)
	for _, e := range r.Echo {
		positive(t, e.RoundTripsPerSec, "echo "+e.Protocol)
		require.NotNil(t, e.AllocsPerRoundTrip, "echo "+e.Protocol)
	}

	require.Len(t, r.Legacy, 2*2, "ML-KEM-512 and -768; the legacy protocol has no X-Wing")
	for _, s := range r.Legacy {
		positive(t, s.MessagesPerSec, "legacy "+s.Protocol)
		assert.Positive(t, s.WireBytesPerMessage)
		assert.Positive(t, s.SetupBytes)
	}
	p, err := kem.ParamsFor(r.Legacy[0].Algorithm)
	require.NoError(t, err)
	assert.Greater(t, r.Legacy[0].WireBytesPerMessage, float64(p.CiphertextSize), "a legacy message carries a KEM ciphertext")
	assert.Equal(t, float64(4+recordOverhead+legacyMessageSize), r.Legacy[1].WireBytesPerMessage, "a session DATA frame: length, type, body, tag")

	require.Len(t, r.Idle, 3)
	assert.Equal(t, 0, r.Idle[0].Conns)
	for i, n := range []int{1, 3} {
		row := r.Idle[i+1]
		assert.Equal(t, n, row.Conns)
		positive(t, row.RSSBytes, "rss")
		positive(t, row.GoBytes, "go bytes")
		require.NotNil(t, row.PerConnBytes)
		assert.GreaterOrEqual(t, row.Goroutines.Median, r.Idle[0].Goroutines.Median+float64(n), "a goroutine per connection")
	}

	require.Len(t, r.Sweep, 4)
	for _, x := range r.Sweep {
		positive(t, x.MBPerSec, "sweep")
	}

	require.NotNil(t, r.Tunnel)
	require.Len(t, r.Tunnel.Tools, 1)
	d := r.Tunnel.Tools[0]
	assert.Equal(t, ToolDirect, d.Tool)
	assert.Equal(t, StatusOK, d.Status)
	for _, st := range []*Stat{d.BulkGbps, d.ConnsSerial, d.ConnsConcurrent, d.RoundTripsPerSec} {
		positive(t, st, "direct TCP")
	}
	assert.Nil(t, d.CPUSecondsPerGB, "direct TCP has no tunnel processes")

	s := r.Summary
	require.NotNil(t, s.BulkVsTLS)
	require.NotNil(t, s.EchoVsTLS)
	require.NotNil(t, s.IdleConnBytes)
	assert.Equal(t, 3, s.IdleConnCount)
	if oqs.Compiled {
		require.NotNil(t, s.CgoOverheadMax)
		require.NotNil(t, s.HandshakeVsTLS)
		require.NotNil(t, s.HandshakeVsTLSConcurrent)
		require.NotNil(t, s.HandshakeVsTCP)
		require.NotNil(t, s.HandshakeVsTCPConcurrent)
		require.NotNil(t, s.XWingVsTLS)
		require.NotNil(t, s.XWingCost)
		assert.Positive(t, s.XWingCost.HandshakeBytes)
		assert.Empty(t, s.NullReasons)
	} else {
		assert.Nil(t, s.CgoOverheadMax)
		assert.Nil(t, s.HandshakeVsTLS)
		assert.Contains(t, s.NullReasons["cgo_overhead_max"], "not compiled in")
		assert.Contains(t, s.NullReasons["handshake_vs_tls"], "not compiled in")
	}
	require.Len(t, s.Targets, 15)
	require.NotNil(t, s.Tunnel)
	assert.Contains(t, s.Tunnel.NullReasons["bulk_vs_direct"], "kemtcp was not measured")

	// The table names every section and target.
	var table bytes.Buffer
	require.NoError(t, r.WriteTable(&table))
	for _, want := range []string{"Machine:", "1. KEM operations", "2. Full handshakes", "3. Bulk throughput", "4. Small-message round trips",
		"5. Legacy protocol", "6. Scale", "7. Tunnels", "idle_conn_bytes", "handshake_vs_tls", "TLS_AES_", "benchstat"} {
		assert.Contains(t, table.String(), want)
	}
	if !oqs.Compiled {
		assert.Contains(t, table.String(), NotCompiledIn)
	}

	// JSON and charts from the same report.
	dir := t.TempDir()
	checkJSON(t, r, filepath.Join(dir, "bench.json"))
	for _, ext := range ChartFormats {
		path := filepath.Join(dir, "bench"+ext)
		require.NoError(t, r.WriteChart(path))
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Greater(t, fi.Size(), int64(1000), ext)
	}
}

// checkJSON writes r to path and checks the schema tools rely on.
func checkJSON(t *testing.T, r *Report, path string) {
	t.Helper()
	require.NoError(t, r.WriteJSON(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &doc))
	for _, k := range []string{"machine", "settings", "kem_operations", "handshakes", "bulk", "echo", "legacy", "idle_connections", "message_size_sweep", "summary"} {
		assert.Contains(t, doc, k)
	}
	var summary map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc["summary"], &summary))
	for _, k := range []string{"cgo_overhead_max", "handshake_vs_tls", "bulk_vs_tls", "echo_vs_tls", "idle_conn_bytes", "targets"} {
		assert.Contains(t, summary, k, "summary fields are present, null or not")
	}
	back, err := ReadJSON(path)
	require.NoError(t, err)
	assert.Equal(t, r.Summary, back.Summary)
	assert.Equal(t, len(r.KEM), len(back.KEM))
}

func positive(t *testing.T, s *Stat, what string) {
	t.Helper()
	if assert.NotNil(t, s, what) {
		assert.Positive(t, s.Median, what)
		assert.Positive(t, s.Min, what)
	}
}

func TestChartErrors(t *testing.T) {
	dir := t.TempDir()
	r := &Report{}
	assert.ErrorContains(t, r.WriteChart(filepath.Join(dir, "x.pdf")), "want a file name ending in .svg or .png")
	assert.ErrorContains(t, r.WriteChart(filepath.Join(dir, "x.svg")), "no figures")
	r.Echo = []EchoResult{{Protocol: ProtoSession, RoundTripsPerSec: &Stat{Median: 5}}, {Protocol: ProtoTLS, RoundTripsPerSec: &Stat{Median: 4}}}
	require.NoError(t, r.WriteChart(filepath.Join(dir, "x.png")))
	assert.Error(t, r.WriteChart(filepath.Join(dir, "missing", "x.svg")), "a directory that does not exist")
}

func TestServeChild(t *testing.T) {
	inR, inW, err := os.Pipe()
	require.NoError(t, err)
	outR, outW, err := os.Pipe()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- ServeChild([]string{"-alg", "512", "-backend", kem.BackendCircl}, inR, outW)
		outW.Close()
	}()
	ch := &child{in: inW}
	ch.out = bufio.NewReader(outR)
	line, err := ch.out.ReadString('\n')
	require.NoError(t, err)
	f := strings.Fields(line)
	require.Len(t, f, 3)
	assert.Equal(t, "addr", f[0])
	assert.Contains(t, f[1], "127.0.0.1:")
	assert.Len(t, f[2], 2*800, "the ML-KEM-512 key, in hex")

	st, err := ch.stats()
	require.NoError(t, err)
	assert.Zero(t, st.Active)
	assert.Positive(t, st.Goroutines)
	assert.Positive(t, st.GoBytes)
	if _, err := os.Stat("/proc/self/status"); err == nil {
		assert.Positive(t, st.RSS)
	}
	inW.Close()
	require.NoError(t, <-done)
	inR.Close()
	outR.Close()

	assert.Error(t, ServeChild([]string{"-alg", "999"}, strings.NewReader(""), &bytes.Buffer{}))
	var out bytes.Buffer
	assert.ErrorContains(t, ServeChild(nil, strings.NewReader("bogus\n"), &out), `unknown command "bogus"`)
}

func TestMainFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, ExitOK, Main([]string{"-h"}, nil, &out, &errOut))
	assert.Contains(t, out.String(), "-quick")
	assert.Contains(t, out.String(), `(default "kem,handshake`)
	assert.NotContains(t, out.String(), ChildServerFlag, "the internal flag is hidden")
	assert.Empty(t, errOut.String())

	for _, args := range [][]string{
		{"-nope"},
		{"extra"},
		{"-sections", "kem,bogus"},
		{"-chart", "x.pdf"},
		{"-runs", "-1"},
		{"-backends", "openssl"},
	} {
		errOut.Reset()
		assert.Equal(t, ExitUsage, Main(args, nil, &out, &errOut), "%v", args)
		assert.Equal(t, 1, strings.Count(errOut.String(), "\n"), "one line for %v: %q", args, errOut.String())
	}

	errOut.Reset()
	assert.Equal(t, ExitFailure, Main([]string{"-replay", filepath.Join(t.TempDir(), "missing.json")}, nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "reading the report")
}

// TestMainRun: a small run through the command line, with -json and
// -chart, and -replay of what it wrote.
func TestMainRun(t *testing.T) {
	dir := t.TempDir()
	jsonPath, chartPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg")
	profPath := filepath.Join(dir, "cpu.pprof")
	var out, errOut bytes.Buffer
	code := Main([]string{"-sections", "kem", "-backends", "circl", "-algs", "512", "-runs", "1", "-duration", "5ms",
		"-json", jsonPath, "-chart", chartPath, "-cpuprofile", profPath}, nil, &out, &errOut)
	require.Equal(t, ExitOK, code, errOut.String())
	fi, err := os.Stat(profPath)
	require.NoError(t, err)
	assert.Positive(t, fi.Size(), "the CPU profile")
	assert.Contains(t, out.String(), "circl    ML-KEM-512")
	assert.Contains(t, errOut.String(), "wrote "+jsonPath)
	fi, err = os.Stat(chartPath)
	require.NoError(t, err)
	assert.Positive(t, fi.Size())

	var again bytes.Buffer
	require.Equal(t, ExitOK, Main([]string{"-q", "-replay", jsonPath}, nil, &again, &errOut))
	assert.Equal(t, out.String(), again.String(), "the saved report prints the same table")
}
