package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
)

// teeoutMain is the command
//
//	teeout [-hold] FILE PROGRAM [ARGS...]
//
// It runs PROGRAM (one of programs) with its standard output also written to
// FILE as it comes, for waitfor to read while the program runs in the
// background (testscript shows a background command's output only once it
// has ended). With -hold, standard input stays open once the script's input
// is read, as a terminal does until Ctrl+D: the program then waits for more,
// until it is interrupted. Once PROGRAM has ended, teeout writes its exit
// code to FILE.exited, and exits with it.
func teeoutMain(args []string, stdin io.Reader, stdout io.Writer) int {
	fs := flag.NewFlagSet("teeout", flag.ContinueOnError)
	hold := fs.Bool("hold", false, "keep standard input open after its end")
	if err := fs.Parse(args); err != nil || fs.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: teeout [-hold] FILE PROGRAM [ARGS...]")
		return 125
	}
	file, name := fs.Arg(0), fs.Arg(1)
	p, ok := programs[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "teeout: no program %q\n", name)
		return 125
	}
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "teeout: %v\n", err)
		return 125
	}
	if *hold {
		stdin = io.MultiReader(stdin, neverEnding{})
	}
	code := p(fs.Args()[2:], stdin, io.MultiWriter(stdout, f))
	if err := f.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "teeout: %v\n", err)
		return 125
	}
	// FILE is whole: waitfor need not wait for more.
	if err := os.WriteFile(file+exitedSuffix, fmt.Appendf(nil, "%d\n", code), 0o666); err != nil {
		fmt.Fprintf(os.Stderr, "teeout: %v\n", err)
		return 125
	}
	return code
}

// exitedSuffix names the file that teeout writes, beside FILE, once
// PROGRAM has ended: its exit code.
const exitedSuffix = ".exited"

// neverEnding is input that never comes: Read blocks until the process ends.
type neverEnding struct{}

func (neverEnding) Read([]byte) (int, error) { select {} }

// exitcodeMain is the command
//
//	exitcode N PROGRAM [ARGS...]
//
// It runs PROGRAM (one of programs) and succeeds when PROGRAM exits with
// code N; otherwise it says what the code was and fails. (testscript's
// "! exec" tells only that a command failed, not how.)
func exitcodeMain(args []string, stdin io.Reader, stdout io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: exitcode N PROGRAM [ARGS...]")
		return 125
	}
	want, err := strconv.Atoi(args[0])
	p, ok := programs[args[1]]
	if err != nil || !ok {
		fmt.Fprintf(os.Stderr, "exitcode: want a code and a program, not %q %q\n", args[0], args[1])
		return 125
	}
	if got := p(args[2:], stdin, stdout); got != want {
		fmt.Fprintf(os.Stderr, "exitcode: %s exited with %d, want %d\n", args[1], got, want)
		return 125
	}
	return 0
}
