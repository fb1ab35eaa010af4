package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The tunnel scripts' commands (TestTunnelScripts), beside the colleague's
// of scriptcmds_test.go, and their programs: targets for kem-server
// -forward and two wrappers, run as processes of their own with exec.

// tunnelTimeout bounds what the tunnel commands wait for: bulk transfers
// and hundreds of handshakes on a loaded 2-core machine under -race.
const tunnelTimeout = 2 * time.Minute

// tunnelCmds are the tunnel scripts' own commands.
var tunnelCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"mkdata":   cmdMkdata,
	"sha256":   cmdSha256,
	"freeport": cmdFreeport,
	"readvar":  cmdReadvar,
	"expand":   cmdExpand,
	"waitsize": cmdWaitsize,
	"bgpid":    cmdBgpid,
	"proc":     cmdProc,
	"procmax":  cmdProcmax,
	"atmost":   cmdAtmost,
	"cmplog":   cmdCmplog,
	"hashdial": cmdHashdial,
	"dialn":    cmdDialn,
	"push":     cmdPush,
}

// tunnelPrograms are the tunnel scripts' programs, added to programs (and
// so to the scripts' PATH, and to what teeout runs).
var tunnelPrograms = map[string]program{
	"eofecho":    eofechoMain,
	"hashecho":   hashechoMain,
	"slowsink":   slowsinkMain,
	"logto":      logtoMain,
	"goroutines": goroutinesMain,
}

// init adds tunnelPrograms to programs. It runs after main_test.go's init,
// which makes programs: Go runs the init functions of a package's files in
// the order of their names.
func init() {
	if programs == nil {
		panic("tunnelcmds_test.go: programs is not made yet (main_test.go's init must run first)")
	}
	for name, p := range tunnelPrograms {
		if _, dup := programs[name]; dup {
			panic("tunnelcmds_test.go: program " + name + " exists already")
		}
		programs[name] = p
	}
}

// dataSeed makes mkdata's bytes: the same file on every run.
var dataSeed = [32]byte([]byte("kemtcp tunnel scripts: test data"))

// cmdMkdata is
//
//	mkdata FILE BYTES VAR
//
// It writes BYTES deterministic pseudo-random bytes to FILE and sets VAR to
// their SHA-256 (hex).
func cmdMkdata(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: mkdata FILE BYTES VAR")
	}
	n := atoi(ts, args[1])
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	_, err = io.CopyN(w, rand.NewChaCha8(dataSeed), n)
	ts.Check(err)
	ts.Check(w.Flush())
	ts.Check(f.Close())
	ts.Setenv(args[2], hex.EncodeToString(h.Sum(nil)))
}

// cmdSha256 is
//
//	sha256 FILE HEX
//
// It fails unless FILE's SHA-256 is HEX (as mkdata and push set it); with
// !, if it is.
func cmdSha256(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sha256 FILE HEX")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	ts.Check(err)
	got := hex.EncodeToString(h.Sum(nil))
	switch {
	case neg && got == args[1]:
		ts.Fatalf("%s: %d bytes, SHA-256 %s; want another", args[0], n, got)
	case !neg && got != args[1]:
		ts.Fatalf("%s: %d bytes, SHA-256 %s; want %s", args[0], n, got, args[1])
	}
}

// freePorts are the ports cmdFreeport has handed out in this process.
var freePorts struct {
	sync.Mutex
	given map[int]bool
}

// cmdFreeport is
//
//	freeport VAR
//
// It sets VAR to a TCP port of 127.0.0.1 on which nothing listens, for
// programs that cannot listen on port 0 and say which port they got
// (redis-server, iperf3, sshd) and for a target that refuses. The port
// is below the kernel's range of ephemeral ports, so that no outgoing
// connection takes it, and is never given twice in one test process.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	freePorts.Lock()
	defer freePorts.Unlock()
	if freePorts.given == nil {
		freePorts.given = map[int]bool{}
	}
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		if freePorts.given[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		freePorts.given[port] = true
		ts.Setenv(args[0], strconv.Itoa(port))
		return
	}
	ts.Fatalf("freeport: no free port found below %d", low)
}

