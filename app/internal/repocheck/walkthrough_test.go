package repocheck

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// The README's walkthrough is a series of blocks, each after a marker:
//
//	<!-- walkthrough -->                   commands run one after another here
//	<!-- walkthrough: fails -->            the same, and the last one must fail
//	<!-- walkthrough: terminal N -->       one command that keeps running (a server)
//	<!-- walkthrough: ..., needs PROG -->  skipped, loudly, without PROG on PATH
//
// In a console block, "$ " starts a command and the lines up to the next
// command are its whole output, stdout and stderr as a terminal shows them;
// for a command that keeps running, the lines it prints first. The
// fingerprints the README shows stand for those of this run's keys (the first
// time a README fingerprint is compared with a real one, it stands for it from
// then on, commands included); /home/you stands for $HOME, and ports of
// client addresses and backend labels are normalised. TestWalkthrough runs
// every block in order, in an empty folder with its own $HOME and the
// commands built into bin/, as a new user would, and fails at the first
// output the README did not predict.

type step struct {
	terminal string // "" for the foreground
	fails    bool
	needs    []string
	commands []command
}

type command struct {
	line string
	want []string
}

func walkthroughSteps(t *testing.T) []step {
	t.Helper()
	var steps []step
	for _, b := range readmeBlocks(t) {
		if !strings.HasPrefix(b.marker, "walkthrough") {
			continue
		}
		var s step
		spec := strings.TrimPrefix(strings.TrimPrefix(b.marker, "walkthrough"), ":")
		for _, part := range strings.Split(spec, ",") {
			part = strings.TrimSpace(part)
			switch {
			case part == "":
			case part == "fails":
				s.fails = true
			case strings.HasPrefix(part, "terminal "):
				s.terminal = strings.TrimPrefix(part, "terminal ")
			case strings.HasPrefix(part, "needs "):
				s.needs = append(s.needs, strings.Fields(strings.TrimPrefix(part, "needs "))...)
			default:
				t.Fatalf("README: walkthrough marker %q: unknown %q", b.marker, part)
			}
		}
		require.Equal(t, "console", b.lang, "README: a walkthrough block is a console block")
		for _, l := range b.lines {
			if c, ok := strings.CutPrefix(l, "$ "); ok {
				s.commands = append(s.commands, command{line: c})
				continue
			}
			require.NotEmpty(t, s.commands, "README: walkthrough output before any command: %q", l)
			s.commands[len(s.commands)-1].want = append(s.commands[len(s.commands)-1].want, l)
		}
		if s.terminal != "" {
			require.Len(t, s.commands, 1, "README: a terminal runs one command")
		}
		steps = append(steps, s)
	}
	return steps
}

// fingerprints binds the README's fingerprints to this run's.
type fingerprints struct {
	byReadme map[string]string
}

var fpRE = regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`)

// match compares a README line with a real one, binding fingerprints.
func (f *fingerprints) match(want, got string) bool {
	wfp, gfp := fpRE.FindAllString(want, -1), fpRE.FindAllString(got, -1)
	if len(wfp) != len(gfp) {
		return false
	}
	bound := map[string]string{}
	for i := range wfp {
		if b, ok := f.byReadme[wfp[i]]; ok && b != gfp[i] {
			return false
		}
		bound[wfp[i]] = gfp[i]
	}
	if fpRE.ReplaceAllString(want, "SHA256:FP") != fpRE.ReplaceAllString(got, "SHA256:FP") {
		return false
	}
	for k, v := range bound {
		f.byReadme[k] = v
	}
	return true
}

// substitute puts this run's fingerprints in a command.
func (f *fingerprints) substitute(t *testing.T, line string) string {
	return fpRE.ReplaceAllStringFunc(line, func(fp string) string {
		got, ok := f.byReadme[fp]
		require.True(t, ok, "README: the command %q uses %s before any output showed it", line, fp)
		return got
	})
}

var walkNormalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\('127\.0\.0\.1', \d+\)`), "('127.0.0.1', PORT)"},
	{regexp.MustCompile(`backend \w+ \([^)]*\)`), "backend DEFAULT"},
}

func walkNormalize(l, home string) string {
	l = strings.ReplaceAll(l, home, "/home/you")
	for _, n := range walkNormalizers {
		l = n.re.ReplaceAllString(l, n.repl)
	}
	return l
}

