package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestRun: packages are reported as they finish, failing tests' output is
// shown, SKIPPED lines pass through (not a testscript file's echo of a
// skip line, which may not have run), and a failure makes the exit status 1.
func TestRun(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"a"}`,
		`{"Action":"start","Package":"b"}`,
		`{"Action":"output","Package":"a","Test":"TestX","Output":"    x_test.go:3: SKIPPED: liboqs tests\n"}`,
		`{"Action":"output","Package":"a","Test":"TestScript/curl","Output":"        > [!exec:curl] skip 'SKIPPED: curl is not installed'\n"}`,
		`{"Action":"output","Package":"b","Test":"TestBad","Output":"    bad_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"b","Test":"TestBad"}`,
		`{"Action":"output","Package":"b","Test":"TestGood","Output":"quiet\n"}`,
		`{"Action":"pass","Package":"b","Test":"TestGood"}`,
		`{"Action":"fail","Package":"b","Elapsed":1.25}`,
		`{"Action":"pass","Package":"a","Elapsed":0.5}`,
		`{"Action":"skip","Package":"c"}`,
		`# a build error line`,
	}, "\n")
	var out strings.Builder
	code := run(strings.NewReader(in), &out, time.Hour)
	assert.Equal(t, 1, code)
	assert.Equal(t, "   x_test.go:3: SKIPPED: liboqs tests\n"+
		"FAIL b (1.2s)\n"+
		"--- output of TestBad:\n    bad_test.go:9: boom\n"+
		"ok   a (0.5s)\n"+
		"--   c (no tests)\n"+
		"# a build error line\n", out.String())

	out.Reset()
	assert.Equal(t, 0, run(strings.NewReader(`{"Action":"pass","Package":"a","Elapsed":2}`), &out, time.Hour))
	assert.Equal(t, "ok   a (2.0s)\n", out.String())
}

// TestStillRunning: a package that runs long is named every period.
func TestStillRunning(t *testing.T) {
	r, w := ioPipe()
	var out syncBuilder
	done := make(chan int)
	go func() { done <- run(r, &out, 20*time.Millisecond) }()
	w.Write([]byte(`{"Action":"start","Package":"slow"}` + "\n"))
	assert.Eventually(t, func() bool { return strings.Contains(out.String(), "... still running: slow (") }, 5*time.Second, 5*time.Millisecond)
	w.Write([]byte(`{"Action":"pass","Package":"slow","Elapsed":1}` + "\n"))
	w.Close()
	assert.Equal(t, 0, <-done)
}
