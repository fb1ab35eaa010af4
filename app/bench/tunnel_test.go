package bench

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/oqs"
)

func TestParseIperf3(t *testing.T) {
	out := []byte(`{"start":{},"end":{"sum_sent":{"bytes":9000},"sum_received":{"bytes":8000000000,"seconds":5,"bits_per_second":1.28e10}}}`)
	n, gbps, err := parseIperf3(out, nil, "")
	require.NoError(t, err)
	assert.Equal(t, int64(8e9), n)
	assert.InDelta(t, 12.8, gbps, 1e-9)

	_, _, err = parseIperf3([]byte(`{"error":"unable to connect to server: Connection refused"}`), errors.New("exit status 1"), "")
	assert.ErrorContains(t, err, "unable to connect")
	_, _, err = parseIperf3([]byte("iperf3: parameter error"), errors.New("exit status 1"), "usage")
	assert.ErrorContains(t, err, "usage")
	_, _, err = parseIperf3(out, errors.New("exit status 2"), "killed")
	assert.ErrorContains(t, err, "killed", "a failed run is not taken, even with figures")
	_, _, err = parseIperf3([]byte(`{"end":{"sum_received":{"bytes":0,"bits_per_second":0}}}`), nil, "")
	assert.ErrorContains(t, err, "got nothing")
}

// tunnelRun is a tool's row with the given runs.
func tunnelRow(tool string, bulk, serial, conc, rt, cpu []float64) TunnelResult {
	return TunnelResult{Tool: tool, Status: StatusOK, BulkRuns: bulk, ConnsSerialRuns: serial, ConnsConcurrentRuns: conc, RoundTripRuns: rt, CPURuns: cpu}
}

// TestTunnelSummary: each ratio pairs kemtcp's runs with the others' runs
// of the same turn, takes the best of several tools run by run, and the
// lesser of the connection ratios; a missing tool makes the ratios that
// need it null, with its reason.
func TestTunnelSummary(t *testing.T) {
	tr := &TunnelReport{Tools: []TunnelResult{
		tunnelRow(ToolDirect, []float64{20, 20, 20}, []float64{10000, 10000, 10000}, []float64{20000, 20000, 20000}, []float64{100000, 100000, 100000}, nil),
		tunnelRow(ToolKemtcp, []float64{8, 6, 9}, []float64{3000, 3000, 3000}, []float64{4000, 6000, 5000}, []float64{30000, 20000, 25000}, []float64{1, 1, 1}),
		tunnelRow(ToolStunnel, []float64{3, 2, 3}, []float64{300, 300, 300}, []float64{500, 500, 500}, []float64{4000, 4000, 4000}, []float64{4, 2, 4}),
		tunnelRow(ToolSpiped, []float64{1, 1, 1}, []float64{270, 270, 270}, []float64{300, 300, 300}, []float64{10000, 5000, 5000}, []float64{12, 12, 12}),
		tunnelRow(ToolSSH, []float64{4, 3, 2}, []float64{1200, 1500, 1000}, []float64{2000, 2000, 2000}, []float64{4000, 10000, 4000}, []float64{4, 4, 4}),
	}}
	s := summarizeTunnel(tr)
	assert.Empty(t, s.NullReasons)
	// Run by run, the better of stunnel4 and ssh: 4, 3, 3.
	assert.InDelta(t, 2.0, *s.BulkVsBestTool, 1e-9, "median of 8/4, 6/3, 9/3")
	assert.InDelta(t, 0.4, *s.BulkVsDirect, 1e-9)
	// Serial 10x; concurrent 8, 12, 10: the lesser median is 10 either way.
	assert.InDelta(t, 10, *s.ConnsVsStunnel, 1e-9)
	// Serial: 2.5, 2, 3 -> 2.5; concurrent 2, 3, 2.5 -> 2.5.
	assert.InDelta(t, 2.5, *s.ConnsVsSSH, 1e-9)
	// Serial 0.3; concurrent 0.2, 0.3, 0.25 -> 0.25: the lesser.
	assert.InDelta(t, 0.25, *s.ConnsVsDirect, 1e-9)
	// The best of three, run by run: 10000, 10000, 5000.
	assert.InDelta(t, 3.0, *s.RTVsBestTool, 1e-9, "median of 3, 2, 5")
	assert.InDelta(t, 0.25, *s.CPUPerGBVsStunnel, 1e-9, "median of 1/4, 1/2, 1/4")

	// stunnel4 not installed, ssh -L failed, spiped missing from the list.
	tr.Tools = []TunnelResult{tr.Tools[0], tr.Tools[1],
		{Tool: ToolStunnel, Status: TunnelNotInstalled},
		{Tool: ToolSSH, Status: "failed: sshd ended"}}
	s = summarizeTunnel(tr)
	assert.NotNil(t, s.BulkVsDirect, "direct TCP is there")
	assert.NotNil(t, s.ConnsVsDirect)
	for field, want := range map[string]string{
		"bulk_vs_best_tool":     "stunnel4 is not installed",
		"conns_vs_stunnel":      "stunnel4 is not installed",
		"conns_vs_ssh":          "ssh -L failed: sshd ended",
		"rt_vs_best_tool":       "stunnel4 is not installed",
		"bulk_vs_direct":        "",
		"cpu_per_gb_vs_stunnel": "stunnel4 is not installed",
	} {
		assert.Equal(t, want, s.NullReasons[field], field)
	}
	assert.Nil(t, s.BulkVsBestTool)
	assert.Nil(t, s.ConnsVsSSH)
	assert.Nil(t, s.RTVsBestTool)

	// In the JSON: every ratio is there, null or not, and null_reasons.
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &doc))
	for _, k := range []string{"bulk_vs_best_tool", "bulk_vs_direct", "conns_vs_stunnel", "conns_vs_ssh", "conns_vs_direct", "rt_vs_best_tool", "cpu_per_gb_vs_stunnel", "null_reasons"} {
		assert.Contains(t, doc, k)
	}
	assert.Equal(t, "null", string(doc["conns_vs_ssh"]))

	// kemtcp failed: everything is null, and says so.
	tr.Tools[1] = TunnelResult{Tool: ToolKemtcp, Status: "failed: bulk: iperf3: the receiver got nothing"}
	s = summarizeTunnel(tr)
	assert.Nil(t, s.BulkVsDirect)
	assert.Equal(t, "kemtcp failed: bulk: iperf3: the receiver got nothing", s.NullReasons["bulk_vs_direct"])

	s = summarizeTunnel(nil)
	assert.Len(t, s.NullReasons, 7)
	assert.Equal(t, "the tunnel section was not run", s.NullReasons["rt_vs_best_tool"])
}

