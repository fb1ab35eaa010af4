package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stretchr/testify/assert"
)

// TestScriptCommands: the scripts' own commands and wrappers fail when they
// should, and say why; a script that passes with them proves something.
func TestScriptCommands(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		fails        string // a line of the failed script's log; "" = passes
	}{
		{"waitfor sets variables", `
exec teeout out exitcode 0 kem-server -genkey k.key
waitfor out '^Wrote a new (ML-KEM-\d+) private key to (\S+)$' ALG FILE
exists $FILE
grep '^Wrote a new '$ALG' private key to k\.key$' out
`, ""},
		{"waitfor does not wait for a program that has ended", `
exec teeout out kem-server -genkey k.key
waitfor out '^never$'
`, `waitfor: no line of out matched "^never$"; the program ended (exit code 0) after writing:`},
		{"waitfor needs the groups", `
waitfor out '^a$' A
`, `waitfor: 1 variables but "^a$" has 0 capture groups`},
		{"cmpout: a client's port is PORT", `
cmpout got want
-- got --
Connected by ('127.0.0.1', 5555)
Connection from 127.0.0.1:5555 failed
-- want --
Connected by ('127.0.0.1', PORT)
Connection from 127.0.0.1:PORT failed
`, ""},
		{"cmpout: a port the script knows stays", `
env ADDR=127.0.0.1:4321
cmpout got want
-- got --
Server listening on 127.0.0.1:4321
Connected by ('127.0.0.1', 5555)
-- want --
Server listening on $ADDR
Connected by ('127.0.0.1', PORT)
`, ""},
		{"cmpout: a port the script knows is compared", `
env ADDR=127.0.0.1:4321
cmpout got want
-- got --
Server listening on 127.0.0.1:1234
-- want --
Server listening on $ADDR
`, "got and want differ"},
		{"cmpout: text", `
cmpout got want
-- got --
Decrypted from client: one
-- want --
Decrypted from client: two
`, "got and want differ"},
		{"exitcode: another code", `
exec exitcode 1 kem-client -nope
`, "exitcode: kem-client exited with 2, want 1"},
		{"clients: one fails", `
clients 2 1 kem-client -addr 127.0.0.1:1 -known-hosts none
`, "clients: process 0: exit status 1"},
		{"waitfor -count waits for the Nth line", `
exec teeout out kem-server -genkey k.key
waitfor -count 2 out '^(\w+) ' SECOND
waitfor out '^(\w+) ' FIRST
grep '^'$FIRST' a new ' out
grep '^'$SECOND' key fingerprint: ' out
`, ""},
		{"waitfor -count does not take an earlier line", `
exec teeout out kem-server -genkey k.key
waitfor -count 3 out '^(\w+) '
`, `waitfor: 2 lines, not 3, of out matched "^(\\w+) "; the program ended (exit code 0) after writing:`},
		{"teeout -more: input that comes later", `
exec teeout srv.out kem-server -addr 127.0.0.1:0 &srv&
waitfor srv.out '^Server listening on (\S+)$' ADDR
stdin first.txt
exec teeout -more more.txt cl.out kem-client -addr $ADDR -known-hosts none &cl&
waitfor srv.out '^Decrypted from client: first$'
! grep later srv.out
mv later.txt more.txt
waitfor srv.out '^Decrypted from client: later$'
wait cl
kill -INT srv
wait srv
-- first.txt --
first
-- later.txt --
later
`, ""},
		{"teeout -stderr", `
exec teeout -stderr err.txt out exitcode 2 kem-server -nope
stderr '^kem-server: flag provided but not defined: -nope \(see -h\)$'
cmp stderr err.txt
`, ""},
		{"signal: a program that has ended", `
exec teeout out kem-server -genkey k.key
signal HUP out
`, "signal: the program of out has ended"},
		{"signal: not a teeout's file", `
signal HUP nothing
`, "signal: no process id beside nothing (is it a teeout's FILE?)"},
		{"signal: unknown signal", `
signal USR9 out
`, `signal: unknown signal "USR9" (want HUP, INT or TERM)`},
		{"signal: TERM", `
exec teeout srv.out kem-server -addr 127.0.0.1:0 &srv&
waitfor srv.out '^Server listening on (\S+)$'
signal TERM srv.out
wait srv
stdout '^Server shutting down\.$'
`, ""},
		{"httpget: another status", `
exec teeout srv.out kem-server -addr 127.0.0.1:0 -metrics 127.0.0.1:0 &srv&
waitfor srv.out '^Serving metrics at (http://\S+)/metrics ' URL
httpget $URL/nope body 200
`, "answered 404 Not Found, want 200"},
		{"concat", `
concat out a.txt b.txt
cmp out ab.txt
concat out b.txt
cmp out b.txt
-- a.txt --
a
-- b.txt --
b
-- ab.txt --
a
b
`, ""},
		{"concat: a missing file", `
concat out nothing
`, "nothing: no such file or directory"},
		{"jsonlines", `
jsonlines got time msg
-- got --
{"time":"now","msg":"one"}
{"msg":"two","time":"then","level":"INFO"}
`, ""},
		{"jsonlines: a key missing", `
jsonlines got time msg
-- got --
{"time":"now","msg":"one"}
{"msg":"two"}
`, `jsonlines: a line of got has no "time"`},
		{"jsonlines: not JSON", `
jsonlines got
-- got --
{"time":"now"}
Server shutting down.
`, "jsonlines: a line of got is not a JSON object"},
		{"jsonlines: empty", `
jsonlines got
-- got --
`, "jsonlines: got is empty"},
		{"inorder: in order", `
inorder got '^c(\d+)-m(\d+)$' 2 2
-- got --
c0-m0
c1-m0
c1-m1
other
c0-m1
`, ""},
		{"inorder: reordered", `
inorder got '^c(\d+)-m(\d+)$' 1 2
-- got --
c0-m1
c0-m0
`, "inorder: stream 0 of got: got [1 0], want 0 to 1 in order"},
		{"inorder: twice", `
inorder got '^c(\d+)-m(\d+)$' 1 1
-- got --
c0-m0
c0-m0
`, "inorder: stream 0 of got: got [0 0], want 0 to 0 in order"},
		{"inorder: a stream missing", `
inorder got '^c(\d+)-m(\d+)$' 2 1
-- got --
c0-m0
`, "inorder: stream 1 of got: got [], want 0 to 0 in order"},
		{"inorder: another stream", `
inorder got '^c(\d+)-m(\d+)$' 1 1
-- got --
c0-m0
c7-m0
`, "inorder: unexpected stream 7 in got"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkScript(t, testscript.Params{Setup: scriptParams("", nil).Setup, Cmds: scriptCmds}, tc.script, tc.fails)
		})
	}
}

