package cli

import (
	"fmt"
	"maps"
	"os"
	"os/user"
	"slices"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kemtcp/kemtcp/app/kem"
)

// TestTunnelScripts runs the scripts of testdata/tunnel: kem-server -forward
// and kem-client -listen or -stdio as processes, in front of real programs
// that nobody here wrote (curl, python3's http.server, redis-server and
// redis-benchmark, iperf3, nc, socat, sshd and ssh) and of the test
// targets of tunnelcmds_test.go. A script whose outside program is not
// installed skips with one line that names it.
//
// The scripts have everything TestScript's have (script_test.go), and
//
//   - the programs eofecho, hashecho and slowsink (targets), logto (runs an
//     outside program with its output in a file, for waitfor) and
//     goroutines (runs one of the programs and counts its goroutines);
//   - the commands mkdata, sha256, freeport, readvar, expand, waitsize,
//     bgpid, proc, procmax, atmost, cmplog, hashdial, dialn and push;
//   - $USER, the user running the tests (for ssh);
//   - the condition [root]: the tests run as root.
//
// The scripts of testdata/tunnel/matrix run once per KEM and backend this
// binary has: each backend serves once per KEM it implements, to a client
// on the next backend (in kem.Backends' order), so that every backend is at
// each end; every other run requires a client key, so that each KEM and
// backend serves both kinds of ServerHello (version 1 without client keys,
// version 2 with). They have $ALG, $SERVER_BACKEND, $SERVER_BACKEND_LABEL,
// $CLIENT_BACKEND and $CLIENT_BACKEND_LABEL, and the condition [keys] when
// the server requires a client key.
func TestTunnelScripts(t *testing.T) {
	t.Run("scenario", func(t *testing.T) {
		testscript.Run(t, tunnelParams("testdata/tunnel", nil))
	})
	t.Run("matrix", func(t *testing.T) {
		for _, run := range tunnelMatrix() {
			t.Run(run.name, func(t *testing.T) {
				t.Parallel()
				testscript.Run(t, tunnelParams("testdata/tunnel/matrix", run.vars))
			})
		}
	})
}

// tunnelRun is one run of the matrix scripts.
type tunnelRun struct {
	name string
	vars []string
}

// tunnelMatrix lists the runs of the matrix scripts (see TestTunnelScripts).
func tunnelMatrix() []tunnelRun {
	var runs []tunnelRun
	for ai, alg := range kem.Algorithms() {
		var backends []string
		for _, b := range kem.Backends() {
			if supports(alg, b) {
				backends = append(backends, b)
			}
		}
		for i, sb := range backends {
			cb := backends[(i+1)%len(backends)]
			keys := (ai+i)%2 == 1
			vars := []string{
				"ALG=" + alg,
				"SERVER_BACKEND=" + sb,
				"SERVER_BACKEND_LABEL=" + backendLabelFor(sb),
				"CLIENT_BACKEND=" + cb,
				"CLIENT_BACKEND_LABEL=" + backendLabelFor(cb),
			}
			name := fmt.Sprintf("%s/%s-%s", alg, sb, cb)
			if keys {
				vars = append(vars, "KEYS=yes")
				name += "/client-key"
			}
			runs = append(runs, tunnelRun{name: name, vars: vars})
		}
	}
	return runs
}

// tunnelParams are scriptParams (script_test.go) with the tunnel scripts'
// commands, variables and conditions added.
func tunnelParams(dir string, vars []string) testscript.Params {
	p := scriptParams(dir, vars)
	cmds := maps.Clone(p.Cmds)
	for name, cmd := range tunnelCmds {
		if _, dup := cmds[name]; dup {
			panic("tunnel command " + name + " exists already")
		}
		cmds[name] = cmd
	}
	p.Cmds = cmds
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		u, err := user.Current()
		if err != nil {
			return err
		}
		env.Setenv("USER", u.Username)
		return nil
	}
	cond := p.Condition
	p.Condition = func(c string) (bool, error) {
		switch c {
		case "keys":
			return slices.Contains(vars, "KEYS=yes"), nil
		case "root":
			return os.Geteuid() == 0, nil
		}
		return cond(c)
	}
	return p
}

