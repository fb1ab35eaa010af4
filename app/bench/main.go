package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

const usage = `kem-bench: measure kemtcp next to crypto/tls, in one run on one machine.

Usage:
  kem-bench [flags]

It prints the machine, then tables of: KEM operations per backend (liboqs also
timed inside C), session handshakes/s vs TLS 1.3 X25519MLKEM768 and a
plain-TCP baseline, bulk throughput, 64-byte round trips, the legacy protocol
next to session, scale (server memory per idle connection, throughput by
message size), and the tunnel section (kem-server -forward and kem-client
-listen next to direct TCP, stunnel4, spiped and ssh -L), then the targets.
Every figure is the median of -runs runs ± half their range. The full run
takes about twelve minutes; -quick under one, and judges no target.`

// Exit codes of Main.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Main runs kem-bench with args (without the program name) and returns the
// process's exit code. With the hidden first argument -child-server it is
// the scale section's server (ServeChild), which reads stdin.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-"+ChildServerFlag || args[0] == "--"+ChildServerFlag) {
		if err := ServeChild(args[1:], stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "kem-bench -%s: %v\n", ChildServerFlag, err)
			return ExitFailure
		}
		return ExitOK
	}
	fs := flag.NewFlagSet("kem-bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a short run of every section (under a minute), for smoke tests")
	jsonFile := fs.String("json", "", "also write every figure and the summary as JSON to `FILE`")
	benchFile := fs.String("benchfmt", "", "also write every run of every figure to `FILE` in the Go benchmark format, for benchstat")
	chartFile := fs.String("chart", "", "also draw the main figures into `FILE` (.svg or .png)")
	runs := fs.Int("runs", 0, "runs per figure (default 5; 2 with -quick; the tunnel section: 3, 1 with -quick)")
	duration := fs.Duration("duration", 0, "length of one run of a rate (default 1s; 80ms with -quick)")
	sections := fs.String("sections", strings.Join(AllSections(), ","), "comma-separated `list` of sections to run")
	backends := fs.String("backends", "", "comma-separated KEM backends (default: all, those not compiled in say so)")
	algs := fs.String("algs", "", "comma-separated ML-KEM parameter sets (default: 512,768,1024)")
	clients := fs.Int("clients", 0, "clients at once in the concurrent handshake figure (default 16)")
	bulk := fs.Int64("bulk-bytes", 0, "bytes the bulk section sends (default 1 GiB; 64 MiB with -quick)")
	tunnelTools := fs.String("tunnel-tools", strings.Join(AllTunnelTools(), ","), "comma-separated `list` of the tunnel section's tools")
	tunnelBin := fs.String("tunnel-bin", "", "run the kem-server and kem-client in `DIR` in the tunnel section (default: build them from the kemtcp source around the working folder or kem-bench, else those next to kem-bench)")
	quiet := fs.Bool("q", false, "do not print progress lines on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (client and in-process servers) to `FILE`, for go tool pprof")
	replay := fs.String("replay", "", "measure nothing: print the table (and -json, -chart) of the report saved in `FILE` by -json")
	// As kem-server and kem-client: -h prints the usage on stdout, a bad
	// flag is one line on stderr and exit code 2.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "%s\n\nFlags:\n", usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return ExitOK
		}
		return usageError(stderr, err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	cfg := DefaultConfig(*quick)
	if *runs != 0 {
		cfg.Runs = *runs
	}
	if *duration != 0 {
		cfg.Duration = *duration
	}
	if *clients != 0 {
		cfg.Clients = *clients
	}
	if *bulk != 0 {
		cfg.BulkBytes = *bulk
	}
	cfg.Sections = splitList(*sections)
	if *backends != "" {
		cfg.Backends = splitList(strings.ToLower(*backends))
	}
	if *algs != "" {
		cfg.Algorithms = splitList(*algs)
	}
	cfg.TunnelTools = splitList(strings.ToLower(*tunnelTools))
	cfg.TunnelBin = *tunnelBin
	if !*quiet {
		cfg.Progress = stderr
	}
	if *chartFile != "" && !slices.Contains(ChartFormats, strings.ToLower(filepath.Ext(*chartFile))) {
		return usageError(stderr, fmt.Sprintf("-chart %q: want a file name ending in %s", *chartFile, strings.Join(ChartFormats, " or ")))
	}
	if err := cfg.check(); err != nil {
		return usageError(stderr, err.Error())
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return usageError(stderr, err.Error())
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return usageError(stderr, err.Error())
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	start := time.Now()
	var r *Report
	var err error
	if *replay != "" {
		r, err = ReadJSON(*replay)
	} else {
		r, err = Run(cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "kem-bench: %v\n", err)
		return ExitFailure
	}
	if err := r.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "kem-bench: %v\n", err)
		return ExitFailure
	}
	status := ExitOK
	if *jsonFile != "" {
		if err := r.WriteJSON(*jsonFile); err != nil {
			fmt.Fprintf(stderr, "kem-bench: %v\n", err)
			status = ExitFailure
		} else if !*quiet {
			fmt.Fprintf(stderr, "kem-bench: wrote %s\n", *jsonFile)
		}
	}
	if *benchFile != "" {
		if err := writeFile(*benchFile, r.WriteBenchfmt); err != nil {
			fmt.Fprintf(stderr, "kem-bench: %v\n", err)
			status = ExitFailure
		} else if !*quiet {
			fmt.Fprintf(stderr, "kem-bench: wrote %s\n", *benchFile)
		}
	}
	if *chartFile != "" {
		if err := r.WriteChart(*chartFile); err != nil {
			fmt.Fprintf(stderr, "kem-bench: %v\n", err)
			status = ExitFailure
		} else if !*quiet {
			fmt.Fprintf(stderr, "kem-bench: wrote %s\n", *chartFile)
		}
	}
	if !*quiet {
		fmt.Fprintf(stderr, "kem-bench: done in %s\n", time.Since(start).Round(time.Second))
	}
	return status
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "kem-bench: %s (see kem-bench -h)\n", msg)
	return ExitUsage
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
