package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteBenchfmt writes every figure's runs in the Go benchmark format
// (golang.org/x/perf/benchfmt), one line per run, so that benchstat
// compares two runs of kem-bench:
//
//	kem-bench -benchfmt old.txt; (change something); kem-bench -benchfmt new.txt
//	benchstat old.txt new.txt
//
// The machine and the load go in as configuration lines. A report read
// back from JSON written before figures kept their runs has none to write.
func (r *Report) WriteBenchfmt(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	for _, kv := range [][2]string{{"goos", m.OS}, {"goarch", m.Arch}, {"pkg", "kem-bench"}, {"cpu", m.CPU},
		{"cores", strconv.Itoa(m.Cores)}, {"go", m.Go}, {"liboqs", m.Liboqs}, {"load-start", m.LoadAvg}, {"load-end", r.Settings.LoadAvgEnd}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s: %s\n", kv[0], kv[1])
		}
	}
	line := func(name, unit string, s *Stat) {
		if s == nil {
			return
		}
		for _, v := range s.Values {
			fmt.Fprintf(&b, "Benchmark%s 1 %g %s\n", benchName(name), v, unit)
		}
	}
	for _, k := range r.KEM {
		line(fmt.Sprintf("KEM/backend=%s/kem=%s/op=%s", k.Backend, k.Algorithm, k.Op), "ns/op", k.NsPerOp)
	}
	for _, h := range r.Handshakes {
		line(fmt.Sprintf("Handshake/proto=%s/backend=%s/kem=%s/clients=%d", h.Protocol, h.Backend, h.Algorithm, h.Clients), "handshakes/s", h.PerSec)
	}
	for _, x := range r.Bulk {
		line(fmt.Sprintf("Bulk/proto=%s/size=%d", x.Protocol, x.MessageSize), "MB/s", x.MBPerSec)
	}
	for _, e := range r.Echo {
		line(fmt.Sprintf("Echo/proto=%s/size=%d", e.Protocol, e.MessageSize), "round-trips/s", e.RoundTripsPerSec)
		line(fmt.Sprintf("Echo/proto=%s/size=%d", e.Protocol, e.MessageSize), "allocs/round-trip", e.AllocsPerRoundTrip)
	}
	for _, l := range r.Legacy {
		line(fmt.Sprintf("Legacy/proto=%s/backend=%s/kem=%s", l.Protocol, l.Backend, l.Algorithm), "messages/s", l.MessagesPerSec)
	}
	for _, i := range r.Idle {
		line(fmt.Sprintf("Idle/conns=%d", i.Conns), "rss-bytes", i.RSSBytes)
		line(fmt.Sprintf("Idle/conns=%d", i.Conns), "rss-bytes/conn", i.PerConnBytes)
	}
	for _, x := range r.Sweep {
		line(fmt.Sprintf("Throughput/proto=%s/size=%d", x.Protocol, x.MessageSize), "MB/s", x.MBPerSec)
	}
	if r.Tunnel != nil {
		for _, t := range r.Tunnel.Tools {
			name := "Tunnel/tool=" + t.Tool
			line(name+"/figure=bulk", "Gbit/s", t.BulkGbps)
			line(name+"/figure=conns/workers=1", "conns/s", t.ConnsSerial)
			line(fmt.Sprintf("%s/figure=conns/workers=%d", name, r.Tunnel.Workers), "conns/s", t.ConnsConcurrent)
			line(name+"/figure=round-trips", "round-trips/s", t.RoundTripsPerSec)
			line(name+"/figure=cpu", "cpu-s/GB", t.CPUSecondsPerGB)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// benchName makes a name fit a benchmark line: no white space.
func benchName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' {
			return '_'
		}
		return r
	}, s)
}