// cmdReadvar is
//
//	readvar VAR FILE
//
// It sets VAR to FILE's text, without its final newline.
func cmdReadvar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: readvar VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimSuffix(ts.ReadFile(args[1]), "\n"))
}

// cmdExpand is
//
//	expand IN OUT
//
// It writes IN to OUT with each $VAR replaced with the variable's value,
// as cmpenv reads its file (for configuration files that need $WORK).
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand IN OUT")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(os.Expand(ts.ReadFile(args[0]), ts.Getenv)), 0o600))
}

// cmdWaitsize is
//
//	waitsize FILE BYTES
//
// It waits until FILE holds at least BYTES bytes (a download is under
// way), and fails after tunnelTimeout.
func cmdWaitsize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitsize FILE BYTES")
	}
	want := atoi(ts, args[1])
	var size int64
	waitUntil(ts, tunnelTimeout, func() bool {
		if fi, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			size = fi.Size()
		}
		return size >= want
	}, func() string { return fmt.Sprintf("waitsize: %s holds %d bytes, not %d", args[0], size, want) })
}

// cmdBgpid is
//
//	bgpid ARG VAR
//
// It sets VAR to the process id of the background command (since the last
// wait) that has ARG among its arguments, such as teeout's FILE. A program
// that teeout runs is in teeout's process.
func cmdBgpid(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: bgpid ARG VAR")
	}
	var pids []int
	for _, c := range ts.BackgroundCmds() {
		if slices.Contains(c.Args[1:], args[0]) {
			pids = append(pids, c.Process.Pid)
		}
	}
	if len(pids) != 1 {
		ts.Fatalf("bgpid: %d background commands have the argument %q", len(pids), args[0])
	}
	ts.Setenv(args[1], strconv.Itoa(pids[0]))
}

// cmdProc is
//
//	proc PID FIELD VAR
//
// It sets VAR to a measure of process PID: rss or hwm (its resident memory
// now or at its peak, VmRSS or VmHWM, in KiB), fds (its open file
// descriptors) or goroutines (a program run by the goroutines wrapper).
func cmdProc(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: proc PID FIELD VAR")
	}
	ts.Setenv(args[2], strconv.FormatInt(procField(ts, args[0], args[1]), 10))
}

// cmdProcmax is
//
//	procmax PID FIELD BASE SLACK
//
// It waits until proc's FIELD of process PID is at most BASE+SLACK (for
// hwm, which never goes down, it does not wait), and fails after
// waitTimeout, saying what the measure was.
func cmdProcmax(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: procmax PID FIELD BASE SLACK")
	}
	limit := atoi(ts, args[2]) + atoi(ts, args[3])
	var got int64
	timeout := waitTimeout
	if args[1] == "hwm" {
		timeout = 0
	}
	waitUntil(ts, timeout, func() bool {
		got = procField(ts, args[0], args[1])
		return got <= limit
	}, func() string {
		return fmt.Sprintf("procmax: process %s's %s is %d, more than %s + %s", args[0], args[1], got, args[2], args[3])
	})
}

// procField is cmdProc's measure.
func procField(ts *testscript.TestScript, pid, field string) int64 {
	switch field {
	case "rss", "hwm":
		status := ts.ReadFile("/proc/" + pid + "/status")
		key := map[string]string{"rss": "VmRSS:", "hwm": "VmHWM:"}[field]
		for line := range strings.Lines(status) {
			if f := strings.Fields(line); len(f) == 3 && f[0] == key && f[2] == "kB" {
				return atoi(ts, f[1])
			}
		}
		ts.Fatalf("proc: no %s line in /proc/%s/status", key, pid)
	case "fds":
		fds, err := os.ReadDir("/proc/" + pid + "/fd")
		ts.Check(err)
		return int64(len(fds))
	case "goroutines":
		return goroutinesOf(ts, pid)
	}
	ts.Fatalf("proc: unknown field %q (rss, hwm, fds, goroutines)", field)
	return 0
}

