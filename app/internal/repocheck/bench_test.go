package repocheck

import (
	"io"
	"strings"

	"github.com/kemtcp/kemtcp/app/bench"
)

// benchHelp checks kem-bench's flags; see TestReadmeCommands.
func benchHelp(args []string, stdout, stderr io.Writer) int {
	return bench.Main(args, strings.NewReader(""), stdout, stderr)
}
