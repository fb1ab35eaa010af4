package repocheck

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/cli"
	"github.com/kemtcp/kemtcp/app/internal/testutil"
)

const root = "../../.."

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	require.NoError(t, err)
	return string(b)
}

// block is a fenced code block of the README.
type block struct {
	lang   string
	marker string // the text of the "<!-- ... -->" comment just before it, if any
	lines  []string
}

func readmeBlocks(t *testing.T) []block {
	t.Helper()
	var blocks []block
	var cur *block
	marker := ""
	for _, l := range strings.Split(readFile(t, "README.md"), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "<!-- ") && strings.HasSuffix(l, " -->"):
			marker = strings.TrimSuffix(strings.TrimPrefix(l, "<!-- "), " -->")
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```"), marker: marker}
			marker = ""
		case cur != nil && l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, l)
		}
	}
	require.Nil(t, cur, "unterminated code block")
	return blocks
}

// makeTargets returns the Makefile's targets.
func makeTargets(t *testing.T) []string {
	var targets []string
	for _, m := range regexp.MustCompile(`(?m)^([a-z-]+):`).FindAllStringSubmatch(readFile(t, "Makefile"), -1) {
		targets = append(targets, m[1])
	}
	return targets
}

// words splits a shell command line into words (quotes removed; enough for
// the README's commands).
func words(line string) []string {
	var out []string
	var cur strings.Builder
	quote := rune(0)
	in := false
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestReadmeCommands: every command shown in a shell block exists and
// accepts the flags it is shown with.
func TestReadmeCommands(t *testing.T) {
	targets := makeTargets(t)
	checked := 0
	for _, b := range readmeBlocks(t) {
		if b.lang != "sh" {
			continue
		}
		for _, line := range b.lines {
			if i := strings.Index(line, "  #"); i >= 0 {
				line = line[:i]
			}
			line = strings.TrimSpace(strings.TrimPrefix(line, "$ "))
			line = strings.TrimSpace(strings.TrimSuffix(line, " &")) // in the background
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			for _, seg := range strings.Split(line, "|") {
				w := words(strings.TrimSpace(seg))
				for len(w) > 0 && strings.Contains(w[0], "=") { // VAR=value prefixes
					w = w[1:]
				}
				if len(w) == 0 {
					continue
				}
				cmd, args := w[0], w[1:]
				if cmd == "go" && len(args) >= 2 && args[0] == "run" {
					cmd, args = filepath.Base(args[1]), args[2:]
				}
				switch filepath.Base(cmd) {
				case "make":
					for _, a := range args {
						if !strings.Contains(a, "=") {
							assert.Contains(t, targets, a, "README: %q: no make target %q", line, a)
						}
					}
				case "kem-bench":
					// Checked by the benchmark's own module (app/bench, TestReadmeBenchCommands).
				case "kem-server", "kem-client":
					code, errOut := runHelp(filepath.Base(cmd), args)
					if strings.Contains(errOut, "liboqs is not compiled into this binary") {
						continue // checked by the build with the liboqs tag
					}
					assert.Equal(t, cli.ExitOK, code, "README: %q: %s", line, errOut)
				case "go":
					if len(args) > 0 && args[0] == "build" {
						for _, a := range args {
							if strings.HasPrefix(a, "./") {
								_, err := os.Stat(filepath.Join(root, strings.TrimSuffix(a, "/...")))
								assert.NoError(t, err, "README: %q", line)
							}
						}
					}
				case "printf", "echo", "docker", "apt-get", "git", "openssl", "benchstat", "curl", "grep", "haproxy", "ssh", "psql", "python3", "kubectl", "sudo", "export", "install", "cp", "systemctl":
					// Shown for the user's machine; docker is checked by building the image.
				default:
					if strings.HasPrefix(cmd, "scripts/") {
						_, err := os.Stat(filepath.Join(root, cmd))
						assert.NoError(t, err, "README: %q", line)
					} else {
						t.Errorf("README: %q: command %q is not checked by this test; teach it", line, cmd)
					}
				}
				checked++
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 15, "commands checked")
}

// runHelp runs a command's flag parsing with -h appended: it exits 0 when
// every flag shown exists and its value parses.
func runHelp(cmd string, args []string) (int, string) {
	var out, errOut bytes.Buffer
	args = append(slices.Clone(args), "-h")
	switch cmd {
	case "kem-server":
		return cli.Server(context.Background(), args, &out, &errOut, nil), errOut.String()
	case "kem-client":
		return cli.Client(context.Background(), args, strings.NewReader(""), &out, &errOut), errOut.String()
	}
	panic("runHelp: unknown command " + cmd)
}

// TestCIRunsReadmeTestCommand: .ci/run runs the README's test command.
func TestCIRunsReadmeTestCommand(t *testing.T) {
	readme := readFile(t, "README.md")
	_, tests, ok := strings.Cut(readme, "\n## Tests\n")
	require.True(t, ok)
	m := regexp.MustCompile("(?s)```sh\n([^\n]+)\n```").FindStringSubmatch(tests)
	require.NotNil(t, m)
	command := strings.TrimSpace(m[1])
	assert.Equal(t, "make test", command)
	assert.Contains(t, readFile(t, ".ci/run"), "exec "+command+"\n")
}

// TestDockerfileMatchesMakefile: the Dockerfile's liboqs defaults are the
// Makefile's, and the build script's pinned commit is the Makefile's.
func TestDockerfileMatchesMakefile(t *testing.T) {
	mk, df, sh := readFile(t, "Makefile"), readFile(t, "Dockerfile"), readFile(t, "scripts/build-liboqs.sh")
	for _, v := range []string{"LIBOQS_REPO", "LIBOQS_VERSION", "LIBOQS_COMMIT"} {
		m := regexp.MustCompile(`(?m)^` + v + `\s*\?=\s*(\S+)$`).FindStringSubmatch(mk)
		require.NotNil(t, m, "Makefile has no %s", v)
		if v != "LIBOQS_COMMIT" {
			assert.Regexp(t, `(?m)^ARG `+v+`=`+regexp.QuoteMeta(m[1])+`$`, df, "Dockerfile's %s", v)
		}
		assert.Contains(t, sh, v+":-"+m[1]+"}", "build-liboqs.sh's default %s", v)
	}
}

// syncBuffer is a buffer safe for concurrent use.
type syncBuffer = testutil.SyncBuffer

var normalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`), "SHA256:<fingerprint>"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:<port>"},
	{regexp.MustCompile(`\('127\.0\.0\.1', \d+\)`), "('127.0.0.1', <port>)"},
	{regexp.MustCompile(`recorded in \S+ \(`), "recorded in <known_hosts> ("},
	// Test binaries do not record module versions.
	{regexp.MustCompile(`github\.com/cloudflare/circl v[0-9.]+\)`), "github.com/cloudflare/circl)"},
}

