package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// opsCmds are the operations scripts' own commands (see TestOpsScripts),
// besides the ones of scriptCmds.
var opsCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"lb":        cmdLB,
	"freeze":    cmdFreeze,
	"thaw":      cmdThaw,
	"spawn":     cmdSpawn,
	"load":      cmdLoad,
	"live":      cmdLive,
	"target":    cmdTarget,
	"conn":      cmdConn,
	"proxydial": cmdProxydial,
	"metrics":   cmdMetrics,
	"samepeers": cmdSamepeers,
}

// runTimeout bounds one run of a program started by spawn or load: far
// above a short connection's time, even on a loaded machine under -race,
// but a client that hangs is reported as such.
const runTimeout = 60 * time.Second

// opsKey is the key of a script's *opsState in its testscript values.
type opsKey struct{}

// opsState is what the commands of one script keep between lines: the
// HAProxy processes, live programs, loads, echo targets and connections
// it has started, all ended at the end of the script.
type opsState struct {
	mu      sync.Mutex
	lbs     map[string]*lbProc
	lives   map[string]*liveProc
	loads   map[string]*loadRun
	conns   map[string][]*scriptConn // by name: one, or those of conn open -n
	closers []func()
}

func newOpsState() *opsState {
	return &opsState{
		lbs:   map[string]*lbProc{},
		lives: map[string]*liveProc{},
		loads: map[string]*loadRun{},
		conns: map[string][]*scriptConn{},
	}
}

func opsOf(ts *testscript.TestScript) *opsState {
	st, ok := ts.Value(opsKey{}).(*opsState)
	if !ok {
		ts.Fatalf("this command runs only in the operations scripts (TestOpsScripts)")
	}
	return st
}

// cleanup ends whatever a script left running.
func (st *opsState) cleanup() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, l := range st.loads {
		l.stop()
	}
	for _, p := range st.lives {
		p.kill()
	}
	for _, l := range st.lbs {
		l.kill()
	}
	for _, g := range st.conns {
		for _, c := range g {
			c.Close()
		}
	}
	for _, f := range slices.Backward(st.closers) {
		f()
	}
}

// programEnv is the environment of the programs the commands start: the
// script's, as clients gives it.
func programEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "GORACE"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

// lookPath finds a program in the script's PATH.
func lookPath(ts *testscript.TestScript, name string) string {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	ts.Fatalf("%s: not in the script's PATH", name)
	return ""
}

// execSpec is PROGRAM ARGS as the script would exec it, found in the
// script's goroutine (a TestScript is not safe for concurrent use), for
// other goroutines to run.
type execSpec struct {
	path, dir string
	args, env []string
}

func programOf(ts *testscript.TestScript, args []string) execSpec {
	return execSpec{path: lookPath(ts, args[0]), args: args[1:], dir: ts.MkAbs("."), env: programEnv(ts)}
}

// command returns the program's command, ended (killed) with ctx.
func (p execSpec) command(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.path, p.args...)
	cmd.Dir, cmd.Env = p.dir, p.env
	cmd.WaitDelay = time.Second
	return cmd
}

// opsWait is how long the commands wait for what they expect before they
// fail: waitTimeout, or $OPSWAIT if set (for the commands' own tests, which
// must see a hang fail quickly).
func opsWait(ts *testscript.TestScript) time.Duration {
	if d, err := time.ParseDuration(ts.Getenv("OPSWAIT")); err == nil {
		return d
	}
	return waitTimeout
}

