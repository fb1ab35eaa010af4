package kem_test

// Project Wycheproof's ML-KEM vectors (testdata/wycheproof, see
// testdata/README.md), run on every compiled-in backend.
//
// Each file names its schema, and the schema decides how its tests run:
//
//	mlkem_test                      seed d||z → key pair (ek must match); decapsulate c → K.
//	                                invalid: a seed or a ciphertext of the wrong size.
//	mlkem_encaps_test               ek and m → c and K (EncapsulateDerand).
//	                                invalid: an ek of the wrong size or one failing the
//	                                FIPS 203 modulus check, refused by NewEncapsulationKey.
//	mlkem_keygen_seed_test          seed → ek and the expanded dk (through kem.Expander).
//	mlkem_semi_expanded_decaps_test expanded dk and c → K (through kem.ExpandedKeyParser).
//	                                invalid: a dk or c of the wrong size, a dk failing the
//	                                FIPS 203 hash check.
//
// A test a backend cannot run is counted as skipped with its reason, and the
// counts are logged at the end. A skip is only accepted where
// documentedCapabilities says the backend lacks the interface, and each file
// must be run in full by at least one backend.

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

const wycheproofDir = "testdata/wycheproof"

// The four schemas of the ML-KEM files, and the test group type each uses.
const (
	schemaDecaps       = "mlkem_test_schema.json"
	schemaEncaps       = "mlkem_encaps_test_schema.json"
	schemaKeyGenSeed   = "mlkem_keygen_seed_test_schema.json"
	schemaSemiExpanded = "mlkem_semi_expanded_decaps_test_schema.json"
)

// Test results and flags used by the files.
const (
	resultValid   = "valid"
	resultInvalid = "invalid"

	flagModulusOverflow   = "ModulusOverflow"
	flagIncorrectDKLength = "IncorrectDecapsulationKeyLength"
	flagIncorrectCTLength = "IncorrectCiphertextLength"
	flagInvalidDecapsKey  = "InvalidDecapsulationKey"

	wycheproofAlgorithm = "ML-KEM"
	wycheproofFiles     = 12 // four schemas, three parameter sets
)

// Skip reasons, as they appear in the logged counts.
const (
	skipUnsupportedAlg = "%s not implemented"
	skipNoExpander     = "no kem.Expander: ek checked, expanded dk not"
	skipNoParser       = "no kem.ExpandedKeyParser"
)

// wpFile is one Wycheproof test vector file. Unknown fields are refused
// when decoding, so a change of schema cannot go unnoticed.
type wpFile struct {
	Algorithm     string            `json:"algorithm"`
	Schema        string            `json:"schema"`
	NumberOfTests int               `json:"numberOfTests"`
	Notes         map[string]wpNote `json:"notes"`
	TestGroups    []wpGroup         `json:"testGroups"`
}

type wpNote struct {
	BugType     string `json:"bugType"`
	Description string `json:"description"`
}

