package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits of the decoder. Pickles that CPython writes for the objects this
// package handles stay far below them.
const (
	// MaxDepth bounds both the number of MARKs open at once and how deeply
	// dicts nest in dicts (a flat dict has depth 1). CPython's pickler
	// opens one MARK per dict being written, so a pickle of dicts nested
	// MaxDepth deep decodes; anything deeper is refused with ErrLimit.
	MaxDepth = 64
	// MaxStack bounds the values on the unpickling stack at once. CPython
	// writes dict items in batches of 1000 (2000 stack entries).
	MaxStack = 1 << 16
)

// Errors of Decode. Every error it returns is an *Error that wraps exactly
// one of them (or ErrShape, for DecodeShape) (and, for a refused dict item, ErrDuplicateKey or ErrKeyType
// too); compare with errors.Is.
var (
	// ErrNotAllowed: an opcode outside the allowed set (GLOBAL, REDUCE,
	// BINGET, ...), or a byte that is no opcode at all.
	ErrNotAllowed = errors.New("opcode not allowed")
	// ErrTruncated: the input (or the current FRAME) ends inside an opcode,
	// or before STOP.
	ErrTruncated = errors.New("truncated pickle")
	// ErrMalformed: every opcode is allowed, but they do not make one valid
	// value (wrong stack state, bad memo index, trailing data, ...).
	ErrMalformed = errors.New("malformed pickle")
	// ErrLimit: the pickle is valid but goes past MaxDepth or MaxStack.
	ErrLimit = errors.New("pickle exceeds a decoder limit")
)

// (ErrShape, the fifth kind, is DecodeShape's: shape.go.)

// Error is a decoding error: where, and what went wrong.
type Error struct {
	// Offset is the position in the input of the opcode at fault.
	Offset int
	// Err is ErrNotAllowed, ErrTruncated, ErrMalformed, ErrLimit or
	// ErrShape.
	Err error
	// Cause is a further error it wraps, e.g. ErrDuplicateKey, or nil.
	Cause error
	msg   string
}

func (e *Error) Error() string { return "pickle: " + e.msg }

// Unwrap returns Err and, when there is one, Cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Decode parses one pickle of protocol 3, 4 or 5 made of only the opcodes
// PROTO, FRAME, EMPTY_DICT, MARK, SHORT_BINUNICODE, BINUNICODE,
// SHORT_BINBYTES, BINBYTES, BINBYTES8, MEMOIZE, BINPUT, LONG_BINPUT,
// SETITEMS, SETITEM and STOP, and returns its value. It never runs, imports
// or builds anything else: any other opcode is refused with ErrNotAllowed.
//
// It is stricter than CPython's pickle.loads, which accepts everything it
// accepts with the same result:
//   - PROTO (3, 4 or 5) must come first, and only there; FRAME, MEMOIZE,
//     SHORT_BINUNICODE and BINBYTES8 only in protocols 4 and 5.
//   - Exactly one STOP, as the last byte; the stack must then hold exactly
//     one value and no MARK.
//   - Every length is checked against what is left of the input (or of the
//     current FRAME) before anything is sliced or allocated; a FRAME must lie
//     within the input, must not start inside another FRAME, and an opcode
//     with its argument lies wholly inside one frame or wholly outside.
//   - str must be valid UTF-8, without surrogates (CPython reads them with
//     "surrogatepass").
//   - A dict key is str or bytes, and a key may not repeat (Python keeps
//     the last value; Decode refuses with ErrDuplicateKey).
//   - The memo is never read (the GET opcodes are not allowed), so it is
//     not stored: Decode counts its entries. A BINPUT or LONG_BINPUT index
//     may overwrite an entry or add the next one (the index CPython always
//     writes is the memo's size), so an index larger than the memo's size
//     is refused and no index can make Decode allocate anything.
//   - At most MaxDepth open MARKs and nested dicts, MaxStack stack values.
//
// The returned values do not alias data. Decode may allocate some tens of
// bytes per input byte (a pickle of many small items); DecodeShape bounds
// that by the input's size.
func Decode(data []byte) (Value, error) {
	d := decoder{data: data, frameEnd: -1}
	return d.run()
}

type decoder struct {
	data     []byte
	pos      int
	frameEnd int // end of the current FRAME, or -1 outside frames
	proto    int
	stack    []Value
	marks    []int // len(stack) at each open MARK
	memoLen  uint64
	shape    *Shape // DecodeShape's, or nil
}