// opsWaitUntil polls cond every few milliseconds until it is true, or fails
// after opsWait saying what it waited for and what it last saw.
func opsWaitUntil(ts *testscript.TestScript, what string, cond func() (bool, string)) {
	wait := opsWait(ts)
	deadline := time.Now().Add(wait)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s: not within %v; last seen: %s", what, wait, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- lb

// lbProc is one HAProxy process.
type lbProc struct {
	cmd     *exec.Cmd
	sock    string // its admin socket
	backend string
	done    chan struct{}
	err     error // cmd.Wait's, once done is closed
}

func (l *lbProc) kill() {
	l.cmd.Process.Kill()
	<-l.done
}

// cmdLB is
//
//	lb start NAME SERVER=ADDR,CHECKADDR...
//	lb wait NAME STATE SERVER...
//	lb set NAME STATE SERVER...
//	lb sessions NAME SERVER N
//	lb stop NAME
//
// lb start runs HAProxy (haproxy -db) with the configuration of
// $DEPLOY/haproxy.cfg, the one the repository ships, with the addresses of
// this run: each SERVER line of its backend gets the data address ADDR and
// its health check the port of CHECKADDR (a kem-server's -health or
// -metrics address), and the frontend listens on a port of the kernel's
// choice that the command opens and hands over (bind fd@3), so that no
// port is guessed. The command adds an admin socket, and a log line per
// connection on HAProxy's standard output, "conn CLIENT SERVER
// HAPROXY_SIDE TERMINATION_STATE RETRIES" (CLIENT: the client's address as
// HAProxy sees it; HAPROXY_SIDE: HAProxy's own address on its connection
// to the server; TERMINATION_STATE: "--" for a normal end; RETRIES: the
// connection attempts HAProxy retried, "+N" if the last went to another
// server). It writes the configuration to NAME.cfg and HAProxy's output to
// NAME.out, and sets $NAME to the frontend's address. It fails if the
// shipped file no longer has the lines it rewrites.
//
// lb wait waits until HAProxy reports each SERVER in STATE (UP, DOWN,
// DRAIN or MAINT: the status column of "show stat"). lb set sets each
// SERVER's administrative STATE (ready, drain or maint), as an operator
// does on the admin socket. lb sessions waits until HAProxy has N
// connections open to SERVER. lb stop stops HAProxy gracefully (SIGUSR1: it
// stops listening and exits once its connections have ended), so that
// NAME.out then holds every connection's line.
func cmdLB(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! lb")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: lb start|wait|set|stop NAME ...")
	}
	st := opsOf(ts)
	name := args[1]
	if args[0] == "start" {
		lbStart(ts, st, name, args[2:])
		return
	}
	st.mu.Lock()
	l := st.lbs[name]
	st.mu.Unlock()
	if l == nil {
		ts.Fatalf("lb: no HAProxy %q started", name)
	}
	switch args[0] {
	case "wait":
		if len(args) < 4 {
			ts.Fatalf("usage: lb wait NAME STATE SERVER...")
		}
		want := args[2]
		if !slices.Contains([]string{"UP", "DOWN", "DRAIN", "MAINT"}, want) {
			ts.Fatalf("lb wait: state %q: want UP, DOWN, DRAIN or MAINT", want)
		}
		opsWaitUntil(ts, fmt.Sprintf("lb wait: %s %s", want, strings.Join(args[3:], " ")), func() (bool, string) {
			status, err := l.status()
			if err != nil {
				return false, err.Error()
			}
			for _, s := range args[3:] {
				got, ok := status[s]
				if !ok {
					ts.Fatalf("lb wait: HAProxy has no server %s in backend %s: %v", s, l.backend, status)
				}
				if !strings.HasPrefix(got, want) || want == "UP" && got != "UP" || want == "DOWN" && got != "DOWN" {
					return false, fmt.Sprint(status)
				}
			}
			return true, ""
		})
	case "set":
		if len(args) < 4 {
			ts.Fatalf("usage: lb set NAME STATE SERVER...")
		}
		if !slices.Contains([]string{"ready", "drain", "maint"}, args[2]) {
			ts.Fatalf("lb set: state %q: want ready, drain or maint", args[2])
		}
		for _, s := range args[3:] {
			out, err := l.admin(fmt.Sprintf("set server %s/%s state %s", l.backend, s, args[2]))
			ts.Check(err)
			if strings.TrimSpace(out) != "" {
				ts.Fatalf("lb set: HAProxy says: %s", out)
			}
		}
	case "sessions":
		if len(args) != 4 {
			ts.Fatalf("usage: lb sessions NAME SERVER N")
		}
		opsWaitUntil(ts, fmt.Sprintf("lb sessions: %s connections to %s", args[3], args[2]), func() (bool, string) {
			got, err := l.stat(args[2], "scur")
			if err != nil {
				return false, err.Error()
			}
			return got == args[3], got
		})
	case "stop":
		l.cmd.Process.Signal(syscall.SIGUSR1)
		select {
		case <-l.done:
		case <-time.After(opsWait(ts)):
			l.kill()
			ts.Fatalf("lb stop: HAProxy had not stopped %v after SIGUSR1 (connections left open?)", opsWait(ts))
		}
		st.mu.Lock()
		delete(st.lbs, name)
		st.mu.Unlock()
		if l.err != nil {
			ts.Fatalf("lb stop: HAProxy: %v; its output:\n%s", l.err, ts.ReadFile(name+".out"))
		}
	default:
		ts.Fatalf("usage: lb start|wait|set|stop NAME ...")
	}
}

func lbStart(ts *testscript.TestScript, st *opsState, name string, specs []string) {
	if len(specs) == 0 {
		ts.Fatalf("usage: lb start NAME SERVER=ADDR,CHECKADDR...")
	}
	servers := map[string]lbServer{}
	for _, s := range specs {
		srv, addrs, ok1 := strings.Cut(s, "=")
		data, check, ok2 := strings.Cut(addrs, ",")
		_, checkPort, err := net.SplitHostPort(check)
		if !ok1 || !ok2 || err != nil {
			ts.Fatalf("lb start: %q: want SERVER=ADDR,CHECKADDR", s)
		}
		servers[srv] = lbServer{addr: data, checkPort: checkPort}
	}
	shipped, err := os.ReadFile(filepath.Join(ts.Getenv("DEPLOY"), "haproxy.cfg"))
	ts.Check(err)
	sock := ts.MkAbs(name + ".sock")
	if len(sock) > 100 {
		ts.Fatalf("lb start: the admin socket's path %s is too long for a Unix socket", sock)
	}
	cfg, backend, err := haproxyConfig(string(shipped), servers, sock)
	if err != nil {
		ts.Fatalf("lb start: scripts/deploy/haproxy.cfg: %v", err)
	}
	ts.Check(os.WriteFile(ts.MkAbs(name+".cfg"), []byte(cfg), 0o666))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	lnFile, err := ln.(*net.TCPListener).File()
	ts.Check(err)
	out, err := os.Create(ts.MkAbs(name + ".out"))
	ts.Check(err)
	cmd := exec.Command("haproxy", "-db", "-f", ts.MkAbs(name+".cfg"))
	cmd.Dir = ts.MkAbs(".")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{lnFile} // fd 3
	err = cmd.Start()
	lnFile.Close()
	ln.Close() // HAProxy has its own copy of the listening socket
	out.Close()
	ts.Check(err)
	l := &lbProc{cmd: cmd, sock: sock, backend: backend, done: make(chan struct{})}
	exited := ts.MkAbs(name + ".out" + exitedSuffix)
	go func() {
		l.err = cmd.Wait()
		os.WriteFile(exited, fmt.Appendf(nil, "%v\n", cmd.ProcessState), 0o666)
		close(l.done)
	}()
	st.mu.Lock()
	st.lbs[name] = l
	st.mu.Unlock()
	opsWaitUntil(ts, "lb start: HAProxy's admin socket", func() (bool, string) {
		select {
		case <-l.done:
			ts.Fatalf("lb start: HAProxy exited (%v); its output:\n%s", l.err, ts.ReadFile(name+".out"))
		default:
		}
		_, err := l.status()
		return err == nil, fmt.Sprint(err)
	})
	ts.Setenv(name, ln.Addr().String())
}

