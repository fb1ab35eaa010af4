package cli

import (
	"bufio"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFlagNamesExist: every flag that the program's texts name exists
// (issue 12 item 8: an error once told users to type a -kem flag that
// there never was). The texts are the string literals of app's non-test
// Go files (errors, hints, usage, log lines), and the README's kem-server
// and kem-client command lines and the flags its prose quotes (`-flag`).
// The flags are those kem-server -h and kem-client -h list (either
// command's: a client's hint may name the server's -authorized-keys), and
// -h itself. app/bench is kem-bench's own module, with its own flags, and
// is not scanned; nor is app/internal/testutil, the tests' support code.
func TestFlagNamesExist(t *testing.T) {
	defined := definedFlags(t)
	// Flags of other programs that the README's prose quotes on their own,
	// with whose they are. (A flag that follows another program's name in
	// the same text, "openssl pkey -in", is that program's: otherTool.)
	foreign := map[string]string{
		"tags":     "go build's",
		"benchmem": "go test's",
		"json":     "kem-bench's",
		"p":        "docker run's",
	}

	var named []flagUse
	named = append(named, goStringFlags(t, "..")...)
	named = append(named, readmeFlags(t, filepath.Join("..", "..", "README.md"))...)
	require.NotEmpty(t, named)
	seen := map[string]bool{}
	for _, u := range named {
		seen[u.flag] = true
		if defined[u.flag] {
			continue
		}
		if u.tool != "" {
			t.Logf("%s: -%s is %s's", u.where, u.flag, u.tool)
			continue
		}
		if tool, ok := foreign[u.flag]; ok {
			t.Logf("%s: -%s is %s", u.where, u.flag, tool)
			continue
		}
		t.Errorf("%s names -%s, which neither kem-server nor kem-client has: %q", u.where, u.flag, u.text)
	}
	// The scan finds what it should: flags named in errors and the README.
	for _, f := range []string{"proto", "alg", "pin", "known-hosts", "authorized-keys", "forget", "key"} {
		assert.True(t, seen[f], "no text names -%s: the scan misses texts", f)
	}
}

// flagUse is a flag named in a text.
type flagUse struct {
	flag  string // without its dash
	tool  string // the other program it follows in the text, if any
	where string // file:line
	text  string
}

// otherTool matches the name of a program that is not kemtcp's, and
// ours, kem-server's and kem-client's: a flag belongs to the last program
// named before it in its text, if any.
var otherTool = regexp.MustCompile(`\b(?:(openssl|ssh|ssh-keygen|docker|chmod|kem-bench|go (?:build|test|run|install|vet))|kem-server|kem-client)\b`)

// clauseEnd ends a clause of running text.
var clauseEnd = regexp.MustCompile(`[,;.:]\s`)

// lastTool returns the other program named last in the last clause of
// text, or "" when the last one named is ours, or none is.
func lastTool(text string) string {
	if ends := clauseEnd.FindAllStringIndex(text, -1); len(ends) > 0 {
		text = text[ends[len(ends)-1][1]:]
	}
	tools := otherTool.FindAllStringSubmatch(text, -1)
	if len(tools) == 0 {
		return ""
	}
	return tools[len(tools)-1][1]
}

// flagsIn returns the flags named in text, each with the other program
// named before it in text, if any.
func flagsIn(text, where string) []flagUse {
	var uses []flagUse
	for _, m := range flagInText.FindAllStringSubmatchIndex(text, -1) {
		uses = append(uses, flagUse{flag: text[m[2]:m[3]], tool: lastTool(text[:m[2]]), where: where, text: text})
	}
	return uses
}

// flagInText matches a flag in running text: a dash after a blank, an
// opening parenthesis, a quote or backquote, or at the start, then a
// lower-case name with inner dashes ("-known-hosts"; not "ML-KEM-768",
// "--rm" or "-1s").
var flagInText = regexp.MustCompile("(?:^|[\\s(\"'`])-([a-z][a-z0-9]*(?:-[a-z0-9]+)*)\\b")

// definedFlags returns the flags that kem-server -h and kem-client -h list,
// and h.
func definedFlags(t *testing.T) map[string]bool {
	defined := map[string]bool{"h": true, "help": true}
	line := regexp.MustCompile(`^  -(\S+)`)
	for name, run := range map[string]func(args []string, stdout, stderr io.Writer) int{
		"kem-server": func(args []string, stdout, stderr io.Writer) int {
			return Server(context.Background(), args, stdout, stderr, nil)
		},
		"kem-client": func(args []string, stdout, stderr io.Writer) int {
			return Client(context.Background(), args, nil, stdout, stderr)
		},
	} {
		var out strings.Builder
		require.Equal(t, ExitOK, run([]string{"-h"}, &out, io.Discard), name)
		n := 0
		for _, l := range strings.Split(out.String(), "\n") {
			if m := line.FindStringSubmatch(l); m != nil {
				defined[m[1]] = true
				n++
			}
		}
		require.Greater(t, n, 5, "%s -h lists no flags:\n%s", name, out.String())
	}
	return defined
}

// goStringFlags returns the flags named in the string literals of the
// non-test Go files under dir, except app/bench.
func goStringFlags(t *testing.T, dir string) []flagUse {
	var uses []flagUse
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// testutil is test support (it runs python3 -c), not the program's.
		if d.IsDir() && (d.Name() == "bench" || d.Name() == "testdata" || d.Name() == "testutil") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			uses = append(uses, flagsIn(s, fset.Position(lit.Pos()).String())...)
			return true
		})
		return nil
	})
	require.NoError(t, err)
	return uses
}

