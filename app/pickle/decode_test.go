package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cat concatenates pieces of a hand-made pickle; strings and bytes are
// copied as they are, ints become one byte.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch x := p.(type) {
		case string:
			b = append(b, x...)
		case []byte:
			b = append(b, x...)
		case int:
			b = append(b, byte(x))
		default:
			panic(fmt.Sprintf("cat: %T", p))
		}
	}
	return b
}

func u32(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
func u64(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }

// frame wraps body in a FRAME opcode.
func frame(body ...any) []byte {
	b := cat(body...)
	return cat(0x95, u64(uint64(len(b))), b)
}

const (
	p3 = "\x80\x03"
	p4 = "\x80\x04"
	p5 = "\x80\x05"
)

func TestAllowedSet(t *testing.T) {
	want := map[string]bool{"PROTO": true, "FRAME": true, "EMPTY_DICT": true, "MARK": true,
		"SHORT_BINUNICODE": true, "BINUNICODE": true, "SHORT_BINBYTES": true, "BINBYTES": true,
		"BINBYTES8": true, "MEMOIZE": true, "BINPUT": true, "LONG_BINPUT": true, "SETITEMS": true,
		"SETITEM": true, "STOP": true}
	got := map[string]bool{}
	for op := range 256 {
		if Allowed(byte(op)) {
			got[OpcodeName(byte(op))] = true
		}
	}
	require.Equal(t, want, got)
}

// TestEveryOtherOpcodeRefused tries all 256 byte values as the first
// opcode after PROTO, inside and outside a frame, in every protocol: every
// byte outside the allowed set must be refused, naming it.
func TestEveryOtherOpcodeRefused(t *testing.T) {
	for op := range 256 {
		b := byte(op)
		if Allowed(b) {
			continue
		}
		// Enough argument bytes for any opcode, so that the refusal cannot
		// come from truncation.
		tail := cat(strings.Repeat("\x00", 16), ".")
		inputs := map[string][]byte{
			"p3":          cat(p3, op, tail),
			"p4":          cat(p4, op, tail),
			"p5":          cat(p5, op, tail),
			"p4 in frame": cat(p4, frame(op, tail)),
			"after value": cat(p4, frame("}", 0x94, op, tail)),
		}
		for name, in := range inputs {
			t.Run(fmt.Sprintf("0x%02x/%s", op, name), func(t *testing.T) {
				v, err := Decode(in)
				require.Nil(t, v)
				require.ErrorIs(t, err, ErrNotAllowed)
				var perr *Error
				require.ErrorAs(t, err, &perr)
				require.Equal(t, b, in[perr.Offset], "Offset must point at the refused opcode")
				require.Contains(t, err.Error(), "opcode "+describeOpcode(b)+" is not allowed")
				if name := OpcodeName(b); name != "" {
					require.Contains(t, err.Error(), name)
				}
				require.Contains(t, err.Error(), fmt.Sprintf("0x%02x", op))
			})
		}
	}
}

func TestRefusalMessages(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{cat(p4, "cos\nsystem\n."), "pickle: opcode GLOBAL ('c', 0x63) is not allowed (offset 2)"},
		{cat(p4, frame("\x8c\x02os\x94\x8c\x06system\x94\x93\x94.")), "pickle: opcode STACK_GLOBAL (0x93) is not allowed (offset 25)"},
		{cat(p4, "}\x94h\x00."), "pickle: opcode BINGET ('h', 0x68) is not allowed (offset 4)"},
		{cat(p3, "R."), "pickle: opcode REDUCE ('R', 0x52) is not allowed (offset 2)"},
		{cat(p4, "\xff."), "pickle: opcode 0xff (no such opcode) is not allowed (offset 2)"},
		{cat(p4, "'."), `pickle: opcode 0x27 (no such opcode) is not allowed (offset 2)`},
		{cat("cos\nsystem\n(S'id'\ntR."), "pickle: opcode GLOBAL ('c', 0x63) is not allowed (offset 0)"},
	} {
		_, err := Decode(tc.in)
		require.EqualError(t, err, tc.want)
		require.ErrorIs(t, err, ErrNotAllowed)
	}
}