// cmdAtmost is
//
//	atmost X LIMIT
//
// It fails unless the integer X is at most LIMIT.
func cmdAtmost(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: atmost X LIMIT")
	}
	if x, limit := atoi(ts, args[0]), atoi(ts, args[1]); x > limit {
		ts.Fatalf("atmost: %d is more than %d", x, limit)
	}
}

// duration is a duration as Go prints it, in the tunnels' lines.
var duration = regexp.MustCompile(`\bafter (?:[0-9.]+(?:ns|µs|us|ms|s|m|h))+:`)

// cmdCmplog is
//
//	cmplog ACTUAL WANT
//
// It is cmpout (scriptcmds_test.go) once each duration in ACTUAL's "after
// DURATION:" is the word DURATION: how long a tunnel lasted varies.
func cmdCmplog(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cmplog ACTUAL WANT")
	}
	norm := duration.ReplaceAllString(ts.ReadFile(args[0]), "after DURATION:")
	file := filepath.Base(args[0]) + ".cmplog"
	ts.Check(os.WriteFile(ts.MkAbs(file), []byte(norm), 0o600))
	cmdCmpout(ts, neg, []string{file, args[1]})
}

// cmdHashdial is
//
//	hashdial ADDR N MAXSIZE LOG
//
// It opens N connections to ADDR at once, each carried by the tunnel to a
// hashecho whose output teeout writes to LOG. On connection i it sends the
// line "SEED-i" (SEED is this run's random seed), then a random number
// (from 0 to MAXSIZE) of random bytes, and half-closes; it reads the echo
// to its end. It fails unless, for every connection, the bytes that came
// back and those that hashecho reports having read have the length and
// SHA-256 of those sent. Connection 0 sends no byte after its line,
// connection 1 MAXSIZE bytes.
func cmdHashdial(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: hashdial ADDR N MAXSIZE LOG")
	}
	n, maxSize := int(atoi(ts, args[1])), atoi(ts, args[2])
	seed := uint64(time.Now().UnixNano())
	ts.Logf("hashdial: seed %d", seed)
	type stream struct {
		size int64
		sent string
		err  error
	}
	streams := make([]stream, n)
	var wg sync.WaitGroup
	deadline := time.Now().Add(tunnelTimeout)
	for i := range streams {
		s := &streams[i]
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		switch i {
		case 0:
			s.size = 0
		case 1:
			s.size = maxSize
		default:
			s.size = rng.Int64N(maxSize + 1)
		}
		wg.Go(func() {
			var key [32]byte
			binary.LittleEndian.PutUint64(key[:], seed)
			binary.LittleEndian.PutUint64(key[8:], uint64(i))
			s.sent, s.err = hashStream(args[0], fmt.Sprintf("%d-%d", seed, i), s.size, rand.NewChaCha8(key), deadline)
		})
	}
	wg.Wait()
	var sum int64
	for i, s := range streams {
		if s.err != nil {
			ts.Fatalf("hashdial: connection %d (%d bytes; seed %d): %v", i, s.size, seed, s.err)
		}
		sum += s.size
	}
	// What hashecho read: one line per connection.
	line := regexp.MustCompile(`^hashecho: conn ` + strconv.FormatUint(seed, 10) + `-(\d+): (\d+) bytes, sha256 ([0-9a-f]{64})$`)
	read := map[int]string{}
	waitUntil(ts, waitTimeout, func() bool {
		for l := range strings.Lines(ts.ReadFile(args[3])) {
			if m := line.FindStringSubmatch(strings.TrimSuffix(l, "\n")); m != nil {
				i, _ := strconv.Atoi(m[1])
				read[i] = m[2] + " " + m[3]
			}
		}
		return len(read) >= n
	}, func() string {
		return fmt.Sprintf("hashdial: %s reports %d connections of %d", args[3], len(read), n)
	})
	for i, s := range streams {
		if want := fmt.Sprintf("%d %s", s.size, s.sent); read[i] != want {
			ts.Fatalf("hashdial: connection %d: hashecho read %q, want %q (seed %d)", i, read[i], want, seed)
		}
	}
	fmt.Fprintf(ts.Stdout(), "hashdial: %d connections, %d bytes each way, the same at both ends\n", n, sum)
}

