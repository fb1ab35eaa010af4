package testutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The known-answer files in testdata are made by Python generators in
// scripts/vectors/, independent of the Go code; CheckVectorsGenerator runs
// one and checks that the committed file is its output, byte for byte.

// CheckVectorsGenerator runs `python3 script OUT` and compares OUT with
// the file want. It skips, with one line saying why, where python3 is
// missing or cannot run probe (the generator's imports).
func CheckVectorsGenerator(t *testing.T, script, probe, want string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("SKIPPED: python3 not found, so %s is not checked against %s: %v", want, script, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python, "-c", probe)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Skipf("SKIPPED: python3 lacks pyca/cryptography >= 48, so %s is not checked against %s: %s",
			want, script, stderrLastLine(stderr.String(), err))
	}

	out := filepath.Join(t.TempDir(), filepath.Base(want))
	cmd = exec.CommandContext(ctx, python, script, out)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, got) {
		t.Errorf("%s is not what %s makes: %s\nremake it from the package directory (python3 %s %s) and review git diff",
			want, script, generatedDiff(committed, got), script, want)
	}
}

// generatedDiff says where the committed bytes and the generated ones
// first differ.
func generatedDiff(committed, generated []byte) string {
	i := 0
	for i < len(committed) && i < len(generated) && committed[i] == generated[i] {
		i++
	}
	excerpt := func(b []byte) string { return string(b[i:min(len(b), i+32)]) }
	return fmt.Sprintf("%d and %d bytes, first difference at byte %d (line %d): committed %q, generated %q",
		len(committed), len(generated), i, bytes.Count(committed[:i], []byte("\n"))+1,
		excerpt(committed), excerpt(generated))
}

// stderrLastLine is the last line of a command's stderr, or its error.
func stderrLastLine(stderr string, err error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return err.Error()
}