func normalize(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, n := range normalizers {
			l = n.re.ReplaceAllString(l, n.repl)
		}
		out = append(out, l)
	}
	return out
}

// TestReadmeExamples runs the README's example sessions and compares what
// the programs print with what the README shows (addresses, ports and
// fingerprints aside).
func TestReadmeExamples(t *testing.T) {
	found := 0
	for _, b := range readmeBlocks(t) {
		name, ok := strings.CutPrefix(b.marker, "example: ")
		if !ok {
			continue
		}
		found++
		t.Run(name, func(t *testing.T) {
			var serverWant, clientWant, input []string
			serverArgs := []string{"-addr", "127.0.0.1:0", "-backend", "circl"} // go run: no liboqs tag
			clientArgs := []string{"-backend", "circl", "-known-hosts", filepath.Join(t.TempDir(), "known_hosts")}
			var part *[]string
			for _, l := range b.lines {
				switch {
				case strings.HasPrefix(l, "# Terminal") && strings.HasSuffix(l, "(server):"):
					part = &serverWant
				case strings.HasPrefix(l, "# Terminal") && strings.HasSuffix(l, "(client):"):
					part = &clientWant
				case l == "":
				case strings.HasPrefix(l, "$ kem-server"):
					serverArgs = append(serverArgs, words(l)[2:]...)
				case strings.HasPrefix(l, "$ kem-client"):
					clientArgs = append(clientArgs, words(l)[2:]...)
				case strings.HasPrefix(l, "> "):
					input = append(input, strings.TrimPrefix(l, "> "))
				default:
					require.NotNil(t, part, "line before '# Terminal': %q", l)
					*part = append(*part, l)
				}
			}
			if slices.Contains(clientArgs, "legacy") {
				clientArgs = slices.DeleteFunc(clientArgs, func(s string) bool { return strings.HasSuffix(s, "known_hosts") || s == "-known-hosts" })
			}

			if i := slices.Index(serverArgs, "-key"); i >= 0 {
				// A key file named in the example: made in a folder of
				// the test's own.
				t.Chdir(t.TempDir())
				var out, errOut bytes.Buffer
				require.Equal(t, cli.ExitOK, cli.Server(context.Background(), []string{"-genkey", serverArgs[i+1]}, &out, &errOut, nil), errOut.String())
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var sOut, sErr, cOut, cErr syncBuffer
			ready := make(chan net.Addr, 1)
			done := make(chan int, 1)
			go func() { done <- cli.Server(ctx, serverArgs, &sOut, &sErr, func(a net.Addr) { ready <- a }) }()
			var addr net.Addr
			select {
			case addr = <-ready:
			case <-time.After(20 * time.Second):
				t.Fatalf("server did not start: %s %s", sOut.String(), sErr.String())
			}
			code := cli.Client(ctx, append(clientArgs, "-addr", addr.String()), strings.NewReader(strings.Join(input, "\n")+"\n"), &cOut, &cErr)
			require.Equal(t, cli.ExitOK, code, cErr.String())
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(sOut.String(), serverWant[len(serverWant)-1]) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done

			split := func(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }
			gotServer := split(sOut.String())
			if !slices.Contains(serverArgs, "-once") {
				// The lines of the test's own Ctrl+C, which may come while
				// the client's connection winds down.
				gotServer = slices.DeleteFunc(gotServer, func(l string) bool {
					return l == "Server shutting down." || strings.HasPrefix(l, "Shutting down: waiting up to")
				})
			}
			assert.Equal(t, normalize(serverWant), normalize(gotServer), "server output")
			gotClient := append(split(cErr.String()), split(cOut.String())...)
			gotClient = slices.DeleteFunc(gotClient, func(s string) bool { return s == "" })
			assert.Equal(t, normalize(clientWant), normalize(gotClient), "client output")
		})
	}
	assert.Equal(t, 2, found, "example blocks")
}