// hashStream is one of hashdial's connections. It returns the SHA-256 of
// the bytes sent, once the echo has come back whole.
func hashStream(addr string, id string, size int64, rng io.Reader, deadline time.Time) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	echoed := make(chan error, 1)
	sent, back := sha256.New(), sha256.New()
	go func() {
		n, err := io.Copy(back, c)
		if err == nil && n != size {
			err = fmt.Errorf("the echo is %d bytes, not %d", n, size)
		}
		echoed <- err
	}()
	if _, err := fmt.Fprintf(c, "%s\n", id); err != nil {
		return "", err
	}
	if _, err := io.CopyN(io.MultiWriter(c, sent), rng, size); err != nil {
		return "", fmt.Errorf("sending: %w", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return "", err
	}
	if err := <-echoed; err != nil {
		return "", fmt.Errorf("reading the echo: %w", err)
	}
	if !bytes.Equal(sent.Sum(nil), back.Sum(nil)) {
		return "", errors.New("the echo differs from the bytes sent")
	}
	return hex.EncodeToString(sent.Sum(nil)), nil
}

// cmdDialn is
//
//	dialn ADDR N TEXT
//
// It opens N connections to ADDR, one after the other; on each it sends
// TEXT, half-closes, and reads to the end. It prints what each read, one
// line per connection ("conn I: N bytes: TEXT"), and fails if a connection
// fails otherwise than by a reset, or hangs (tunnelTimeout).
func cmdDialn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: dialn ADDR N TEXT")
	}
	for i := range int(atoi(ts, args[1])) {
		c, err := net.DialTimeout("tcp", args[0], tunnelTimeout)
		ts.Check(err)
		c.SetDeadline(time.Now().Add(tunnelTimeout))
		if _, err := io.WriteString(c, args[2]); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			ts.Fatalf("dialn: connection %d: %v", i, err)
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			ts.Fatalf("dialn: connection %d: %v", i, err)
		}
		c.Close()
		fmt.Fprintf(ts.Stdout(), "conn %d: %d bytes: %q\n", i, len(got), got)
	}
}

// cmdPush is
//
//	push ADDR TOTAL WINDOW PUSHED HASH
//
// It connects to ADDR and writes random bytes as fast as they are taken,
// until TOTAL bytes are sent or the duration WINDOW has passed; it sets
// PUSHED to the number of bytes the kernel took and HASH to their
// SHA-256. It then half-closes and reads to the end (a sink answers
// nothing), and fails if that takes more than tunnelTimeout.
func cmdPush(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: push ADDR TOTAL WINDOW PUSHED HASH")
	}
	total := atoi(ts, args[1])
	window, err := time.ParseDuration(args[2])
	ts.Check(err)
	c, err := net.DialTimeout("tcp", args[0], tunnelTimeout)
	ts.Check(err)
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(window))
	h := sha256.New()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	buf := make([]byte, 64<<10)
	var pushed int64
	for pushed < total {
		chunk := buf[:min(int64(len(buf)), total-pushed)]
		for i := 0; i < len(chunk); i += 8 {
			v := rng.Uint64()
			for j := i; j < i+8 && j < len(chunk); j++ {
				chunk[j] = byte(v)
				v >>= 8
			}
		}
		n, err := c.Write(chunk)
		h.Write(chunk[:n])
		pushed += int64(n)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		ts.Check(err)
	}
	ts.Setenv(args[3], strconv.FormatInt(pushed, 10))
	ts.Setenv(args[4], hex.EncodeToString(h.Sum(nil)))
	ts.Logf("push: %d bytes in %v", pushed, window)
	c.SetDeadline(time.Now().Add(tunnelTimeout))
	ts.Check(c.(*net.TCPConn).CloseWrite())
	back, err := io.Copy(io.Discard, c)
	ts.Check(err)
	if back != 0 {
		ts.Fatalf("push: %d bytes came back", back)
	}
}

