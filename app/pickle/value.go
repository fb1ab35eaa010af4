package pickle

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Value is one of the three kinds of object this package reads and writes:
// Bytes (Python bytes), String (Python str) or *Dict (Python dict).
type Value interface {
	// Kind tells the three apart.
	Kind() Kind
}

// Kind is the Python type of a Value.
type Kind uint8

// The kinds of Value.
const (
	KindBytes Kind = iota + 1
	KindString
	KindDict
)

// String returns the Python name of the type: "bytes", "str" or "dict".
func (k Kind) String() string {
	switch k {
	case KindBytes:
		return "bytes"
	case KindString:
		return "str"
	case KindDict:
		return "dict"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Bytes is a Python bytes object.
type Bytes []byte

// String is a Python str object, held as its UTF-8 encoding. The encoder
// refuses a String that is not valid UTF-8.
type String string

// Kind returns KindBytes.
func (Bytes) Kind() Kind { return KindBytes }

// Kind returns KindString.
func (String) Kind() Kind { return KindString }

// Kind returns KindDict.
func (*Dict) Kind() Kind { return KindDict }

// TypeName returns the Python type name of v ("bytes", "str", "dict"), or
// "nothing" for nil.
func TypeName(v Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Kind().String()
}

// Item is one key/value pair of a Dict.
type Item struct {
	Key   Value // Bytes or String
	Value Value
}

// Errors of Dict.Set (and of the decoder, which wraps them).
var (
	// ErrDuplicateKey: Python keeps the last value given for a key; this
	// package refuses a second value instead, so that a message cannot say
	// two things at once.
	ErrDuplicateKey = errors.New("duplicate dict key")
	// ErrKeyType: a dict key must be str or bytes (a dict is unhashable in
	// Python).
	ErrKeyType = errors.New("dict key must be str or bytes")
	// ErrNilValue: a nil Value cannot be pickled.
	ErrNilValue = errors.New("nil value")
)

// indexThreshold is the size above which a Dict keeps a map from key to
// position; smaller dicts are searched linearly.
const indexThreshold = 8

// Dict is a Python dict with str or bytes keys. It keeps its items in
// insertion order, as Python does, and refuses duplicate keys.
// The zero value is an empty dict ready to use.
type Dict struct {
	items []Item
	index map[dictKey]int // built once the dict holds more than indexThreshold items
	depth int             // nesting depth, kept by the decoder: 1 for a dict that holds no dict
}

type dictKey struct {
	kind Kind
	s    string
}

// NewDict returns a dict holding items, in order. It fails like Set.
func NewDict(items ...Item) (*Dict, error) {
	d := &Dict{}
	for _, it := range items {
		if err := d.Set(it.Key, it.Value); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Len returns the number of items.
func (d *Dict) Len() int { return len(d.items) }

// Items returns a copy of the items, in insertion order.
func (d *Dict) Items() []Item { return slices.Clone(d.items) }

// Get returns the value of key, which is a String or Bytes.
func (d *Dict) Get(key Value) (Value, bool) {
	k, err := keyOf(key)
	if err != nil {
		return nil, false
	}
	i := d.find(k)
	if i < 0 {
		return nil, false
	}
	return d.items[i].Value, true
}

// Set appends key: value. key must be a String or Bytes that the dict does
// not hold yet (ErrKeyType, ErrDuplicateKey) and value must not be nil
// (ErrNilValue).
func (d *Dict) Set(key, value Value) error {
	k, err := keyOf(key)
	if err != nil {
		return err
	}
	if isNil(value) {
		return fmt.Errorf("%w for key %s", ErrNilValue, Repr(key))
	}
	if d.find(k) >= 0 {
		return fmt.Errorf("%w %s", ErrDuplicateKey, Repr(key))
	}
	d.items = append(d.items, Item{Key: key, Value: value})
	if d.index != nil {
		d.index[k] = len(d.items) - 1
	} else if len(d.items) > indexThreshold {
		d.index = make(map[dictKey]int, 2*len(d.items))
		for i, it := range d.items {
			ik, _ := keyOf(it.Key)
			d.index[ik] = i
		}
	}
	return nil
}

func (d *Dict) find(k dictKey) int {
	if d.index != nil {
		if i, ok := d.index[k]; ok {
			return i
		}
		return -1
	}
	for i, it := range d.items {
		if ik, _ := keyOf(it.Key); ik == k {
			return i
		}
	}
	return -1
}

func keyOf(key Value) (dictKey, error) {
	switch k := key.(type) {
	case String:
		return dictKey{KindString, string(k)}, nil
	case Bytes:
		return dictKey{KindBytes, string(k)}, nil
	}
	return dictKey{}, fmt.Errorf("%w, not %s", ErrKeyType, TypeName(key))
}

func isNil(v Value) bool {
	if v == nil {
		return true
	}
	d, ok := v.(*Dict)
	return ok && d == nil
}

// maxQuote is how much of a key or string an error message quotes.
const maxQuote = 40

// Repr returns a short, Python-like representation of v for messages:
// 'text' for a str, b'data' for bytes (both cut after 40 bytes, with "..."),
// "a dict of N items" for a dict.
func Repr(v Value) string {
	switch x := v.(type) {
	case String:
		return quote("", string(x[:min(len(x), maxQuote+1)]))
	case Bytes:
		return quote("b", string(x[:min(len(x), maxQuote+1)]))
	case *Dict:
		if x != nil {
			return fmt.Sprintf("a dict of %d items", x.Len())
		}
	}
	return TypeName(v)
}

// quote quotes s as Python quotes a str (prefix "") or bytes (prefix "b"),
// with only ASCII, cut to maxQuote bytes.
func quote(prefix, s string) string {
	cut := ""
	if len(s) > maxQuote {
		s, cut = s[:maxQuote], "..."
	}
	q := strconv.QuoteToASCII(s)
	inner := strings.ReplaceAll(strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`), "'", `\'`)
	return prefix + "'" + inner + "'" + cut
}

// Equal reports whether a and b are the same value: same kinds, same bytes,
// and for dicts the same items in the same order. Values nested deeper than
// MaxDepth are never equal.
func Equal(a, b Value) bool { return equal(a, b, 0) }

func equal(a, b Value, depth int) bool {
	switch x := a.(type) {
	case Bytes:
		y, ok := b.(Bytes)
		return ok && bytes.Equal(x, y)
	case String:
		y, ok := b.(String)
		return ok && x == y
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x == nil || y == nil || depth >= MaxDepth || len(x.items) != len(y.items) {
			return ok && x == nil && y == nil
		}
		for i := range x.items {
			if !equal(x.items[i].Key, y.items[i].Key, depth+1) || !equal(x.items[i].Value, y.items[i].Value, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// validString reports whether s can be a Python str on the wire: valid UTF-8
// without surrogates (which utf8.ValidString refuses too).
func validString(s []byte) bool { return utf8.Valid(s) }