// Equivalent mutants:
// decode.go:127, 131 and 167 `d.frameEnd >= 0` to `> 0`: frameEnd is -1 or the end of a FRAME, which starts after PROTO: never 0.
// decode.go:245 `idx > d.memoLen` to `>=`: the case before it takes idx == d.memoLen.
// decode.go:234 `break` to `continue` after MEMOIZE: the only statement after the switch checks the stack's size, which MEMOIZE does not change.
func TestDecodeErrors(t *testing.T) {
	big := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name string
		in   []byte
		kind error
		msg  string
	}{
		// Framing of the pickle itself.
		{"empty", nil, ErrTruncated, "empty input"},
		{"no PROTO", cat("}."), ErrMalformed, "input starts with EMPTY_DICT"},
		{"protocol 2", cat("\x80\x02}."), ErrMalformed, "pickle protocol 2 is not accepted"},
		{"protocol 6", cat("\x80\x06}."), ErrMalformed, "pickle protocol 6 is not accepted"},
		{"PROTO twice", cat(p4, p4, "}."), ErrMalformed, "PROTO at offset 2: allowed only as the first opcode"},
		{"PROTO truncated", cat("\x80"), ErrTruncated, "PROTO at offset 0 needs 1 argument bytes, 0 left"},
		{"only PROTO", cat(p4), ErrTruncated, "without STOP"},
		{"missing STOP", cat(p4, "C\x01a"), ErrTruncated, "input ends after 5 bytes without STOP"},
		{"missing STOP in frame", cat(p4, frame("C\x01a")), ErrTruncated, "without STOP"},
		{"trailing byte", cat(p4, "C\x01a.x"), ErrMalformed, "1 bytes of trailing data after STOP at offset 5"},
		{"two STOPs", cat(p4, "C\x01a.."), ErrMalformed, "trailing data"},
		{"trailing data in frame", cat(p4, frame("C\x01a.\x00\x00")), ErrMalformed, "2 bytes of trailing data"},
		{"second pickle", cat(p4, "C\x01a.", p4, "C\x01a."), ErrMalformed, "6 bytes of trailing data"},

		// Stack state.
		{"STOP on empty stack", cat(p4, "."), ErrMalformed, "STOP at offset 2 with 0 values on the stack, want 1"},
		{"STOP with two values", cat(p4, "C\x00C\x00."), ErrMalformed, "with 2 values on the stack"},
		{"STOP with open MARK", cat(p4, "(C\x00."), ErrMalformed, "STOP at offset 5 with 1 MARKs open"},
		{"SETITEM short", cat(p4, "}C\x00s."), ErrMalformed, "SETITEM at offset 5 needs a dict, a key and a value"},
		{"SETITEM across MARK", cat(p4, "}(C\x00C\x00s."), ErrMalformed, "the stack has 2 values above its MARK"},
		{"SETITEM on bytes", cat(p4, "C\x00C\x01kC\x01vs."), ErrMalformed, "SETITEM at offset 10: target is bytes, not a dict"},
		{"SETITEM on str", cat(p4, "\x8c\x00C\x01kC\x01vs."), ErrMalformed, "target is str, not a dict"},
		{"SETITEMS without MARK", cat(p4, "}C\x01kC\x01vu."), ErrMalformed, "SETITEMS at offset 9 without a MARK"},
		{"SETITEMS odd", cat(p4, "}(C\x01ku."), ErrMalformed, "odd number of values (1) after the MARK"},
		{"SETITEMS nothing below", cat(p4, "(C\x01kC\x01vu."), ErrMalformed, "no dict below the MARK"},
		{"SETITEMS target behind a MARK", cat(p4, "}((C\x01kC\x01vu.."), ErrMalformed, "no dict below the MARK"},
		{"SETITEMS on bytes", cat(p4, "C\x00(C\x01kC\x01vu."), ErrMalformed, "SETITEMS at offset 11: target is bytes"},
		{"dict key", cat(p4, "}}C\x00s."), ErrKeyType, "dict key must be str or bytes, not dict"},
		{"duplicate str key", cat(p4, "}(\x8c\x01kC\x00\x8c\x01kC\x01xu."), ErrDuplicateKey, `duplicate dict key 'k'`},
		{"duplicate bytes key", cat(p4, "}C\x01kC\x00sC\x01kC\x00s."), ErrDuplicateKey, `duplicate dict key b'k'`},
		{"duplicate in nested dict", cat(p4, "}\x8c\x01d}(C\x00C\x00C\x00C\x00us."), ErrDuplicateKey, `duplicate dict key b''`},

		// Memo.
		{"MEMOIZE on empty stack", cat(p4, "\x94."), ErrMalformed, "MEMOIZE at offset 2: nothing to memoize"},
		{"MEMOIZE after MARK", cat(p4, "}(\x94u."), ErrMalformed, "MEMOIZE at offset 4: nothing to memoize"},
		{"BINPUT on empty stack", cat(p3, "q\x00."), ErrMalformed, "BINPUT at offset 2: nothing to memoize"},
		{"BINPUT skips", cat(p3, "}q\x01."), ErrMalformed, "BINPUT at offset 3: memo index 1 skips ahead of the memo's 0 entries"},
		{"BINPUT skips after one", cat(p3, "}q\x00q\x02."), ErrMalformed, "BINPUT at offset 5: memo index 2 skips ahead of the memo's 1 entries"},
		{"LONG_BINPUT huge", cat(p3, "}r\xff\xff\xff\xff."), ErrMalformed, "memo index 4294967295 skips ahead"},
		{"LONG_BINPUT after MEMOIZE", cat(p4, "}\x94r\x02\x00\x00\x00."), ErrMalformed, "memo index 2 skips ahead of the memo's 1 entries"},
		{"BINPUT truncated", cat(p3, "}q"), ErrTruncated, "BINPUT at offset 3 needs 1 argument bytes, 0 left in the input"},
		{"LONG_BINPUT truncated", cat(p3, "}r\x00\x00"), ErrTruncated, "needs 4 argument bytes, 2 left"},

		// Lengths.
		{"SHORT_BINBYTES past end", cat(p4, "C\x0aabc"), ErrTruncated, "SHORT_BINBYTES at offset 2 is 10 bytes long, but only 3 bytes are left in the input"},
		{"BINBYTES 4 GiB", cat(p3, "B\xff\xff\xff\xffabc."), ErrTruncated, "BINBYTES at offset 2 is 4294967295 bytes long, but only 4 bytes are left"},
		{"BINBYTES8 2^64-1", cat(p4, "\x8e", u64(1<<64-1), "abc."), ErrTruncated, "is 18446744073709551615 bytes long"},
		{"BINBYTES8 2^63", cat(p4, "\x8e", u64(1<<63), "."), ErrTruncated, "is 9223372036854775808 bytes long"},
		{"BINBYTES8 length truncated", cat(p4, "\x8e\x01\x00"), ErrTruncated, "BINBYTES8 at offset 2 needs 8 argument bytes, 2 left"},
		{"BINUNICODE past end", cat(p3, "X\x00\x00\x01\x00abc."), ErrTruncated, "BINUNICODE at offset 2 is 65536 bytes long"},
		{"SHORT_BINUNICODE past end", cat(p4, "\x8c\xff."), ErrTruncated, "is 255 bytes long, but only 1 bytes are left"},
		{"FRAME past end", cat(p4, "\x95", u64(100), "}."), ErrTruncated, "FRAME at offset 2 is 100 bytes long, but only 2 bytes follow"},
		{"FRAME 2^64-1", cat(p4, "\x95", u64(1<<64-1), "}."), ErrTruncated, "is 18446744073709551615 bytes long"},
		{"FRAME length truncated", cat(p4, "\x95\x01"), ErrTruncated, "FRAME at offset 2 needs 8 argument bytes, 1 left"},
		{"bytes past frame", cat(p4, frame("C\x05ab"), "cde."), ErrTruncated, "SHORT_BINBYTES at offset 11 is 5 bytes long, but only 2 bytes are left in the frame"},
		{"length past frame", cat(p4, frame("B\x05\x00"), "\x00\x00abcde."), ErrTruncated, "BINBYTES at offset 11 needs 4 argument bytes, 2 left in the frame"},
		{"BINBYTES8 past frame", cat(p4, frame("\x8e", u64(1<<62)), "."), ErrTruncated, "left in the frame"},
		{"FRAME in FRAME", cat(p4, frame(frame("}."))), ErrMalformed, "FRAME at offset 11 starts inside a frame (11 bytes of it left)"},

		// Protocol-4 opcodes in a protocol-3 pickle.
		{"FRAME in p3", cat(p3, frame("}.")), ErrMalformed, "FRAME at offset 2 needs protocol 4, but the pickle is protocol 3"},
		{"MEMOIZE in p3", cat(p3, "}\x94."), ErrMalformed, "MEMOIZE at offset 3 needs protocol 4"},
		{"SHORT_BINUNICODE in p3", cat(p3, "\x8c\x00."), ErrMalformed, "SHORT_BINUNICODE at offset 2 needs protocol 4"},
		{"BINBYTES8 in p3", cat(p3, "\x8e", u64(0), "."), ErrMalformed, "BINBYTES8 at offset 2 needs protocol 4"},

		// str.
		{"str not UTF-8", cat(p4, "\x8c\x01\xff."), ErrMalformed, `SHORT_BINUNICODE at offset 2 is not valid UTF-8: b'\xff'`},
		{"str surrogate", cat(p4, "\x8c\x03\xed\xa0\x80."), ErrMalformed, "is not valid UTF-8"},
		{"str overlong NUL", cat(p3, "X\x02\x00\x00\x00\xc0\x80."), ErrMalformed, "BINUNICODE at offset 2 is not valid UTF-8"},
		{"str cut rune", cat(p4, "\x8c\x01\xe2."), ErrMalformed, "is not valid UTF-8"},
		{"long bad str quoted short", cat(p3, "X", u32(300), big[:299], "\xff."), ErrMalformed, `b'` + big[:maxQuote] + `'...`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Decode(tc.in)
			require.Nil(t, v)
			require.ErrorIs(t, err, tc.kind)
			require.ErrorContains(t, err, tc.msg)
			require.True(t, strings.HasPrefix(err.Error(), "pickle: "), err.Error())
			var perr *Error
			require.ErrorAs(t, err, &perr)
			require.True(t, perr.Offset >= 0 && perr.Offset <= len(tc.in))
			// Exactly one of the four kinds.
			n := 0
			for _, k := range []error{ErrNotAllowed, ErrTruncated, ErrMalformed, ErrLimit} {
				if errors.Is(err, k) {
					n++
				}
			}
			require.Equal(t, 1, n)
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	d := func(items ...Item) *Dict {
		x, err := NewDict(items...)
		require.NoError(t, err)
		return x
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want Value
	}{
		{"empty bytes p3", cat(p3, "C\x00q\x00."), Bytes{}},
		{"no memo at all", cat(p4, "C\x02hi."), Bytes("hi")},
		{"BINPUT overwrites", cat(p3, "C\x00q\x00q\x00r\x00\x00\x00\x00q\x01."), Bytes{}},
		{"MEMOIZE then BINPUT next", cat(p4, "C\x00\x94q\x01\x94."), Bytes{}},
		{"empty FRAME", cat(p4, frame(), "C\x00."), Bytes{}},
		{"frame after frame", cat(p4, frame("}"), frame("\x94."), ""), d()},
		{"large object between frames", cat(p4, frame("}\x94(\x8c\x01a\x94"), "C\x01x", frame("\x94u.")), d(Item{String("a"), Bytes("x")})},
		{"str and bytes keys of same text", cat(p4, "}(\x8c\x01kC\x01x", "C\x01kC\x01yu."), d(Item{String("k"), Bytes("x")}, Item{Bytes("k"), Bytes("y")})},
		{"empty SETITEMS batch", cat(p4, "}(u."), d()},
		{"SETITEM then SETITEMS", cat(p4, "}C\x01aC\x00s(C\x01bC\x00C\x01cC\x00u."), d(Item{Bytes("a"), Bytes{}}, Item{Bytes("b"), Bytes{}}, Item{Bytes("c"), Bytes{}})},
		{"str value", cat(p4, "}\x8c\x01k\x8c\x03\xe2\x82\xacs."), d(Item{String("k"), String("€")})},
		{"BINUNICODE in p4", cat(p4, "X\x01\x00\x00\x00a."), String("a")},
		{"BINBYTES8 small", cat(p5, "\x8e", u64(3), "abc."), Bytes("abc")},
		{"nested", cat(p4, "}\x8c\x01o}\x8c\x01iC\x01xss."), d(Item{String("o"), d(Item{String("i"), Bytes("x")})})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Decode(tc.in)
			require.NoError(t, err)
			require.True(t, Equal(tc.want, v), "got %#v", v)
		})
	}
}