// TestConnRate: connections through a working target count, failures are
// counted apart and do not stop the run.
func TestConnRate(t *testing.T) {
	echo, err := startTCPServer(modeEcho)
	require.NoError(t, err)
	defer echo.Close()
	x, fails, err := connRate(echo.addr(), 4, 50*time.Millisecond)
	require.NoError(t, err)
	assert.Positive(t, x)
	assert.Zero(t, fails)

	ln, err := loopback()
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	x, fails, err = connRate(dead, 2, 20*time.Millisecond)
	assert.Zero(t, x)
	assert.Positive(t, fails)
	assert.ErrorContains(t, err, "refused")
}

// TestOwnBulkClient: the bulk client used without iperf3 measures at the
// receiver.
func TestOwnBulkClient(t *testing.T) {
	s, err := startSink()
	require.NoError(t, err)
	defer s.Close()
	n, gbps, err := s.run(s.addr(), 30*time.Millisecond)
	require.NoError(t, err)
	assert.Positive(t, n)
	assert.Positive(t, gbps)
}

// TestWaitListening: a program that ends before it listens is reported
// with its output; one that listens is waited for.
func TestWaitListening(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p, err := startProc("failing tool", sh, "-c", "echo cannot bind; exit 3")
	require.NoError(t, err)
	port, err := freePort()
	require.NoError(t, err)
	err = waitListening(port, p)
	assert.ErrorContains(t, err, "failing tool ended")
	assert.ErrorContains(t, err, "cannot bind")

	// The shell's child keeps the output pipe open after the shell ends:
	// stop does not wait for it.
	p, err = startProc("sleeper", sh, "-c", "sleep 5; true")
	require.NoError(t, err)
	defer p.stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	assert.NoError(t, waitListening(ln.Addr().(*net.TCPAddr).Port, p))
	start := time.Now()
	p.stop()
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.ErrorContains(t, p.exited(), "sleeper ended")
}

