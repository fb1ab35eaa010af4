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
			file := filepath.Join(t.TempDir(), "script.txt")
			if err := os.WriteFile(file, []byte(strings.TrimPrefix(tc.script, "\n")), 0o666); err != nil {
				t.Fatal(err)
			}
			var rt recordingT
			start := time.Now()
			testscript.RunT(&rt, testscript.Params{Files: []string{file}, Setup: scriptParams("", nil).Setup, Cmds: scriptCmds})
			rt.wait()
			log := rt.log.String()
			if tc.fails == "" {
				assert.False(t, rt.failed, "the script failed:\n%s", log)
				return
			}
			assert.True(t, rt.failed, "the script passed:\n%s", log)
			assert.Contains(t, log, tc.fails)
			assert.Less(t, time.Since(start), waitTimeout/2, "it waited for nothing")
		})
	}
}

// recordingT runs a script as testscript.T, recording whether it failed and
// what it logged, instead of failing the test.
type recordingT struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	failed bool
	log    strings.Builder
}

func (t *recordingT) Skip(args ...any) { t.Log(args...); runtime.Goexit() }
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