// nestedDicts is {"k": {"k": ... {} ...}} with n dicts, written without
// MARKs, so that only the nesting limit can refuse it.
func nestedDicts(n int) []byte {
	return cat(p4, strings.Repeat("}\x8c\x01k", n-1), "}", strings.Repeat("s", n-1), ".")
}

func TestDepthLimits(t *testing.T) {
	v, err := Decode(nestedDicts(MaxDepth))
	require.NoError(t, err)
	depth := 0
	for x := v; x != nil; depth++ {
		items := x.(*Dict).Items()
		if len(items) == 0 {
			break
		}
		x = items[0].Value
	}
	require.Equal(t, MaxDepth-1, depth)
	for _, proto := range []int{3, 4, 5} {
		enc, err := EncodeProtocol(v, proto)
		require.NoError(t, err)
		again, err := Decode(enc)
		require.NoError(t, err)
		require.True(t, Equal(v, again))
	}
	deeper := &Dict{}
	require.NoError(t, deeper.Set(String("k"), v))
	_, err = Encode(deeper)
	require.ErrorIs(t, err, ErrEncode)
	require.ErrorContains(t, err, "dicts nested more than 64 deep")

	_, err = Decode(nestedDicts(MaxDepth + 1))
	require.ErrorIs(t, err, ErrLimit)
	require.ErrorContains(t, err, "dicts nested more than 64 deep")

	// MARKs: 64 open is fine (the pickle fails for another reason), 65 not.
	_, err = Decode(cat(p4, strings.Repeat("(", MaxDepth), "."))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = Decode(cat(p4, strings.Repeat("(", MaxDepth+1), "."))
	require.ErrorIs(t, err, ErrLimit)
	require.ErrorContains(t, err, "MARK at offset 66: more than 64 MARKs open")

	// A million MARKs or dicts: refused quickly, no recursion, little memory.
	huge := cat(p4, strings.Repeat("(", 1<<20), ".")
	_, err = Decode(huge)
	require.ErrorIs(t, err, ErrLimit)
	_, err = Decode(cat(p4, strings.Repeat("}", 1<<20), "."))
	require.ErrorIs(t, err, ErrLimit)
	require.ErrorContains(t, err, "more than 65536 values on the stack")
	_, err = Decode(nestedDicts(1 << 18))
	require.ErrorIs(t, err, ErrLimit)
}