// buildKemtcp builds kem-server and kem-client from this repository, with
// this test's liboqs tag, into a temporary folder.
func buildKemtcp(t *testing.T) string {
	t.Helper()
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	root := kemtcpSource("")
	require.NotEmpty(t, root, "the tests run inside the kemtcp source")
	dir := t.TempDir()
	tags := ""
	if oqs.Compiled {
		tags = "liboqs"
	}
	cmd := exec.Command(goCmd, "build", "-tags", tags, "-o", dir+string(filepath.Separator), "./app/cmd/kem-server", "./app/cmd/kem-client")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return dir
}

// tunnelConfig is a short run of the tunnel section only.
func tunnelConfig(tools ...string) Config {
	c := DefaultConfig(true)
	c.Sections = []string{SectionTunnel}
	c.TunnelTools = tools
	c.Clients = 4
	c.TunnelRuns = 2
	c.TunnelBulk, c.TunnelConns, c.TunnelRT = time.Second, 50*time.Millisecond, 30*time.Millisecond
	return c
}

// TestTunnelToolsMissing: with a PATH that holds none of the outside
// tools, their rows say "not installed", the bulk figure comes from
// kem-bench's own client, and the ratios that need them are null with the
// reason; direct TCP and kemtcp's tunnel are measured.
func TestTunnelToolsMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs kem-server and kem-client")
	}
	bin := buildKemtcp(t)
	t.Setenv("PATH", t.TempDir())
	cfg := tunnelConfig(AllTunnelTools()...)
	cfg.TunnelBin = bin
	r, err := Run(cfg)
	require.NoError(t, err)
	tr := r.Tunnel
	require.NotNil(t, tr)
	assert.Contains(t, tr.Bulk, "own bulk client")
	assert.Contains(t, tr.Bulk, "iperf3 is not installed")
	rows := map[string]TunnelResult{}
	for _, row := range tr.Tools {
		rows[row.Tool] = row
	}
	require.Len(t, rows, 5)
	for _, tool := range []string{ToolDirect, ToolKemtcp} {
		row := rows[tool]
		require.Equal(t, StatusOK, row.Status, tool)
		for _, st := range []*Stat{row.BulkGbps, row.ConnsSerial, row.ConnsConcurrent, row.RoundTripsPerSec} {
			positive(t, st, tool)
		}
		assert.Len(t, row.BulkRuns, cfg.TunnelRuns)
	}
	assert.Contains(t, rows[ToolKemtcp].Detail, "from "+bin)
	if oqs.Compiled {
		assert.Contains(t, rows[ToolKemtcp].Detail, "liboqs "+kem.MLKEM768)
	} else {
		assert.Contains(t, rows[ToolKemtcp].Detail, "circl "+kem.MLKEM768+" (liboqs is not compiled into kem-client)")
	}
	positive(t, rows[ToolKemtcp].CPUSecondsPerGB, "kemtcp's CPU")
	for tool, missing := range map[string]string{ToolStunnel: "stunnel4 or stunnel", ToolSpiped: "spiped", ToolSSH: "ssh"} {
		assert.Equal(t, TunnelNotInstalled, rows[tool].Status, tool)
		assert.Contains(t, rows[tool].Detail, "no "+missing+" on PATH", tool)
	}

	s := r.Summary.Tunnel
	require.NotNil(t, s)
	assert.NotNil(t, s.BulkVsDirect)
	assert.NotNil(t, s.ConnsVsDirect)
	assert.Equal(t, "stunnel4 is not installed", s.NullReasons["bulk_vs_best_tool"])
	assert.Equal(t, "ssh -L is not installed", s.NullReasons["conns_vs_ssh"])
	assert.Equal(t, "stunnel4 is not installed", s.NullReasons["cpu_per_gb_vs_stunnel"])
	assert.Equal(t, "stunnel4 is not installed", targetsByName(r.Summary)["tunnel_rt_vs_best_tool"].Why)

	var out bytes.Buffer
	require.NoError(t, r.WriteTable(&out))
	assert.Contains(t, out.String(), "7. Tunnels")
	assert.Regexp(t, `stunnel4 +- +- +- +- +- +not installed`, out.String())
}

