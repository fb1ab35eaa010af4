package pickle

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type otherValue struct{}

func (otherValue) Kind() Kind { return 99 }

// Equivalent mutants:
// encode.go:69, 79 and 132 `e.frameStart < 0` / `>= 0` to `<= 0` / `> 0`: a frame never starts at 0, PROTO comes first.
// encode.go:132 `e.framing && e.frameStart >= 0` to `(e.framing || ...)`: frameStart is set only when framing.
// opcodes.go:86 `op >= 0x20` to `>` and `op < 0x7f` to `<=`: 0x20 and 0x7f are no opcodes, so they are described by number either way.
// shape.go:74 `s.KeyKind > KindDict` and `s.ValueKind > KindDict` to `>=`: the conditions before them refuse KindDict already.
// decode.go:266 `(len(d.stack)-m)%2` to `+m`: a sum and a difference have the same parity.
func TestEncodeErrors(t *testing.T) {
	cyclic := &Dict{}
	inner := &Dict{}
	require.NoError(t, cyclic.Set(String("inner"), inner))
	require.NoError(t, inner.Set(String("outer"), cyclic))

	for _, tc := range []struct {
		name string
		v    Value
		msg  string
	}{
		{"nil", nil, "nil value"},
		{"nil dict", (*Dict)(nil), "nil value"},
		{"cycle", cyclic, "dicts nested more than 64 deep (or a dict that holds itself)"},
		{"bad str", String("a\xffb"), `str is not valid UTF-8: b'a\xffb'`},
		{"long bad str", String(strings.Repeat("a", 50) + "\xff"), "str is not valid UTF-8: b'" + strings.Repeat("a", 40) + "'..."},
		{"bad str in dict", mustDict(t, Item{String("k"), String("\xed\xa0\x80")}), "is not valid UTF-8"},
		{"bad str key", mustDict(t, Item{String("\xc0\x80"), Bytes("v")}), "is not valid UTF-8"},
		{"foreign Value", otherValue{}, "unknown Value type pickle.otherValue"},
		{"foreign in dict", mustDict(t, Item{Bytes("k"), otherValue{}}), "unknown Value type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, proto := range []int{3, 4, 5} {
				out, err := EncodeProtocol(tc.v, proto)
				require.Nil(t, out)
				require.ErrorIs(t, err, ErrEncode)
				require.ErrorContains(t, err, tc.msg)
				require.True(t, strings.HasPrefix(err.Error(), "pickle: cannot encode: "), err.Error())
			}
		})
	}
	for _, proto := range []int{-1, 0, 1, 2, 6} {
		_, err := EncodeProtocol(Bytes("x"), proto)
		require.ErrorIs(t, err, ErrEncode)
		require.ErrorContains(t, err, "(want 3, 4 or 5)")
	}
}

func mustDict(t testing.TB, items ...Item) *Dict {
	t.Helper()
	d, err := NewDict(items...)
	require.NoError(t, err)
	return d
}

