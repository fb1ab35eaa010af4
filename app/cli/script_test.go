package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kemtcp/kemtcp/app/kem"
)

// TestScript runs the scripts of testdata/script: kem-server and kem-client
// as processes, as a user runs them (see TestMain), one file per scenario.
// Besides testscript's own commands and conditions, the scripts have
//
//   - the programs kem-server and kem-client (main_test.go), kem-mitm (a
//     man in the middle, mitm_test.go), kem-badhello (a server that sends a
//     broken ServerHello, badhello_test.go), kem-dribble (a client or server
//     that stalls, dribble_test.go), and the wrappers teeout and exitcode
//     (wrappers_test.go), run with exec;
//   - the commands waitfor, cmpout, clients, inorder, signal, httpget,
//     concat and jsonlines (scriptcmds_test.go);
//   - the condition [liboqs]: the liboqs backend is compiled in;
//   - the condition [openssl-mlkem]: the openssl in PATH has ML-KEM
//     (OpenSSL 3.5 or newer);
//   - $BACKEND: the default backend as the server's start-up line names it;
//     $DEFAULT_BACKEND, its name; $BACKENDS, the backends compiled in, as -h
//     lists them.
//
// The scripts of testdata/script/matrix run once per protocol, KEM and pair
// of backends (server, client) that this binary supports (the legacy
// protocol: ML-KEM only), with $PROTO,
// $ALG, $SERVER_BACKEND, $SERVER_BACKEND_LABEL and $CLIENT_BACKEND set, and
// the condition [session] or [legacy] true.
func TestScript(t *testing.T) {
	t.Run("scenario", func(t *testing.T) {
		testscript.Run(t, scriptParams("testdata/script", nil))
	})
	t.Run("matrix", func(t *testing.T) {
		for _, proto := range []string{"session", "legacy"} {
			for _, alg := range kem.Algorithms() {
				for _, sb := range kem.Backends() {
					for _, cb := range kem.Backends() {
						if !supports(alg, sb) || !supports(alg, cb) || !protoCarries(proto, alg) {
							continue
						}
						vars := []string{
							"PROTO=" + proto,
							"ALG=" + alg,
							"SERVER_BACKEND=" + sb,
							"SERVER_BACKEND_LABEL=" + backendLabelFor(sb),
							"CLIENT_BACKEND=" + cb,
						}
						t.Run(fmt.Sprintf("%s/%s/%s-%s", proto, alg, sb, cb), func(t *testing.T) {
							t.Parallel()
							testscript.Run(t, scriptParams("testdata/script/matrix", vars))
						})
					}
				}
			}
		}
	})
}

// opensslMLKEM reports whether the openssl command in PATH lists ML-KEM-768
// among its KEMs (OpenSSL 3.5 or newer).
var opensslMLKEM = sync.OnceValue(func() bool {
	out, err := exec.Command("openssl", "list", "-kem-algorithms").Output()
	return err == nil && bytes.Contains(out, []byte("ML-KEM-768"))
})

// supports reports whether backend b implements alg in this binary.
func supports(alg, b string) bool {
	_, err := kem.Lookup(alg, b)
	return err == nil
}

// protoCarries reports whether protocol proto can carry alg: the legacy
// protocol is the original demo's, which knows only ML-KEM (xwing.txt
// checks that both commands refuse X-Wing with it).
func protoCarries(proto, alg string) bool {
	return proto != "legacy" || strings.HasPrefix(alg, "ML-KEM-")
}

// backendLabelFor is how the server's start-up line names backend b: its
// name, and the library's version where it has one ("liboqs (liboqs
// 0.16.0)").
func backendLabelFor(b string) string {
	if v := kem.BackendVersion(b); v != b {
		return fmt.Sprintf("%s (%s)", b, v)
	}
	return b
}

func scriptParams(dir string, vars []string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Vars = append(env.Vars, vars...)
			env.Setenv("BACKEND", backendLabelFor(kem.DefaultBackend()))
			env.Setenv("DEFAULT_BACKEND", kem.DefaultBackend())
			env.Setenv("BACKENDS", strings.Join(kem.Backends(), ", "))
			// A -race binary sleeps a second at exit by default.
			env.Setenv("GORACE", strings.TrimSpace("atexit_sleep_ms=0 "+os.Getenv("GORACE")))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "liboqs":
				return slices.Contains(kem.Backends(), kem.BackendLiboqs), nil
			case "openssl-mlkem":
				return opensslMLKEM(), nil
			case "session", "legacy":
				return slices.Contains(vars, "PROTO="+cond), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: scriptCmds,
	}
}