// TestTunnelCommands: the tunnel scripts' commands and programs fail when
// they should, and say why; a script that passes with them proves
// something.
func TestTunnelCommands(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		fails        string // a line of the failed script's log; "" = passes
	}{
		{"mkdata writes the same bytes every time", `
mkdata a 1000 A
sha256 a 117896f6a7fe78f28bc33a5d57c5d8a556da04ebe39ae5f33eec0d5b939e2e29
sha256 a $A
mkdata b 1001 B
! sha256 b $A
`, ""},
		{"sha256: other bytes", `
mkdata a 1000 A
sha256 a 017896f6a7fe78f28bc33a5d57c5d8a556da04ebe39ae5f33eec0d5b939e2e29
`, "a: 1000 bytes, SHA-256 117896f6a7fe78f28bc33a5d57c5d8a556da04ebe39ae5f33eec0d5b939e2e29; want 017896f6"},
		{"freeport: nothing listens there", `
freeport P
dialn 127.0.0.1:$P 1 x
`, "connect: connection refused"},
		{"readvar and expand", `
readvar V v.txt
expand in.txt out.txt
cmp out.txt want.txt
-- v.txt --
a value
-- in.txt --
[$V]
-- want.txt --
[a value]
`, ""},
		{"atmost", `
atmost 3 3
atmost 4 3
`, "atmost: 4 is more than 3"},
		{"hashdial and hashecho: every stream whole", `
exec teeout echo.out hashecho 127.0.0.1:0 &echo&
waitfor echo.out '^hashecho listening on (\S+)$' ECHO
hashdial $ECHO 20 100000 echo.out
stdout '^hashdial: 20 connections, \d+ bytes each way, the same at both ends$'
`, ""},
		{"hashdial: what comes back differs", `
exec teeout target.out eofecho 127.0.0.1:0 &target&
waitfor target.out '^eofecho listening on (\S+)$' TARGET
hashdial $TARGET 2 1000 target.out
`, "hashdial: connection 0 (0 bytes; seed"},
		{"push and slowsink: every byte arrives", `
exec teeout sink.out slowsink 127.0.0.1:0 1000000 200ms &sink&
waitfor sink.out '^slowsink listening on (\S+)$' SINK
push $SINK 3000000 10s PUSHED SUM
waitfor sink.out '^slowsink: received 3000000 bytes, sha256 '$SUM'$'
`, ""},
		{"push: an answer comes", `
exec teeout target.out eofecho 127.0.0.1:0 &target&
waitfor target.out '^eofecho listening on (\S+)$' TARGET
push $TARGET 1000 10s PUSHED SUM
`, "bytes came back"},
		{"dialn and eofecho: the answer after the end of stream", `
exec teeout target.out eofecho 127.0.0.1:0 &target&
waitfor target.out '^eofecho listening on (\S+)$' TARGET
dialn $TARGET 2 hello
stdout '^conn 0: 5 bytes: "hello"\nconn 1: 5 bytes: "hello"\n$'
waitfor target.out '^eofecho: read 5 bytes, answered, closed$'
`, ""},
		{"proc, procmax and goroutines", `
exec teeout g.out goroutines eofecho 127.0.0.1:0 &g&
waitfor g.out '^eofecho listening on '
bgpid g.out P
proc $P fds F
proc $P goroutines G
proc $P rss R
atmost 1 $G
atmost 4 $F
atmost 1 $R
procmax $P fds $F 0
procmax $P hwm 0 0
`, "'s hwm is"},
		{"bgpid: no such command", `
bgpid nothing P
`, `bgpid: 0 background commands have the argument "nothing"`},
		{"cmplog: durations", `
cmplog got want
-- got --
Tunnel 1 closed after 1.5s: 1 bytes up, 2 down (both sides finished).
Tunnel 2 closed after 1m2.003s: 1 bytes up, 2 down (both sides finished).
-- want --
Tunnel 1 closed after DURATION: 1 bytes up, 2 down (both sides finished).
Tunnel 2 closed after DURATION: 1 bytes up, 2 down (both sides finished).
`, ""},
		{"cmplog: another text", `
cmplog got want
-- got --
Tunnel 1 closed after 1.5s: 1 bytes up, 2 down (both sides finished).
-- want --
Tunnel 1 closed after DURATION: 1 bytes up, 3 down (both sides finished).
`, "got.cmplog and want differ"},
		{"logto: an outside program's output and exit code", `
[!exec:sh] skip 'SKIPPED: sh is not installed'
exec logto out sh -c 'echo hello; echo oops >&2; exit 3' &p&
waitfor out '^oops$'
waitfor out.exited '^3$'
grep '^hello$' out
`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tunnelParams("", nil)
			checkScript(t, testscript.Params{Setup: p.Setup, Cmds: p.Cmds, Condition: p.Condition}, tc.script, tc.fails)
		})
	}
}
