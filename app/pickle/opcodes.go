package pickle

import "fmt"

// The opcodes this package reads and writes (Python's Lib/pickletools.py
// documents every opcode).
const (
	opMARK             = '('  // push a mark
	opSTOP             = '.'  // end of the pickle
	opBINBYTES         = 'B'  // u32 LE length, bytes (protocol 3)
	opSHORT_BINBYTES   = 'C'  // u8 length, bytes (protocol 3)
	opBINUNICODE       = 'X'  // u32 LE length, UTF-8 (protocol 1)
	opBINPUT           = 'q'  // u8 memo index (protocol 1)
	opLONG_BINPUT      = 'r'  // u32 LE memo index (protocol 1)
	opSETITEM          = 's'  // dict[key] = value
	opSETITEMS         = 'u'  // dict.update(items since the mark)
	opEMPTY_DICT       = '}'  // push {} (protocol 1)
	opPROTO            = 0x80 // u8 protocol number (protocol 2)
	opSHORT_BINUNICODE = 0x8c // u8 length, UTF-8 (protocol 4)
	opBINBYTES8        = 0x8e // u64 LE length, bytes (protocol 4)
	opMEMOIZE          = 0x94 // memo[len(memo)] = top of stack (protocol 4)
	opFRAME            = 0x95 // u64 LE length of the frame that follows (protocol 4)
)

// opcodeNames names every opcode of pickle protocols 0 to 5, allowed or not,
// so that an error can say what it refused.
var opcodeNames = [256]string{
	'(': "MARK", ')': "EMPTY_TUPLE", '.': "STOP", '0': "POP", '1': "POP_MARK",
	'2': "DUP", 'B': "BINBYTES", 'C': "SHORT_BINBYTES", 'F': "FLOAT",
	'G': "BINFLOAT", 'I': "INT", 'J': "BININT", 'K': "BININT1", 'L': "LONG",
	'M': "BININT2", 'N': "NONE", 'P': "PERSID", 'Q': "BINPERSID", 'R': "REDUCE",
	'S': "STRING", 'T': "BINSTRING", 'U': "SHORT_BINSTRING", 'V': "UNICODE",
	'X': "BINUNICODE", ']': "EMPTY_LIST", 'a': "APPEND", 'b': "BUILD",
	'c': "GLOBAL", 'd': "DICT", 'e': "APPENDS", 'g': "GET", 'h': "BINGET",
	'i': "INST", 'j': "LONG_BINGET", 'l': "LIST", 'o': "OBJ", 'p': "PUT",
	'q': "BINPUT", 'r': "LONG_BINPUT", 's': "SETITEM", 't': "TUPLE",
	'u': "SETITEMS", '}': "EMPTY_DICT",
	0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
	0x85: "TUPLE1", 0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE",
	0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4", 0x8c: "SHORT_BINUNICODE",
	0x8d: "BINUNICODE8", 0x8e: "BINBYTES8", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS",
	0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE",
	0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

// opcodeInfo is what the decoder knows about an allowed opcode.
type opcodeInfo struct {
	allowed  bool
	minProto int // the protocol that introduced it, as far as this package is concerned
	argSize  int // bytes of fixed-size argument after the opcode byte
}

// allowedOpcodes are exactly the opcodes CPython's pickle writes for bytes,
// str and dict objects in protocols 3, 4 and 5 (app/legacy/PROTOCOL.md). Every
// other byte is refused.
var allowedOpcodes = [256]opcodeInfo{
	opPROTO:            {true, 2, 1},
	opFRAME:            {true, 4, 8},
	opEMPTY_DICT:       {true, 1, 0},
	opMARK:             {true, 1, 0},
	opSHORT_BINUNICODE: {true, 4, 1},
	opBINUNICODE:       {true, 1, 4},
	opSHORT_BINBYTES:   {true, 3, 1},
	opBINBYTES:         {true, 3, 4},
	opBINBYTES8:        {true, 4, 8},
	opMEMOIZE:          {true, 4, 0},
	opBINPUT:           {true, 1, 1},
	opLONG_BINPUT:      {true, 1, 4},
	opSETITEMS:         {true, 1, 0},
	opSETITEM:          {true, 1, 0},
	opSTOP:             {true, 1, 0},
}

// Allowed reports whether op is one of the opcodes this package accepts.
func Allowed(op byte) bool { return allowedOpcodes[op].allowed }

// OpcodeName returns the name of an opcode, e.g. "GLOBAL", or "" for a byte
// that is no opcode of protocols 0 to 5.
func OpcodeName(op byte) string { return opcodeNames[op] }

// describeOpcode returns e.g. "GLOBAL ('c', 0x63)", "NEWOBJ (0x81)", or
// "0xff (no such opcode)".
func describeOpcode(op byte) string {
	name := opcodeNames[op]
	var code string
	if op >= 0x20 && op < 0x7f {
		code = fmt.Sprintf("%q, 0x%02x", rune(op), op)
	} else {
		code = fmt.Sprintf("0x%02x", op)
	}
	if name == "" {
		return fmt.Sprintf("0x%02x (no such opcode)", op)
	}
	return fmt.Sprintf("%s (%s)", name, code)
}
