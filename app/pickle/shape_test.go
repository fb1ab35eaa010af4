package pickle

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// bundle is the shape of the legacy protocol's message.
var bundle = &Shape{
	Name: "message", Kind: KindDict, KeyKind: KindString,
	Keys:      []string{"kem_ciphertext", "nonce", "ciphertext", "aad"},
	ValueKind: KindBytes,
}

// fits reports whether v has shape s, as DecodeShape's documentation
// describes it; written independently of the decoder.
func fits(v Value, s *Shape) bool {
	if v.Kind() != s.Kind {
		return false
	}
	d, ok := v.(*Dict)
	if !ok {
		return true
	}
	max := s.MaxItems
	if max == 0 {
		max = len(s.Keys)
		if s.Keys == nil {
			max = MaxStack
		}
	}
	if d.Len() > max {
		return false
	}
	for _, it := range d.Items() {
		if s.KeyKind != 0 && it.Key.Kind() != s.KeyKind || it.Value.Kind() == KindDict || s.ValueKind != 0 && it.Value.Kind() != s.ValueKind {
			return false
		}
		var text string
		switch k := it.Key.(type) {
		case String:
			text = string(k)
		case Bytes:
			text = string(k)
		}
		if s.Keys != nil && !slices.Contains(s.Keys, text) {
			return false
		}
	}
	return true
}

func TestDecodeShapeAccepts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape *Shape
		in    []byte
	}{
		{"bundle as CPython writes it", bundle, cat(p4, frame("}\x94(\x8c\x0ekem_ciphertext\x94C\x01k\x94\x8c\x05nonce\x94C\x0c012345678901\x94\x8c\x0aciphertext\x94C\x00\x94\x8c\x03aad\x94C\x00\x94u."))},
		{"bundle in p3, keys in another order", bundle, cat(p3, "}q\x00(X\x03\x00\x00\x00aadq\x01C\x00X\x05\x00\x00\x00nonceq\x02C\x01nu.")},
		{"bundle, one SETITEM", bundle, cat(p4, "}\x8c\x03aadC\x00s.")},
		{"bundle, two batches", bundle, cat(p4, "}(\x8c\x03aadC\x00u(\x8c\x05nonceC\x00u.")},
		{"empty dict", bundle, cat(p4, "}.")},
		{"bytes", &Shape{Kind: KindBytes}, cat(p4, "C\x03abc.")},
		{"str", &Shape{Kind: KindString}, cat(p4, "\x8c\x01a.")},
		{"any keys and values", &Shape{Kind: KindDict, MaxItems: 3}, cat(p4, "}(C\x01aC\x00\x8c\x01a\x8c\x00\x8c\x01bC\x00u.")},
		{"no keys, no limit: up to MaxStack items", &Shape{Kind: KindDict}, cat(p4, "}(C\x01aC\x00C\x01bC\x00C\x01cC\x00u.")},
		{"nil shape is Decode", nil, nestedDicts(3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Decode(tc.in)
			require.NoError(t, err)
			got, err := DecodeShape(tc.in, tc.shape)
			require.NoError(t, err)
			require.True(t, Equal(want, got))
		})
	}
}

