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
//     gremlins would: the token swapped in the syntax tree and the file
//     printed again (given to go test with -overlay, the module untouched), the package's tests run with -failfast and a
//     timeout, and KILLED (tests fail), LIVED (they pass), NOT VIABLE (it
//     does not build) or TIMED OUT;
//   - a mutant inside a block that ran by this run's own profile, or in a
//     statement that ran (the profile leaves out the rest of a statement
//     after a function literal in it);
//   - anything else stays NOT COVERED (no test runs it) if it builds, and
//     is NOT VIABLE if it does not.
//
// It prints one line per mutant it tested or kept, as gremlins does, and a
// last line "unmapped: killed K, lived L, timed out T, not viable V, not
// covered N" for the script.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
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
// (gremlins v0.6.0, internal/engine/mappings.go). As gremlins does, the
// swap is made in the syntax tree, which go/printer then writes out (with
// the parentheses a swapped && or || needs to keep the tree).
var mutations = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.NEQ: token.EQL, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ},
	"INCREMENT_DECREMENT":   {token.INC: token.DEC, token.DEC: token.INC},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
	"INVERT_LOGICAL":        {token.LAND: token.LOR, token.LOR: token.LAND},
	"INVERT_LOOPCTRL":       {token.BREAK: token.CONTINUE, token.CONTINUE: token.BREAK},
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
	at := token.Position{Line: m.line, Column: m.column}
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
		return (at.Line > p.Line || at.Line == p.Line && at.Column >= p.Column) &&
			(at.Line < e.Line || at.Line == e.Line && at.Column < e.Column)
	}
	for _, s := range covered {
		if s.contains(at) {
			return "in a block the tests ran, by this run's coverage profile"
		}
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
	// The innermost statement around the mutant: if it ran, so did the
	// mutant's expression (Go's profile leaves out, e.g., the rest of a
	// statement after a function literal in it), short-circuits aside.
	var stmt ast.Stmt
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil || !inside(n) {
			return false
		}
		if s, ok := n.(ast.Stmt); ok {
			if _, isBlock := n.(*ast.BlockStmt); !isBlock {
				stmt = s
			}
		}
		return true
	})
	if _, isCase := stmt.(*ast.CaseClause); stmt != nil && !isCase && ran(stmt) {
		return "its statement ran, by this run's coverage profile"
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
	mutated, err := mutate(path, m)
	if err != nil {
		return "NOT VIABLE"
	}
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

// mutate returns the source of path with m's token swapped in the syntax
// tree (the operator of a binary, unary, assignment, branch or ++/--
// statement at m's position, as gremlins finds them).
func mutate(path string, m *mutant) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	done := false
	ast.Inspect(f, func(n ast.Node) bool {
		var tok *token.Token
		var pos token.Pos
		switch n := n.(type) {
		case *ast.AssignStmt:
			tok, pos = &n.Tok, n.TokPos
		case *ast.BinaryExpr:
			tok, pos = &n.Op, n.OpPos
		case *ast.BranchStmt:
			tok, pos = &n.Tok, n.TokPos
		case *ast.IncDecStmt:
			tok, pos = &n.Tok, n.TokPos
		case *ast.UnaryExpr:
			tok, pos = &n.Op, n.OpPos
		default:
			return true
		}
		if p := fset.Position(pos); done || p.Line != m.line || p.Column != m.column {
			return true
		}
		if to, ok := mutations[m.typ][*tok]; ok {
			*tok, done = to, true
		}
		return true
	})
	if !done {
		return nil, fmt.Errorf("%s:%d:%d: no %s mutation there", path, m.line, m.column, m.typ)
	}
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