// TestHostileInputsDoNotAllocate: huge lengths and indexes are refused
// before anything is allocated for them.
func TestHostileInputsDoNotAllocate(t *testing.T) {
	for _, in := range [][]byte{
		cat(p4, "\x8e", u64(1<<40), "."),
		cat(p3, "B\xff\xff\xff\xff."),
		cat(p4, "\x95", u64(1<<62), "."),
		cat(p3, "}r\xff\xff\xff\xff."),
		cat(p3, "X\xff\xff\xff\x7f."),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 100 {
			_, err := Decode(in)
			require.Error(t, err)
		}
		runtime.ReadMemStats(&after)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "%x", in)
	}
}

// TestMemoryBound decodes a 1 MiB pickle made to allocate as much as it can
// per input byte (many small items) and checks the total stays a small
// multiple of the input.
func TestMemoryBound(t *testing.T) {
	b := []byte(p4 + "}")
	n := 0
	for len(b) < 1<<20 {
		b = append(b, '(')
		for range 1000 {
			k := fmt.Appendf(nil, "%x", n)
			b = append(append(append(b, 'C', byte(len(k))), k...), 'C', 0)
			n++
		}
		b = append(b, 'u')
	}
	b = append(b, '.')
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v, err := Decode(b)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Equal(t, n, v.(*Dict).Len())
	ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(b))
	t.Logf("%d bytes, %d items: allocated %.1f bytes per input byte", len(b), n, ratio)
	require.Less(t, ratio, 64.0)
}

