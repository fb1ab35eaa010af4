package cli

import (
	"maps"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestOpsScripts runs the scripts of testdata/ops: kem-server replicas
// behind a real HAProxy (Debian's haproxy package; the scripts that need it
// skip with one loud line where it is absent), the PROXY protocol, the
// metrics, drains and restarts, as an operator runs them. They have what
// TestScript's scripts have (scriptParams), and
//
//   - $DEPLOY: the repository's scripts/deploy, whose haproxy.cfg lb start
//     runs;
//   - the commands lb, freeze, thaw, spawn, load, live, target, conn,
//     proxydial, metrics and samepeers (opscmds_test.go).
func TestOpsScripts(t *testing.T) {
	deploy, err := filepath.Abs("../../scripts/deploy")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, opsParams("testdata/ops", deploy))
}

// opsParams are scriptParams with the operations commands.
func opsParams(dir, deploy string) testscript.Params {
	p := scriptParams(dir, nil)
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		env.Setenv("DEPLOY", deploy)
		st := newOpsState()
		env.Values[opsKey{}] = st
		env.Defer(st.cleanup)
		return nil
	}
	cmds := maps.Clone(p.Cmds)
	maps.Copy(cmds, opsCmds)
	p.Cmds = cmds
	return p
}

// TestOpsCommands: the operations commands fail when they should, and say
// why; a script that passes with them proves something. ($OPSWAIT makes
// them give up on a hang within a second.)
func TestOpsCommands(t *testing.T) {
	deploy, err := filepath.Abs("../../scripts/deploy")
	if err != nil {
		t.Fatal(err)
	}
	const server = `
exec teeout server.out kem-server -addr 127.0.0.1:0 -metrics 127.0.0.1:0 -echo &server&
waitfor server.out '^Serving metrics at http://(\S+)/metrics' M
waitfor server.out '^Server listening on (\S+)$' ADDR
env URL=http://$M/metrics
`
	for _, tc := range []struct {
		name, script string
		fails        string // a line of the failed script's log; "" = passes
	}{
		{"metrics: what there is", server + `
metrics $URL kemtcp_connections_total == 0
metrics $URL kemtcp_connections_refused_total{limit="max_conns"} == 0
metrics $URL kemtcp_handshake_duration_seconds_count == 0
metrics $URL kemtcp_handshake_duration_seconds_bucket{le="0.0005"} == 0
metrics $URL kemtcp_handshake_duration_seconds_bucket{le="+Inf"} == 0
metrics $URL,$URL kemtcp_build_info >= 2
`, ""},
		{"metrics: a counter above the value fails at once", server + `
metrics $URL kemtcp_build_info == 1
metrics $URL kemtcp_connections_total == -1
`, "metrics: kemtcp_connections_total is 0, want -1"},
		{"metrics: a value not reached", server + `
metrics $URL kemtcp_connections_total >= 1
`, "metrics: kemtcp_connections_total >= 1: not within 1s; last seen: kemtcp_connections_total is 0"},
		{"metrics: no such metric", server + `
metrics $URL kemtcp_nope_total == 0
`, "no metric kemtcp_nope_total; there are kemtcp_build_info"},
		{"metrics: no such labels", server + `
metrics $URL kemtcp_connections_refused_total{limit="nope"} == 0
`, `no sample of kemtcp_connections_refused_total has the labels map[limit:nope]`},
		{"metrics: no such bucket", server + `
metrics $URL kemtcp_handshake_duration_seconds_bucket{le="0.123"} == 0
`, `kemtcp_handshake_duration_seconds has no bucket le="0.123"`},
		{"samepeers: the same", `
samepeers a '^conn (\S+) ' b '^from (\S+):(\d+)$'
stdout '^2 connections, the same clients$'
-- a --
conn 127.0.0.1:1000 r1
conn 127.0.0.1:1001 r1
-- b --
from 127.0.0.1:1001
from 127.0.0.1:1000
`, ""},
		{"samepeers: one more", `
samepeers a '^conn (\S+) ' b '^from (\S+):(\d+)$'
-- a --
conn 127.0.0.1:1000 r1
conn 127.0.0.1:1000 r1
-- b --
from 127.0.0.1:1000
`, "127.0.0.1:1000: 1 more in a"},
		{"samepeers: nothing to compare", `
samepeers a '^conn (\S+) ' b '^from (\S+)$'
-- a --
-- b --
`, "samepeers: no line of a matches"},
		{"spawn: one fails", `
spawn 2 1 0 kem-client -addr 127.0.0.1:1 -known-hosts none
`, "spawn: 2 of 2 failed"},
		{"load: failed runs", `
load start L 1 kem-client -addr 127.0.0.1:1 -known-hosts none
load more L 2
load stop L
`, "runs of L failed"},
		{"load: no echo", `
exec teeout quiet.out kem-server -addr 127.0.0.1:0 &quiet&
waitfor quiet.out '^Server listening on (\S+)$' ADDR
load start L 1 kem-client -addr $ADDR -known-hosts none
load more L 1
load stop L
`, `"L-0" did not come back`},
		{"live: the exit code", `
live start c.out kem-client -addr 127.0.0.1:1 -known-hosts none
live wait c.out 0
`, "live wait: the program writing c.out exited with 1, want 0"},
		{"live: a hang", server + `
live start c.out kem-client -addr $ADDR -known-hosts none
live wait c.out 0
`, "live wait: the program writing c.out is still running after 1s (it hangs)"},
		{"conn: a hang", server + `
conn open c $ADDR
conn hello c
conn ended c
`, "still open after 1s (a hang)"},
		{"conn: no echo", server + `
conn open c $ADDR
conn echo c hello
`, `sent "hello", got`},
		{"conn: several", server + `
conn open c $ADDR -n 3
conn hello c
conn close c
conn open c $ADDR -n 2
conn ended c
`, "conn ended: 2 of 2 connections failed"},
		{"proxydial: a hang", `
target ECHO
proxydial $ECHO
`, "proxydial: the server did not close the connection within 1s (a hang), after 0 bytes"},
		{"target: -proxy takes the header's client", `
target ECHO -proxy
conn open proxied $ECHO -claim 10.1.1.1:1234
conn echo proxied hello
grep '^10\.1\.1\.1:1234$' ECHO.peers
`, ""},
		{"target: -proxy needs a header", `
target ECHO -proxy
conn open plain $ECHO
conn echo plain hello
`, `sent "hello", got "" back (EOF)`},
		{"freeze: nothing to freeze", `
freeze nobody.out
`, "freeze: no process id beside nobody.out"},
		{"lb: a server the shipped file does not have", `
[!exec:haproxy] skip 'SKIPPED: HAProxy is not installed (apt-get install haproxy): the lb command is not checked'
lb start LB r1=127.0.0.1:1,127.0.0.1:2 r2=127.0.0.1:1,127.0.0.1:2 r3=127.0.0.1:1,127.0.0.1:2 r4=127.0.0.1:1,127.0.0.1:2
`, "lb start: scripts/deploy/haproxy.cfg: no server r4 in backend replicas"},
		{"lb: a server not given", `
[!exec:haproxy] skip 'SKIPPED: HAProxy is not installed (apt-get install haproxy): the lb command is not checked'
lb start LB r1=127.0.0.1:1,127.0.0.1:2
`, "server r2: not given"},
		{"lb: down, not up", `
[!exec:haproxy] skip 'SKIPPED: HAProxy is not installed (apt-get install haproxy): the lb command is not checked'
lb start LB r1=127.0.0.1:1,127.0.0.1:2 r2=127.0.0.1:1,127.0.0.1:2 r3=127.0.0.1:1,127.0.0.1:2
lb wait LB DOWN r1 r2 r3
lb wait LB UP r1
`, "lb wait: UP r1: not within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := opsParams("", deploy)
			setup := p.Setup
			p.Setup = func(env *testscript.Env) error {
				env.Setenv("OPSWAIT", "1s")
				return setup(env)
			}
			checkScript(t, p, tc.script, tc.fails)
		})
	}
}