func TestDictAPI(t *testing.T) {
	var d Dict // the zero value is usable
	require.Equal(t, 0, d.Len())
	require.NoError(t, d.Set(String("a"), Bytes("1")))
	require.NoError(t, d.Set(Bytes("a"), Bytes("2")), "str and bytes keys differ, as in Python")
	require.ErrorIs(t, d.Set(String("a"), Bytes("3")), ErrDuplicateKey)
	require.ErrorIs(t, d.Set(&Dict{}, Bytes("3")), ErrKeyType)
	require.ErrorContains(t, d.Set(&Dict{}, Bytes("3")), "dict key must be str or bytes, not dict")
	require.ErrorIs(t, d.Set(nil, Bytes("3")), ErrKeyType)
	require.ErrorIs(t, d.Set(String("b"), nil), ErrNilValue)
	require.ErrorIs(t, d.Set(String("b"), (*Dict)(nil)), ErrNilValue)
	require.Equal(t, 2, d.Len())

	v, ok := d.Get(String("a"))
	require.True(t, ok)
	require.Equal(t, Bytes("1"), v)
	v, ok = d.Get(Bytes("a"))
	require.True(t, ok)
	require.Equal(t, Bytes("2"), v)
	_, ok = d.Get(String("zz"))
	require.False(t, ok)
	_, ok = d.Get(&d)
	require.False(t, ok)

	items := d.Items()
	items[0].Value = Bytes("changed")
	v, _ = d.Get(String("a"))
	require.Equal(t, Bytes("1"), v, "Items returns a copy")

	// Past indexThreshold the dict switches to a map: same answers.
	big := &Dict{}
	for i := range 100 {
		require.NoError(t, big.Set(String(strings.Repeat("k", i)), Bytes{byte(i)}))
	}
	for i := range 100 {
		v, ok := big.Get(String(strings.Repeat("k", i)))
		require.True(t, ok)
		require.Equal(t, Bytes{byte(i)}, v)
		require.ErrorIs(t, big.Set(String(strings.Repeat("k", i)), Bytes{}), ErrDuplicateKey)
	}
	require.Equal(t, 100, big.Len())
	for i, it := range big.Items() {
		require.Equal(t, String(strings.Repeat("k", i)), it.Key, "insertion order")
	}

	_, err := NewDict(Item{String("x"), Bytes{}}, Item{String("x"), Bytes{}})
	require.ErrorIs(t, err, ErrDuplicateKey)
	require.ErrorContains(t, err, `duplicate dict key 'x'`)

	require.Equal(t, "bytes", TypeName(Bytes{}))
	require.Equal(t, "str", TypeName(String("")))
	require.Equal(t, "dict", TypeName(&Dict{}))
	require.Equal(t, "nothing", TypeName(nil))
	require.Equal(t, "Kind(7)", Kind(7).String())

	require.Equal(t, `'it\'s "q" \u20ac\n'`, Repr(String("it's \"q\" \u20ac\n")))
	require.Equal(t, `b'\x00\xff\\'`, Repr(Bytes("\x00\xff\\")))
	require.Equal(t, "'"+strings.Repeat("a", 40)+"'...", Repr(String(strings.Repeat("a", 1000))))
	require.Equal(t, "b'"+strings.Repeat("a", 40)+"'", Repr(Bytes(strings.Repeat("a", 40))))
	require.Equal(t, "a dict of 2 items", Repr(&d))
	require.Equal(t, "dict", Repr((*Dict)(nil)))
	require.Equal(t, "nothing", Repr(nil))
}

func TestEqual(t *testing.T) {
	a := mustDict(t, Item{String("k"), Bytes("v")})
	require.True(t, Equal(a, mustDict(t, Item{String("k"), Bytes("v")})))
	require.False(t, Equal(a, mustDict(t, Item{Bytes("k"), Bytes("v")})))
	require.False(t, Equal(a, mustDict(t, Item{String("k"), String("v")})))
	require.False(t, Equal(a, &Dict{}))
	require.False(t, Equal(Bytes("x"), String("x")))
	require.True(t, Equal(Bytes(nil), Bytes{}))
	require.False(t, Equal(nil, nil))
	require.True(t, Equal((*Dict)(nil), (*Dict)(nil)))
	require.False(t, Equal(a, (*Dict)(nil)))
	ab := mustDict(t, Item{String("a"), Bytes("1")}, Item{String("b"), Bytes("2")})
	ba := mustDict(t, Item{String("b"), Bytes("2")}, Item{String("a"), Bytes("1")})
	require.False(t, Equal(ab, ba), "order matters")

	// Empty values of different kinds differ; a nil dict is no empty dict.
	require.False(t, Equal(Bytes{}, String("")))
	require.False(t, Equal(String(""), Bytes{}))
	require.False(t, Equal(Bytes{}, nil))
	require.False(t, Equal((*Dict)(nil), &Dict{}))
	require.False(t, Equal(&Dict{}, (*Dict)(nil)))

	// Dicts nested up to MaxDepth deep compare; deeper ones are never equal.
	require.True(t, Equal(chain(t, MaxDepth), chain(t, MaxDepth)))
	require.False(t, Equal(chain(t, MaxDepth+1), chain(t, MaxDepth+1)))
}

