package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The tunnel section: kemtcp's tunnel (real kem-server -forward and
// kem-client -listen processes) next to direct TCP and the tunnels users
// would pick instead (stunnel4, spiped, ssh -L), in one run, each carrying
// bulk data, new connections and round trips to the same targets on
// loopback.

// TunnelReport is the tunnel section's figures.
type TunnelReport struct {
	// Bulk says how bulk throughput was measured: iperf3, or kem-bench's
	// own bulk client when iperf3 is not installed.
	Bulk string `json:"bulk_method"`
	// Runs is the runs per figure; the durations are one run's.
	Runs         int            `json:"runs"`
	BulkSeconds  float64        `json:"bulk_seconds"`
	ConnsSeconds float64        `json:"conns_seconds"`
	RTSeconds    float64        `json:"round_trip_seconds"`
	Workers      int            `json:"workers"`       // connections at once in the concurrent figure
	MessageBytes int            `json:"message_bytes"` // what each connection and round trip sends and gets back
	EchoServer   string         `json:"echo_server"`
	Tools        []TunnelResult `json:"tools"`
}

// TunnelResult is one tool's figures. A figure's runs are in run order, so
// that ratios pair the runs of two tools made right after each other.
type TunnelResult struct {
	Tool   string `json:"tool"` // direct, kemtcp, stunnel4, spiped, ssh
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	// BulkGbps is the receiver's rate, 10^9 bits of data per second.
	BulkGbps *Stat `json:"bulk_gbps"`
	// ConnsSerial and ConnsConcurrent are connections per second (open,
	// send 64 bytes, read the 64 bytes back, close), one at a time and
	// Workers at once.
	ConnsSerial     *Stat `json:"conns_per_sec_serial"`
	ConnsConcurrent *Stat `json:"conns_per_sec_concurrent"`
	// ConnFailures counts connections that failed (left out of the rates).
	ConnFailures int64  `json:"conn_failures,omitempty"`
	ConnError    string `json:"conn_error,omitempty"` // the first failure
	// RoundTripsPerSec is 64-byte round trips on one open connection.
	RoundTripsPerSec *Stat `json:"round_trips_per_sec"`
	// CPUSecondsPerGB is the CPU time (user and system) of both tunnel
	// ends, their threads and children, during the bulk runs, per 10^9
	// bytes received (null for direct TCP).
	CPUSecondsPerGB *Stat `json:"cpu_seconds_per_gb"`

	BulkRuns            []float64 `json:"bulk_gbps_runs,omitempty"`
	ConnsSerialRuns     []float64 `json:"conns_serial_runs,omitempty"`
	ConnsConcurrentRuns []float64 `json:"conns_concurrent_runs,omitempty"`
	RoundTripRuns       []float64 `json:"round_trips_runs,omitempty"`
	CPURuns             []float64 `json:"cpu_seconds_per_gb_runs,omitempty"`
}

// Statuses of a tool.
const (
	TunnelNotInstalled = "not installed"
)

// tunnelMessage is the size of each connection's message and of a round
// trip's.
const tunnelMessage = 64

// tunnelTool state during a run.
type toolRun struct {
	name       string
	res        *TunnelResult
	bulk, echo *tunnel
}