// buildCommands builds kem-server and kem-client into dir/bin, with liboqs
// when this test binary has it.
func buildCommands(t *testing.T, dir string) {
	t.Helper()
	args := []string{"build", "-o", filepath.Join(dir, "bin") + "/"}
	if slices.Contains(kem.Backends(), kem.BackendLiboqs) {
		args = append(args, "-tags", "liboqs")
	}
	cmd := exec.Command("go", append(args, "./app/cmd/kem-server", "./app/cmd/kem-client")...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
}

// syncWriter is a bytes.Buffer safe for concurrent use.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.TrimRight(w.b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestWalkthrough runs the README's walkthrough, step by step.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the commands and runs the walkthrough")
	}
	steps := walkthroughSteps(t)
	require.GreaterOrEqual(t, len(steps), 8, "walkthrough steps")
	dir := t.TempDir()
	buildCommands(t, dir)
	home := filepath.Join(dir, "home")
	require.NoError(t, os.MkdirAll(home, 0o755))
	env := append(slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "HOME=") || strings.HasPrefix(e, "XDG_CONFIG_HOME=")
	}), "HOME="+home)
	fps := &fingerprints{byReadme: map[string]string{}}

	type running struct {
		cmd *exec.Cmd
		out *syncWriter
	}
	var bg []running
	t.Cleanup(func() {
		for _, r := range bg {
			r.cmd.Process.Signal(syscall.SIGINT)
		}
		for _, r := range bg {
			done := make(chan error, 1)
			go func() { done <- r.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("walkthrough: %q ended with %v at Ctrl+C:\n%s", r.cmd.Args, err, strings.Join(r.out.lines(), "\n"))
				}
			case <-time.After(15 * time.Second):
				r.cmd.Process.Kill()
				t.Errorf("walkthrough: %q did not stop at Ctrl+C", r.cmd.Args)
			}
		}
	})

	for i, s := range steps {
		var missing []string
		for _, prog := range s.needs {
			if _, err := exec.LookPath(prog); err != nil {
				missing = append(missing, prog)
			}
		}
		if len(missing) > 0 {
			t.Logf("SKIPPED: README walkthrough step %d (%s) needs %s, which is not installed", i+1, s.commands[0].line, strings.Join(missing, ", "))
			continue
		}
		for j, c := range s.commands {
			line := fps.substitute(t, c.line)
			cmd := exec.Command("bash", "-c", line)
			cmd.Dir, cmd.Env = dir, env
			out := &syncWriter{}
			cmd.Stdout, cmd.Stderr = out, out
			where := fmt.Sprintf("README walkthrough step %d: $ %s", i+1, c.line)
			if s.terminal != "" {
				require.NoError(t, cmd.Start(), where)
				bg = append(bg, running{cmd, out})
				// Wait for the lines it shows, then let it run.
				deadline := time.Now().Add(30 * time.Second)
				for len(out.lines()) < len(c.want) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				got := out.lines()
				require.GreaterOrEqual(t, len(got), len(c.want), "%s\nit printed only:\n%s", where, strings.Join(got, "\n"))
				compareLines(t, where, fps, home, c.want, got[:len(c.want)])
				if len(c.want) == 0 {
					waitListening(t, where, line)
				}
				continue
			}
			done := make(chan error, 1)
			require.NoError(t, cmd.Start(), where)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				<-done
				t.Fatalf("%s: did not finish within a minute", where)
			}
			last := j == len(s.commands)-1
			if s.fails && last {
				require.Error(t, err, "%s: the README says it fails", where)
			} else {
				require.NoError(t, err, "%s:\n%s", where, strings.Join(out.lines(), "\n"))
			}
			compareLines(t, where, fps, home, c.want, out.lines())
		}
	}
}

// compareLines fails unless got is want, line for line, after
// normalisation.
func compareLines(t *testing.T, where string, fps *fingerprints, home string, want, got []string) {
	t.Helper()
	ok := len(want) == len(got)
	for k := 0; ok && k < len(want); k++ {
		ok = fps.match(walkNormalize(want[k], "\x00"), walkNormalize(got[k], home))
	}
	if !ok {
		var g []string
		for _, l := range got {
			g = append(g, walkNormalize(l, home))
		}
		t.Fatalf("%s: the output is not what the README shows.\nREADME:\n%s\nreal (normalised):\n%s", where, strings.Join(want, "\n"), strings.Join(g, "\n"))
	}
}

// waitListening waits until a command that shows no output (a program not
// ours, such as python3 -m http.server PORT) accepts connections on the
// port it names, so that the next step finds it ready.
func waitListening(t *testing.T, where, line string) {
	t.Helper()
	m := regexp.MustCompile(`\b(\d{4,5})\b`).FindStringSubmatch(line)
	require.NotNil(t, m, "%s: no port to wait for", where)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := dialTCP("127.0.0.1:" + m[1]); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: nothing listens on port %s after 30 s", where, m[1])
}

func dialTCP(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
