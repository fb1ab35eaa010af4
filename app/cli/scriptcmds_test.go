package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/rogpeppe/go-internal/diff"
	"github.com/rogpeppe/go-internal/testscript"
)

// waitTimeout bounds waitfor: far above what a line takes to come, even
// on a loaded machine under -race.
const waitTimeout = 30 * time.Second

// scriptCmds are the scripts' own commands (see TestScript).
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"waitfor":   cmdWaitfor,
	"cmpout":    cmdCmpout,
	"clients":   cmdClients,
	"inorder":   cmdInorder,
	"signal":    cmdSignal,
	"httpget":   cmdHTTPGet,
	"concat":    cmdConcat,
	"jsonlines": cmdJSONLines,
}

// cmdWaitfor is
//
//	waitfor [-count N] FILE REGEXP [VAR...]
//
// It waits until a whole line of FILE (written by a background teeout)
// matches REGEXP, and sets each VAR to the text of the regexp's next
// capture group. With -count N, it waits for the Nth such line (a line
// that comes again, such as a second reload), and takes the VARs from it.
// It fails, showing FILE, when the program has ended (see teeout) or
// waitTimeout has passed without such a line.
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! waitfor")
	}
	count := 1
	if len(args) > 0 && args[0] == "-count" {
		if len(args) < 2 {
			ts.Fatalf("usage: waitfor [-count N] FILE REGEXP [VAR...]")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			ts.Fatalf("waitfor: -count wants a number from 1, not %q", args[1])
		}
		count, args = n, args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf("usage: waitfor [-count N] FILE REGEXP [VAR...]")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	vars := args[2:]
	if len(vars) > re.NumSubexp() {
		ts.Fatalf("waitfor: %d variables but %q has %d capture groups", len(vars), args[1], re.NumSubexp())
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(waitTimeout)
	for {
		// Whether the program has ended, then its output: all of it, then.
		code, err := os.ReadFile(path + exitedSuffix)
		ended := err == nil
		data, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			ts.Fatalf("waitfor: %v", err)
		}
		whole := data[:bytes.LastIndexByte(data, '\n')+1]
		seen := 0
		for line := range strings.Lines(string(whole)) {
			if m := re.FindStringSubmatch(strings.TrimSuffix(line, "\n")); m != nil {
				if seen++; seen < count {
					continue
				}
				for i, v := range vars {
					ts.Setenv(v, m[i+1])
				}
				return
			}
		}
		what := "no line"
		if count > 1 {
			what = fmt.Sprintf("%d lines, not %d,", seen, count)
		}
		if ended {
			ts.Fatalf("waitfor: %s of %s matched %q; the program ended (exit code %s) after writing:\n%s", what, args[0], args[1], bytes.TrimSpace(code), data)
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor: %s of %s matched %q within %v; it holds:\n%s", what, args[0], args[1], waitTimeout, data)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	// loopbackAddr is an IPv4 loopback address as Go prints it, and as the
	// original demo printed a peer: ('127.0.0.1', 5000).
	loopbackAddr   = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)
	loopbackPython = regexp.MustCompile(`\('127\.0\.0\.1', (\d+)\)`)
)

// cmdCmpout is
//
//	cmpout ACTUAL WANT
//
// It compares ACTUAL (stdout, stderr or a file) with the file WANT as cmpenv
// does ($VAR in WANT is the variable's value), except that in ACTUAL, the
// port of a loopback address that WANT does not name is replaced with the
// word PORT: a client's port is the kernel's choice, while the addresses a
// script knows (a server's, from waitfor) are compared.
func cmdCmpout(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cmpout ACTUAL WANT")
	}
	want := os.Expand(ts.ReadFile(args[1]), ts.Getenv)
	named := map[string]bool{}
	for _, re := range []*regexp.Regexp{loopbackAddr, loopbackPython} {
		for _, m := range re.FindAllStringSubmatch(want, -1) {
			named[m[1]] = true
		}
	}
	got := ts.ReadFile(args[0])
	for _, re := range []*regexp.Regexp{loopbackAddr, loopbackPython} {
		got = re.ReplaceAllStringFunc(got, func(s string) string {
			port := re.FindStringSubmatch(s)[1]
			if named[port] {
				return s
			}
			return strings.Replace(s, port, "PORT", 1)
		})
	}
	switch {
	case neg && got == want:
		ts.Fatalf("%s and %s do not differ", args[0], args[1])
	case neg || got == want:
		return
	}
	ts.Logf("%s", diff.Diff(args[0], []byte(got), args[1], []byte(want)))
	ts.Fatalf("%s and %s differ", args[0], args[1])
}

// cmdClients is
//
//	clients N M PROGRAM [ARGS...]
//
// It runs N processes of PROGRAM at once; process i (from 0) reads the M
// lines "c<i>-m<j>", j from 0. It fails unless each exits 0. Their standard
// outputs, then errors, one process after the other, become the command's.
func cmdClients(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! clients")
	}
	if len(args) < 3 {
		ts.Fatalf("usage: clients N M PROGRAM [ARGS...]")
	}
	n, err1 := strconv.Atoi(args[0])
	m, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || n < 1 || m < 0 {
		ts.Fatalf("clients: N and M must be counts, not %q and %q", args[0], args[1])
	}
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "GORACE"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	outs, errs := make([]bytes.Buffer, n), make([]bytes.Buffer, n)
	runErrs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		var in strings.Builder
		for j := range m {
			fmt.Fprintf(&in, "c%d-m%d\n", i, j)
		}
		cmd := exec.Command(args[2], args[3:]...)
		cmd.Dir, cmd.Env = ts.MkAbs("."), env
		cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(in.String()), &outs[i], &errs[i]
		wg.Go(func() { runErrs[i] = cmd.Run() })
	}
	wg.Wait()
	for i := range n {
		ts.Stdout().Write(outs[i].Bytes())
		ts.Stderr().Write(errs[i].Bytes())
	}
	for i, err := range runErrs {
		if err != nil {
			ts.Fatalf("clients: process %d: %v; its errors:\n%s", i, err, errs[i].Bytes())
		}
	}
}