func (d *decoder) fail(off int, kind error, cause error, format string, args ...any) error {
	return &Error{Offset: off, Err: kind, Cause: cause, msg: fmt.Sprintf(format, args...)}
}

// base is the stack index above the innermost open MARK.
func (d *decoder) base() int {
	if len(d.marks) == 0 {
		return 0
	}
	return d.marks[len(d.marks)-1]
}

func (d *decoder) run() (Value, error) {
	if len(d.data) == 0 {
		return nil, d.fail(0, ErrTruncated, nil, "empty input")
	}
	for {
		if d.frameEnd >= 0 && d.pos == d.frameEnd {
			d.frameEnd = -1
		}
		limit, where := len(d.data), "input"
		if d.frameEnd >= 0 {
			limit, where = d.frameEnd, "frame"
		}
		off := d.pos
		if off >= len(d.data) {
			return nil, d.fail(off, ErrTruncated, nil, "input ends after %d bytes without STOP", len(d.data))
		}
		op := d.data[off]
		info := allowedOpcodes[op]
		if !info.allowed {
			return nil, d.fail(off, ErrNotAllowed, nil, "opcode %s is not allowed (offset %d)", describeOpcode(op), off)
		}
		name := opcodeNames[op]
		if off == 0 && op != opPROTO {
			return nil, d.fail(off, ErrMalformed, nil, "input starts with %s, not PROTO: only pickle protocols 3, 4 and 5 are accepted", describeOpcode(op))
		}
		if info.minProto > d.proto && off > 0 {
			return nil, d.fail(off, ErrMalformed, nil, "%s at offset %d needs protocol %d, but the pickle is protocol %d", name, off, info.minProto, d.proto)
		}
		if left := limit - off - 1; left < info.argSize {
			return nil, d.fail(off, ErrTruncated, nil, "%s at offset %d needs %d argument bytes, %d left in the %s", name, off, info.argSize, left, where)
		}
		arg := d.data[off+1 : off+1+info.argSize]
		d.pos = off + 1 + info.argSize

		switch op {
		case opPROTO:
			if off != 0 {
				return nil, d.fail(off, ErrMalformed, nil, "PROTO at offset %d: allowed only as the first opcode", off)
			}
			if p := arg[0]; p < 3 || p > 5 {
				return nil, d.fail(off, ErrMalformed, nil, "pickle protocol %d is not accepted (want 3, 4 or 5)", p)
			}
			d.proto = int(arg[0])

		case opFRAME:
			if d.frameEnd >= 0 {
				return nil, d.fail(off, ErrMalformed, nil, "FRAME at offset %d starts inside a frame (%d bytes of it left)", off, d.frameEnd-off)
			}
			n := binary.LittleEndian.Uint64(arg)
			if left := len(d.data) - d.pos; n > uint64(left) {
				return nil, d.fail(off, ErrTruncated, nil, "FRAME at offset %d is %d bytes long, but only %d bytes follow", off, n, left)
			}
			d.frameEnd = d.pos + int(n)

		case opSHORT_BINBYTES, opBINBYTES, opBINBYTES8, opSHORT_BINUNICODE, opBINUNICODE:
			var n uint64
			switch len(arg) {
			case 1:
				n = uint64(arg[0])
			case 4:
				n = uint64(binary.LittleEndian.Uint32(arg))
			case 8:
				n = binary.LittleEndian.Uint64(arg)
			}
			if left := limit - d.pos; n > uint64(left) {
				return nil, d.fail(off, ErrTruncated, nil, "%s at offset %d is %d bytes long, but only %d bytes are left in the %s", name, off, n, left, where)
			}
			p := d.data[d.pos : d.pos+int(n)]
			d.pos += int(n)
			kind := KindBytes
			if op == opSHORT_BINUNICODE || op == opBINUNICODE {
				kind = KindString
			}
			if d.shape != nil {
				if err := d.checkPush(off, name, kind, p); err != nil {
					return nil, err
				}
			}
			if kind == KindString {
				if !validString(p) {
					return nil, d.fail(off, ErrMalformed, nil, "%s at offset %d is not valid UTF-8: %s", name, off, Repr(Bytes(p)))
				}
				d.stack = append(d.stack, String(p))
			} else {
				d.stack = append(d.stack, Bytes(bytes.Clone(p)))
			}

		case opEMPTY_DICT:
			if d.shape != nil {
				if err := d.checkPush(off, name, KindDict, nil); err != nil {
					return nil, err
				}
			}
			d.stack = append(d.stack, &Dict{depth: 1})

		case opMARK:
			if d.shape != nil {
				if err := d.checkMark(off); err != nil {
					return nil, err
				}
			}
			if len(d.marks) >= MaxDepth {
				return nil, d.fail(off, ErrLimit, nil, "MARK at offset %d: more than %d MARKs open", off, MaxDepth)
			}
			d.marks = append(d.marks, len(d.stack))

		case opMEMOIZE, opBINPUT, opLONG_BINPUT:
			if len(d.stack) <= d.base() {
				return nil, d.fail(off, ErrMalformed, nil, "%s at offset %d: nothing to memoize", name, off)
			}
			if op == opMEMOIZE {
				d.memoLen++
				break
			}
			var idx uint64
			if op == opBINPUT {
				idx = uint64(arg[0])
			} else {
				idx = uint64(binary.LittleEndian.Uint32(arg))
			}
			switch {
			case idx == d.memoLen:
				d.memoLen++
			case idx > d.memoLen:
				return nil, d.fail(off, ErrMalformed, nil, "%s at offset %d: memo index %d skips ahead of the memo's %d entries", name, off, idx, d.memoLen)
			}

		case opSETITEM:
			if len(d.stack)-d.base() < 3 {
				return nil, d.fail(off, ErrMalformed, nil, "SETITEM at offset %d needs a dict, a key and a value, the stack has %d values above its MARK", off, len(d.stack)-d.base())
			}
			n := len(d.stack)
			if err := d.setItems(off, name, d.stack[n-3], d.stack[n-2:]); err != nil {
				return nil, err
			}
			clear(d.stack[n-2:])
			d.stack = d.stack[:n-2]

		case opSETITEMS:
			if len(d.marks) == 0 {
				return nil, d.fail(off, ErrMalformed, nil, "SETITEMS at offset %d without a MARK", off)
			}
			m := d.marks[len(d.marks)-1]
			d.marks = d.marks[:len(d.marks)-1]
			if (len(d.stack)-m)%2 != 0 {
				return nil, d.fail(off, ErrMalformed, nil, "SETITEMS at offset %d: odd number of values (%d) after the MARK", off, len(d.stack)-m)
			}
			if m-1 < d.base() {
				return nil, d.fail(off, ErrMalformed, nil, "SETITEMS at offset %d: no dict below the MARK", off)
			}
			if err := d.setItems(off, name, d.stack[m-1], d.stack[m:]); err != nil {
				return nil, err
			}
			clear(d.stack[m:])
			d.stack = d.stack[:m]

		case opSTOP:
			switch {
			case len(d.marks) != 0:
				return nil, d.fail(off, ErrMalformed, nil, "STOP at offset %d with %d MARKs open", off, len(d.marks))
			case len(d.stack) != 1:
				return nil, d.fail(off, ErrMalformed, nil, "STOP at offset %d with %d values on the stack, want 1", off, len(d.stack))
			case d.pos != len(d.data):
				return nil, d.fail(off, ErrMalformed, nil, "%d bytes of trailing data after STOP at offset %d", len(d.data)-d.pos, off)
			}
			return d.stack[0], nil
		}
		if len(d.stack) > MaxStack {
			return nil, d.fail(off, ErrLimit, nil, "more than %d values on the stack at offset %d", MaxStack, off)
		}
	}
}

// setItems adds kv (key, value, key, value, ...) to target, which must be a
// dict.
func (d *decoder) setItems(off int, name string, target Value, kv []Value) error {
	dict, ok := target.(*Dict)
	if !ok {
		return d.fail(off, ErrMalformed, nil, "%s at offset %d: target is %s, not a dict", name, off, TypeName(target))
	}
	for i := 0; i < len(kv); i += 2 {
		key, value := kv[i], kv[i+1]
		if child, ok := value.(*Dict); ok {
			if child.depth+1 > MaxDepth {
				return d.fail(off, ErrLimit, nil, "%s at offset %d: dicts nested more than %d deep", name, off, MaxDepth)
			}
			dict.depth = max(dict.depth, child.depth+1)
		}
		if err := dict.Set(key, value); err != nil {
			return d.fail(off, ErrMalformed, err, "%s at offset %d: %v", name, off, err)
		}
	}
	return nil
}