type wpGroup struct {
	Type   string `json:"type"`
	Source struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"source"`
	ParameterSet string   `json:"parameterSet"`
	Tests        []wpTest `json:"tests"`
}

// wpTest is one test case. Fields that not every schema has are pointers,
// so that a missing field is told apart from an empty one.
type wpTest struct {
	TcID    *int      `json:"tcId"`
	Comment string    `json:"comment"`
	Flags   *[]string `json:"flags"`
	Result  *string   `json:"result"`
	Seed    *hexField `json:"seed"`
	EK      *hexField `json:"ek"`
	DK      *hexField `json:"dk"`
	M       *hexField `json:"m"`
	C       *hexField `json:"c"`
	K       *hexField `json:"K"`
}

// hexField is a hex-encoded byte string.
type hexField []byte

func (h *hexField) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("bad hex string (%d characters): %w", len(s), err)
	}
	*h = d
	return nil
}

// field returns a field by its JSON name and whether the test has it.
func (tc *wpTest) field(name string) (present bool, value []byte) {
	var f *hexField
	switch name {
	case "tcId":
		return tc.TcID != nil, nil
	case "flags":
		return tc.Flags != nil, nil
	case "result":
		return tc.Result != nil, nil
	case "seed":
		f = tc.Seed
	case "ek":
		f = tc.EK
	case "dk":
		f = tc.DK
	case "m":
		f = tc.M
	case "c":
		f = tc.C
	case "K":
		f = tc.K
	default:
		panic("wycheproof_test: unknown field " + name)
	}
	if f == nil {
		return false, nil
	}
	return true, *f
}

// require fails the test unless every named field is present.
func (tc *wpTest) require(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		present, _ := tc.field(name)
		require.Truef(t, present, "test case lacks the %q field", name)
	}
}

func (tc *wpTest) hasFlag(flag string) bool {
	return tc.Flags != nil && slices.Contains(*tc.Flags, flag)
}

func (tc *wpTest) describe() string {
	flags := ""
	if tc.Flags != nil && len(*tc.Flags) > 0 {
		flags = " " + strings.Join(*tc.Flags, ",")
	}
	return fmt.Sprintf("tcId %d (%s%s)", *tc.TcID, tc.Comment, flags)
}

// wpRunner runs one test case on one Scheme. It returns "" when it checked
// everything the test case holds, or the reason it (partly) skipped it.
type wpRunner func(t *testing.T, s kem.Scheme, tc *wpTest) (skipReason string)

// wpSchemas maps each schema to its test group type and runner.
var wpSchemas = map[string]struct {
	groupType string
	run       wpRunner
}{
	schemaDecaps:       {"MLKEMTest", runDecapsTest},
	schemaEncaps:       {"MLKEMEncapsTest", runEncapsTest},
	schemaKeyGenSeed:   {"MLKEMKeyGen", runKeyGenSeedTest},
	schemaSemiExpanded: {"MLKEMDecapsValidationTest", runSemiExpandedTest},
}

// wpTally counts what one backend did with one file.
type wpTally struct {
	run     int
	skipped map[string]int // by reason
}

func (c *wpTally) skip(reason string, n int) {
	if c.skipped == nil {
		c.skipped = map[string]int{}
	}
	c.skipped[reason] += n
}

func (c *wpTally) total() int {
	n := c.run
	for _, k := range c.skipped {
		n += k
	}
	return n
}

func (c *wpTally) String() string {
	s := fmt.Sprintf("%d run", c.run)
	reasons := make([]string, 0, len(c.skipped))
	for r := range c.skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		s += fmt.Sprintf(", %d skipped (%s)", c.skipped[r], r)
	}
	return s
}

func loadWycheproof(t *testing.T, path string) *wpFile {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	raw, err := io.ReadAll(zr) // to EOF, so the gzip checksum is verified
	require.NoError(t, err)
	require.NoError(t, zr.Close())

	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var file wpFile
	require.NoError(t, dec.Decode(&file), "decoding %s", path)
	_, err = dec.Token()
	require.ErrorIs(t, err, io.EOF, "data after the JSON document in %s", path)
	return &file
}

// TestWycheproof runs every test case of every file on every backend.
func TestWycheproof(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(wycheproofDir, "mlkem_*.json.gz"))
	require.NoError(t, err)
	require.Len(t, paths, wycheproofFiles, "files in %s", wycheproofDir)

	totals := map[string]*wpTally{}      // by backend, over all files
	seen := map[string]map[string]bool{} // schema → parameter sets covered
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".json.gz"), func(t *testing.T) {
			file := loadWycheproof(t, path)
			tallies := runWycheproofFile(t, file)
			if seen[file.Schema] == nil {
				seen[file.Schema] = map[string]bool{}
			}
			for _, g := range file.TestGroups {
				seen[file.Schema][g.ParameterSet] = true
			}

			best := 0
			for _, b := range kem.Backends() {
				c := tallies[b]
				require.Equalf(t, file.NumberOfTests, c.total(), "%s: tests run + skipped", b)
				best = max(best, c.run)
				t.Logf("%s (%d tests): %s: %s", name, file.NumberOfTests, b, c)
				if totals[b] == nil {
					totals[b] = &wpTally{}
				}
				totals[b].run += c.run
				for r, n := range c.skipped {
					totals[b].skip(r, n)
				}
			}
			require.Equalf(t, file.NumberOfTests, best, "%s: no backend ran all %d tests", name, file.NumberOfTests)
		})
	}

	// Every schema must have been seen for every algorithm.
	require.Len(t, seen, len(wpSchemas), "schemas covered")
	for schema, sets := range seen {
		for _, alg := range mlkemAlgorithms() {
			assert.Truef(t, sets[alg], "no %s test for %s", schema, alg)
		}
	}
	for _, b := range kem.Backends() {
		if c := totals[b]; c != nil {
			t.Logf("Wycheproof total: %s: %s", b, c)
		}
	}
}

// runWycheproofFile checks the file's structure, then runs its tests on
// every backend, and returns what each backend ran and skipped.
func runWycheproofFile(t *testing.T, file *wpFile) map[string]*wpTally {
	t.Helper()
	require.Equal(t, wycheproofAlgorithm, file.Algorithm)
	schema, ok := wpSchemas[file.Schema]
	require.Truef(t, ok, "unknown schema %q", file.Schema)

	n := 0
	ids := map[int]bool{}
	for _, g := range file.TestGroups {
		require.Equal(t, schema.groupType, g.Type)
		require.Contains(t, mlkemAlgorithms(), g.ParameterSet)
		for i := range g.Tests {
			tc := &g.Tests[i]
			tc.require(t, "tcId", "result")
			require.Falsef(t, ids[*tc.TcID], "duplicate tcId %d", *tc.TcID)
			ids[*tc.TcID] = true
			if tc.Flags != nil {
				for _, f := range *tc.Flags {
					require.Containsf(t, file.Notes, f, "tcId %d: flag %q is not described in notes", *tc.TcID, f)
				}
			}
		}
		n += len(g.Tests)
	}
	require.Equal(t, file.NumberOfTests, n, "numberOfTests against the tests in the file")

	tallies := map[string]*wpTally{}
	for _, b := range kem.Backends() {
		c := &wpTally{}
		tallies[b] = c
		t.Run(b, func(t *testing.T) {
			for _, g := range file.TestGroups {
				s, ok := lookupScheme(t, g.ParameterSet, b)
				if !ok {
					c.skip(fmt.Sprintf(skipUnsupportedAlg, g.ParameterSet), len(g.Tests))
					continue
				}
				for i := range g.Tests {
					tc := &g.Tests[i]
					reason := ""
					passed := t.Run(fmt.Sprintf("tcId=%d", *tc.TcID), func(t *testing.T) {
						reason = schema.run(t, s, tc)
					})
					if !passed || reason == "" { // a failed test was run, and failed the file
						c.run++
					} else {
						c.skip(reason, 1)
					}
				}
			}
		})
	}
	return tallies
}

// runDecapsTest runs an mlkem_test case: key pair from the seed, then
// decapsulation.
func runDecapsTest(t *testing.T, s kem.Scheme, tc *wpTest) string {
	t.Helper()
	tc.require(t, "flags", "seed", "c", "K")
	_, seed := tc.field("seed")
	_, c := tc.field("c")
	_, want := tc.field("K")
	hasEK, ek := tc.field("ek")

	switch *tc.Result {
	case resultValid:
		tc.require(t, "ek")
		dk, err := s.NewDecapsulationKey(seed)
		require.NoError(t, err, tc.describe())
		assert.Equal(t, seed, dk.Bytes(), "%s: seed", tc.describe())
		require.Equal(t, ek, dk.EncapsulationKey().Bytes(), "%s: ek", tc.describe())
		got, err := dk.Decapsulate(c)
		require.NoError(t, err, tc.describe())
		require.Equal(t, want, got, "%s: K", tc.describe())

		// The same through the expanded key, where the backend has one.
		if p, ok := s.(kem.ExpandedKeyParser); ok {
			if exp := expandedBytes(dk); exp != nil {
				dk2, err := p.NewDecapsulationKeyExpanded(exp)
				require.NoError(t, err, tc.describe())
				got, err := dk2.Decapsulate(c)
				require.NoError(t, err, tc.describe())
				require.Equal(t, want, got, "%s: K through the expanded key", tc.describe())
			}
		}
		return ""

	case resultInvalid:
		require.Empty(t, want, "%s: an invalid test with a K", tc.describe())
		if len(seed) != kem.SeedSize {
			dk, err := s.NewDecapsulationKey(seed)
			require.ErrorIs(t, err, kem.ErrSeedSize, "%s: %d-byte seed", tc.describe(), len(seed))
			require.Nil(t, dk)
			return ""
		}
		require.NotEqualf(t, s.Params().CiphertextSize, len(c), "%s: invalid with a seed and a ciphertext of the right sizes: the runner does not know what to check", tc.describe())
		dk, err := s.NewDecapsulationKey(seed)
		require.NoError(t, err, tc.describe())
		if hasEK {
			require.Equal(t, ek, dk.EncapsulationKey().Bytes(), "%s: ek", tc.describe())
		}
		got, err := dk.Decapsulate(c)
		require.ErrorIs(t, err, kem.ErrCiphertextSize, "%s: %d-byte ciphertext", tc.describe(), len(c))
		require.Nil(t, got)
		return ""
	}
	require.FailNow(t, "unknown result", "%s: %q", tc.describe(), *tc.Result)
	return ""
}

// runEncapsTest runs an mlkem_encaps_test case: derandomized encapsulation,
// or the refusal of a bad encapsulation key.
func runEncapsTest(t *testing.T, s kem.Scheme, tc *wpTest) string {
	t.Helper()
	tc.require(t, "flags", "ek", "m", "c", "K")
	_, ek := tc.field("ek")
	_, m := tc.field("m")
	_, wantC := tc.field("c")
	_, wantK := tc.field("K")

	switch *tc.Result {
	case resultValid:
		require.Len(t, m, kem.EncapsSeedSize, tc.describe())
		key, err := s.NewEncapsulationKey(ek)
		require.NoError(t, err, tc.describe())
		require.Equal(t, ek, key.Bytes(), "%s: ek", tc.describe())
		k, c, err := key.EncapsulateDerand(m)
		require.NoError(t, err, tc.describe())
		require.Equal(t, wantC, c, "%s: c", tc.describe())
		require.Equal(t, wantK, k, "%s: K", tc.describe())
		return ""

	case resultInvalid:
		require.Empty(t, wantC, tc.describe())
		require.Empty(t, wantK, tc.describe())
		key, err := s.NewEncapsulationKey(ek)
		require.Error(t, err, "%s: a bad encapsulation key was accepted", tc.describe())
		require.Nil(t, key)
		if len(ek) != s.Params().EncapsulationKeySize {
			require.ErrorIs(t, err, kem.ErrEncapsKeySize, "%s: %d-byte ek", tc.describe(), len(ek))
			require.False(t, tc.hasFlag(flagModulusOverflow), tc.describe())
		} else {
			require.ErrorIs(t, err, kem.ErrEncapsKey, "%s: modulus check", tc.describe())
		}
		return ""
	}
	require.FailNow(t, "unknown result", "%s: %q", tc.describe(), *tc.Result)
	return ""
}

// runKeyGenSeedTest runs an mlkem_keygen_seed_test case: the seed gives ek
// and, where the backend can show it, the expanded dk.
func runKeyGenSeedTest(t *testing.T, s kem.Scheme, tc *wpTest) string {
	t.Helper()
	tc.require(t, "seed", "ek", "dk")
	require.Equal(t, resultValid, *tc.Result, "%s: the runner only knows valid keygen tests", tc.describe())
	_, seed := tc.field("seed")
	_, ek := tc.field("ek")
	_, wantDK := tc.field("dk")
	require.Len(t, wantDK, paramsOf(t, s).DecapsulationKeySize, tc.describe())

	dk, err := s.NewDecapsulationKey(seed)
	require.NoError(t, err, tc.describe())
	require.Equal(t, seed, dk.Bytes(), "%s: seed", tc.describe())
	require.Equal(t, ek, dk.EncapsulationKey().Bytes(), "%s: ek", tc.describe())

	if p, ok := s.(kem.ExpandedKeyParser); ok {
		dk2, err := p.NewDecapsulationKeyExpanded(wantDK)
		require.NoError(t, err, tc.describe())
		require.Nil(t, dk2.Bytes(), "%s: a key loaded from its expanded form has no seed", tc.describe())
		require.Equal(t, ek, dk2.EncapsulationKey().Bytes(), "%s: ek of the loaded expanded key", tc.describe())
		if e, ok := dk2.(kem.Expander); ok {
			require.Equal(t, wantDK, e.ExpandedBytes(), "%s: expanded dk round trip", tc.describe())
		}
		// The seed's key and the loaded expanded key are the same key.
		k, c, err := dk.EncapsulationKey().EncapsulateDerand(bytes.Repeat([]byte{byte(*tc.TcID)}, kem.EncapsSeedSize))
		require.NoError(t, err)
		got, err := dk2.Decapsulate(c)
		require.NoError(t, err)
		require.Equal(t, k, got, "%s: decapsulation with the loaded expanded key", tc.describe())
	}

	e, ok := dk.(kem.Expander)
	if !ok {
		require.Falsef(t, capabilitiesOf(t, s.Backend()).expander, "%s is documented to implement kem.Expander", s.Backend())
		return skipNoExpander
	}
	require.Equal(t, wantDK, e.ExpandedBytes(), "%s: expanded dk", tc.describe())
	return ""
}

// runSemiExpandedTest runs an mlkem_semi_expanded_decaps_test case:
// loading an expanded dk (with the checks of FIPS 203, Section 7.3), then
// decapsulating.
func runSemiExpandedTest(t *testing.T, s kem.Scheme, tc *wpTest) string {
	t.Helper()
	tc.require(t, "flags", "dk", "c", "ek")
	_, dkBytes := tc.field("dk")
	_, c := tc.field("c")
	_, ek := tc.field("ek")

	p, ok := s.(kem.ExpandedKeyParser)
	if !ok {
		require.Falsef(t, capabilitiesOf(t, s.Backend()).expandedParser, "%s is documented to implement kem.ExpandedKeyParser", s.Backend())
		return skipNoParser
	}
	size := paramsOf(t, s).DecapsulationKeySize

	switch *tc.Result {
	case resultValid:
		tc.require(t, "K")
		_, want := tc.field("K")
		dk, err := p.NewDecapsulationKeyExpanded(dkBytes)
		require.NoError(t, err, tc.describe())
		require.Nil(t, dk.Bytes(), "%s: a key loaded from its expanded form has no seed", tc.describe())
		require.Equal(t, ek, dk.EncapsulationKey().Bytes(), "%s: ek", tc.describe())
		if e, ok := dk.(kem.Expander); ok {
			require.Equal(t, dkBytes, e.ExpandedBytes(), "%s: expanded dk round trip", tc.describe())
		}
		got, err := dk.Decapsulate(c)
		require.NoError(t, err, tc.describe())
		require.Equal(t, want, got, "%s: K", tc.describe())
		return ""

	case resultInvalid:
		if present, k := tc.field("K"); present {
			require.Empty(t, k, tc.describe())
		}
		dk, err := p.NewDecapsulationKeyExpanded(dkBytes)
		switch {
		case len(dkBytes) != size:
			require.True(t, tc.hasFlag(flagIncorrectDKLength), tc.describe())
			require.ErrorIs(t, err, kem.ErrDecapsKeySize, "%s: %d-byte dk", tc.describe(), len(dkBytes))
			require.Nil(t, dk)
		case tc.hasFlag(flagInvalidDecapsKey):
			require.ErrorIs(t, err, kem.ErrDecapsKey, "%s: hash check", tc.describe())
			require.Nil(t, dk)
		default:
			require.True(t, tc.hasFlag(flagIncorrectCTLength), "%s: the runner does not know what to check", tc.describe())
			require.NoError(t, err, tc.describe())
			require.NotEqual(t, s.Params().CiphertextSize, len(c), tc.describe())
			got, err := dk.Decapsulate(c)
			require.ErrorIs(t, err, kem.ErrCiphertextSize, "%s: %d-byte ciphertext", tc.describe(), len(c))
			require.Nil(t, got)
		}
		return ""
	}
	require.FailNow(t, "unknown result", "%s: %q", tc.describe(), *tc.Result)
	return ""
}
