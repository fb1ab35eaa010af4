package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the report as text tables, the machine first.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "kem-bench: kemtcp measured next to crypto/tls, in one run on one machine\n")
	fmt.Fprintf(&b, "Machine:  %s, %d cores (GOMAXPROCS %d), %s/%s\n", m.CPU, m.Cores, m.GOMAXPROCS, m.OS, m.Arch)
	fmt.Fprintf(&b, "Software: %s, liboqs %s; KEM backends compiled in: %s\n", m.Go, m.Liboqs, strings.Join(m.Backends, ", "))
	fmt.Fprintf(&b, "Load:     %s at the start, %s at the end (1, 5, 15 min; other work on the machine skews the figures)\n", orDash(m.LoadAvg), orDash(r.Settings.LoadAvgEnd))
	mode := "full run"
	if r.Settings.Quick {
		mode = "quick run (-quick): short, noisy figures for smoke tests"
	}
	fmt.Fprintf(&b, "Run:      %s, started %s, took %s; every figure is the median of %d runs ± half their range\n",
		mode, r.Started.Format(time.RFC3339), (time.Duration(r.ElapsedSeconds) * time.Second).String(), r.Settings.Runs)
	if r.Settings.Quick {
		fmt.Fprintf(&b, "          A quick run cannot judge targets: it shows the ratios, not whether they are met.\n")
	}
	fmt.Fprintf(&b, "Compare:  with benchstat (go install golang.org/x/perf/cmd/benchstat@latest): kem-bench -benchfmt old.txt, later\n")
	fmt.Fprintf(&b, "          kem-bench -benchfmt new.txt, then benchstat old.txt new.txt; the Go benchmarks of the same paths likewise:\n")
	fmt.Fprintf(&b, "          go test -C app/bench -run '^$' -bench . -benchmem -count 10 -tags liboqs > new.txt\n")

	if len(r.KEM) > 0 {
		fmt.Fprintf(&b, "\n1. KEM operations, through package kem (keygen: GenerateKey+Destroy; encaps: parse and check the received key, then Encapsulate)\n")
		fmt.Fprintf(&b, "   liboqs also inside C (timeInC: the same operations in a C loop); Go/C is the cost of cgo and of the Go side,\n")
		fmt.Fprintf(&b, "   the median over alternating Go and C batches of their %s\n", kemBasis(r.KEM))
		t := table(&b)
		fmt.Fprintln(t, "   backend\tKEM\top\tns/op\tops/s\tC ns/op\tGo/C\t")
		for i, k := range r.KEM {
			if k.Status != StatusOK {
				if !sameStatus(r.KEM, i) {
					fmt.Fprintf(t, "   %s\t%s\t%s\t%s\t\t\t\t\n", k.Backend, statusScope(r.KEM, i), "-", k.Status)
				}
				continue
			}
			fmt.Fprintf(t, "   %s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k.Backend, k.Algorithm, k.Op, k.NsPerOp.format(0), k.OpsPerSec.format(0), k.CNsPerOp.format(0), k.GoOverC.format(3))
		}
		t.Flush()
	}

	if len(r.Handshakes) > 0 {
		fmt.Fprintf(&b, "\n2. Full handshakes per second over loopback TCP (session.Dial to the server's FINISHED and the client's, then Close;\n")
		fmt.Fprintf(&b, "   server and clients in this process); tcp is the plain-TCP baseline: the same connection and the same writes\n")
		fmt.Fprintf(&b, "   (S server, C client, in bytes) with no cryptography\n")
		t := table(&b)
		fmt.Fprintln(t, "   protocol\tbackend\tKEM / group\tclients\thandshakes/s\tvs TLS\tvs TCP\tbytes\tdetail\t")
		for i, h := range r.Handshakes {
			if h.Status != StatusOK {
				if i == 0 || r.Handshakes[i-1].Backend != h.Backend || r.Handshakes[i-1].Algorithm != h.Algorithm || r.Handshakes[i-1].Status != h.Status {
					fmt.Fprintf(t, "   %s\t%s\t%s\t%s\t%s\t\t\t\t\t\n", h.Protocol, h.Backend, h.Algorithm, "-", h.Status)
				}
				continue
			}
			bytes := "-"
			if h.WireBytes > 0 {
				bytes = group(float64(h.WireBytes), 0)
			}
			fmt.Fprintf(t, "   %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", h.Protocol, h.Backend, h.Algorithm, h.Clients, h.PerSec.format(0),
				ratioString(h.VsTLS), ratioString(h.VsTCP), bytes, h.Detail)
		}
		t.Flush()
		if c := r.Summary.XWingCost; c != nil {
			fmt.Fprintf(&b, "   X-Wing (ML-KEM-768 + X25519) over ML-KEM-768 alone, %s: keygen %s, encaps %s, decaps %s;\n", c.Backend,
				micros(c.KeygenMicros), micros(c.EncapsMicros), micros(c.DecapsMicros))
			sizes := ""
			if c.EncapsulationKeyBytes != 0 {
				sizes = fmt.Sprintf(" (each key %+d bytes, each ciphertext %+d bytes)", c.EncapsulationKeyBytes, c.CiphertextBytes)
			}
			fmt.Fprintf(&b, "   a handshake %s (one client, from the rates above) and %+d bytes on the wire%s\n",
				micros(c.HandshakeMicros), c.HandshakeBytes, sizes)
		}
	}

	if len(r.Bulk) > 0 {
		fmt.Fprintf(&b, "\n3. Bulk throughput: one connection, %s in %s Writes, timed until the server has read it all (MB/s = 10^6 bytes\n", sizeName(r.Settings.BulkBytes), sizeName(int64(r.Settings.BulkMessage)))
		fmt.Fprintf(&b, "   of data per second); the session's default limits (no key update falls in it); allocs/Write as in table 4\n")
		writeThroughput(&b, r.Bulk, false)
	}

	if len(r.Echo) > 0 {
		fmt.Fprintf(&b, "\n4. Small-message round trips: %d-byte messages echoed, one at a time (Write, io.ReadFull; the server Reads and Writes back);\n", r.Settings.EchoMessage)
		fmt.Fprintf(&b, "   allocs/round trip: heap objects this process (client and server) allocated per round trip, two Writes and two Reads\n")
		t := table(&b)
		fmt.Fprintln(t, "   protocol\tround trips/s\tvs TLS\tallocs/round trip\tdetail\t")
		for _, e := range r.Echo {
			fmt.Fprintf(t, "   %s\t%s\t%s\t%s\t%s\t\n", e.Protocol, e.RoundTripsPerSec.format(0), ratioString(e.VsTLS), allocString(e.AllocsPerRoundTrip), e.Detail)
		}
		t.Flush()
	}

	if len(r.Legacy) > 0 {
		fmt.Fprintf(&b, "\n5. Legacy protocol (the demo's: one ML-KEM encapsulation per message) next to session (one handshake per connection)\n")
		fmt.Fprintf(&b, "   one connection, %d-byte messages one way, timed until the server has read them all\n", legacyMessageSize)
		t := table(&b)
		fmt.Fprintln(t, "   protocol\tbackend\tKEM\tmessages/s\twire bytes/message\tkey exchange bytes\t")
		for _, s := range r.Legacy {
			fmt.Fprintf(t, "   %s\t%s\t%s\t%s\t%s\t%s\t\n", s.Protocol, s.Backend, s.Algorithm, s.MessagesPerSec.format(0), group(s.WireBytesPerMessage, 0), group(float64(s.SetupBytes), 0))
		}
		t.Flush()
	}

	if len(r.Idle) > 0 || len(r.Sweep) > 0 {
		fmt.Fprintf(&b, "\n6. Scale\n")
	}
	if len(r.Idle) > 0 {
		fmt.Fprintf(&b, "   Server memory with idle session connections (session.Listen server in a child process, its goroutine per connection\n")
		fmt.Fprintf(&b, "   waiting in io.Copy(io.Discard, conn); RSS after a GC that returns free memory)\n")
		t := table(&b)
		fmt.Fprintln(t, "   connections\tserver RSS\tRSS before GC\tGo runtime\tgoroutines\tRSS per connection\t")
		for _, i := range r.Idle {
			per := "-"
			if i.PerConnBytes != nil {
				per = bytesStat(i.PerConnBytes)
			}
			fmt.Fprintf(t, "   %d\t%s\t%s\t%s\t%s\t%s\t\n", i.Conns, bytesStat(i.RSSBytes), bytesStat(i.RSSRawBytes), bytesStat(i.GoBytes), i.Goroutines.format(0), per)
		}
		t.Flush()
	}
	if len(r.Handshakes) > 0 {
		fmt.Fprintf(&b, "   Session handshakes/s as the KEM grows (one client; from table 2)\n")
		var algs []string
		for _, h := range r.Handshakes {
			if h.Protocol == ProtoSession && !slices.Contains(algs, h.Algorithm) {
				algs = append(algs, h.Algorithm)
			}
		}
		t := table(&b)
		fmt.Fprintf(t, "   backend\t%s\t\n", strings.Join(algs, "\t"))
		for _, backend := range r.Machine.Backends {
			cells := []string{backend}
			for _, alg := range algs {
				cell := "-"
				for _, h := range r.Handshakes {
					if h.Protocol == ProtoSession && h.Backend == backend && h.Algorithm == alg && h.Clients == 1 && h.PerSec != nil {
						cell = h.PerSec.format(0)
					}
				}
				cells = append(cells, cell)
			}
			fmt.Fprintf(t, "   %s\t\n", strings.Join(cells, "\t"))
		}
		t.Flush()
	}
	if len(r.Sweep) > 0 {
		fmt.Fprintf(&b, "   Throughput as the message grows (one connection, %.1fs per run)\n", r.Settings.DurationSeconds)
		writeThroughput(&b, r.Sweep, true)
	}

	if r.Tunnel != nil {
		writeTunnel(&b, r.Tunnel, r.Summary.Tunnel)
	}

	if len(r.Summary.Targets) > 0 {
		fmt.Fprintf(&b, "\nTargets (ratios measured in this run)\n")
		if r.Settings.Quick {
			fmt.Fprintf(&b, "   This is a quick run, too short and noisy to judge targets: it shows each ratio next to its goal only.\n")
		}
		t := table(&b)
		fmt.Fprintln(t, "   figure\tvalue\tgoal\tresult\t")
		for _, tg := range r.Summary.Targets {
			val, res := "null", "not measured"
			if tg.Value != nil {
				switch tg.Name {
				case "idle_conn_bytes":
					val = sizeName(int64(*tg.Value))
				case "echo_allocs_per_round_trip":
					val = fmt.Sprintf("%.3f", *tg.Value)
				default:
					val = fmt.Sprintf("%.3fx", *tg.Value)
				}
			}
			switch {
			case tg.Met != nil:
				res = map[bool]string{true: "met", false: "MISSED"}[*tg.Met]
			case tg.Value != nil && tg.Why != "":
				res = "not judged (quick run)"
			case tg.Why != "":
				res = "null: " + tg.Why
			}
			fmt.Fprintf(t, "   %s\t%s\t%s\t%s\t\n", tg.Name, val, tg.Goal, res)
		}
		t.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// kemBasis says what the Go/C ratios compare.
func kemBasis(rows []KEMResult) string {
	for _, k := range rows {
		if k.GoOverCBasis != "" {
			return k.GoOverCBasis + "s"
		}
	}
	return "times"
}

// sameStatus reports whether the KEM row before i has i's backend and
// status, so that row i adds nothing to the table.
func sameStatus(rows []KEMResult, i int) bool {
	return i > 0 && rows[i-1].Backend == rows[i].Backend && rows[i-1].Status == rows[i].Status &&
		(rows[i-1].Status == StatusNotCompiled || rows[i-1].Algorithm == rows[i].Algorithm)
}

// statusScope names what a row that stands for several says: a backend
// that is not compiled in lacks every algorithm.
func statusScope(rows []KEMResult, i int) string {
	if rows[i].Status == StatusNotCompiled {
		return "all"
	}
	return rows[i].Algorithm
}

func writeThroughput(b *strings.Builder, rows []ThroughputResult, withSize bool) {
	t := table(b)
	if withSize {
		fmt.Fprintln(t, "   message\tprotocol\tMB/s\tvs TLS\tallocs/Write\tdetail\t")
	} else {
		fmt.Fprintln(t, "   protocol\tMB/s\tvs TLS\tallocs/Write\tdetail\t")
	}
	for _, x := range rows {
		size := ""
		if withSize {
			size = sizeName(int64(x.MessageSize)) + "\t"
		}
		fmt.Fprintf(t, "   %s%s\t%s\t%s\t%s\t%s\t\n", size, x.Protocol, x.MBPerSec.format(1), ratioString(x.VsTLS), allocString(x.AllocsPerWrite), x.Detail)
	}
	t.Flush()
}

// allocString prints allocations per operation, or "-".
func allocString(s *Stat) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", s.Median)
}

// micros prints a time difference in µs with its sign, or "-".
func micros(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%+.1f µs", *v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sizeName prints a byte count as B, KiB, MiB or GiB.
func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 10<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// bytesStat prints a Stat of bytes in KiB or MiB with its spread.
func bytesStat(s *Stat) string {
	if s == nil {
		return "-"
	}
	if s.Median >= 10<<20 {
		return fmt.Sprintf("%.1f MiB ±%.1f%%", s.Median/(1<<20), s.SpreadPct)
	}
	return fmt.Sprintf("%.1f KiB ±%.1f%%", s.Median/(1<<10), s.SpreadPct)
}
