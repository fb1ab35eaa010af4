package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
)

// Section names, in the order Run measures them.
const (
	SectionKEM       = "kem"
	SectionHandshake = "handshake"
	SectionBulk      = "bulk"
	SectionEcho      = "echo"
	SectionLegacy    = "legacy"
	SectionScale     = "scale"
	SectionTunnel    = "tunnel"
)

// AllSections returns every section, in the order Run measures them.
func AllSections() []string {
	return []string{SectionKEM, SectionHandshake, SectionBulk, SectionEcho, SectionLegacy, SectionScale, SectionTunnel}
}

// Config says what Run measures and for how long.
type Config struct {
	Quick bool // recorded in the report; DefaultConfig(true) sets the short figures
	// Runs is how many times each figure is measured; the report gives the
	// median and the spread.
	Runs int
	// Duration is how long one run of a rate (handshakes/s, round trips/s,
	// messages/s, the message-size sweep) lasts, and about how long one run
	// of a KEM operation lasts.
	Duration time.Duration
	// Backends and Algorithms to measure in the kem and handshake sections;
	// a backend that is not compiled in gets rows that say so.
	Backends   []string
	Algorithms []string
	Sections   []string
	// Clients is the number of clients at once in the concurrent handshake
	// figure.
	Clients int
	// BulkBytes is what the bulk section sends over one connection, in
	// BulkMessage-byte messages.
	BulkBytes   int64
	BulkMessage int
	// EchoMessage is the size of a round trip's message.
	EchoMessage int
	// IdleConns are the numbers of idle session connections at which the
	// scale section reads the server's memory.
	IdleConns []int
	// Sizes are the message sizes of the throughput sweep.
	Sizes []int
	// TunnelTools are the tunnel section's tools (AllTunnelTools), and
	// TunnelRuns its runs per figure; a run of bulk lasts TunnelBulk (whole
	// seconds, at least one, with iperf3), of connections/s TunnelConns
	// (one at a time, then Clients at once), of round trips TunnelRT.
	TunnelTools []string
	TunnelRuns  int
	TunnelBulk  time.Duration
	TunnelConns time.Duration
	TunnelRT    time.Duration
	// TunnelBin, if set, is the folder of the kem-server and kem-client
	// that the tunnel section runs (see kemtcpBinaries for the default).
	TunnelBin string
	// ChildServer returns the command that runs the scale section's server
	// in another process with the given arguments (see ServeChild). nil
	// re-executes this program with the hidden flag -child-server.
	ChildServer func(args ...string) *exec.Cmd
	// Progress receives a line as each measurement starts (nil: none).
	Progress io.Writer
}

// DefaultConfig returns the full run, or with quick the short one (under a
// minute, for smoke tests).
func DefaultConfig(quick bool) Config {
	c := Config{
		Runs:        5,
		Duration:    time.Second,
		Backends:    kem.AllBackends(),
		Algorithms:  kem.Algorithms(),
		Sections:    AllSections(),
		Clients:     16,
		BulkBytes:   1 << 30,
		BulkMessage: 64 << 10,
		EchoMessage: 64,
		IdleConns:   []int{1, 100, 1000},
		Sizes:       []int{64, 1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20},
		TunnelTools: AllTunnelTools(),
		TunnelRuns:  3,
		TunnelBulk:  5 * time.Second,
		TunnelConns: 4 * time.Second,
		TunnelRT:    2 * time.Second,
	}
	if quick {
		c.Quick = true
		c.Runs = 2
		c.Duration = 80 * time.Millisecond
		c.BulkBytes = 64 << 20
		c.TunnelRuns = 1
		c.TunnelBulk = time.Second
		c.TunnelConns = 400 * time.Millisecond
		c.TunnelRT = 300 * time.Millisecond
	}
	return c
}

// check validates c.
func (c *Config) check() error {
	if c.Runs < 1 {
		return fmt.Errorf("runs must be at least 1, got %d", c.Runs)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("duration must be positive, got %v", c.Duration)
	}
	for _, s := range c.Sections {
		if !slices.Contains(AllSections(), s) {
			return fmt.Errorf("unknown section %q (want some of %s)", s, strings.Join(AllSections(), ","))
		}
	}
	for _, b := range c.Backends {
		if !slices.Contains(kem.AllBackends(), b) {
			return fmt.Errorf("unknown backend %q (want some of %s)", b, strings.Join(kem.AllBackends(), ","))
		}
	}
	for i, a := range c.Algorithms {
		name, err := kem.CanonicalName(a)
		if err != nil {
			return err
		}
		c.Algorithms[i] = name
	}
	switch {
	case c.Clients < 1:
		return fmt.Errorf("clients must be at least 1, got %d", c.Clients)
	case c.BulkMessage < 1 || c.BulkMessage > maxMessage:
		return fmt.Errorf("bulk message size %d is outside [1, %d]", c.BulkMessage, maxMessage)
	case c.BulkBytes < int64(c.BulkMessage):
		return fmt.Errorf("bulk bytes %d is less than one %d-byte message", c.BulkBytes, c.BulkMessage)
	case c.EchoMessage < 1 || c.EchoMessage > maxMessage:
		return fmt.Errorf("echo message size %d is outside [1, %d]", c.EchoMessage, maxMessage)
	}
	for _, n := range c.IdleConns {
		if n < 1 || n > maxIdleConns {
			return fmt.Errorf("idle connections %d is outside [1, %d]", n, maxIdleConns)
		}
	}
	for _, n := range c.Sizes {
		if n < 1 || n > maxMessage {
			return fmt.Errorf("message size %d is outside [1, %d]", n, maxMessage)
		}
	}
	for _, t := range c.TunnelTools {
		if !slices.Contains(AllTunnelTools(), t) {
			return fmt.Errorf("unknown tunnel tool %q (want some of %s)", t, strings.Join(AllTunnelTools(), ","))
		}
	}
	switch {
	case c.TunnelRuns < 1:
		return fmt.Errorf("tunnel runs must be at least 1, got %d", c.TunnelRuns)
	case c.TunnelBulk <= 0 || c.TunnelConns <= 0 || c.TunnelRT <= 0:
		return fmt.Errorf("tunnel durations must be positive, got %v, %v, %v", c.TunnelBulk, c.TunnelConns, c.TunnelRT)
	}
	return nil
}

const (
	// maxMessage is the largest message the benchmarks send: 1 MiB (the
	// session Conns they make allow it).
	maxMessage = 1 << 20
	// maxIdleConns bounds the scale section's connections (the server's
	// default limit is 1024; the child server allows this many).
	maxIdleConns = 10000
)

func (c *Config) has(section string) bool { return slices.Contains(c.Sections, section) }

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "kem-bench: "+format+"\n", args...)
	}
}

// childCommand returns the command that starts the scale section's server.
func (c *Config) childCommand(args ...string) (*exec.Cmd, error) {
	if c.ChildServer != nil {
		return c.ChildServer(args...), nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to run the child server: %w", err)
	}
	return exec.Command(exe, append([]string{"-" + ChildServerFlag}, args...)...), nil
}
