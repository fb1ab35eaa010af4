package repocheck

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outsideMessages are the quoted messages of the Troubleshooting section
// that programs other than kemtcp's print, with where they come from: no
// test of ours can hold them to a real output, so they are listed here.
var outsideMessages = map[string]string{
	"Package liboqs was not found in the pkg-config search path": "pkg-config, when go build -tags liboqs cannot find liboqs.pc",
}

// TestTroubleshootingQuotesAreReal: every message the README's
// Troubleshooting section quotes (in bold code) is one kemtcp really
// prints. The end-to-end scripts (app/cli/testdata) compare what the real
// commands print with the outputs they hold, so a quote found in one of
// them is held to the real output; the build scripts' messages are checked
// against the scripts themselves.
func TestTroubleshootingQuotesAreReal(t *testing.T) {
	readme := readFile(t, "README.md")
	_, section, ok := strings.Cut(readme, "\n## Troubleshooting\n")
	require.True(t, ok)
	section, _, _ = strings.Cut(section, "\n## ")

	var corpus strings.Builder
	for _, dir := range []string{"app/cli/testdata"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			corpus.Write(b)
			corpus.WriteString("\n")
			return err
		})
		require.NoError(t, err)
	}
	corpus.WriteString(buildLiboqsWithoutCMake(t))
	all := addrRE.ReplaceAllString(corpus.String(), "ADDR")

	quotes := regexp.MustCompile("\\*\\*`([^`]+)`\\*\\*").FindAllStringSubmatch(section, -1)
	require.GreaterOrEqual(t, len(quotes), 10, "quoted messages in Troubleshooting")
	for _, q := range quotes {
		if _, ok := outsideMessages[q[1]]; ok {
			continue
		}
		msg := addrRE.ReplaceAllString(q[1], "ADDR")
		assert.True(t, strings.Contains(all, msg),
			"README Troubleshooting quotes %q, which no end-to-end script shows kemtcp printing", q[1])
	}
}

// addrRE matches the addresses the scripts name by variable or the README
// by example.
var addrRE = regexp.MustCompile(`127\.0\.0\.1:\d+|\$ADDR\b|\$\{ADDR\}`)

// buildLiboqsWithoutCMake runs scripts/build-liboqs.sh where CMake is
// missing, and returns what it says.
func buildLiboqsWithoutCMake(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range []string{"bash", "dirname", "cat", "git", "ninja", "cc", "gcc"} {
		if p, err := exec.LookPath(tool); err == nil {
			require.NoError(t, os.Symlink(p, filepath.Join(bin, tool)))
		}
	}
	cmd := exec.Command(filepath.Join(bin, "bash"), filepath.Join(root, "scripts/build-liboqs.sh"))
	cmd.Env = []string{"PATH=" + bin, "LIBOQS_PREFIX=" + t.TempDir(), "LIBOQS_BUILD=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "build-liboqs.sh without cmake: %s", out)
	return string(out)
}