func TestDecodeShapeRefuses(t *testing.T) {
	big := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name  string
		shape *Shape
		in    []byte
		kind  error
		msg   string
	}{
		{"bytes for a dict", bundle, cat(p4, "C\x01x."), ErrShape, "pickle: message holds bytes, not a dict (SHORT_BINBYTES at offset 2)"},
		{"dict for bytes", &Shape{Name: "key", Kind: KindBytes}, cat(p4, "}."), ErrShape, "pickle: key holds a dict, not bytes (EMPTY_DICT at offset 2)"},
		{"str for bytes", &Shape{Kind: KindBytes}, cat(p4, "\x8c\x01x."), ErrShape, "pickle: value holds a str, not bytes (SHORT_BINUNICODE at offset 2)"},
		{"second value", &Shape{Kind: KindBytes}, cat(p4, "C\x00C\x00."), ErrShape, "pickle: value holds a single bytes, but SHORT_BINBYTES at offset 4 brings another value"},
		{"unexpected key", bundle, cat(p4, "}(\x8c\x03macC\x00u."), ErrShape, "pickle: message has an unexpected key 'mac'; want exactly 'kem_ciphertext', 'nonce', 'ciphertext', 'aad' (SHORT_BINUNICODE at offset 4)"},
		{"long unexpected key quoted short", bundle, cat(p4, "}(X", u32(200), big, "C\x00u."), ErrShape, "unexpected key '" + big[:maxQuote] + "'..."},
		{"bytes key", bundle, cat(p4, "}(C\x05nonceC\x00u."), ErrShape, "pickle: message has a bytes key b'nonce'; its keys are str (SHORT_BINBYTES at offset 4)"},
		{"dict key", bundle, cat(p4, "}(}C\x00u."), ErrShape, "pickle: message has a dict where a key belongs; its keys are str (EMPTY_DICT at offset 4)"},
		{"str value", bundle, cat(p4, "}(\x8c\x03aad\x8c\x00u."), ErrShape, "pickle: message key 'aad' holds a str, not bytes (SHORT_BINUNICODE at offset 9)"},
		{"dict value", bundle, cat(p4, "}(\x8c\x03aad}u."), ErrShape, "pickle: message key 'aad' holds a dict, not bytes (EMPTY_DICT at offset 9)"},
		{"dict value, any kind", &Shape{Kind: KindDict, MaxItems: 1}, cat(p4, "}C\x01k}s."), ErrShape, "holds a dict, not bytes or a str"},
		{"too many items", &Shape{Kind: KindDict, MaxItems: 2}, cat(p4, "}(C\x01aC\x00C\x01bC\x00C\x01cC\x00u."), ErrShape, "pickle: value has more than 2 items (SHORT_BINBYTES at offset 14)"},
		{"more items than keys", &Shape{Kind: KindDict, Keys: []string{"a", "b"}}, cat(p4, "}(\x8c\x01aC\x00\x8c\x01bC\x00\x8c\x01aC\x00u."), ErrShape, "pickle: value has more than 2 items (SHORT_BINUNICODE at offset 14)"},
		{"too many items over batches", &Shape{Kind: KindDict, MaxItems: 2}, cat(p4, "}(C\x01aC\x00C\x01bC\x00u(C\x01cC\x00u."), ErrShape, "has more than 2 items (SHORT_BINBYTES at offset 16)"},
		{"duplicate pending key", bundle, cat(p4, "}(\x8c\x03aadC\x00\x8c\x03aadC\x00u."), ErrMalformed, "pickle: SHORT_BINUNICODE at offset 11: duplicate dict key 'aad'"},
		{"duplicate key over batches", bundle, cat(p4, "}(\x8c\x03aadC\x00u(\x8c\x03aadC\x00u."), ErrMalformed, "SHORT_BINUNICODE at offset 13: duplicate dict key 'aad'"},
		{"MARK before the dict", bundle, cat(p4, "(}u."), ErrShape, "pickle: message: MARK at offset 2, where the shape allows none (only one, to open the dict's items)"},
		{"second MARK", bundle, cat(p4, "}((u."), ErrShape, "MARK at offset 4, where the shape allows none"},
		{"MARK after a key", bundle, cat(p4, "}\x8c\x03aad(C\x00u."), ErrShape, "MARK at offset 8"},
		{"MARK for bytes", &Shape{Kind: KindBytes}, cat(p4, "(C\x00."), ErrShape, "MARK at offset 2"},
		// Errors other than the shape's are Decode's.
		{"truncated", bundle, cat(p4, "}(\x8c\x03aadC"), ErrTruncated, "SHORT_BINBYTES at offset 9 needs 1 argument bytes"},
		{"GLOBAL", bundle, cat(p4, "cos\nsystem\n."), ErrNotAllowed, "opcode GLOBAL"},
		{"invalid UTF-8 value of an allowed kind", &Shape{Kind: KindString}, cat(p4, "\x8c\x01\xff."), ErrMalformed, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := DecodeShape(tc.in, tc.shape)
			require.Nil(t, v)
			require.ErrorIs(t, err, tc.kind)
			require.ErrorContains(t, err, tc.msg)
			var perr *Error
			require.ErrorAs(t, err, &perr)
			n := 0
			for _, k := range []error{ErrNotAllowed, ErrTruncated, ErrMalformed, ErrLimit, ErrShape} {
				if errors.Is(err, k) {
					n++
				}
			}
			require.Equal(t, 1, n, "exactly one kind")
		})
	}
}

