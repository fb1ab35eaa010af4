package pickle

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenFile is testdata/golden.json.gz, made by testdata/gen_golden.py.
type goldenFile struct {
	Python string       `json:"python"`
	Cases  []goldenCase `json:"cases"`
}

type goldenCase struct {
	Name    string            `json:"name"`
	Value   json.RawMessage   `json:"value"`
	Refused string            `json:"refused"`
	Pickles map[string]string `json:"pickles"` // protocol -> hex
}

var loadGolden = sync.OnceValues(func() (*goldenFile, error) {
	f, err := os.Open("testdata/golden.json.gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var g goldenFile
	if err := json.NewDecoder(zr).Decode(&g); err != nil {
		return nil, err
	}
	return &g, nil
})

func golden(t testing.TB) *goldenFile {
	t.Helper()
	g, err := loadGolden()
	require.NoError(t, err)
	require.NotEmpty(t, g.Cases)
	return g
}

func (c goldenCase) pickle(t testing.TB, proto int) []byte {
	t.Helper()
	p, err := hex.DecodeString(c.Pickles[strconv.Itoa(proto)])
	require.NoError(t, err)
	require.NotEmpty(t, p)
	return p
}

var ustrAlphabet = []string{"a", "b", "c", "\u00e9", "\u20ac", "\U0001d11e"}

func patternBytes(n, k int) Bytes {
	b := make(Bytes, n)
	for i := range b {
		b[i] = byte(131*i + k)
	}
	return b
}

// buildSpec mirrors build() in gen_golden.py.
func buildSpec(raw json.RawMessage) (Value, error) {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &spec); err != nil || len(spec) != 1 {
		return nil, fmt.Errorf("bad spec %s", raw)
	}
	var nk struct{ N, K int }
	for kind, arg := range spec {
		switch kind {
		case "bytes", "astr", "ustr", "gendict":
			if err := json.Unmarshal(arg, &nk); err != nil {
				return nil, err
			}
		}
		switch kind {
		case "bytes":
			return patternBytes(nk.N, nk.K), nil
		case "hex":
			var s string
			if err := json.Unmarshal(arg, &s); err != nil {
				return nil, err
			}
			b, err := hex.DecodeString(s)
			return Bytes(b), err
		case "str":
			var s string
			err := json.Unmarshal(arg, &s)
			return String(s), err
		case "astr":
			var sb strings.Builder
			for i := range nk.N {
				sb.WriteByte(byte('a' + (i+nk.K)%26))
			}
			return String(sb.String()), nil
		case "ustr":
			var sb strings.Builder
			for i := range nk.N {
				sb.WriteString(ustrAlphabet[(i+nk.K)%len(ustrAlphabet)])
			}
			return String(sb.String()), nil
		case "dict":
			var items [][2]json.RawMessage
			if err := json.Unmarshal(arg, &items); err != nil {
				return nil, err
			}
			d := &Dict{}
			for _, it := range items {
				k, err := buildSpec(it[0])
				if err != nil {
					return nil, err
				}
				v, err := buildSpec(it[1])
				if err != nil {
					return nil, err
				}
				if err := d.Set(k, v); err != nil {
					return nil, err
				}
			}
			return d, nil
		case "gendict":
			d := &Dict{}
			for i := range nk.N {
				if err := d.Set(String(strconv.Itoa(i)), patternBytes(2, i)); err != nil {
					return nil, err
				}
			}
			return d, nil
		}
		return nil, fmt.Errorf("unknown spec kind %q", kind)
	}
	panic("unreachable")
}

func TestGoldenDecode(t *testing.T) {
	g := golden(t)
	for _, c := range g.Cases {
		want, err := buildSpec(c.Value)
		require.NoError(t, err, c.Name)
		for _, proto := range []int{3, 4, 5} {
			t.Run(fmt.Sprintf("%s/p%d", c.Name, proto), func(t *testing.T) {
				p := c.pickle(t, proto)
				got, err := Decode(p)
				if c.Refused != "" {
					require.ErrorIs(t, err, ErrNotAllowed)
					require.ErrorContains(t, err, "opcode "+c.Refused+" (")
					require.Nil(t, got)
					return
				}
				require.NoError(t, err)
				require.True(t, Equal(want, got), "decoded value differs from the spec")
			})
		}
	}
}

