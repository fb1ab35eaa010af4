package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// DefaultProtocol is the protocol Encode writes: CPython 3.8 to 3.13's
// pickle.DEFAULT_PROTOCOL.
const DefaultProtocol = 4

// Framing constants of CPython's pickler (Lib/pickle.py, _Framer, and
// Modules/_pickle.c).
const (
	frameHeaderSize = 9         // FRAME + u64 length
	frameSizeMin    = 4         // a smaller frame is written without its header
	frameSizeTarget = 64 * 1024 // a frame is closed once it holds this much; larger objects go outside frames
	batchSize       = 1000      // dict items per MARK ... SETITEMS
)

// ErrEncode is wrapped by every error of Encode and EncodeProtocol.
var ErrEncode = errors.New("pickle: cannot encode")

// Encode returns the pickle of v in protocol 4, byte for byte as CPython's
// pickle.dumps(obj, protocol=4) writes the Python object v stands for
// (CPython 3.11's C pickler: frames of about 64 KiB, objects of 64 KiB or
// more written outside frames, dict items in batches of 1000).
//
// CPython writes an object it has already written as a memo reference
// (BINGET), e.g. a dict holding b"" twice (Python has a single empty bytes
// object). This package neither writes nor reads memo references, so the
// bytes are CPython's only for values that share no object: which holds for
// a bytes object, and for a dict of distinct keys whose values are not the
// empty or one-byte bytes objects more than once.
func Encode(v Value) ([]byte, error) { return EncodeProtocol(v, DefaultProtocol) }

// EncodeProtocol is Encode for protocol 3, 4 or 5. For these values
// protocol 5 differs from 4 only in the PROTO byte; protocol 3 has no frames,
// no SHORT_BINUNICODE and BINPUT/LONG_BINPUT instead of MEMOIZE.
func EncodeProtocol(v Value, proto int) ([]byte, error) {
	if proto < 3 || proto > 5 {
		return nil, fmt.Errorf("%w: protocol %d (want 3, 4 or 5)", ErrEncode, proto)
	}
	e := encoder{proto: proto, frameStart: -1}
	e.write(opPROTO, byte(proto))
	e.framing = proto >= 4
	if err := e.save(v, 0); err != nil {
		return nil, err
	}
	e.write(opSTOP)
	e.commitFrame()
	return e.out, nil
}

type encoder struct {
	proto      int
	out        []byte
	framing    bool
	frameStart int    // offset of the open frame's reserved header, or -1
	memo       uint64 // memo entries written
}

// write appends to the open frame, opening one if framing is on.
func (e *encoder) write(p ...byte) { e.writeBytes(p) }

func (e *encoder) writeBytes(p []byte) {
	if e.framing && e.frameStart < 0 {
		e.frameStart = len(e.out)
		e.out = append(e.out, make([]byte, frameHeaderSize)...)
	}
	e.out = append(e.out, p...)
}

// commitFrame closes the open frame: it fills in its header, or removes the
// header of a frame smaller than frameSizeMin, as CPython does.
func (e *encoder) commitFrame() {
	if !e.framing || e.frameStart < 0 {
		return
	}
	n := len(e.out) - e.frameStart - frameHeaderSize
	if n >= frameSizeMin {
		e.out[e.frameStart] = opFRAME
		binary.LittleEndian.PutUint64(e.out[e.frameStart+1:], uint64(n))
	} else {
		copy(e.out[e.frameStart:], e.out[e.frameStart+frameHeaderSize:])
		e.out = e.out[:len(e.out)-frameHeaderSize]
	}
	e.frameStart = -1
}

// writeLarge writes an object's header and payload outside any frame,
// after closing the open one.
func (e *encoder) writeLarge(header, payload []byte) {
	framing := e.framing
	e.commitFrame()
	e.framing = false
	e.writeBytes(header)
	e.writeBytes(payload)
	e.framing = framing
}

// writeData writes a bytes or str object: header (opcode and length) and
// payload, in the frame or, at frameSizeTarget and beyond, outside.
func (e *encoder) writeData(header, payload []byte) {
	if len(payload) >= frameSizeTarget {
		e.writeLarge(header, payload)
		return
	}
	e.writeBytes(header)
	e.writeBytes(payload)
}