// lbServer is where a backend server line points in the run.
type lbServer struct {
	addr, checkPort string
}

var (
	cfgSection = regexp.MustCompile(`^(global|defaults|frontend|backend|listen)\b\s*(\S*)`)
	cfgBind    = regexp.MustCompile(`^(\s+)bind\s+\S+`)
	cfgServer  = regexp.MustCompile(`^(\s+)server\s+(\S+)\s+(\S+)\s+(.*)$`)
)

// haproxyConfig rewrites the shipped HAProxy configuration for a test run
// (see cmdLB), and returns it with its backend's name.
func haproxyConfig(shipped string, servers map[string]lbServer, sock string) (string, string, error) {
	var out strings.Builder
	section, backend := "", ""
	binds, globals, frontends := 0, 0, 0
	seen := map[string]bool{}
	for line := range strings.Lines(shipped) {
		line = strings.TrimSuffix(line, "\n")
		if m := cfgSection.FindStringSubmatch(line); m != nil {
			section = m[1]
			out.WriteString(line + "\n")
			switch section {
			case "global":
				globals++
				fmt.Fprintf(&out, "    stats socket %s level admin\n", sock)
				out.WriteString("    log stdout format raw local0 info\n")
			case "frontend":
				frontends++
				out.WriteString("    log global\n")
				out.WriteString("    log-format \"conn %ci:%cp %s %bi:%bp %ts %rc\"\n")
			case "backend":
				if backend != "" {
					return "", "", errors.New("more than one backend")
				}
				backend = m[2]
			}
			continue
		}
		if m := cfgBind.FindStringSubmatch(line); m != nil && section == "frontend" {
			binds++
			out.WriteString(m[1] + "bind fd@3\n")
			continue
		}
		if m := cfgServer.FindStringSubmatch(line); m != nil && section == "backend" {
			srv, ok := servers[m[2]]
			if !ok {
				return "", "", fmt.Errorf("server %s: not given (want %s=ADDR,CHECKADDR)", m[2], m[2])
			}
			seen[m[2]] = true
			opts := strings.Fields(m[4])
			i := slices.Index(opts, "port")
			if !slices.Contains(opts, "check") || i < 0 || i+1 >= len(opts) {
				return "", "", fmt.Errorf("server %s: no \"check port N\": %q", m[2], line)
			}
			opts[i+1] = srv.checkPort
			fmt.Fprintf(&out, "%sserver %s %s %s\n", m[1], m[2], srv.addr, strings.Join(opts, " "))
			continue
		}
		out.WriteString(line + "\n")
	}
	switch {
	case globals != 1 || frontends != 1:
		return "", "", fmt.Errorf("want one global and one frontend section, found %d and %d", globals, frontends)
	case binds != 1:
		return "", "", fmt.Errorf("want one bind line in the frontend, found %d", binds)
	case backend == "":
		return "", "", errors.New("no backend")
	}
	for s := range servers {
		if !seen[s] {
			return "", "", fmt.Errorf("no server %s in backend %s", s, backend)
		}
	}
	return out.String(), backend, nil
}

// admin sends one command to HAProxy's admin socket and returns its answer.
func (l *lbProc) admin(command string) (string, error) {
	c, err := net.DialTimeout("unix", l.sock, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// status returns the status column of "show stat" for each server of the
// backend.
func (l *lbProc) status() (map[string]string, error) {
	return l.column("status")
}

// stat returns one column of "show stat" for one server of the backend.
func (l *lbProc) stat(server, column string) (string, error) {
	values, err := l.column(column)
	if err != nil {
		return "", err
	}
	v, ok := values[server]
	if !ok {
		return "", fmt.Errorf("no server %s in backend %s", server, l.backend)
	}
	return v, nil
}

// column returns one column of "show stat" for each server of the backend.
func (l *lbProc) column(name string) (map[string]string, error) {
	out, err := l.admin("show stat")
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return nil, fmt.Errorf("show stat: %q: %v", out, err)
	}
	col := slices.Index(rows[0], name)
	if col < 0 {
		return nil, fmt.Errorf("show stat: no column %s: %q", name, rows[0])
	}
	values := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) > col && row[0] == l.backend && row[1] != "BACKEND" {
			values[row[1]] = row[col]
		}
	}
	return values, nil
}

// ---------------------------------------------------------------- freeze

// cmdFreeze is
//
//	freeze FILE
//
// It stops (SIGSTOP) the program that a background teeout runs with
// output FILE, as a long pause would: the kernel still completes the
// handshakes of new connections to its listeners and queues them, but the
// program takes none until thaw. (The command signal sends the signals
// that a program handles.)
func cmdFreeze(ts *testscript.TestScript, neg bool, args []string) {
	stopOrContinue(ts, neg, "freeze", args, syscall.SIGSTOP)
}

// cmdThaw is
//
//	thaw FILE
//
// It lets the program that freeze stopped go on (SIGCONT).
func cmdThaw(ts *testscript.TestScript, neg bool, args []string) {
	stopOrContinue(ts, neg, "thaw", args, syscall.SIGCONT)
}

