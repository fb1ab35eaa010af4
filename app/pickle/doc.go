// Package pickle reads and writes the small, safe subset of Python's pickle
// format that the original ML-KEM demo puts on the wire: a bytes object (the
// server's public key) and a dict of str keys to bytes values (each
// message), in pickle protocols 3, 4 and 5.
//
// Python's pickle.loads is a small virtual machine whose opcodes can import
// modules and call functions (GLOBAL, STACK_GLOBAL, REDUCE, INST, OBJ,
// NEWOBJ, BUILD, ...): unpickling data from the network lets the sender run
// code. This package knows exactly fifteen opcodes, those CPython writes for
// bytes, str and dict:
//
//	PROTO FRAME EMPTY_DICT MARK SHORT_BINUNICODE BINUNICODE SHORT_BINBYTES
//	BINBYTES BINBYTES8 MEMOIZE BINPUT LONG_BINPUT SETITEMS SETITEM STOP
//
// and refuses every other byte with an error naming it, e.g.
//
//	pickle: opcode GLOBAL ('c', 0x63) is not allowed (offset 2)
//
// Its values are Bytes, String and *Dict (insertion-ordered, no duplicate
// keys). Decode checks every length before it slices or allocates, bounds
// nesting and the stack, and has no recursion. DecodeShape also holds the
// value to a caller's Shape (e.g. a dict of these four str keys to bytes)
// opcode by opcode, refusing the first opcode that leaves it, so that what
// it allocates is bounded by the input's size: the decoder for input from
// the network; Encode writes protocol 4 byte
// for byte as CPython 3.11's pickle.dumps does. The tests hold both to
// golden pickles made by CPython (testdata/README.md).
package pickle