// waitUntil polls cond until it holds, and fails with why() after timeout.
func waitUntil(ts *testscript.TestScript, timeout time.Duration, cond func() bool, why func() string) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			ts.Fatalf("%s (waited %v)", why(), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func atoi(ts *testscript.TestScript, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		ts.Fatalf("not an integer: %q", s)
	}
	return n
}

// Programs.

// lineWriter writes whole lines to w, one goroutine at a time.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// serveTarget is a target program's body: it listens on addr, says where
// on out ("NAME listening on ADDR"), and serves each connection with
// handle until interrupted.
func serveTarget(name, addr string, stdout io.Writer, handle func(c *net.TCPConn, out *lineWriter)) int {
	ctx := Interruptible(ServerStopSignals...)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	out := &lineWriter{w: stdout}
	out.Printf("%s listening on %s", name, ln.Addr())
	context.AfterFunc(ctx, func() { ln.Close() })
	var wg sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		wg.Go(func() {
			defer c.Close()
			handle(c.(*net.TCPConn), out)
		})
	}
	wg.Wait()
	return 0
}

// eofechoMain is the target program
//
//	eofecho ADDR
//
// For each connection, it reads to the client's end of stream, only then
// answers with the lines it read in reverse order (as tac does), and
// closes. It prints "eofecho: read N bytes, answered, closed" for each.
func eofechoMain(args []string, _ io.Reader, stdout io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: eofecho ADDR")
		return ExitUsage
	}
	return serveTarget("eofecho", args[0], stdout, func(c *net.TCPConn, out *lineWriter) {
		data, err := io.ReadAll(c)
		if err != nil {
			out.Printf("eofecho: %v", err)
			return
		}
		lines := slices.Collect(strings.Lines(string(data)))
		slices.Reverse(lines)
		if _, err := io.WriteString(c, strings.Join(lines, "")); err != nil {
			out.Printf("eofecho: %v", err)
			return
		}
		if err := c.Close(); err != nil {
			out.Printf("eofecho: %v", err)
			return
		}
		out.Printf("eofecho: read %d bytes, answered, closed", len(data))
	})
}

// hashechoMain is the target program
//
//	hashecho ADDR
//
// For each connection, it reads a line "ID", then sends back every byte
// that follows, and half-closes at the client's end of stream. It prints
// "hashecho: conn ID: N bytes, sha256 HEX" of the bytes it read after
// the line.
func hashechoMain(args []string, _ io.Reader, stdout io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: hashecho ADDR")
		return ExitUsage
	}
	return serveTarget("hashecho", args[0], stdout, func(c *net.TCPConn, out *lineWriter) {
		r := bufio.NewReader(c)
		id, err := r.ReadString('\n')
		if err != nil {
			out.Printf("hashecho: reading the id: %v", err)
			return
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(c, h), r)
		if err == nil {
			err = c.CloseWrite()
		}
		if err != nil {
			out.Printf("hashecho: conn %s: %v", strings.TrimSpace(id), err)
			return
		}
		out.Printf("hashecho: conn %s: %d bytes, sha256 %x", strings.TrimSpace(id), n, h.Sum(nil))
	})
}

// slowsinkMain is the target program
//
//	slowsink ADDR RATE SLOW
//
// For each connection, it reads RATE bytes a second for the duration SLOW
// from the first byte, then as fast as they come, to the client's end of
// stream, and closes. It prints "slowsink: received N bytes, sha256 HEX".
func slowsinkMain(args []string, _ io.Reader, stdout io.Writer) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: slowsink ADDR RATE SLOW")
		return ExitUsage
	}
	rate, err1 := strconv.Atoi(args[1])
	slow, err2 := time.ParseDuration(args[2])
	if err1 != nil || err2 != nil || rate < 10 {
		fmt.Fprintln(os.Stderr, "usage: slowsink ADDR RATE SLOW")
		return ExitUsage
	}
	return serveTarget("slowsink", args[0], stdout, func(c *net.TCPConn, out *lineWriter) {
		h := sha256.New()
		// A tenth of RATE every tenth of a second, while slow.
		buf := make([]byte, rate/10)
		n, err := io.ReadFull(c, buf[:1])
		h.Write(buf[:n])
		total := int64(n)
		end := time.Now().Add(slow)
		tick := time.NewTicker(100 * time.Millisecond)
		for err == nil && time.Now().Before(end) {
			<-tick.C
			n, err = io.ReadFull(c, buf)
			h.Write(buf[:n])
			total += int64(n)
		}
		tick.Stop()
		if err == nil {
			var m int64
			m, err = io.Copy(h, c)
			total += m
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = nil
		}
		if err != nil {
			out.Printf("slowsink: after %d bytes: %v", total, err)
			return
		}
		out.Printf("slowsink: received %d bytes, sha256 %x", total, h.Sum(nil))
	})
}