func TestGoldenEncode(t *testing.T) {
	g := golden(t)
	for _, c := range g.Cases {
		if c.Refused != "" {
			continue
		}
		v, err := buildSpec(c.Value)
		require.NoError(t, err, c.Name)
		for _, proto := range []int{3, 4, 5} {
			t.Run(fmt.Sprintf("%s/p%d", c.Name, proto), func(t *testing.T) {
				want := c.pickle(t, proto)
				got, err := EncodeProtocol(v, proto)
				require.NoError(t, err)
				requireSamePickle(t, want, got)
				if proto == DefaultProtocol {
					got, err := Encode(v)
					require.NoError(t, err)
					requireSamePickle(t, want, got)
				}
			})
		}
	}
}

// requireSamePickle compares two pickles and, when they differ, says where.
func requireSamePickle(t *testing.T, want, got []byte) {
	t.Helper()
	if string(want) == string(got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo, hi := max(0, i-8), i+16
	t.Fatalf("pickles differ at offset %d (lengths: want %d, got %d)\nwant ...%x\n got ...%x",
		i, len(want), len(got), want[lo:min(hi, len(want))], got[lo:min(hi, len(got))])
}

// TestGoldenCoverage makes sure the golden file exercises what it claims:
// frames closed at 64 KiB, objects written outside frames, frames too small
// for a header, batches of 1000 dict items, LONG_BINPUT.
func TestGoldenCoverage(t *testing.T) {
	g := golden(t)
	counts := map[string]int{}
	for _, c := range g.Cases {
		if c.Refused != "" {
			continue
		}
		for _, proto := range []int{3, 4, 5} {
			for _, op := range opcodesOf(t, c.pickle(t, proto)) {
				counts[op]++
			}
		}
	}
	for _, op := range []string{"PROTO", "FRAME", "EMPTY_DICT", "MARK", "SHORT_BINUNICODE", "BINUNICODE",
		"SHORT_BINBYTES", "BINBYTES", "MEMOIZE", "BINPUT", "LONG_BINPUT", "SETITEMS", "SETITEM", "STOP",
		"unframed-large", "multi-frame"} {
		require.Positive(t, counts[op], "no golden pickle uses %s", op)
	}
	require.Equal(t, "3.11.7", g.Python)
}

// opcodesOf lists the opcodes of a pickle this package accepts, plus
// "unframed-large" for an object of 64 KiB or more outside a frame and
// "multi-frame" for a pickle with more than one FRAME.
func opcodesOf(t *testing.T, p []byte) []string {
	t.Helper()
	var ops []string
	frames := 0
	frameEnd := -1
	for pos := 0; pos < len(p); {
		if pos == frameEnd {
			frameEnd = -1
		}
		op := p[pos]
		info := allowedOpcodes[op]
		require.True(t, info.allowed, "opcode %s", describeOpcode(op))
		ops = append(ops, opcodeNames[op])
		arg := p[pos+1 : pos+1+info.argSize]
		pos += 1 + info.argSize
		var n uint64
		switch op {
		case opSHORT_BINBYTES, opSHORT_BINUNICODE:
			n = uint64(arg[0])
		case opBINBYTES, opBINUNICODE:
			n = uint64(arg[0]) | uint64(arg[1])<<8 | uint64(arg[2])<<16 | uint64(arg[3])<<24
		case opFRAME:
			frames++
			frameEnd = pos + int(uint64(arg[0])|uint64(arg[1])<<8|uint64(arg[2])<<16)
		}
		if n >= frameSizeTarget && frameEnd < 0 && p[1] >= 4 {
			ops = append(ops, "unframed-large")
		}
		pos += int(n)
	}
	if frames > 1 {
		ops = append(ops, "multi-frame")
	}
	return ops
}

func TestGoldenRefusedAreGET(t *testing.T) {
	g := golden(t)
	n := 0
	for _, c := range g.Cases {
		if c.Refused == "" {
			continue
		}
		n++
		_, err := Decode(c.pickle(t, 4))
		var perr *Error
		require.True(t, errors.As(err, &perr))
		require.Equal(t, byte('h'), c.pickle(t, 4)[perr.Offset], "offset points at the opcode")
	}
	require.Positive(t, n)
}