func stopOrContinue(ts *testscript.TestScript, neg bool, name string, args []string, sig syscall.Signal) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: %s FILE", name)
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path + pidSuffix)
	if err != nil {
		ts.Fatalf("%s: no process id beside %s (is it a teeout's FILE?): %v", name, args[0], err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	ts.Check(err)
	if _, err := os.Stat(path + exitedSuffix); err == nil {
		ts.Fatalf("%s: the program of %s has ended", name, args[0])
	}
	ts.Check(syscall.Kill(pid, sig))
}

// ---------------------------------------------------------------- spawn

// cmdSpawn is
//
//	spawn N CONC M PROGRAM [ARGS...]
//
// It is clients with a bound: it runs N processes of PROGRAM, at most CONC
// at once; process i (from 0) reads the M lines "c<i>-m<j>". It fails unless
// each exits 0 within runTimeout, naming those that did not. Their
// standard outputs, then errors, one process after the other, become the
// command's.
func cmdSpawn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 {
		ts.Fatalf("usage: spawn N CONC M PROGRAM [ARGS...]")
	}
	n, err1 := strconv.Atoi(args[0])
	conc, err2 := strconv.Atoi(args[1])
	m, err3 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || err3 != nil || n < 1 || conc < 1 || m < 0 {
		ts.Fatalf("spawn: N, CONC and M must be counts, not %q %q %q", args[0], args[1], args[2])
	}
	prog := programOf(ts, args[3:])
	outs, errs := make([]bytes.Buffer, n), make([]bytes.Buffer, n)
	runErrs := make([]error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		var in strings.Builder
		for j := range m {
			fmt.Fprintf(&in, "c%d-m%d\n", i, j)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			cmd := prog.command(ctx)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(in.String()), &outs[i], &errs[i]
			runErrs[i] = cmd.Run()
			if ctx.Err() != nil {
				runErrs[i] = fmt.Errorf("still running after %v: %w", runTimeout, runErrs[i])
			}
		})
	}
	wg.Wait()
	for i := range n {
		ts.Stdout().Write(outs[i].Bytes())
		ts.Stderr().Write(errs[i].Bytes())
	}
	var failed []string
	for i, err := range runErrs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("process %d: %v; its errors:\n%s", i, err, errs[i].Bytes()))
		}
	}
	if len(failed) > 0 {
		ts.Fatalf("spawn: %d of %d failed:\n%s", len(failed), n, strings.Join(firstOf(failed, 10), "\n"))
	}
}

// ---------------------------------------------------------------- load

// loadRun is a steady load of short runs of one program.
type loadRun struct {
	start    time.Time
	halt     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	runs     int
	failures []string
}

func (l *loadRun) stop() {
	select {
	case <-l.halt:
	default:
		close(l.halt)
	}
	l.wg.Wait()
}

func (l *loadRun) counts() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs, len(l.failures)
}

// cmdLoad is
//
//	load start NAME CONC PROGRAM [ARGS...]
//	load more NAME K
//	load stop NAME
//
// load start keeps CONC runs of PROGRAM going, one after the other, until
// load stop: run i reads the one line "NAME-<i>", and succeeds if it exits
// 0 within runTimeout and that line comes back in its standard output (the
// servers under load echo: "Decrypted from server: NAME-<i>" for the chat,
// the line itself for -stdio). load more waits until K more runs have
// ended. load stop stops starting runs, waits for those under way, prints
// "NAME: N runs, F failed", and fails if a run failed, with each failure's
// time since the start and its errors.
func cmdLoad(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: load start|more|stop NAME ...")
	}
	st := opsOf(ts)
	name := args[1]
	st.mu.Lock()
	l := st.loads[name]
	st.mu.Unlock()
	if args[0] != "start" && l == nil {
		ts.Fatalf("load: no load %q started", name)
	}
	switch args[0] {
	case "start":
		if len(args) < 4 {
			ts.Fatalf("usage: load start NAME CONC PROGRAM [ARGS...]")
		}
		conc, err := strconv.Atoi(args[2])
		if err != nil || conc < 1 {
			ts.Fatalf("load start: CONC must be a count, not %q", args[2])
		}
		if l != nil {
			ts.Fatalf("load start: %s is already running", name)
		}
		prog := programOf(ts, args[3:])
		l = &loadRun{start: time.Now(), halt: make(chan struct{})}
		st.mu.Lock()
		st.loads[name] = l
		st.mu.Unlock()
		var next int
		var nextMu sync.Mutex
		for range conc {
			l.wg.Go(func() {
				for {
					select {
					case <-l.halt:
						return
					default:
					}
					nextMu.Lock()
					i := next
					next++
					nextMu.Unlock()
					line := fmt.Sprintf("%s-%d", name, i)
					failure := loadOnce(prog, line)
					l.mu.Lock()
					l.runs++
					if failure != "" {
						l.failures = append(l.failures, fmt.Sprintf("run %d, at %.3fs: %s", i, time.Since(l.start).Seconds(), failure))
					}
					l.mu.Unlock()
				}
			})
		}
	case "more":
		if len(args) != 3 {
			ts.Fatalf("usage: load more NAME K")
		}
		k, err := strconv.Atoi(args[2])
		if err != nil || k < 1 {
			ts.Fatalf("load more: K must be a count, not %q", args[2])
		}
		from, _ := l.counts()
		opsWaitUntil(ts, fmt.Sprintf("load more: %d more runs of %s", k, name), func() (bool, string) {
			runs, failed := l.counts()
			return runs >= from+k, fmt.Sprintf("%d runs (%d failed)", runs-from, failed)
		})
	case "stop":
		if len(args) != 2 {
			ts.Fatalf("usage: load stop NAME")
		}
		l.stop()
		st.mu.Lock()
		delete(st.loads, name)
		st.mu.Unlock()
		fmt.Fprintf(ts.Stdout(), "%s: %d runs, %d failed\n", name, l.runs, len(l.failures))
		if len(l.failures) > 0 {
			ts.Fatalf("load: %d of %d runs of %s failed:\n%s", len(l.failures), l.runs, name, strings.Join(firstOf(l.failures, 10), "\n"))
		}
	default:
		ts.Fatalf("usage: load start|more|stop NAME ...")
	}
}