// cmdInorder is
//
//	inorder FILE REGEXP N M
//
// REGEXP has two capture groups, a stream (a number) and a number in it.
// It checks that the lines of FILE (or stdout, stderr) that match are, for
// each stream from 0 to N-1, the numbers 0 to M-1 in order, each once, and
// that there is no other stream.
func cmdInorder(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! inorder")
	}
	if len(args) != 4 {
		ts.Fatalf("usage: inorder FILE REGEXP N M")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	if re.NumSubexp() != 2 {
		ts.Fatalf("inorder: %q needs two capture groups", args[1])
	}
	n, err1 := strconv.Atoi(args[2])
	m, err2 := strconv.Atoi(args[3])
	if err1 != nil || err2 != nil {
		ts.Fatalf("inorder: N and M must be counts, not %q and %q", args[2], args[3])
	}
	seen := map[int][]int{}
	for line := range strings.Lines(ts.ReadFile(args[0])) {
		sm := re.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if sm == nil {
			continue
		}
		s, err1 := strconv.Atoi(sm[1])
		x, err2 := strconv.Atoi(sm[2])
		if err1 != nil || err2 != nil {
			ts.Fatalf("inorder: %q: the groups are not numbers", line)
		}
		seen[s] = append(seen[s], x)
	}
	want := make([]int, m)
	for i := range want {
		want[i] = i
	}
	for s := range n {
		if !slices.Equal(seen[s], want) {
			ts.Fatalf("inorder: stream %d of %s: got %v, want 0 to %d in order", s, args[0], seen[s], m-1)
		}
		delete(seen, s)
	}
	for s := range seen {
		ts.Fatalf("inorder: unexpected stream %d in %s", s, args[0])
	}
}

// signals are the signals the command signal sends, by name.
var signals = map[string]syscall.Signal{
	"HUP":  syscall.SIGHUP,
	"INT":  syscall.SIGINT,
	"TERM": syscall.SIGTERM,
}

// cmdSignal is
//
//	signal SIG FILE
//
// It sends SIG (HUP, INT or TERM) to the program that a background teeout
// runs with output FILE (testscript's kill sends only INT and KILL, and
// only to the commands it started). It fails when that program has already
// ended. Send it once the program has said it is ready (waitfor): before
// it handles SIG, SIG may end it.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! signal")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: signal SIG FILE")
	}
	sig, ok := signals[args[0]]
	if !ok {
		ts.Fatalf("signal: unknown signal %q (want HUP, INT or TERM)", args[0])
	}
	path := ts.MkAbs(args[1])
	data, err := os.ReadFile(path + pidSuffix)
	if err != nil {
		ts.Fatalf("signal: no process id beside %s (is it a teeout's FILE?): %v", args[1], err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		ts.Fatalf("signal: %s%s: %v", args[1], pidSuffix, err)
	}
	if _, err := os.Stat(path + exitedSuffix); err == nil {
		ts.Fatalf("signal: the program of %s has ended", args[1])
	}
	ts.Check(syscall.Kill(pid, sig))
}

// cmdHTTPGet is
//
//	httpget URL FILE [STATUS]
//
// It GETs URL and writes the response's body to FILE. It fails unless the
// response's status code is STATUS (default 200). (Not curl: CI machines
// may have none.)
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! httpget")
	}
	if len(args) != 2 && len(args) != 3 {
		ts.Fatalf("usage: httpget URL FILE [STATUS]")
	}
	want := http.StatusOK
	if len(args) == 3 {
		var err error
		if want, err = strconv.Atoi(args[2]); err != nil {
			ts.Fatalf("httpget: STATUS must be a number, not %q", args[2])
		}
	}
	c := &http.Client{Timeout: waitTimeout}
	resp, err := c.Get(args[0])
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), body, 0o666))
	if resp.StatusCode != want {
		ts.Fatalf("httpget: %s answered %s, want %d; its body:\n%s", args[0], resp.Status, want, body)
	}
}

// cmdConcat is
//
//	concat DST SRC...
//
// It writes the contents of the files SRC (or stdout, stderr), one after
// the other, to DST, at once: into a new file beside DST, renamed onto it,
// so that a program that watches DST (kem-server's -authorized-keys) never
// reads it half-written.
func cmdConcat(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! concat")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: concat DST SRC...")
	}
	var data []byte
	for _, src := range args[1:] {
		data = append(data, ts.ReadFile(src)...)
	}
	dst := ts.MkAbs(args[0])
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".concat-*")
	ts.Check(err)
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	ts.Check(err)
	ts.Check(os.Rename(tmp.Name(), dst))
}

// cmdJSONLines is
//
//	jsonlines FILE KEY...
//
// It checks that FILE (or stdout, stderr) has at least one line, and that
// each of its lines is one JSON object with at least the keys KEY.
func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! jsonlines")
	}
	if len(args) < 1 {
		ts.Fatalf("usage: jsonlines FILE KEY...")
	}
	text := ts.ReadFile(args[0])
	if text == "" {
		ts.Fatalf("jsonlines: %s is empty", args[0])
	}
	for line := range strings.Lines(text) {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			ts.Fatalf("jsonlines: a line of %s is not a JSON object (%v): %q", args[0], err, line)
		}
		for _, k := range args[1:] {
			if _, ok := obj[k]; !ok {
				ts.Fatalf("jsonlines: a line of %s has no %q: %q", args[0], k, line)
			}
		}
	}
}