// TestKemtcpBinariesMissing: without -tunnel-bin, go on PATH or binaries
// next to the program, kemtcp's row says it is not installed and how to
// give it.
func TestKemtcpBinariesMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	env := &tunnelEnv{cfg: &Config{}, dir: t.TempDir()}
	_, _, _, err := kemtcpBinaries(env)
	assert.True(t, toolMissing(err), "%v", err)
	assert.ErrorContains(t, err, "-tunnel-bin")

	env.cfg.TunnelBin = t.TempDir()
	_, _, _, err = kemtcpBinaries(env)
	assert.ErrorContains(t, err, "no kem-server and kem-client there")
	assert.False(t, toolMissing(err), "a folder given that lacks them is an error")
}

// TestTunnelAllTools runs every tool that is installed, briefly: each gets
// positive figures, and every tunnel end's CPU time is seen.
func TestTunnelAllTools(t *testing.T) {
	if testing.Short() {
		t.Skip("runs stunnel4, spiped, sshd and iperf3")
	}
	var tools []string
	for _, tool := range []struct{ name, prog, pkg string }{{ToolStunnel, "stunnel4", "stunnel4"}, {ToolSpiped, "spiped", "spiped"}, {ToolSSH, "sshd", "openssh-server"}} {
		_, err := exec.LookPath(tool.prog)
		if tool.name == ToolSSH { // sshd is in /usr/sbin, often not on PATH; the client must be
			_, errClient := exec.LookPath("ssh")
			if fileExists("/usr/sbin/sshd") {
				err = nil
			}
			err = cmp.Or(err, errClient)
		}
		if err != nil {
			t.Logf("SKIPPED: %s is not installed (apt-get install %s): the tunnel section is not run with it", tool.prog, tool.pkg)
			continue
		}
		tools = append(tools, tool.name)
	}
	if len(tools) == 0 {
		t.Skip("SKIPPED: none of stunnel4, spiped and sshd is installed: no tool's tunnel is run")
	}
	if os.Geteuid() != 0 && !fileExists(sshPrivsep) {
		tools = slicesDelete(tools, ToolSSH)
	}
	cfg := tunnelConfig(append([]string{ToolDirect}, tools...)...)
	cfg.TunnelRuns = 1
	r, err := Run(cfg)
	require.NoError(t, err)
	for _, row := range r.Tunnel.Tools {
		require.Equal(t, StatusOK, row.Status, "%s: %s", row.Tool, row.Detail)
		for _, st := range []*Stat{row.BulkGbps, row.ConnsSerial, row.ConnsConcurrent, row.RoundTripsPerSec} {
			positive(t, st, row.Tool)
		}
		if row.Tool != ToolDirect {
			positive(t, row.CPUSecondsPerGB, row.Tool)
		}
	}
	if _, err := exec.LookPath("iperf3"); err == nil {
		assert.True(t, strings.HasPrefix(r.Tunnel.Bulk, "iperf"), r.Tunnel.Bulk)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func slicesDelete(list []string, x string) []string {
	var out []string
	for _, s := range list {
		if s != x {
			out = append(out, s)
		}
	}
	return out
}

func TestOneLine(t *testing.T) {
	assert.Equal(t, "go build: exit status 1:; # pkg; a.go:1: bad", oneLine("go build: exit status 1:\n# pkg\n\n  a.go:1: bad\n"))
	assert.Equal(t, "ok", oneLine("ok"))
}

// TestBinaryBackends reads the backends from kem-client -h.
func TestBinaryBackends(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "kem-client")
	require.NoError(t, os.WriteFile(fake, []byte("#!"+sh+"\ncat <<'X'\n  -backend backend\n    \tKEM backend: circl, go (compiled into this binary; default circl)\nX\nexit 0\n"), 0o755))
	assert.Equal(t, []string{kem.BackendCircl, kem.BackendGo}, binaryBackends(fake))
	require.NoError(t, os.WriteFile(fake, []byte("#!"+sh+"\necho usage\n"), 0o755))
	assert.Empty(t, binaryBackends(fake))
}
