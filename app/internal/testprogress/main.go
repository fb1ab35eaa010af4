// Command testprogress turns `go test -json` output into what a person
// waiting for `make test` wants to see: one line per package as it
// finishes (ok, FAIL or skipped, with its time), the full output of every
// failing test, every SKIP line that says SKIPPED, and, while a package is
// still running, a line every 30 seconds naming it, so that a long package
// is never silent. It exits 1 if any package failed.
//
//	go test -json ./... | go run ./app/internal/testprogress
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type pkgState struct {
	start  time.Time
	output map[string][]string // test -> its output lines
	failed []string            // failed tests, in order
}

func main() { os.Exit(run(os.Stdin, os.Stdout, 30*time.Second)) }

func run(in io.Reader, out io.Writer, every time.Duration) int {
	var mu sync.Mutex
	running := map[string]*pkgState{}
	failed := false
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mu.Lock()
				var names []string
				for p, st := range running {
					names = append(names, fmt.Sprintf("%s (%v)", p, time.Since(st.start).Round(time.Second)))
				}
				mu.Unlock()
				if len(names) > 0 {
					slices.Sort(names)
					fmt.Fprintf(out, "   ... still running: %s\n", strings.Join(names, ", "))
				}
			}
		}
	}()
	defer close(done)

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Package == "" {
			fmt.Fprintln(out, sc.Text()) // build errors and the like
			continue
		}
		mu.Lock()
		st := running[e.Package]
		if st == nil {
			st = &pkgState{start: time.Now(), output: map[string][]string{}}
			running[e.Package] = st
		}
		switch {
		case e.Action == "output":
			st.output[e.Test] = append(st.output[e.Test], e.Output)
			// A testscript file's lines are echoed as "> line" whether
			// they run or not: "[!exec:curl] skip 'SKIPPED: ...'" is
			// echoed where curl is installed too. A skip that happens
			// prints its message as a line of its own.
			if strings.Contains(e.Output, "SKIPPED") && !strings.HasPrefix(strings.TrimLeft(e.Output, " \t"), "> ") {
				fmt.Fprint(out, "   "+strings.TrimLeft(e.Output, " "))
			}
		case e.Action == "fail" && e.Test != "":
			st.failed = append(st.failed, e.Test)
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			delete(running, e.Package)
			word := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "--  "}[e.Action]
			note := fmt.Sprintf("%.1fs", e.Elapsed)
			if e.Action == "skip" {
				note = "no tests"
			}
			fmt.Fprintf(out, "%s %s (%s)\n", word, e.Package, note)
			if e.Action == "fail" {
				failed = true
				for _, t := range st.failed {
					fmt.Fprintf(out, "--- output of %s:\n%s", t, strings.Join(st.output[t], ""))
				}
				if len(st.failed) == 0 { // the package itself failed: build error, panic, TestMain
					fmt.Fprint(out, strings.Join(st.output[""], ""))
				}
			}
		}
		mu.Unlock()
	}
	if failed {
		return 1
	}
	return 0
}
