package pickle

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks, for any input:
//   - Decode never panics, and fails only with an *Error of one of the four
//     kinds;
//   - what Decode accepts, Encode (protocol 4) re-encodes into a pickle that
//     decodes to the same value and re-encodes to the same bytes;
//   - a value built from the input survives EncodeProtocol then Decode in
//     protocols 3, 4 and 5.
//
// go test -run '^$' -fuzz FuzzDecode ./app/pickle/
func FuzzDecode(f *testing.F) {
	for _, c := range golden(f).Cases {
		for _, proto := range []int{3, 4, 5} {
			if p := c.pickle(f, proto); len(p) <= 4096 {
				f.Add(p)
			}
		}
	}
	for _, s := range []string{
		"", p4 + ".", p4 + "}.", p3 + "}q\x00.", p4 + "}\x94(\x8c\x01k\x94C\x01v\x94u.",
		p4 + "cos\nsystem\n.", p4 + "}\x94h\x00.", p4 + "\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94C\x00.",
		p4 + strings.Repeat("(", 70) + ".", p4 + "}}C\x00s.",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || !strings.HasPrefix(err.Error(), "pickle: ") {
				t.Fatalf("error is not a *pickle.Error: %v", err)
			}
			kinds := 0
			for _, k := range []error{ErrNotAllowed, ErrTruncated, ErrMalformed, ErrLimit} {
				if errors.Is(err, k) {
					kinds++
				}
			}
			if kinds != 1 || v != nil || perr.Offset < 0 || perr.Offset > len(data) {
				t.Fatalf("bad error %v (kinds %d, value %v)", err, kinds, v)
			}
		} else {
			enc, err := Encode(v)
			if err != nil {
				t.Fatalf("accepted %x but cannot re-encode it: %v", data, err)
			}
			v2, err := Decode(enc)
			if err != nil {
				t.Fatalf("re-encoding of %x does not decode: %v", data, err)
			}
			if !Equal(v, v2) {
				t.Fatalf("re-encoding of %x decodes to another value", data)
			}
			enc2, err := Encode(v2)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding is not stable: %v", err)
			}
		}

		x := valueFromFuzz(data)
		for _, proto := range []int{3, 4, 5} {
			enc, err := EncodeProtocol(x, proto)
			if err != nil {
				t.Fatalf("cannot encode a built value in protocol %d: %v", proto, err)
			}
			got, err := Decode(enc)
			if err != nil {
				t.Fatalf("protocol %d: own encoding does not decode: %v", proto, err)
			}
			if !Equal(x, got) {
				t.Fatalf("protocol %d: decode(encode(x)) != x", proto)
			}
		}
	})
}

// fuzzReader hands out the bytes of a fuzz input, then zeros.
type fuzzReader struct {
	b      []byte
	i      int
	budget int // bytes of large values left to make
}

func (f *fuzzReader) byte() byte {
	if f.i >= len(f.b) {
		return 0
	}
	c := f.b[f.i]
	f.i++
	return c
}

func (f *fuzzReader) take(n int) []byte {
	n = min(n, len(f.b)-f.i)
	p := bytes.Clone(f.b[f.i : f.i+n])
	f.i += n
	return p
}

// valueFromFuzz builds a valid value from arbitrary bytes: bytes and str of
// any length (up to 128 KiB, to cross the 64 KiB framing threshold), dicts
// of up to 2040 items (to cross the 1000-item batches), nested up to 6 deep,
// with at most about 80 KiB of large values in all.
func valueFromFuzz(data []byte) Value {
	f := &fuzzReader{b: data, budget: 80 << 10}
	return f.value(0)
}