// readmeFlags returns the flags the README names: on the command lines of
// kem-server and kem-client (from the command to the end of the command:
// a shell separator, a closing backquote, a comment), and in prose, where
// a flag is quoted as code (`-flag` or `-flag VALUE`).
func readmeFlags(t *testing.T, path string) []flagUse {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	command := regexp.MustCompile(`(?:^|[\s/` + "`" + `(])(kem-(?:server|client)(?:\s[^|;&#` + "`" + `]*)?)(?:$|[|;&#` + "`" + `])`)
	quoted := regexp.MustCompile("`(-[a-z][^`]*)`")
	var uses []flagUse
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		where := path + ":" + strconv.Itoa(n)
		// A command line starts with its command: its flags are ours. A
		// quoted flag in prose is the program's named before it, if any.
		var spans [][]int
		spans = append(spans, command.FindAllStringSubmatchIndex(line, -1)...)
		spans = append(spans, quoted.FindAllStringSubmatchIndex(line, -1)...)
		for _, m := range spans {
			for _, u := range flagsIn(line[m[2]:m[3]], where) {
				if u.tool == "" {
					u.tool = lastTool(line[:m[2]])
				}
				u.text = line
				uses = append(uses, u)
			}
		}
	}
	require.NoError(t, sc.Err())
	return uses
}

// TestFlagsInText: what the scan of TestFlagNamesExist takes for a flag,
// and whose.
func TestFlagsInText(t *testing.T) {
	for text, want := range map[string][]string{
		"use -proto legacy":                               {"proto"},
		"-pubout needs -key FILE":                         {"pubout", "key"},
		"kem-client -forget %s":                           {"forget"},
		"choose another with -addr)":                      {"addr"},
		"ML-KEM-768, --rm, -1s, x-wing, -%s":              nil,
		"convert it with: openssl pkey -in OLD -out NEW":  {"openssl:in", "openssl:out"},
		"(for ssh -o ProxyCommand); kem-client -stdio":    {"ssh:o", "stdio"},
		"go run without -tags liboqs, then `-alg X-Wing`": {"go run:tags", "alg"},
		"(e.g. `go run` without `-tags liboqs`)":          {"go run:tags"},
	} {
		var got []string
		for _, u := range flagsIn(text, "") {
			if u.tool != "" {
				got = append(got, u.tool+":"+u.flag)
			} else {
				got = append(got, u.flag)
			}
		}
		assert.Equal(t, want, got, text)
	}
}