// loadOnce runs a program once with line as its input, and says why it
// failed ("" if it did not).
func loadOnce(prog execSpec, line string) string {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := prog.command(ctx)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(line+"\n"), &out, &errOut
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return fmt.Sprintf("still running after %v; its errors: %s", runTimeout, errOut.Bytes())
	case err != nil:
		return fmt.Sprintf("%v; its errors: %s", err, errOut.Bytes())
	case !regexp.MustCompile(`(?m)(^|: )` + regexp.QuoteMeta(line) + `$`).Match(out.Bytes()):
		return fmt.Sprintf("%q did not come back; its output: %s", line, out.Bytes())
	}
	return ""
}

// ---------------------------------------------------------------- live

// liveProc is a program whose input the script writes line by line.
type liveProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	done   chan struct{}
}

func (p *liveProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// cmdLive is
//
//	live start FILE PROGRAM [ARGS...]
//	live send FILE TEXT...
//	live close FILE
//	live wait FILE CODE
//
// live start runs PROGRAM in the background with its standard output
// written to FILE as it comes (for waitfor, as teeout does: FILE.exited
// appears when it ends) and its standard input open for live send, which
// writes the TEXT words as one line. live close closes its input (Ctrl+D).
// live wait waits up to waitTimeout for it to exit with CODE (a program
// that has not ended by then hangs), and makes its output and errors the
// command's.
func cmdLive(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: live start|send|close|wait FILE ...")
	}
	st := opsOf(ts)
	file := args[1]
	st.mu.Lock()
	p := st.lives[file]
	st.mu.Unlock()
	if args[0] != "start" && p == nil {
		ts.Fatalf("live: no live program writes %s", file)
	}
	switch args[0] {
	case "start":
		if len(args) < 3 {
			ts.Fatalf("usage: live start FILE PROGRAM [ARGS...]")
		}
		if p != nil {
			ts.Fatalf("live start: a live program already writes %s", file)
		}
		path := ts.MkAbs(file)
		out, err := os.Create(path)
		ts.Check(err)
		p = &liveProc{cmd: programOf(ts, args[2:]).command(context.Background()), done: make(chan struct{})}
		p.stdin, err = p.cmd.StdinPipe()
		ts.Check(err)
		p.cmd.Stdout, p.cmd.Stderr = out, &p.stderr
		err = p.cmd.Start()
		if err != nil {
			out.Close()
			ts.Fatalf("live start: %v", err)
		}
		go func() {
			p.cmd.Wait()
			out.Close()
			os.WriteFile(path+exitedSuffix, fmt.Appendf(nil, "%d\n", p.cmd.ProcessState.ExitCode()), 0o666)
			close(p.done)
		}()
		st.mu.Lock()
		st.lives[file] = p
		st.mu.Unlock()
	case "send":
		_, err := io.WriteString(p.stdin, strings.Join(args[2:], " ")+"\n")
		ts.Check(err)
	case "close":
		ts.Check(p.stdin.Close())
	case "wait":
		if len(args) != 3 {
			ts.Fatalf("usage: live wait FILE CODE")
		}
		want, err := strconv.Atoi(args[2])
		ts.Check(err)
		select {
		case <-p.done:
		case <-time.After(opsWait(ts)):
			ts.Fatalf("live wait: the program writing %s is still running after %v (it hangs); its output:\n%s", file, opsWait(ts), ts.ReadFile(file))
		}
		st.mu.Lock()
		delete(st.lives, file)
		st.mu.Unlock()
		ts.Stdout().Write([]byte(ts.ReadFile(file)))
		ts.Stderr().Write(p.stderr.Bytes())
		if got := p.cmd.ProcessState.ExitCode(); got != want {
			ts.Fatalf("live wait: the program writing %s exited with %d, want %d; its errors:\n%s", file, got, want, p.stderr.Bytes())
		}
	default:
		ts.Fatalf("usage: live start|send|close|wait FILE ...")
	}
}

// ---------------------------------------------------------------- target

// cmdTarget is
//
//	target VAR [-proxy]
//
// It starts an echo service on 127.0.0.1 (a tunnel's target), sets $VAR to
// its address, and writes the address of each connection's client, one per
// line, to VAR.peers. With -proxy, every connection must start with a PROXY
// protocol header (as kem-server -forward-proxy-protocol sends it), and the
// client is the one the header names; a connection without one is closed,
// and its line says so.
func cmdTarget(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1] != "-proxy" {
		ts.Fatalf("usage: target VAR [-proxy]")
	}
	st := opsOf(ts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	if len(args) == 2 {
		ln = &proxyproto.Listener{Listener: ln, ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
	}
	peers, err := os.Create(ts.MkAbs(args[0] + ".peers"))
	ts.Check(err)
	var mu sync.Mutex
	var wg sync.WaitGroup
	open := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					c.Close()
					mu.Lock()
					delete(open, c)
					mu.Unlock()
				}()
				from := ""
				if pc, ok := c.(*proxyproto.Conn); ok {
					if h := pc.ProxyHeader(); h != nil && h.SourceAddr != nil {
						from = h.SourceAddr.String()
					}
				} else {
					from = c.RemoteAddr().String()
				}
				mu.Lock()
				if from == "" {
					fmt.Fprintln(peers, "no PROXY header")
				} else {
					fmt.Fprintln(peers, from)
				}
				mu.Unlock()
				if from == "" {
					return
				}
				io.Copy(c, c)
				if tc, ok := c.(interface{ CloseWrite() error }); ok {
					tc.CloseWrite()
				}
			})
		}
	})
	st.mu.Lock()
	st.closers = append(st.closers, func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		peers.Close()
	})
	st.mu.Unlock()
	ts.Setenv(args[0], ln.Addr().String())
}