func TestShapeValidate(t *testing.T) {
	for _, s := range []*Shape{
		{},
		{Kind: Kind(9)},
		{Kind: KindDict, ValueKind: KindDict},
		{Kind: KindDict, KeyKind: KindDict},
		{Kind: KindDict, MaxItems: -1},
	} {
		_, err := DecodeShape(cat(p4, "}."), s)
		require.Error(t, err, "%+v", s)
		require.True(t, strings.HasPrefix(err.Error(), "pickle: Shape") || strings.HasPrefix(err.Error(), "pickle: a Shape"), err.Error())
	}
}

// hostileFrames are 1 MiB pickles made to allocate as much as they can per
// input byte, each in a way that leaves the bundle shape at some point.
func hostileFrames() map[string][]byte {
	const size = 1 << 20
	fill := func(head, unit, tail string) []byte {
		b := []byte(p4 + head)
		for len(b)+len(unit)+len(tail) <= size {
			b = append(b, unit...)
		}
		return append(b, tail...)
	}
	manyItems := []byte(p4 + "}")
	for n := 0; len(manyItems) < size-2100*4; n++ {
		manyItems = append(manyItems, '(')
		for range 1000 {
			k := fmt.Appendf(nil, "%x", n)
			manyItems = append(append(append(manyItems, 'C', byte(len(k))), k...), 'C', 0)
			n++
		}
		manyItems = append(manyItems, 'u')
	}
	// A value as large as the frame allows, of an allowed key, then a key
	// that is not: the value is copied, the frame refused.
	bigTail := "\x8c\x03macC\x00u."
	bigLen := size - len(p4+"}(\x8c\x03aadB") - 4 - len(bigTail)
	bigThenBad := cat(p4, "}(\x8c\x03aadB", u32(uint32(bigLen)), strings.Repeat("x", bigLen), bigTail)
	return map[string][]byte{
		"many small items":        append(manyItems, '.'),
		"many empty bytes":        fill("", "C\x00", "."),
		"many empty dicts":        fill("", "}", "."),
		"many allowed keys":       fill("}(", "\x8c\x03aadC\x00", "u."),
		"many str keys":           fill("}(", "\x8c\x00C\x00", "u."),
		"many memoized values":    fill("}(", "\x8c\x03aad\x94C\x00\x94", "u."),
		"many MARKs":              fill("", "(", "."),
		"deep dicts":              fill("", "}\x8c\x01k", "."),
		"one big value, then bad": bigThenBad,
	}
}

// TestDecodeShapeMemory: decoding a hostile 1 MiB frame under the bundle's
// shape allocates (and so holds live) at most about the frame's size: with
// the frame itself, at most twice the frame plus a constant. Plain Decode
// allocates tens of times as much for some of them.
func TestDecodeShapeMemory(t *testing.T) {
	const slack = 64 << 10
	for name, in := range hostileFrames() {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			v, err := DecodeShape(in, bundle)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			require.Nil(t, v)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: %v; allocated %d bytes", len(in), err, alloc)
			// Live heap during decoding <= frame + everything allocated.
			require.LessOrEqual(t, uint64(len(in))+alloc, uint64(2*len(in)+slack))
		})
	}
}

// TestDecodeShapeMemoryAccepted: a 1 MiB message of the right shape
// allocates about its size once (the copied value).
func TestDecodeShapeMemoryAccepted(t *testing.T) {
	in := cat(p4, "}(\x8c\x03aadB", u32(1<<20-64), strings.Repeat("x", 1<<20-64), "\x8c\x05nonceC\x0c012345678901u.")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v, err := DecodeShape(in, bundle)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Equal(t, 2, v.(*Dict).Len())
	require.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(len(in)+64<<10))
}