// chain returns n dicts nested in one another, each under the key "k". It
// builds them from the outside in, so Set's depth check (which sees only
// the depth of the dict it adds) lets it go past MaxDepth.
//
// Equivalent mutants:
// value.go:152 `len(d.items) > indexThreshold` to `>=` or `<=`, and value.go:153 `2*len(d.items)` to `/`: when the lookup index is built, and its capacity, change no result.
// value.go:246 `depth+1` to `depth-1` for the key: keys are bytes or str, never dicts.
func chain(t *testing.T, n int) *Dict {
	t.Helper()
	outer := &Dict{}
	d := outer
	for range n - 1 {
		inner := &Dict{}
		require.NoError(t, d.Set(String("k"), inner))
		d = inner
	}
	return outer
}

// randomValue builds a random value; budget bounds its total size.
func randomValue(r *rand.Rand, depth int, budget *int) Value {
	switch n := r.IntN(10); {
	case n < 4 || depth > 4 || *budget <= 0:
		size := []int{0, 1, 12, 255, 256, 1000, 70000}[r.IntN(7)]
		if size > *budget {
			size = r.IntN(20)
		}
		*budget -= size + 1
		b := make(Bytes, size)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	case n < 6:
		var sb strings.Builder
		for range r.IntN(300) {
			sb.WriteString(ustrAlphabet[r.IntN(len(ustrAlphabet))])
		}
		*budget -= sb.Len() + 1
		return String(sb.String())
	default:
		d := &Dict{}
		count := []int{0, 1, 2, 4, 1000, 1001}[r.IntN(6)]
		if depth > 0 {
			count = min(count, 5)
		}
		for range count {
			var k Value = String(strings.Repeat("k", r.IntN(300)) + string(rune('a'+r.IntN(26))))
			if r.IntN(2) == 0 {
				k = Bytes(k.(String))
			}
			_ = d.Set(k, randomValue(r, depth+1, budget)) // a repeated key is skipped
		}
		return d
	}
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	for range 200 {
		budget := 200000
		v := randomValue(r, 0, &budget)
		var p4 []byte
		for _, proto := range []int{3, 4, 5} {
			enc, err := EncodeProtocol(v, proto)
			require.NoError(t, err)
			got, err := Decode(enc)
			require.NoError(t, err)
			require.True(t, Equal(v, got))
			again, err := EncodeProtocol(got, proto)
			require.NoError(t, err)
			require.Equal(t, enc, again)
			switch proto {
			case 4:
				p4 = enc
			case 5:
				require.Equal(t, p4[2:], enc[2:], "protocols 4 and 5 differ only in PROTO")
			}
		}
	}
}

// TestEncodeHugeBytesProtocol3: a bytes object over 4 GiB needs BINBYTES8,
// which protocol 3 lacks: refused, without copying it. (The 4 GiB are
// allocated but never touched: the allocator hands out zeroed pages lazily.)
//
// Living mutants, not equivalent, that a test would need 4 GiB of output to
// catch: encode.go:121 `e.memo <= math.MaxUint32` to `<` (2^32-1 memoized
// objects), encode.go:141 and 158 `n <= math.MaxUint32` to `<` (a bytes or
// str of exactly 4 GiB - 1), encode.go:143 `e.proto >= 4` to `>` (a
// protocol 4 bytes of over 4 GiB).
func TestEncodeHugeBytesProtocol3(t *testing.T) {
	if math.MaxInt <= math.MaxUint32 {
		t.Skip("no 4 GiB slice on a 32-bit platform")
	}
	huge := Bytes(make([]byte, int(uint64(math.MaxUint32)+1)))
	out, err := EncodeProtocol(huge, 3)
	require.Nil(t, out)
	require.ErrorIs(t, err, ErrEncode)
	require.EqualError(t, err, "pickle: cannot encode: a bytes object of 4294967296 bytes needs protocol 4")
}