// validPickles are small valid pickles of every protocol and shape.
func validPickles(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, c := range golden(t).Cases {
		if c.Refused != "" {
			continue
		}
		for _, proto := range []int{3, 4, 5} {
			if p := c.pickle(t, proto); len(p) <= 5000 {
				out[fmt.Sprintf("%s/p%d", c.Name, proto)] = p
			}
		}
	}
	return out
}

// TestTruncatedEverywhere cuts valid pickles at every offset: each prefix is
// refused as truncated, never accepted, never a panic.
func TestTruncatedEverywhere(t *testing.T) {
	pickles := validPickles(t)
	for _, c := range golden(t).Cases {
		switch c.Name {
		case "bundle_sizes_1", "tail_4", "bytes_70000":
			for _, proto := range []int{3, 4} {
				pickles[fmt.Sprintf("%s/p%d", c.Name, proto)] = c.pickle(t, proto)
			}
		}
	}
	require.Greater(t, len(pickles), 100)
	for name, p := range pickles {
		for i := range len(p) {
			if len(p) > 5000 && i > 300 && i < len(p)-300 && i%997 != 0 {
				continue // decoding the prefixes of large pickles copies much data
			}
			v, err := Decode(p[:i])
			if !assert.ErrorIs(t, err, ErrTruncated, "%s cut at %d", name, i) {
				return
			}
			require.Nil(t, v)
		}
		_, err := Decode(p)
		require.NoError(t, err, name)
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	in := cat(p4, frame("}\x94(\x8c\x01k\x94C\x03abc\x94\x8c\x01s\x94\x8c\x01x\x94u."))
	v, err := Decode(in)
	require.NoError(t, err)
	for i := range in {
		in[i] = 0
	}
	got, ok := v.(*Dict).Get(String("k"))
	require.True(t, ok)
	require.Equal(t, Bytes("abc"), got)
	got, ok = v.(*Dict).Get(String("s"))
	require.True(t, ok)
	require.Equal(t, String("x"), got)
}

func TestErrorUnwrap(t *testing.T) {
	_, err := Decode(cat(p4, "}C\x01kC\x00sC\x01kC\x00s."))
	var perr *Error
	require.ErrorAs(t, err, &perr)
	require.Equal(t, ErrMalformed, perr.Err)
	require.ErrorIs(t, perr.Cause, ErrDuplicateKey)
	require.Equal(t, 14, perr.Offset)
	require.True(t, bytes.HasPrefix([]byte(err.Error()), []byte("pickle: SETITEM at offset 14: duplicate dict key")))
}

// TestStackLimitBoundary: exactly MaxStack values on the stack are allowed,
// one more is refused at the opcode that pushes it.
func TestStackLimitBoundary(t *testing.T) {
	// MaxStack dicts: the limit is not what refuses it (STOP finds more
	// than one value).
	_, err := Decode(cat(p4, strings.Repeat("}", MaxStack), "."))
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, fmt.Sprintf("STOP at offset %d with %d values on the stack, want 1", 2+MaxStack, MaxStack))

	_, err = Decode(cat(p4, strings.Repeat("}", MaxStack+1), "."))
	require.ErrorIs(t, err, ErrLimit)
	var perr *Error
	require.ErrorAs(t, err, &perr)
	require.Equal(t, 2+MaxStack, perr.Offset, "refused at the push past the limit")
	require.ErrorContains(t, err, fmt.Sprintf("more than %d values on the stack at offset %d", MaxStack, 2+MaxStack))

	// A valid pickle: a dict and n items in one batch peak at 1+2n values,
	// so n = MaxStack/2-1 peaks at MaxStack-1, the most a valid pickle of
	// one dict can reach without passing the limit (a dict plus whole
	// pairs is odd); one item more passes it.
	oneBatch := func(n int) []byte {
		b := []byte(p4 + "}(")
		for i := range n {
			k := fmt.Appendf(nil, "%x", i)
			b = append(append(append(b, 'C', byte(len(k))), k...), 'C', 0)
		}
		return append(b, "u."...)
	}
	v, err := Decode(oneBatch(MaxStack/2 - 1))
	require.NoError(t, err)
	require.Equal(t, MaxStack/2-1, v.(*Dict).Len())
	_, err = Decode(oneBatch(MaxStack / 2))
	require.ErrorIs(t, err, ErrLimit)
}
