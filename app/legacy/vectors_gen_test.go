package legacy

import (
	"testing"

	"github.com/kemtcp/kemtcp/app/internal/testutil"
)

// legacyVectorsGenerator makes testdata/legacy-compat.json (see
// scripts/vectors/README.md).
const legacyVectorsGenerator = "../../scripts/vectors/gen_legacy_compat.py"

// legacyGeneratorProbe uses every pyca/cryptography feature the generator
// needs (ML-KEM-768 and -1024 for its cross-check among them), so that a
// missing module, an old version or a backend without ML-KEM skips the test
// instead of failing it.
const legacyGeneratorProbe = `
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.asymmetric import mlkem
hashes.XOFHash(hashes.SHAKE128(digest_size=1))
hashes.Hash(hashes.SHA3_512())
mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes(64))
mlkem.MLKEM1024PrivateKey.from_seed_bytes(bytes(64))
`

// TestVectorsGenerator runs the committed generator of legacy-compat.json
// and checks that the committed file is its output, byte for byte: the
// known answers come from code independent of this package (a pure-Python
// FIPS 203 ML-KEM checked against pyca/cryptography, and CPython's pickle).
func TestVectorsGenerator(t *testing.T) {
	t.Parallel()
	testutil.CheckVectorsGenerator(t, legacyVectorsGenerator, legacyGeneratorProbe, "testdata/legacy-compat.json")
}