// ---------------------------------------------------------------- conn

// scriptConn is a plain TCP connection the script holds.
type scriptConn struct {
	net.Conn
	r *bufio.Reader
}

// cmdConn is
//
//	conn open NAME ADDR [-from IP] [-claim IP:PORT] [-n K]
//	conn echo NAME TEXT
//	conn hello NAME
//	conn ended NAME
//	conn close NAME
//
// conn open makes a TCP connection to ADDR (from IP, with -from; sending a
// PROXY protocol v2 header that claims the client is IP:PORT, with -claim)
// and keeps it as NAME; with -n, K connections at once, which the other
// commands then take as a whole. conn echo writes the line TEXT and expects the same
// line back. conn hello expects a server's first bytes (a ServerHello) and
// reads them. conn ended expects the connection to end (end of stream or
// reset, with nothing read). Each waits up to waitTimeout: a hang fails.
// conn close closes it.
func cmdConn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: conn open|echo|hello|ended|close NAME ...")
	}
	st := opsOf(ts)
	name := args[1]
	st.mu.Lock()
	conns := st.conns[name]
	st.mu.Unlock()
	if args[0] == "open" {
		if conns != nil {
			ts.Fatalf("conn open: %s is open", name)
		}
		connOpen(ts, st, name, args[2:])
		return
	}
	if conns == nil {
		ts.Fatalf("conn: no connection %q open", name)
	}
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	wait := opsWait(ts)
	for i, c := range conns {
		wg.Go(func() {
			if err := connDo(c, args[0], strings.Join(args[2:], " "), wait); err != nil {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%s (%d, %s): %v", name, i, c.LocalAddr(), err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if args[0] == "close" {
		st.mu.Lock()
		delete(st.conns, name)
		st.mu.Unlock()
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		ts.Fatalf("conn %s: %d of %d connections failed:\n%s", args[0], len(failed), len(conns), strings.Join(firstOf(failed, 10), "\n"))
	}
}

func connOpen(ts *testscript.TestScript, st *opsState, name string, args []string) {
	usage := "usage: conn open NAME ADDR [-from IP] [-claim IP:PORT] [-n K]"
	if len(args) < 1 {
		ts.Fatalf("%s", usage)
	}
	addr, n := args[0], 1
	var claim *net.TCPAddr
	d := net.Dialer{Timeout: opsWait(ts)}
	for rest := args[1:]; len(rest) > 0; rest = rest[2:] {
		if len(rest) < 2 {
			ts.Fatalf("%s", usage)
		}
		switch rest[0] {
		case "-from":
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(rest[1])}
		case "-claim":
			var err error
			if claim, err = net.ResolveTCPAddr("tcp", rest[1]); err != nil {
				ts.Fatalf("conn open: -claim %q: %v", rest[1], err)
			}
		case "-n":
			var err error
			if n, err = strconv.Atoi(rest[1]); err != nil || n < 1 {
				ts.Fatalf("conn open: -n %q: want a count", rest[1])
			}
		default:
			ts.Fatalf("%s", usage)
		}
	}
	var g []*scriptConn
	for range n {
		nc, err := d.Dial("tcp", addr)
		if err == nil && claim != nil {
			_, err = proxyproto.HeaderProxyFromAddrs(2, claim, nc.RemoteAddr()).WriteTo(nc)
		}
		if err != nil {
			for _, c := range g {
				c.Close()
			}
			ts.Fatalf("conn open: %v", err)
		}
		g = append(g, &scriptConn{Conn: nc, r: bufio.NewReader(nc)})
	}
	st.mu.Lock()
	st.conns[name] = g
	st.mu.Unlock()
}

// firstOf returns the first n lines, and a line that says how many more
// there are.
func firstOf(lines []string, n int) []string {
	if len(lines) <= n {
		return lines
	}
	return append(slices.Clip(lines[:n]), fmt.Sprintf("(and %d more)", len(lines)-n))
}

// connDo does what cmdConn's command says on one connection.
func connDo(c *scriptConn, what, text string, wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	switch what {
	case "echo":
		if _, err := io.WriteString(c, text+"\n"); err != nil {
			return err
		}
		got, err := c.r.ReadString('\n')
		if err != nil || got != text+"\n" {
			return fmt.Errorf("sent %q, got %q back (%v)", text, got, err)
		}
	case "hello":
		_, err := c.r.ReadByte()
		if err != nil {
			return fmt.Errorf("no ServerHello: %w", err)
		}
		c.r.Discard(c.r.Buffered())
	case "ended":
		b, err := c.r.ReadByte()
		switch {
		case err == nil:
			return fmt.Errorf("the connection goes on: read %q", b)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("still open after %v (a hang)", wait)
		}
	case "close":
		return c.Close()
	default:
		return fmt.Errorf("usage: conn open|echo|hello|ended|close NAME ...")
	}
	return nil
}

// ---------------------------------------------------------------- proxydial

// cmdProxydial is
//
//	proxydial [-from IP] [-header v1|v2 -claim IP:PORT] [-pin FP -send TEXT] [-as VAR] ADDR
//
// It connects to ADDR (from IP), sends a PROXY protocol header of that
// version claiming the client is IP:PORT, and then:
//
//   - without -pin, reads what the server sends until it closes the
//     connection, and prints "ServerHello received, then closed" if it sent
//     something (its ServerHello), or "closed before sending anything";
//   - with -pin, runs a session handshake that accepts only the server key
//     FP (the server's default KEM), sends TEXT, ends the session and waits
//     for the server's CLOSE, and prints "session with FP: sent TEXT", or
//     "session failed: " and why.
//
// It fails if the server has not closed the connection (without -pin) or
// ended the session (with -pin) within waitTimeout: a hang. With -as, it sets $VAR to its own address (IP:PORT).
func cmdProxydial(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! proxydial")
	}
	var from, header, claim, pin, send, as string
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		p := map[string]*string{"-from": &from, "-header": &header, "-claim": &claim, "-pin": &pin, "-send": &send, "-as": &as}[args[0]]
		if p == nil {
			ts.Fatalf("proxydial: unknown flag %s", args[0])
		}
		*p, args = args[1], args[2:]
	}
	if len(args) != 1 || (header == "") != (claim == "") || (pin == "") != (send == "") || header != "" && header != "v1" && header != "v2" {
		ts.Fatalf("usage: proxydial [-from IP] [-header v1|v2 -claim IP:PORT] [-pin FP -send TEXT] [-as VAR] ADDR")
	}
	wait := opsWait(ts)
	d := net.Dialer{Timeout: wait}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", args[0])
	ts.Check(err)
	defer c.Close()
	if as != "" {
		ts.Setenv(as, c.LocalAddr().String())
	}
	if header != "" {
		src, err := net.ResolveTCPAddr("tcp", claim)
		ts.Check(err)
		h := proxyproto.HeaderProxyFromAddrs(map[string]byte{"v1": 1, "v2": 2}[header], src, c.RemoteAddr())
		_, err = h.WriteTo(c)
		ts.Check(err)
	}
	c.SetDeadline(time.Now().Add(wait))
	if pin == "" {
		got, err := io.ReadAll(c)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			ts.Fatalf("proxydial: the server did not close the connection within %v (a hang), after %d bytes", wait, len(got))
		case err != nil && !errors.Is(err, syscall.ECONNRESET):
			ts.Fatalf("proxydial: %v", err)
		case len(got) == 0:
			fmt.Fprintln(ts.Stdout(), "closed before sending anything")
		default:
			fmt.Fprintln(ts.Stdout(), "ServerHello received, then closed")
		}
		return
	}
	s, err := kem.Lookup(DefaultAlg, "")
	ts.Check(err)
	sc := session.Client(c, &session.ClientConfig{Scheme: s, VerifyServerKey: func(ek []byte) error {
		if got := identity.Fingerprint(ek); got != pin {
			return fmt.Errorf("the server presented %s, not %s", got, pin)
		}
		return nil
	}})
	err = func() error {
		if _, err := io.WriteString(sc, send); err != nil {
			return err
		}
		if err := sc.CloseWrite(); err != nil {
			return err
		}
		if rest, err := io.ReadAll(sc); err != nil || len(rest) > 0 {
			return fmt.Errorf("read %q, %v; want the server's CLOSE", rest, err)
		}
		return nil
	}()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		ts.Fatalf("proxydial: the session did not end within %v (a hang)", wait)
	}
	if err != nil {
		fmt.Fprintf(ts.Stdout(), "session failed: %v\n", err)
		return
	}
	fmt.Fprintf(ts.Stdout(), "session with %s: sent %s\n", pin, send)
}