// measureTunnel fills r.Tunnel.
func (c *Config) measureTunnel(r *Report) error {
	dir, err := os.MkdirTemp("", "kem-bench-tunnel-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := &tunnelEnv{cfg: c, dir: dir}
	defer env.stopAll()
	tr := &TunnelReport{Runs: c.TunnelRuns, BulkSeconds: c.TunnelBulk.Seconds(), ConnsSeconds: c.TunnelConns.Seconds(),
		RTSeconds: c.TunnelRT.Seconds(), Workers: c.Clients, MessageBytes: tunnelMessage,
		EchoServer: "a Go echo server in kem-bench, a goroutine per connection"}
	r.Tunnel = tr

	// The targets behind every tunnel.
	echo, err := startTCPServer(modeEcho)
	if err != nil {
		return err
	}
	defer echo.Close()
	bulk, err := c.startBulkTarget(env)
	if err != nil {
		return err
	}
	defer bulk.close()
	tr.Bulk = bulk.method

	var runs []*toolRun
	for _, name := range c.TunnelTools {
		res := TunnelResult{Tool: name, Status: StatusOK}
		tool := newTunnelTool(name)
		c.progress("tunnel: setting up %s", toolTitle(name))
		run := &toolRun{name: name}
		detail, err := tool.setup(env)
		if err == nil {
			if run.bulk, err = tool.start(env, bulk.addr); err == nil {
				if run.echo, err = tool.start(env, echo.addr()); err == nil {
					err = checkEcho(run.echo.entry)
				}
			}
		}
		switch {
		case err == nil:
			res.Detail = detail
			runs = append(runs, run)
		case toolMissing(err):
			res.Status, res.Detail = TunnelNotInstalled, err.Error()
		default:
			res.Status = "failed: " + oneLine(err.Error())
		}
		tr.Tools = append(tr.Tools, res)
	}
	// The results live in tr.Tools; point each run at its row.
	for _, run := range runs {
		for i := range tr.Tools {
			if tr.Tools[i].Tool == run.name {
				run.res = &tr.Tools[i]
			}
		}
	}

	fail := func(run *toolRun, what string, err error) {
		run.res.Status = "failed: " + oneLine(fmt.Sprintf("%s: %v", what, err))
	}
	ok := func(run *toolRun) bool { return run.res.Status == StatusOK }

	// Each figure: run by run, every tool in turn, so that a busy moment
	// on the machine hits all of them.
	for i := range c.TunnelRuns {
		for _, run := range runs {
			if !ok(run) {
				continue
			}
			c.progress("tunnel: bulk through %s (run %d of %d, %s)", toolTitle(run.name), i+1, c.TunnelRuns, bulk.method)
			gbps, cpu, err := bulk.measure(run.bulk, c.TunnelBulk)
			if err != nil {
				fail(run, "bulk", err)
				continue
			}
			run.res.BulkRuns = append(run.res.BulkRuns, gbps)
			if run.bulk.cpuRoots != nil {
				run.res.CPURuns = append(run.res.CPURuns, cpu)
			}
		}
	}
	for _, workers := range []int{1, c.Clients} {
		for i := range c.TunnelRuns {
			for _, run := range runs {
				if !ok(run) {
					continue
				}
				c.progress("tunnel: connections through %s, %d at once (run %d of %d)", toolTitle(run.name), workers, i+1, c.TunnelRuns)
				x, fails, firstErr := connRate(run.echo.entry, workers, c.TunnelConns)
				run.res.ConnFailures += fails
				if firstErr != nil && run.res.ConnError == "" {
					run.res.ConnError = oneLine(firstErr.Error())
				}
				if x == 0 {
					fail(run, "connections", firstErr)
					continue
				}
				if workers == 1 {
					run.res.ConnsSerialRuns = append(run.res.ConnsSerialRuns, x)
				} else {
					run.res.ConnsConcurrentRuns = append(run.res.ConnsConcurrentRuns, x)
				}
			}
		}
	}
	for i := range c.TunnelRuns {
		for _, run := range runs {
			if !ok(run) {
				continue
			}
			c.progress("tunnel: %d-byte round trips through %s (run %d of %d)", tunnelMessage, toolTitle(run.name), i+1, c.TunnelRuns)
			x, err := roundTripRate(run.echo.entry, c.TunnelRT)
			if err != nil {
				fail(run, "round trips", err)
				continue
			}
			run.res.RoundTripRuns = append(run.res.RoundTripRuns, x)
		}
	}
	for i := range tr.Tools {
		t := &tr.Tools[i]
		t.BulkGbps, t.CPUSecondsPerGB = NewStat(t.BulkRuns), NewStat(t.CPURuns)
		t.ConnsSerial, t.ConnsConcurrent = NewStat(t.ConnsSerialRuns), NewStat(t.ConnsConcurrentRuns)
		t.RoundTripsPerSec = NewStat(t.RoundTripRuns)
	}
	return nil
}

// oneLine joins the lines of a message (a tool's output) with "; ".
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// checkEcho makes one connection through a tunnel to the echo server.
func checkEcho(entry string) error {
	if err := connOnce(entry); err != nil {
		return fmt.Errorf("a first connection through the tunnel: %w", err)
	}
	return nil
}

// tunnelIOTimeout bounds each connection's steps in the tunnel section.
const tunnelIOTimeout = 30 * time.Second

// connOnce is one connection of the connections/s figure: open, send
// tunnelMessage bytes, read them back, close.
func connOnce(entry string) error {
	var msg, buf [tunnelMessage]byte
	c, err := net.DialTimeout("tcp", entry, tunnelIOTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(tunnelIOTimeout))
	if _, err := c.Write(msg[:]); err != nil {
		return err
	}
	_, err = io.ReadFull(c, buf[:])
	return err
}

// connRate runs connOnce from workers goroutines for about d, and returns
// the successful connections per second, the failed ones, and the first
// failure. A failure does not stop the run: a tool that drops a few
// connections under load still gets its rate, and the count says so.
func connRate(entry string, workers int, d time.Duration) (float64, int64, error) {
	var ok, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := connOnce(entry); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					// Do not spin on a refusing tunnel.
					if failed.Load() > 1000 && ok.Load() == 0 {
						return
					}
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), failed.Load(), firstErr
}

