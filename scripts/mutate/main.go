// Command mutate tests the mutants that gremlins v0.6.0 reports NOT COVERED
// only because Go's coverage profile has no counter for them (make mutate
// runs it after gremlins, on each package; see scripts/mutate.sh).
//
// Go's cover tool counts statements, so two kinds of expression never fall
// in a counted block however often the tests run them: the conditions of a
// switch's case clauses, and the initialisers of constants and package-level
// variables. gremlins matches each mutant's position against the profile,
// calls those NOT COVERED and never tests them (go-gremlins/gremlins#298).
// This command reads gremlins' JSON output, runs the package's tests once
// with a coverage profile, and sorts every NOT COVERED mutant:
//   - a case condition that ran (its clause's body ran, or a later clause's,
//     or the default's: the switch tried it before them), a
//     constant's initialiser, or a package-level variable's (run at every
//     start of the package): the tests do reach it. It is then tested as
//     gremlins would: the token swapped (through go test -overlay, the
//     module untouched), the package's tests run with -failfast and a
//     timeout, and KILLED (tests fail), LIVED (they pass), NOT VIABLE (it
//     does not build) or TIMED OUT;
//   - anything else stays NOT COVERED (no test runs it) if it builds, and
//     is NOT VIABLE if it does not.
//
// It prints one line per mutant it tested or kept, as gremlins does, and a
// last line "unmapped: killed K, lived L, timed out T, not viable V, not
// covered N" for the script.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mutations maps a gremlins mutator type to the token swaps it makes
// (gremlins v0.6.0, internal/engine/mappings.go); INVERT_NEGATIVES turns a
// unary minus into a plus.
var mutations = map[string]map[string]string{
	"ARITHMETIC_BASE":       {"+": "-", "*": "/", "/": "*", "%": "*", "-": "+"},
	"CONDITIONALS_BOUNDARY": {">=": ">", ">": ">=", "<=": "<", "<": "<="},
	"CONDITIONALS_NEGATION": {"==": "!=", "!=": "==", ">=": "<", ">": "<=", "<=": ">", "<": ">="},
	"INCREMENT_DECREMENT":   {"++": "--", "--": "++"},
	"INVERT_NEGATIVES":      {"-": "+"},
	"INVERT_LOGICAL":        {"&&": "||", "||": "&&"},
	"INVERT_LOOPCTRL":       {"break": "continue", "continue": "break"},
}

type gremlinsOutput struct {
	Files []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

type mutant struct {
	file         string // relative to the package folder
	line, column int
	typ          string
	why          string // what Go's coverage cannot see here; "" if not reached
	status       string
}

func main() {
	out := flag.String("json", "", "gremlins' JSON output (unleash -o)")
	dir := flag.String("dir", "", "the package's folder")
	tags := flag.String("tags", "", "build tags")
	coefficient := flag.Int("timeout-coefficient", 10, "a mutant's test run may take this many times the coverage run")
	workers := flag.Int("workers", 2, "test runs at once")
	flag.Parse()
	if err := run(*out, *dir, *tags, *coefficient, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(out, dir, tags string, coefficient, workers int) error {
	raw, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	var g gremlinsOutput
	if err := json.Unmarshal(raw, &g); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	var ms []*mutant
	for _, f := range g.Files {
		for _, m := range f.Mutations {
			if m.Status == "NOT COVERED" {
				ms = append(ms, &mutant{file: f.Name, line: m.Line, column: m.Column, typ: m.Type})
			}
		}
	}
	tmp, err := os.MkdirTemp("", "kemtcp-mutate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if len(ms) == 0 {
		fmt.Println("unmapped: killed 0, lived 0, timed out 0, not viable 0, not covered 0")
		return nil
	}

	profile := filepath.Join(tmp, "cover.out")
	start := time.Now()
	cmd := exec.Command("go", "test", "-count=1", "-tags", tags, "-coverprofile", profile, ".")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("coverage run: %w\n%s", err, b)
	}
	timeout := time.Since(start) * time.Duration(coefficient)
	covered, err := readProfile(profile)
	if err != nil {
		return err
	}

	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, m := range ms {
		f, ok := files[m.file]
		if !ok {
			f, err = parser.ParseFile(fset, filepath.Join(dir, m.file), nil, 0)
			if err != nil {
				return err
			}
			files[m.file] = f
		}
		m.why = reached(fset, f, m, covered[filepath.Base(m.file)])
	}

	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, workers))
	for i, m := range ms {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m.status = test(dir, tags, filepath.Join(tmp, strconv.Itoa(i)), m, timeout)
		})
	}
	wg.Wait()

	counts := map[string]int{}
	for _, m := range ms {
		counts[m.status]++
		why := " (" + m.why + ")"
		if m.why == "" {
			why = " (no test runs it)"
		}
		fmt.Printf("%12s %s at %s:%d:%d%s\n", m.status, m.typ, m.file, m.line, m.column, why)
	}
	fmt.Printf("unmapped: killed %d, lived %d, timed out %d, not viable %d, not covered %d\n",
		counts["KILLED"], counts["LIVED"], counts["TIMED OUT"], counts["NOT VIABLE"], counts["NOT COVERED"])
	return nil
}

