package session

import (
	"testing"

	"github.com/kemtcp/kemtcp/app/internal/testutil"
)

// sessionVectorsGenerator makes testdata/session-v1.json (see
// scripts/vectors/README.md).
const sessionVectorsGenerator = "../../scripts/vectors/gen_session_v1.py"

// sessionGeneratorProbe uses every pyca/cryptography feature the generator
// needs, so that a missing module or an old version skips the test instead
// of failing it.
const sessionGeneratorProbe = `
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
hashes.XOFHash(hashes.SHAKE128(digest_size=1))
HKDF.extract
`

// TestVectorsGenerator runs the committed generator of session-v1.json and
// checks that the committed file is its output, byte for byte: the known
// answers come from code independent of this package.
func TestVectorsGenerator(t *testing.T) {
	t.Parallel()
	testutil.CheckVectorsGenerator(t, sessionVectorsGenerator, sessionGeneratorProbe, "testdata/session-v1.json")
}

// TestVectorsV2Generator is TestVectorsGenerator for session-v2.json: its
// generator implements ML-KEM and X-Wing in Python too.
func TestVectorsV2Generator(t *testing.T) {
	t.Parallel()
	testutil.CheckVectorsGenerator(t, "../../scripts/vectors/gen_session_v2.py", sessionGeneratorProbe, "testdata/session-v2.json")
}