// logtoMain is the wrapper
//
//	logto FILE PROGRAM [ARGS...]
//
// It runs PROGRAM, found in PATH (an outside program: python3, sshd...),
// with its standard output and error both written to FILE as they come
// (and to logto's standard output), for waitfor; and then its exit code
// to FILE.exited, as teeout does. It passes Ctrl+C and SIGTERM on to
// PROGRAM, and PROGRAM is killed when logto is killed (kill -KILL in a
// script kills PROGRAM).
func logtoMain(args []string, stdin io.Reader, stdout io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: logto FILE PROGRAM [ARGS...]")
		return 125
	}
	path, err := exec.LookPath(args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "logto: %v\n", err)
		return 125
	}
	f, err := os.Create(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "logto: %v\n", err)
		return 125
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	cmd := exec.Command(path, args[2:]...)
	cmd.Args[0] = path // sshd must be started with its absolute path
	out := io.MultiWriter(stdout, f)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, out
	// Pdeathsig is sent when the thread that started PROGRAM ends: keep
	// this goroutine on it.
	runtime.LockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "logto: %v\n", err)
		return 125
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if err != nil && code == 0 {
		fmt.Fprintf(os.Stderr, "logto: %v\n", err)
		code = 125
	}
	f.Close()
	if err := os.WriteFile(args[0]+exitedSuffix, fmt.Appendf(nil, "%d\n", code), 0o666); err != nil {
		fmt.Fprintf(os.Stderr, "logto: %v\n", err)
		return 125
	}
	return code
}

// goroutinesMain is the wrapper
//
//	goroutines PROGRAM [ARGS...]
//
// It runs PROGRAM (one of programs) in its process and, on each SIGUSR1,
// writes "SEQ N" to the file goroutines.PID in its working folder: the
// signal's number, and the process's number of goroutines (proc reads it).
func goroutinesMain(args []string, stdin io.Reader, stdout io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: goroutines PROGRAM [ARGS...]")
		return 125
	}
	p, ok := programs[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "goroutines: no program %q\n", args[0])
		return 125
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	file := fmt.Sprintf("goroutines.%d", os.Getpid())
	go func() {
		for seq := 1; ; seq++ {
			<-usr1
			tmp := file + ".tmp"
			// Not counting this goroutine.
			err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", seq, runtime.NumGoroutine()-1), 0o666)
			if err == nil {
				err = os.Rename(tmp, file)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "goroutines: %v\n", err)
			}
		}
	}()
	return p(args[1:], stdin, stdout)
}

// goroutinesOf asks the process pid, run by goroutines, how many
// goroutines it has.
func goroutinesOf(ts *testscript.TestScript, pid string) int64 {
	file := ts.MkAbs("goroutines." + pid)
	read := func() (seq, n int64) {
		b, err := os.ReadFile(file)
		if err != nil {
			return 0, -1
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			ts.Fatalf("proc: %s holds %q", file, b)
		}
		return atoi(ts, f[0]), atoi(ts, f[1])
	}
	before, _ := read()
	p, err := strconv.Atoi(pid)
	ts.Check(err)
	ts.Check(syscall.Kill(p, syscall.SIGUSR1))
	var n int64
	waitUntil(ts, waitTimeout, func() bool {
		var seq int64
		seq, n = read()
		return seq > before
	}, func() string {
		return fmt.Sprintf("proc: process %s wrote no count of its goroutines to %s (is it run by the goroutines wrapper?)", pid, file)
	})
	return n
}