// ---------------------------------------------------------------- metrics

var (
	metricSelector = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$`)
	metricLabel    = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"\s*(?:,|$)`)
	metricOps      = map[string]func(a, b float64) bool{
		"==": func(a, b float64) bool { return a == b },
		"!=": func(a, b float64) bool { return a != b },
		"<":  func(a, b float64) bool { return a < b },
		"<=": func(a, b float64) bool { return a <= b },
		">":  func(a, b float64) bool { return a > b },
		">=": func(a, b float64) bool { return a >= b },
	}
)

// cmdMetrics is
//
//	metrics URL[,URL...] NAME{LABEL="VALUE",...} OP VALUE
//
// It scrapes the Prometheus metrics at each URL, parses them with
// Prometheus's own text parser (expfmt), and checks that the sum over the
// URLs of the samples of NAME whose labels include those given compares
// with VALUE by OP (==, !=, <, <=, >, >=). NAME may be a histogram's
// NAME_count, NAME_sum or NAME_bucket{le="..."}. A name or label set that
// matches no sample fails, listing what there is. As the servers count
// after they log, it scrapes again until the comparison holds, for up to
// waitTimeout, except that a counter already above what == wants fails at
// once.
func cmdMetrics(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf(`usage: metrics URL[,URL...] NAME{LABEL="VALUE",...} OP VALUE`)
	}
	m := metricSelector.FindStringSubmatch(args[1])
	if m == nil {
		ts.Fatalf("metrics: %q is not NAME{LABEL=\"VALUE\",...}", args[1])
	}
	name, labels := m[1], map[string]string{}
	for rest := m[2]; rest != ""; {
		l := metricLabel.FindStringSubmatch(rest)
		if l == nil {
			ts.Fatalf("metrics: bad labels %q", m[2])
		}
		labels[l[1]] = l[2]
		rest = rest[len(l[0]):]
	}
	op, ok := metricOps[args[2]]
	if !ok {
		ts.Fatalf("metrics: unknown comparison %q", args[2])
	}
	want, err := strconv.ParseFloat(args[3], 64)
	ts.Check(err)
	opsWaitUntil(ts, fmt.Sprintf("metrics: %s %s %s", args[1], args[2], args[3]), func() (bool, string) {
		var sum float64
		counter := false
		for _, url := range strings.Split(args[0], ",") {
			v, isCounter, err := scrape(url, name, labels)
			if err != nil {
				ts.Fatalf("metrics: %s: %v", url, err)
			}
			sum += v
			counter = counter || isCounter
		}
		if op(sum, want) {
			return true, ""
		}
		if counter && args[2] == "==" && sum > want {
			ts.Fatalf("metrics: %s is %v, want %v", args[1], sum, want)
		}
		return false, fmt.Sprintf("%s is %v", args[1], sum)
	})
}

