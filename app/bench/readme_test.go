package bench

import (
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeBenchCommands: every kem-bench command the repository's
// README shows accepts the flags it is shown with. (The main module's
// repocheck tests check the README's other commands.)
func TestReadmeBenchCommands(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	checked := 0
	for _, m := range regexp.MustCompile("(?m)^(?:\\$ )?(?:\\S*/)?kem-bench( [^|#\n]*)?").FindAllStringSubmatch(string(b), -1) {
		args := strings.Fields(m[1])
		code := Main(append(slices.Clone(args), "-h"), strings.NewReader(""), io.Discard, io.Discard)
		assert.Equal(t, 0, code, "README: kem-bench%s", m[1])
		checked++
	}
	assert.Positive(t, checked, "the README shows kem-bench")
}

// TestMakeBenchHelp: `make help` says what `make bench` runs: the Go
// benchmarks only if its recipe runs them.
func TestMakeBenchHelp(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^bench:[^#\n]*## (.*)\n((?:\t.*\n)*)`).FindStringSubmatch(string(b))
	require.NotNil(t, m, "the Makefile has a bench target with a help text")
	help, recipe := m[1], m[2]
	runsGoBench := regexp.MustCompile(`go\)? (-C \S+ )?test .*-bench`).MatchString(recipe)
	claims := regexp.MustCompile(`(?i)go benchmarks`).MatchString(help) && !regexp.MustCompile(`(?i)not the go benchmarks`).MatchString(help)
	assert.Equal(t, runsGoBench, claims, "help %q, recipe %q", help, recipe)
	assert.Contains(t, recipe, "kem-bench")
}