// roundTripRate is tunnelMessage-byte round trips per second on one
// connection, for about d.
func roundTripRate(entry string, d time.Duration) (float64, error) {
	c, err := net.DialTimeout("tcp", entry, tunnelIOTimeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	msg := make([]byte, tunnelMessage)
	rt := roundTrip(c, msg)
	c.SetDeadline(time.Now().Add(d + tunnelIOTimeout))
	// Warm up: the first round trip opens the tunnel's session, the next
	// ones bring the processes' threads and caches to speed.
	if _, err := rate(1, min(d/5, 200*time.Millisecond), rt); err != nil {
		return 0, err
	}
	return rate(1, d, rt)
}

// bulkTarget is what bulk transfers go to: an iperf3 server, or
// kem-bench's own sink.
type bulkTarget struct {
	addr    string
	method  string
	measure func(t *tunnel, d time.Duration) (gbps, cpuPerGB float64, err error)
	close   func()
}

// startBulkTarget starts iperf3 -s, or when iperf3 is not installed a Go
// sink server for kem-bench's own bulk client.
func (c *Config) startBulkTarget(env *tunnelEnv) (*bulkTarget, error) {
	if iperf, err := lookAny("iperf3"); err == nil {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p, err := env.start("iperf3 -s", iperf, "-s", "-B", "127.0.0.1", "-p", strconv.Itoa(port))
		if err != nil {
			return nil, err
		}
		if err := waitListening(port, p); err != nil {
			return nil, err
		}
		secs := max(1, int(c.TunnelBulk.Round(time.Second)/time.Second))
		return &bulkTarget{
			addr:   loopbackAddr(port),
			method: fmt.Sprintf("%s, iperf3 -c ENTRY -t %d, the receiver's rate", orDash(versionLine("iperf", iperf, "--version")), secs),
			measure: func(t *tunnel, _ time.Duration) (float64, float64, error) {
				return withCPU(t, func() (int64, float64, error) { return iperf3Client(iperf, t.entry, secs) })
			},
			close: p.stop,
		}, nil
	}
	sink, err := startSink()
	if err != nil {
		return nil, err
	}
	return &bulkTarget{
		addr:   sink.addr(),
		method: "kem-bench's own bulk client (128 KiB Writes; the receiver's rate), as iperf3 is not installed",
		measure: func(t *tunnel, d time.Duration) (float64, float64, error) {
			return withCPU(t, func() (int64, float64, error) { return sink.run(t.entry, d) })
		},
		close: func() { sink.Close() },
	}, nil
}

// withCPU runs a transfer through t that returns the bytes received and
// the receiver's Gbit/s, and adds the CPU seconds t's processes spent per
// 10^9 bytes (NaN without processes).
func withCPU(t *tunnel, transfer func() (int64, float64, error)) (float64, float64, error) {
	var cpu0 time.Duration
	var err error
	if t.cpuRoots != nil {
		if cpu0, err = cpuOf(t.cpuRoots); err != nil {
			return 0, 0, err
		}
	}
	n, gbps, err := transfer()
	if err != nil {
		return 0, 0, err
	}
	if t.cpuRoots == nil || n == 0 {
		return gbps, 0, nil
	}
	cpu1, err := cpuOf(t.cpuRoots)
	if err != nil {
		return 0, 0, err
	}
	return gbps, (cpu1 - cpu0).Seconds() / (float64(n) / 1e9), nil
}

// iperf3Client runs `iperf3 -c ENTRY -t secs -J` and returns the bytes
// and bits per second the receiver reported.
func iperf3Client(iperf, entry string, secs int) (int64, float64, error) {
	host, port, err := net.SplitHostPort(entry)
	if err != nil {
		return 0, 0, err
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(iperf, "-c", host, "-p", port, "-t", strconv.Itoa(secs), "-J")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	runErr := cmd.Run()
	return parseIperf3(out.Bytes(), runErr, errOut.String())
}

// parseIperf3 reads the receiver's figures from iperf3's -J output.
func parseIperf3(out []byte, runErr error, stderr string) (int64, float64, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				Bytes         int64   `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return 0, 0, fmt.Errorf("iperf3: %v (%v): %s", err, runErr, stderr)
	}
	if doc.Error != "" {
		return 0, 0, fmt.Errorf("iperf3: %s", doc.Error)
	}
	if runErr != nil {
		return 0, 0, fmt.Errorf("iperf3: %v: %s", runErr, stderr)
	}
	s := doc.End.SumReceived
	if s.Bytes <= 0 || s.BitsPerSecond <= 0 {
		return 0, 0, errors.New("iperf3: the receiver got nothing")
	}
	return s.Bytes, s.BitsPerSecond / 1e9, nil
}

// sink is kem-bench's own bulk target: it reads each connection to its
// end and reports what arrived and when.
type sink struct {
	*server
	results chan sinkResult
}

type sinkResult struct {
	bytes       int64
	first, last time.Time
	err         error
}

func startSink() (*sink, error) {
	ln, err := loopback()
	if err != nil {
		return nil, err
	}
	s := &sink{server: &server{ln: ln}, results: make(chan sinkResult, 16)}
	s.serve(func(c net.Conn) error {
		defer c.Close()
		buf := make([]byte, 128<<10)
		var res sinkResult
		for {
			c.SetReadDeadline(time.Now().Add(tunnelIOTimeout))
			n, err := c.Read(buf)
			if n > 0 {
				now := time.Now()
				if res.bytes == 0 {
					res.first = now
				}
				res.last = now
				res.bytes += int64(n)
			}
			if err != nil {
				if err != io.EOF {
					res.err = err
				}
				select {
				case s.results <- res:
				default: // nobody waits: a stray connection
				}
				return nil
			}
		}
	})
	return s, nil
}

// run sends through entry for d with 128 KiB Writes, closes, and returns
// what the sink received and its rate (from the first byte to the last).
func (s *sink) run(entry string, d time.Duration) (int64, float64, error) {
	c, err := net.DialTimeout("tcp", entry, tunnelIOTimeout)
	if err != nil {
		return 0, 0, err
	}
	buf := make([]byte, 128<<10)
	deadline := time.Now().Add(d)
	c.SetWriteDeadline(deadline.Add(tunnelIOTimeout))
	for time.Now().Before(deadline) {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, 0, err
		}
	}
	c.Close()
	var res sinkResult
	select {
	case res = <-s.results:
	case <-time.After(tunnelIOTimeout):
		return 0, 0, errors.New("the bulk target did not see the connection end")
	}
	if res.err != nil {
		return 0, 0, res.err
	}
	el := res.last.Sub(res.first).Seconds()
	if res.bytes == 0 || el <= 0 {
		return 0, 0, errors.New("the bulk target received nothing")
	}
	return res.bytes, float64(res.bytes) * 8 / el / 1e9, nil
}
