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