// checkScript runs script with p (its Files replaced) as a recordingT and
// checks its outcome: it passes if fails is "", or else fails at once (not
// after a wait) with a log that contains fails. A script that skips itself
// skips t.
func checkScript(t *testing.T, p testscript.Params, script, fails string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "script.txt")
	if err := os.WriteFile(file, []byte(strings.TrimPrefix(script, "\n")), 0o666); err != nil {
		t.Fatal(err)
	}
	p.Files = []string{file}
	var rt recordingT
	start := time.Now()
	testscript.RunT(&rt, p)
	rt.wait()
	rt.skipIfSkipped(t)
	log := rt.log.String()
	if fails == "" {
		assert.False(t, rt.failed, "the script failed:\n%s", log)
		return
	}
	assert.True(t, rt.failed, "the script passed:\n%s", log)
	assert.Contains(t, log, fails)
	assert.Less(t, time.Since(start), waitTimeout/2, "it waited for nothing")
}

// recordingT runs a script as testscript.T, recording whether it failed (or
// skipped itself, and why) and what it logged, instead of failing the test.
type recordingT struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	failed  bool
	skipped string
	log     strings.Builder
}

func (t *recordingT) Skip(args ...any) {
	t.Log(args...)
	t.mu.Lock()
	t.skipped = strings.TrimSpace(fmt.Sprintln(args...))
	if t.skipped == "" {
		t.skipped = "SKIPPED: the script skipped itself"
	}
	t.mu.Unlock()
	runtime.Goexit()
}

// skipIfSkipped skips t, with the script's reason, if the script skipped
// itself (an outside program it needs is missing): it neither passed nor
// failed.
func (t *recordingT) skipIfSkipped(tt *testing.T) {
	if t.skipped != "" {
		tt.Skip(t.skipped)
	}
}
func (t *recordingT) Fatal(args ...any) {
	t.Log(args...)
	t.FailNow()
}
func (t *recordingT) Parallel() {}
func (t *recordingT) Log(args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(&t.log, args...)
}
func (t *recordingT) FailNow() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	runtime.Goexit()
}
func (t *recordingT) Run(name string, f func(testscript.T)) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f(t)
	}()
	t.wg.Wait()
}
func (t *recordingT) Verbose() bool { return false }
func (t *recordingT) wait()         { t.wg.Wait() }