func (f *fuzzReader) value(depth int) Value {
	c := f.byte()
	switch {
	case c%3 == 0 || depth >= 6:
		if c&0x80 != 0 {
			n := (int(f.byte())<<8 | int(f.byte())) * 2
			if n > f.budget {
				n = 0
			}
			f.budget -= n
			unit := f.take(4)
			if len(unit) == 0 {
				unit = []byte{c}
			}
			return Bytes(bytes.Repeat(unit, n/len(unit)+1)[:n])
		}
		return Bytes(f.take(int(f.byte())))
	case c%3 == 1:
		return String(strings.ToValidUTF8(string(f.take(int(f.byte()))), "\uFFFD"))
	default:
		d := &Dict{}
		if c&0x40 != 0 {
			n := int(f.byte()) * 8
			if n*8 > f.budget {
				n = 0
			}
			f.budget -= n * 8
			for i := range n {
				_ = d.Set(String(strconv.Itoa(i)), Bytes{byte(i)})
			}
			return d
		}
		for range int(f.byte() % 8) {
			var key Value = Bytes(f.take(int(f.byte() % 8)))
			if f.byte()%2 == 0 {
				key = String(strings.ToValidUTF8(string(key.(Bytes)), "?"))
			}
			_ = d.Set(key, f.value(depth+1)) // a repeated key is skipped
		}
		return d
	}
}

// fuzzShapes are the shapes FuzzDecodeShape holds inputs to.
var fuzzShapes = []*Shape{
	bundle,
	{Name: "key", Kind: KindBytes},
	{Kind: KindString},
	{Kind: KindDict, MaxItems: 3},
	{Kind: KindDict, KeyKind: KindBytes, ValueKind: KindString, Keys: []string{"a", "b", ""}},
}

// FuzzDecodeShape checks, for any input and each of fuzzShapes:
//   - DecodeShape never panics, and fails only with an *Error of one of
//     the five kinds;
//   - what it accepts, Decode accepts too, with the same value, and the
//     value has the shape;
//   - what Decode accepts with a value of the shape, DecodeShape accepts.
//
// go test -run '^$' -fuzz FuzzDecodeShape ./app/pickle/
func FuzzDecodeShape(f *testing.F) {
	for _, s := range []string{
		p4 + "}(\x8c\x03aadC\x00\x8c\x05nonceC\x0c012345678901u.", p4 + "C\x03abc.", p4 + "\x8c\x01a.",
		p4 + "}(C\x01aC\x00\x8c\x01a\x8c\x00\x8c\x01bC\x00u.", p4 + "}(C\x01a\x8c\x00C\x00\x8c\x01xu.",
		p4 + "}(\x8c\x03aadC\x00u(\x8c\x05nonceC\x00u.", p4 + "}\x8c\x03aadC\x00s.", p4 + "}((u.", p4 + "C\x00C\x00.",
	} {
		f.Add([]byte(s))
	}
	for _, c := range golden(f).Cases {
		if p := c.pickle(f, 4); len(p) <= 4096 {
			f.Add(p)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, plainErr := Decode(data)
		for i, s := range fuzzShapes {
			v, err := DecodeShape(data, s)
			if err != nil {
				var perr *Error
				kinds := 0
				for _, k := range []error{ErrNotAllowed, ErrTruncated, ErrMalformed, ErrLimit, ErrShape} {
					if errors.Is(err, k) {
						kinds++
					}
				}
				if !errors.As(err, &perr) || kinds != 1 || v != nil || perr.Offset < 0 || perr.Offset > len(data) {
					t.Fatalf("shape %d: bad error %v (kinds %d, value %v)", i, err, kinds, v)
				}
				if plainErr == nil && fits(plain, s) {
					t.Fatalf("shape %d: refused %x, whose value has the shape: %v", i, data, err)
				}
				continue
			}
			if plainErr != nil {
				t.Fatalf("shape %d: accepted %x, which Decode refuses: %v", i, data, plainErr)
			}
			if !Equal(v, plain) || !fits(v, s) {
				t.Fatalf("shape %d: accepted %x as another value than Decode's, or one without the shape", i, data)
			}
		}
	})
}
