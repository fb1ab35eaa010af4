package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// teeoutMain is the command
//
//	teeout [-hold] [-more MORE] [-stderr ERRFILE] FILE PROGRAM [ARGS...]
//
// It runs PROGRAM (one of programs) with its standard output also written to
// FILE as it comes, for waitfor to read while the program runs in the
// background (testscript shows a background command's output only once it
// has ended). With -hold, standard input stays open once the script's input
// is read, as a terminal does until Ctrl+D: the program then waits for more,
// until it is interrupted. With -more, once the script's input is read, the
// program's input goes on with the file MORE as soon as it exists: the
// script types more when it is ready, by renaming a finished file to MORE
// (mv, which is atomic; a file written in place could be read half-written).
// With -stderr, its standard error is also written to ERRFILE as it comes
// (for waitfor: kem-server -log-format json logs there).
// teeout writes its process id to FILE.pid before PROGRAM starts (see the
// command signal), and once PROGRAM has ended, its exit code to
// FILE.exited, and exits with it.
func teeoutMain(args []string, stdin io.Reader, stdout io.Writer) int {
	fs := flag.NewFlagSet("teeout", flag.ContinueOnError)
	hold := fs.Bool("hold", false, "keep standard input open after its end")
	more := fs.String("more", "", "after standard input, read this `file` once it exists")
	errFile := fs.String("stderr", "", "also write standard error to this `file`")
	if err := fs.Parse(args); err != nil || fs.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: teeout [-hold] [-more MORE] [-stderr ERRFILE] FILE PROGRAM [ARGS...]")
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
	if err := os.WriteFile(file+pidSuffix, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o666); err != nil {
		fmt.Fprintf(os.Stderr, "teeout: %v\n", err)
		return 125
	}
	if *more != "" {
		stdin = io.MultiReader(stdin, &awaitedFile{path: *more})
	}
	if *hold {
		stdin = io.MultiReader(stdin, neverEnding{})
	}
	restoreStderr := func() error { return nil }
	if *errFile != "" {
		if restoreStderr, err = teeStderr(*errFile); err != nil {
			fmt.Fprintf(os.Stderr, "teeout: %v\n", err)
			return 125
		}
	}
	code := p(fs.Args()[2:], stdin, io.MultiWriter(stdout, f))
	if err := f.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "teeout: %v\n", err)
		return 125
	}
	if err := restoreStderr(); err != nil {
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

// Files that teeout writes beside FILE: its process id, and once PROGRAM
// has ended, its exit code.
const (
	pidSuffix    = ".pid"
	exitedSuffix = ".exited"
)

// awaitedFile reads the file at path, once it exists: until then, Read
// waits.
type awaitedFile struct {
	path string
	r    io.Reader
}

func (a *awaitedFile) Read(p []byte) (int, error) {
	for a.r == nil {
		data, err := os.ReadFile(a.path)
		switch {
		case err == nil:
			a.r = bytes.NewReader(data)
		case !errors.Is(err, fs.ErrNotExist):
			return 0, err
		default:
			time.Sleep(5 * time.Millisecond)
		}
	}
	return a.r.Read(p)
}

// teeStderr makes os.Stderr a pipe whose bytes go to the real standard
// error and to the file path as they come. The returned function puts the
// real standard error back, once all the bytes are written.
func teeStderr(path string) (restore func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	orig := os.Stderr
	os.Stderr = w
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(orig, f), r)
		copied <- err
	}()
	return func() error {
		os.Stderr = orig
		w.Close()
		err := <-copied
		r.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

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
