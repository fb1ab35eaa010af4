package bench

import (
	"os"
	"testing"
	"time"
)

func TestExpTunnelCPU(t *testing.T) {
	bin := os.Getenv("EXP_BIN")
	if bin == "" {
		t.Skip()
	}
	cfg := DefaultConfig(false)
	cfg.TunnelBin = bin
	env := &tunnelEnv{cfg: &cfg, dir: t.TempDir()}
	defer env.stopAll()
	echo, _ := startTCPServer(modeEcho)
	defer echo.Close()
	if g := os.Getenv("EXP_GMP"); g != "" {
		os.Setenv("GOMAXPROCS", g)
	}
	tools := []string{ToolKemtcp, ToolStunnel, ToolSSH, ToolSpiped}
	if os.Getenv("EXP_ONLY") != "" {
		tools = tools[:1]
	}
	for _, name := range tools {
		tool := newTunnelTool(name)
		if _, err := tool.setup(env); err != nil {
			t.Fatal(err)
		}
		tun, err := tool.start(env, echo.addr())
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []int{1, 16} {
			c0, _ := cpuOf(tun.cpuRoots)
			start := time.Now()
			x, fails, _ := connRate(tun.entry, w, 3*time.Second)
			el := time.Since(start)
			c1, _ := cpuOf(tun.cpuRoots)
			n := x * el.Seconds()
			t.Logf("%s workers %d: %.0f conns/s, %d fails, tunnel CPU %.0f µs/conn (%.2f cores)", name, w, x, fails, (c1-c0).Seconds()*1e6/n, (c1-c0).Seconds()/el.Seconds())
		}
		c0, _ := cpuOf(tun.cpuRoots)
		start := time.Now()
		x, err := roundTripRate(tun.entry, 3*time.Second)
		el := time.Since(start)
		c1, _ := cpuOf(tun.cpuRoots)
		t.Logf("%s RT: %.0f/s (%v), tunnel CPU %.1f µs/RT (%.2f cores)", name, x, err, (c1-c0).Seconds()*1e6/(x*el.Seconds()), (c1-c0).Seconds()/el.Seconds())
	}
}