func (e *encoder) memoize() error {
	switch {
	case e.proto >= 4:
		e.write(opMEMOIZE)
	case e.memo < 256:
		e.write(opBINPUT, byte(e.memo))
	case e.memo <= math.MaxUint32:
		e.write(binary.LittleEndian.AppendUint32([]byte{opLONG_BINPUT}, uint32(e.memo))...)
	default:
		return fmt.Errorf("%w: more than 2^32 objects in protocol 3", ErrEncode)
	}
	e.memo++
	return nil
}

func (e *encoder) save(v Value, depth int) error {
	// CPython closes a full frame at the start of each object it saves.
	if e.framing && e.frameStart >= 0 && len(e.out)-e.frameStart-frameHeaderSize >= frameSizeTarget {
		e.commitFrame()
	}
	switch x := v.(type) {
	case Bytes:
		n := uint64(len(x))
		switch {
		case n <= 0xff:
			e.writeData([]byte{opSHORT_BINBYTES, byte(n)}, x)
		case n <= math.MaxUint32:
			e.writeData(binary.LittleEndian.AppendUint32([]byte{opBINBYTES}, uint32(n)), x)
		case e.proto >= 4:
			e.writeLarge(binary.LittleEndian.AppendUint64([]byte{opBINBYTES8}, n), x)
		default:
			return fmt.Errorf("%w: a bytes object of %d bytes needs protocol 4", ErrEncode, n)
		}
		return e.memoize()

	case String:
		if !validString([]byte(x)) {
			return fmt.Errorf("%w: str is not valid UTF-8: %s", ErrEncode, Repr(Bytes(x[:min(len(x), maxQuote+1)])))
		}
		n := uint64(len(x))
		switch {
		case n <= 0xff && e.proto >= 4:
			e.writeData([]byte{opSHORT_BINUNICODE, byte(n)}, []byte(x))
		case n <= math.MaxUint32:
			e.writeData(binary.LittleEndian.AppendUint32([]byte{opBINUNICODE}, uint32(n)), []byte(x))
		default:
			return fmt.Errorf("%w: a str of %d bytes needs BINUNICODE8, which this package does not write", ErrEncode, n)
		}
		return e.memoize()

	case *Dict:
		if x == nil {
			return fmt.Errorf("%w: %w", ErrEncode, ErrNilValue)
		}
		if depth >= MaxDepth {
			return fmt.Errorf("%w: dicts nested more than %d deep (or a dict that holds itself)", ErrEncode, MaxDepth)
		}
		e.write(opEMPTY_DICT)
		if err := e.memoize(); err != nil {
			return err
		}
		return e.saveItems(x.items, depth+1)
	}
	if v == nil {
		return fmt.Errorf("%w: %w", ErrEncode, ErrNilValue)
	}
	return fmt.Errorf("%w: unknown Value type %T", ErrEncode, v)
}

// saveItems writes a dict's items as CPython's batch_dict_exact does: one
// item with SETITEM, more in batches of MARK, up to 1000 items, SETITEMS
// (a dict of exactly 1000n items ends with an empty MARK SETITEMS batch).
func (e *encoder) saveItems(items []Item, depth int) error {
	switch len(items) {
	case 0:
		return nil
	case 1:
		if err := e.saveItem(items[0], depth); err != nil {
			return err
		}
		e.write(opSETITEM)
		return nil
	}
	for {
		n := min(len(items), batchSize)
		e.write(opMARK)
		for _, it := range items[:n] {
			if err := e.saveItem(it, depth); err != nil {
				return err
			}
		}
		e.write(opSETITEMS)
		items = items[n:]
		if n < batchSize {
			return nil
		}
	}
}

func (e *encoder) saveItem(it Item, depth int) error {
	if _, err := keyOf(it.Key); err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	if err := e.save(it.Key, depth); err != nil {
		return err
	}
	return e.save(it.Value, depth)
}
