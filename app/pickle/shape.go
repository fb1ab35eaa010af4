package pickle

import (
	"errors"
	"fmt"
	"strings"
)

// ErrShape is the kind of error of DecodeShape for a pickle that is valid
// but leaves the caller's Shape: another kind of value, an unexpected key,
// too many items, a dict inside the dict. It is refused at the opcode that
// leaves the shape, before the value that opcode brings is copied.
var ErrShape = errors.New("pickle does not have the expected shape")

// Shape is what the value of a pickle must look like for DecodeShape: a
// bytes object, a str, or a flat dict whose keys and values are bytes or
// str. A Shape never allows a dict inside the dict, so the decoder's stack
// holds at most the dict, its pending keys and values, and one MARK.
//
// Decoding under a Shape bounds memory by the input: every value that
// passes is copied once (at most the input's size in all), and a dict
// holds at most MaxItems items (or len(Keys)), so the decoder allocates no
// more than about the input's size plus a constant. Plain Decode may
// allocate some tens of bytes per input byte (many small items): use a
// Shape for input from the network.
type Shape struct {
	// Name names the value in error messages, e.g. "message"; "value" if
	// empty.
	Name string
	// Kind is the kind of the pickle's value: KindBytes, KindString or
	// KindDict.
	Kind Kind
	// The rest apply to a dict.

	// KeyKind is the kind of every key, KindString or KindBytes; 0 allows
	// both.
	KeyKind Kind
	// Keys, when not nil, are the only keys allowed (their text, of kind
	// KeyKind). They need not all be present: the caller checks that.
	Keys []string
	// ValueKind is the kind of every value, KindBytes or KindString; 0
	// allows both. A value is never a dict.
	ValueKind Kind
	// MaxItems bounds the number of items. 0 means len(Keys) when Keys is
	// set, else no bound but MaxStack's (and memory is then not bounded by
	// the input: set one).
	MaxItems int
}

// DecodeShape is Decode with the value held to shape s, checked opcode by
// opcode as the pickle is decoded: it refuses, with an *Error wrapping
// ErrShape, the first opcode that brings a value of another kind than the
// shape allows at that place (a key not in s.Keys, a key or value of the
// wrong kind, a dict where only the top-level value may be one, an item
// past s.MaxItems) or a MARK other than the one that opens the dict's
// items. A pickle that fits is decoded exactly as Decode decodes it. A nil
// s is Decode.
func DecodeShape(data []byte, s *Shape) (Value, error) {
	if s != nil {
		if err := s.validate(); err != nil {
			return nil, err
		}
	}
	d := decoder{data: data, frameEnd: -1, shape: s}
	return d.run()
}

func (s *Shape) validate() error {
	switch s.Kind {
	case KindBytes, KindString, KindDict:
	default:
		return fmt.Errorf("pickle: Shape.Kind is %v; want KindBytes, KindString or KindDict", s.Kind)
	}
	if s.KeyKind == KindDict || s.ValueKind == KindDict || s.KeyKind > KindDict || s.ValueKind > KindDict {
		return errors.New("pickle: a Shape's keys and values are bytes or str, never dicts")
	}
	if s.MaxItems < 0 {
		return errors.New("pickle: Shape.MaxItems is negative")
	}
	return nil
}

func (s *Shape) name() string {
	if s.Name == "" {
		return "value"
	}
	return s.Name
}

func (s *Shape) maxItems() int {
	switch {
	case s.MaxItems > 0:
		return s.MaxItems
	case s.Keys != nil:
		return len(s.Keys)
	}
	return MaxStack
}

// keyAllowed reports whether the text p is one of s.Keys.
func (s *Shape) keyAllowed(p []byte) bool {
	if s.Keys == nil {
		return true
	}
	for _, k := range s.Keys {
		if string(p) == k {
			return true
		}
	}
	return false
}

// keyList quotes s.Keys for messages.
func (s *Shape) keyList() string {
	q := make([]string, len(s.Keys))
	for i, k := range s.Keys {
		q[i] = repr(s.KeyKind, []byte(k))
	}
	return strings.Join(q, ", ")
}