// scrape fetches url's metrics and returns the sum of the samples of name
// (see cmdMetrics) whose labels include labels, and whether they only grow
// (a counter, or a histogram's count, sum or bucket).
func scrape(url, name string, labels map[string]string) (float64, bool, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("%s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, false, fmt.Errorf("not Prometheus's text format: %w", err)
	}
	family, suffix := families[name], ""
	if family == nil {
		for _, s := range []string{"_count", "_sum", "_bucket"} {
			if f := families[strings.TrimSuffix(name, s)]; strings.HasSuffix(name, s) && f != nil && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
				family, suffix = f, s
			}
		}
	}
	if family == nil {
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range families {
				if !yield(n) {
					return
				}
			}
		})
		return 0, false, fmt.Errorf("no metric %s; there are %s", name, strings.Join(names, ", "))
	}
	le, wantLE := labels["le"]
	if suffix != "_bucket" && wantLE {
		return 0, false, fmt.Errorf("the label le is for %s_bucket", strings.TrimSuffix(name, suffix))
	}
	var sum float64
	found := 0
	var seen []string
	for _, mt := range family.GetMetric() {
		have := map[string]string{}
		for _, lp := range mt.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		seen = append(seen, fmt.Sprint(have))
		match := true
		for k, v := range labels {
			if k != "le" && have[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case suffix == "_count" && family.GetType() == dto.MetricType_HISTOGRAM:
			sum += float64(mt.GetHistogram().GetSampleCount())
		case suffix == "_sum" && family.GetType() == dto.MetricType_HISTOGRAM:
			sum += mt.GetHistogram().GetSampleSum()
		case suffix == "_count":
			sum += float64(mt.GetSummary().GetSampleCount())
		case suffix == "_sum":
			sum += mt.GetSummary().GetSampleSum()
		case suffix == "_bucket":
			if !wantLE {
				return 0, false, fmt.Errorf("%s needs le=\"...\"", name)
			}
			bound, err := strconv.ParseFloat(le, 64)
			if le == "+Inf" {
				bound, err = math.Inf(1), nil
			}
			if err != nil {
				return 0, false, fmt.Errorf("le=%q is not a number", le)
			}
			ok := false
			for _, b := range mt.GetHistogram().GetBucket() {
				if b.GetUpperBound() == bound {
					sum += float64(b.GetCumulativeCount())
					ok = true
				}
			}
			if !ok && !math.IsInf(bound, 1) {
				return 0, false, fmt.Errorf("%s has no bucket le=%q", strings.TrimSuffix(name, suffix), le)
			}
			if !ok {
				sum += float64(mt.GetHistogram().GetSampleCount())
			}
		default:
			switch family.GetType() {
			case dto.MetricType_COUNTER:
				sum += mt.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				sum += mt.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				sum += mt.GetUntyped().GetValue()
			default:
				return 0, false, fmt.Errorf("%s is a %v: name its _count, _sum or _bucket", name, family.GetType())
			}
		}
		found++
	}
	if found == 0 {
		return 0, false, fmt.Errorf("no sample of %s has the labels %v; there are %s", name, labels, strings.Join(seen, " "))
	}
	grows := family.GetType() == dto.MetricType_COUNTER || suffix != ""
	return sum, grows, nil
}

// ---------------------------------------------------------------- samepeers

// cmdSamepeers is
//
//	samepeers FILES1 REGEXP1 FILES2 REGEXP2
//
// FILES are comma-separated file names. Each REGEXP has either one capture
// group, an address IP:PORT, or two, its IP and its port. It checks that
// the addresses of the lines of FILES1 that match REGEXP1 are those of the
// lines of FILES2 that match REGEXP2, each as many times (for example, the
// clients HAProxy logged for a server are the clients that server
// logged), and prints "N connections, the same clients". It fails when no
// line matches: nothing compared proves nothing.
func cmdSamepeers(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: samepeers FILES1 REGEXP1 FILES2 REGEXP2")
	}
	a := peerAddrs(ts, args[0], args[1])
	b := peerAddrs(ts, args[2], args[3])
	if len(a) == 0 && len(b) == 0 {
		ts.Fatalf("samepeers: no line of %s matches %q, and none of %s matches %q", args[0], args[1], args[2], args[3])
	}
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	var diff []string
	for x, n := range count {
		switch {
		case n > 0:
			diff = append(diff, fmt.Sprintf("%s: %d more in %s", x, n, args[0]))
		case n < 0:
			diff = append(diff, fmt.Sprintf("%s: %d more in %s", x, -n, args[2]))
		}
	}
	if len(diff) > 0 {
		slices.Sort(diff)
		ts.Fatalf("samepeers: %d addresses in %s, %d in %s; they differ:\n%s", len(a), args[0], len(b), args[2], strings.Join(diff, "\n"))
	}
	fmt.Fprintf(ts.Stdout(), "%d connections, the same clients\n", len(a))
}

func peerAddrs(ts *testscript.TestScript, files, expr string) []string {
	re, err := regexp.Compile(expr)
	ts.Check(err)
	if n := re.NumSubexp(); n != 1 && n != 2 {
		ts.Fatalf("samepeers: %q has %d capture groups, want 1 (IP:PORT) or 2 (IP, PORT)", expr, n)
	}
	var addrs []string
	for _, f := range strings.Split(files, ",") {
		for line := range strings.Lines(ts.ReadFile(f)) {
			m := re.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
			switch {
			case m == nil:
			case len(m) == 2:
				addrs = append(addrs, m[1])
			default:
				addrs = append(addrs, net.JoinHostPort(m[1], m[2]))
			}
		}
	}
	return addrs
}