// span is a counted block of a coverage profile.
type span struct{ l0, c0, l1, c1 int }

// readProfile returns, per file name (base name: one package), the blocks
// the tests ran.
func readProfile(path string) (map[string][]span, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]span{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name.go:l0.c0,l1.c1 statements count
		line := sc.Text()
		colon := strings.LastIndex(line, ".go:")
		if colon < 0 {
			continue
		}
		var s span
		var stmts, count int
		if _, err := fmt.Sscanf(line[colon+4:], "%d.%d,%d.%d %d %d", &s.l0, &s.c0, &s.l1, &s.c1, &stmts, &count); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, line, err)
		}
		if count > 0 {
			name := filepath.Base(line[:colon+3])
			out[name] = append(out[name], s)
		}
	}
	return out, sc.Err()
}

func (s span) contains(p token.Position) bool {
	after := p.Line > s.l0 || p.Line == s.l0 && p.Column >= s.c0
	before := p.Line < s.l1 || p.Line == s.l1 && p.Column < s.c1
	return after && before
}

// reached says why the tests reach a mutant that the profile cannot show,
// or "" when nothing shows that they do.
func reached(fset *token.FileSet, f *ast.File, m *mutant, covered []span) string {
	ran := func(n ast.Node) bool {
		p := fset.Position(n.Pos())
		for _, s := range covered {
			if s.contains(p) {
				return true
			}
		}
		return false
	}
	inside := func(n ast.Node) bool {
		p, e := fset.Position(n.Pos()), fset.Position(n.End())
		at := token.Position{Line: m.line, Column: m.column}
		return (at.Line > p.Line || at.Line == p.Line && at.Column >= p.Column) &&
			(at.Line < e.Line || at.Line == e.Line && at.Column < e.Column)
	}
	why := ""
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && inside(g) {
			switch g.Tok {
			case token.CONST:
				return "a constant's value: Go's coverage has no counter for it"
			case token.VAR:
				return "a package-level variable's initialiser, run at every start of the package: Go's coverage has no counter for it"
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil || why != "" || !inside(n) {
			return false
		}
		sw, ok := n.(*ast.SwitchStmt)
		if !ok {
			return true
		}
		// The switch tries its cases in order, the default last: a case's
		// condition ran if its clause, a later one or the default ran.
		clauses := sw.Body.List
		clauseRan := func(c ast.Stmt) bool {
			cc := c.(*ast.CaseClause)
			return len(cc.Body) > 0 && ran(cc.Body[0])
		}
		for i, c := range clauses {
			cc := c.(*ast.CaseClause)
			for _, e := range cc.List {
				if !inside(e) {
					continue
				}
				for j, later := range clauses {
					if (j >= i || later.(*ast.CaseClause).List == nil) && clauseRan(later) {
						why = "a case condition the tests ran (its clause, a later one or the default ran): Go's coverage has no counter for it"
					}
				}
				return false
			}
		}
		return true
	})
	return why
}

// test applies the mutant through an overlay, and runs the package's tests
// if they reach it. A mutant that does not build is NOT VIABLE, reached or
// not (e.g. a string concatenation made a subtraction): gremlins leaves
// those out of its numbers.
func test(dir, tags, work string, m *mutant, timeout time.Duration) string {
	path := filepath.Join(dir, m.file)
	src, err := os.ReadFile(path)
	if err != nil {
		return "NOT VIABLE"
	}
	off, err := offset(src, m.line, m.column)
	if err != nil {
		return "NOT VIABLE"
	}
	from, to := "", ""
	for f, t := range mutations[m.typ] {
		if strings.HasPrefix(string(src[off:]), f) && len(f) > len(from) {
			from, to = f, t
		}
	}
	if from == "" {
		return "NOT VIABLE"
	}
	mutated := append(append(append([]byte{}, src[:off]...), to...), src[off+len(from):]...)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "NOT VIABLE"
	}
	file := filepath.Join(work, filepath.Base(path))
	overlay := filepath.Join(work, "overlay.json")
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {path: file}})
	if os.WriteFile(file, mutated, 0o644) != nil || os.WriteFile(overlay, ov, 0o644) != nil {
		return "NOT VIABLE"
	}
	// go test exits 1 for a build failure too: build first.
	build := exec.Command("go", "build", "-tags", tags, "-overlay", overlay, "-o", os.DevNull, ".")
	build.Dir = dir
	if build.Run() != nil {
		return "NOT VIABLE"
	}
	if m.why == "" {
		return "NOT COVERED"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-failfast", "-tags", tags,
		"-timeout", (timeout + 2*time.Second).String(), "-overlay", overlay, ".")
	cmd.Dir = dir
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "TIMED OUT"
	case err == nil:
		return "LIVED"
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return "KILLED"
	default:
		return "NOT VIABLE"
	}
}

// offset returns the byte offset of a 1-based line and byte column.
func offset(src []byte, line, column int) (int, error) {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(string(src[off:]), '\n')
		if i < 0 {
			return 0, fmt.Errorf("no line %d", line)
		}
		off += i + 1
	}
	if off+column-1 >= len(src) {
		return 0, fmt.Errorf("no column %d on line %d", column, line)
	}
	return off + column - 1, nil
}
