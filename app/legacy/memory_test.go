package legacy

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/pickle"
)

// hostileMessages are message frames of frame.DefaultMaxSize bytes made to
// make a pickle decoder allocate as much as possible per byte: about
// 150,000 small items, a dict of allowed keys over and over, empty dicts,
// MARKs, and one huge value followed by a bad key.
func hostileMessages() map[string][]byte {
	const size = frame.DefaultMaxSize
	fill := func(head, unit, tail string) []byte {
		b := []byte("\x80\x04" + head)
		for len(b)+len(unit)+len(tail) <= size {
			b = append(b, unit...)
		}
		return append(b, tail...)
	}
	items := []byte("\x80\x04}")
	for n := 0; len(items) < size-16<<10; {
		items = append(items, '(')
		for range 1000 {
			k := fmt.Appendf(nil, "%x", n)
			items = append(append(append(items, 0x8c, byte(len(k))), k...), 'C', 0)
			n++
		}
		items = append(items, 'u')
	}
	const bigHead, bigTail = "\x80\x04}(\x8c\x0aciphertextB", "\x8c\x03macC\x00u."
	bigLen := size - len(bigHead) - 4 - len(bigTail)
	big := binary.LittleEndian.AppendUint32([]byte(bigHead), uint32(bigLen))
	big = append(append(big, make([]byte, bigLen)...), bigTail...)
	return map[string][]byte{
		"150k small str items": append(items, '.'),
		"empty bytes":          fill("", "C\x00", "."),
		"allowed key repeated": fill("}(", "\x8c\x03aadC\x00", "u."),
		"empty dicts":          fill("", "}", "."),
		"MARKs":                fill("", "(", "."),
		"huge value, bad key":  big,
	}
}

// TestParseBundleMemory: parsing a hostile frame of 1 MiB keeps the live
// heap within twice the frame plus a constant: the frame itself, and at
// most about its size allocated by the parse (measured as all it
// allocates, an upper bound on what it holds live at any moment).
func TestParseBundleMemory(t *testing.T) {
	const slack = 64 << 10
	for name, payload := range hostileMessages() {
		t.Run(name, func(t *testing.T) {
			require.LessOrEqual(t, len(payload), frame.DefaultMaxSize)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b, err := ParseBundle(payload)
			runtime.ReadMemStats(&after)
			require.Nil(t, b)
			require.ErrorIs(t, err, ErrMalformed)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte frame: %v; parsing allocated %d bytes (%.2f per frame byte)", len(payload), err, alloc, float64(alloc)/float64(len(payload)))
			require.LessOrEqual(t, uint64(len(payload))+alloc, uint64(2*len(payload)+slack), "live heap bound")
		})
	}
}

// TestParseBundleRefusesEarly: a frame that leaves the shape is refused at
// the first opcode that does, whatever follows it.
func TestParseBundleRefusesEarly(t *testing.T) {
	msgs := hostileMessages()
	for name, wantOffset := range map[string]int{
		"150k small str items": 4,  // the first key, '0'
		"allowed key repeated": 11, // the second 'aad'
		"empty dicts":          3,  // the second dict
		"MARKs":                2,  // a MARK before any dict
	} {
		_, err := ParseBundle(msgs[name])
		require.ErrorIs(t, err, ErrMalformed, name)
		var perr *pickle.Error
		require.ErrorAs(t, err, &perr, name)
		require.Equal(t, wantOffset, perr.Offset, "%s: %v", name, err)
	}
}
