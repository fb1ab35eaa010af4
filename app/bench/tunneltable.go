package bench

import (
	"fmt"
	"strings"
)

// writeTunnel prints the tunnel section.
func writeTunnel(b *strings.Builder, tr *TunnelReport, s *TunnelSummary) {
	fmt.Fprintf(b, "\n7. Tunnels: kemtcp's tunnel (kem-server -forward, kem-client -listen; a full handshake per connection) next to direct TCP\n")
	fmt.Fprintf(b, "   and the tunnels users would pick instead, on loopback, one tool at a time, run by run in turn (%d runs: bulk %.0fs,\n", tr.Runs, tr.BulkSeconds)
	fmt.Fprintf(b, "   connections %.1fs, round trips %.1fs); the tunnel ends, the targets and the load share this machine's cores.\n", tr.ConnsSeconds, tr.RTSeconds)
	fmt.Fprintf(b, "   bulk: %s. conns/s: open, write %d B, read them back, close, one at a time and %d at once,\n", tr.Bulk, tr.MessageBytes, tr.Workers)
	fmt.Fprintf(b, "   to %s. round trips: %d B on one connection. CPU s/GB: utime+stime of both tunnel ends\n", tr.EchoServer, tr.MessageBytes)
	fmt.Fprintf(b, "   (with their threads and children, /proc/PID/stat) during the bulk runs, per 10^9 bytes received.\n")
	t := table(b)
	fmt.Fprintf(t, "   tool\tbulk Gbit/s\tconns/s, 1\tconns/s, %d\t%d B round trips/s\tCPU s/GB\tstatus\t\n", tr.Workers, tr.MessageBytes)
	for _, r := range tr.Tools {
		status := r.Status
		if r.ConnFailures > 0 {
			status += fmt.Sprintf(" (%d connections failed: %s)", r.ConnFailures, r.ConnError)
		}
		fmt.Fprintf(t, "   %s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", toolTitle(r.Tool), r.BulkGbps.format(2), r.ConnsSerial.format(0), r.ConnsConcurrent.format(0),
			r.RoundTripsPerSec.format(0), r.CPUSecondsPerGB.format(2), status)
	}
	t.Flush()
	for _, r := range tr.Tools {
		if r.Detail != "" {
			fmt.Fprintf(b, "   %s: %s\n", toolTitle(r.Tool), r.Detail)
		}
	}
	if s == nil {
		return
	}
	fmt.Fprintf(b, "   kemtcp's tunnel over the others (medians of run-by-run ratios; the connection ratios are the lesser of 1 and %d at once):\n", tr.Workers)
	t = table(b)
	for _, x := range []struct {
		name  string
		field string
		v     *float64
	}{
		{"bulk vs the better of stunnel4 and ssh -L", "bulk_vs_best_tool", s.BulkVsBestTool},
		{"bulk vs direct TCP", "bulk_vs_direct", s.BulkVsDirect},
		{"conns/s vs stunnel4", "conns_vs_stunnel", s.ConnsVsStunnel},
		{"conns/s vs ssh -L", "conns_vs_ssh", s.ConnsVsSSH},
		{"conns/s vs direct TCP", "conns_vs_direct", s.ConnsVsDirect},
		{"round trips vs the best of stunnel4, spiped, ssh -L", "rt_vs_best_tool", s.RTVsBestTool},
		{"CPU per GB vs stunnel4 (lower is better)", "cpu_per_gb_vs_stunnel", s.CPUPerGBVsStunnel},
	} {
		val := ratioString(x.v)
		if x.v == nil {
			val = "null: " + s.NullReasons[x.field]
		}
		fmt.Fprintf(t, "   %s\t%s\t%s\t\n", x.field, x.name, val)
	}
	t.Flush()
}
