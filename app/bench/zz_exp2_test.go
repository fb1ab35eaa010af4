package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestExpPerf(t *testing.T) {
	bin := os.Getenv("EXP_BIN")
	if bin == "" {
		t.Skip()
	}
	mode := os.Getenv("EXP_MODE")
	cfg := DefaultConfig(false)
	cfg.TunnelBin = bin
	env := &tunnelEnv{cfg: &cfg, dir: t.TempDir()}
	defer env.stopAll()
	echo, _ := startTCPServer(modeEcho)
	defer echo.Close()
	target := echo.addr()
	var bt *bulkTarget
	if mode == "bulk" {
		var err error
		bt, err = cfg.startBulkTarget(env)
		if err != nil {
			t.Fatal(err)
		}
		target = bt.addr
	}
	tool := newTunnelTool(ToolKemtcp)
	if _, err := tool.setup(env); err != nil {
		t.Fatal(err)
	}
	tun, err := tool.start(env, target)
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, p := range tun.cpuRoots {
		pids = append(pids, fmt.Sprint(p))
	}
	perf := exec.Command("perf", "record", "-F", "2000", "-g", "-o", "/tmp/perf-"+mode+".data", "-p", strings.Join(pids, ","), "--", "sleep", "4")
	perf.Stderr = os.Stderr
	if err := perf.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	switch mode {
	case "conns":
		x, _, _ := connRate(tun.entry, 1, 3*time.Second)
		t.Logf("conns/s %.0f", x)
	case "bulk":
		g, c, err := bt.measure(tun, 3*time.Second)
		t.Logf("bulk %.2f Gbit/s, %.2f CPU s/GB, %v", g, c, err)
	case "rt":
		x, _ := roundTripRate(tun.entry, 3*time.Second)
		t.Logf("rt/s %.0f", x)
	}
	perf.Wait()
}