// repr quotes p as a value of kind k (str if k is 0).
func repr(k Kind, p []byte) string {
	if k == KindBytes {
		return Repr(Bytes(p))
	}
	return Repr(String(p))
}

// checkPush checks, under a shape, a value of kind k (with content p for
// bytes and str) about to be pushed at offset off by opcode name. It runs
// before the value is copied.
func (d *decoder) checkPush(off int, name string, k Kind, p []byte) error {
	s := d.shape
	if len(d.stack) == 0 {
		if k != s.Kind {
			return d.fail(off, ErrShape, nil, "%s holds %s, not %s (%s at offset %d)", s.name(), article(k), article(s.Kind), name, off)
		}
		return nil
	}
	root, ok := d.stack[0].(*Dict)
	if !ok {
		return d.fail(off, ErrShape, nil, "%s holds a single %s, but %s at offset %d brings another value", s.name(), TypeName(d.stack[0]), name, off)
	}
	pos := len(d.stack) - 1 // keys and values waiting above the dict
	if pos%2 == 0 {
		// A key.
		if k == KindDict {
			return d.fail(off, ErrShape, nil, "%s has a dict where a key belongs; its keys are %s (%s at offset %d)", s.name(), keyKinds(s.KeyKind), name, off)
		}
		if s.KeyKind != 0 && k != s.KeyKind {
			return d.fail(off, ErrShape, nil, "%s has a %s key %s; its keys are %s (%s at offset %d)", s.name(), k, repr(k, p), s.KeyKind, name, off)
		}
		if !s.keyAllowed(p) {
			return d.fail(off, ErrShape, nil, "%s has an unexpected key %s; want exactly %s (%s at offset %d)", s.name(), repr(k, p), s.keyList(), name, off)
		}
		if n := root.Len() + pos/2 + 1; n > s.maxItems() {
			return d.fail(off, ErrShape, nil, "%s has more than %d items (%s at offset %d)", s.name(), s.maxItems(), name, off)
		}
		if d.pendingKey(root, k, p) {
			return d.fail(off, ErrMalformed, ErrDuplicateKey, "%s at offset %d: %v %s", name, off, ErrDuplicateKey, repr(k, p))
		}
		return nil
	}
	// A value.
	if k == KindDict || s.ValueKind != 0 && k != s.ValueKind {
		want := article(s.ValueKind)
		if s.ValueKind == 0 {
			want = "bytes or a str"
		}
		return d.fail(off, ErrShape, nil, "%s key %s holds %s, not %s (%s at offset %d)", s.name(), Repr(d.stack[len(d.stack)-1]), article(k), want, name, off)
	}
	return nil
}

// pendingKey reports whether the key (k, p) is already in root or waits
// on the stack to be set, so that a duplicate is refused before it is
// copied.
func (d *decoder) pendingKey(root *Dict, k Kind, p []byte) bool {
	key := dictKey{k, string(p)}
	if root.find(key) >= 0 {
		return true
	}
	for i := 1; i < len(d.stack); i += 2 {
		if ik, err := keyOf(d.stack[i]); err == nil && ik.kind == k && ik.s == key.s {
			return true
		}
	}
	return false
}

// article names a kind as a phrase: "bytes", "a str", "a dict".
func article(k Kind) string {
	if k == KindBytes {
		return "bytes"
	}
	return "a " + k.String()
}

// keyKinds names the kinds of key k allows.
func keyKinds(k Kind) string {
	if k == 0 {
		return "str or bytes"
	}
	return k.String()
}

// checkMark checks, under a shape, a MARK at offset off: only one, right
// above the dict, may be open.
func (d *decoder) checkMark(off int) error {
	if _, ok := d.topDict(); ok && len(d.marks) == 0 {
		return nil
	}
	return d.fail(off, ErrShape, nil, "%s: MARK at offset %d, where the shape allows none (only one, to open the dict's items)", d.shape.name(), off)
}

// topDict returns the dict when the stack holds only it.
func (d *decoder) topDict() (*Dict, bool) {
	if len(d.stack) != 1 {
		return nil, false
	}
	dict, ok := d.stack[0].(*Dict)
	return dict, ok
}
