package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

// chunkReader hands out data at most chunk bytes per Read, and returns
// io.EOF together with the last bytes, as some readers do.
type chunkReader struct {
	data  []byte
	chunk int
	read  int // bytes handed out
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.read == len(c.data) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data[c.read:])
	c.read += n
	if c.read == len(c.data) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzReader reads frames from arbitrary bytes, handed out in chunks of any
// size, with any limit, and checks against an independent parse of the
// input:
//   - every accepted frame is 1 to max bytes and re-encodes (Append, and
//     Write) to exactly the bytes the reader consumed for it: no read-ahead,
//     nothing skipped, nothing invented;
//   - a refused frame gets the error its header calls for: ErrEmpty for a
//     zero length, ErrTooLarge for a length over max, ErrTruncated when the
//     input ends inside the header or the payload; io.EOF only at the end of
//     the input, between frames;
//   - memory follows what arrived, not what was announced: the buffer the
//     reader holds, and what it allocates in all, stay within twice the
//     largest payload that actually arrived or one growChunk, whichever is
//     more (plus the allocator's rounding and a little for error messages),
//     even when a header announces up to 4 GiB.
//
// go test -run '^$' -fuzz '^FuzzReader$' ./app/frame/
func FuzzReader(f *testing.F) {
	frames := func(payloads ...[]byte) []byte {
		var b []byte
		for _, p := range payloads {
			b = Append(b, p)
		}
		return b
	}
	f.Add(frames([]byte("hello"), []byte("x")), uint32(0), uint8(0))
	f.Add(frames(bytes.Repeat([]byte{7}, 70000), []byte{1}), uint32(0), uint8(200))
	f.Add(frames(bytes.Repeat([]byte{7}, 40000)), uint32(40000), uint8(3))
	f.Add(frames(bytes.Repeat([]byte{7}, 11)), uint32(10), uint8(1))
	f.Add([]byte{0, 0, 0, 0}, uint32(0), uint8(0))
	f.Add([]byte{0, 0, 0}, uint32(0), uint8(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, uint32(0xffffffff), uint8(0))
	f.Add([]byte{0, 0x10, 0, 0, 1, 2, 3}, uint32(0), uint8(7))
	f.Add(append(frames([]byte("ok")), 0, 0, 1, 0), uint32(0), uint8(1))

	f.Fuzz(func(t *testing.T, data []byte, maxIn uint32, chunkIn uint8) {
		lim := int(maxIn)
		if maxIn == 0 {
			lim = DefaultMaxSize
		}
		cr := &chunkReader{data: data, chunk: int(chunkIn) + 1}
		r := NewReader(cr, lim)
		if r.Max() != lim {
			t.Fatalf("Max() = %d, want %d", r.Max(), lim)
		}

		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		allocBefore := ms.TotalAlloc

		largest := 0    // the largest payload that arrived, whole or not
		var last []byte // the last accepted frame, header included
		pos := 0        // where the independent parse is
		for {
			start := cr.read
			if start != pos {
				t.Fatalf("reader consumed %d bytes, the frames so far are %d bytes", start, pos)
			}
			p, err := r.Next()
			left := data[pos:]
			largest = max(largest, cr.read-start-HeaderSize)

			// What the header calls for.
			var want error
			var n uint64
			switch {
			case len(left) == 0:
				want = io.EOF
			case len(left) < HeaderSize:
				want = ErrTruncated
			default:
				n = uint64(binary.BigEndian.Uint32(left))
				switch {
				case n == 0:
					want = ErrEmpty
				case n > uint64(lim):
					want = ErrTooLarge
				case uint64(len(left)-HeaderSize) < n:
					want = ErrTruncated
				}
			}

			if want == nil {
				if err != nil {
					t.Fatalf("frame at %d (%d bytes, limit %d): %v", pos, n, lim, err)
				}
				if len(p) == 0 || len(p) > lim || uint64(len(p)) != n {
					t.Fatalf("frame at %d: %d-byte payload, header says %d, limit %d", pos, len(p), n, lim)
				}
				// Re-encoding, checked without allocating here (the
				// allocations are measured): header, then payload.
				whole := left[:HeaderSize+len(p)]
				if binary.BigEndian.Uint32(whole) != uint32(len(p)) || !bytes.Equal(whole[HeaderSize:], p) {
					t.Fatalf("frame at %d does not re-encode to the bytes read", pos)
				}
				if cr.read != pos+len(whole) {
					t.Fatalf("frame at %d: reader consumed %d bytes, the frame is %d", pos, cr.read-pos, len(whole))
				}
				last = whole
				pos += len(whole)
				continue
			}

			if p != nil {
				t.Fatalf("a payload with error %v", err)
			}
			if want == io.EOF {
				if err != io.EOF {
					t.Fatalf("at the end of the input: %v, want io.EOF", err)
				}
			} else if !errors.Is(err, want) {
				t.Fatalf("frame at %d (%d bytes, limit %d, %d left): %v, want %v", pos, n, lim, len(left), err, want)
			}
			if want == ErrEmpty || want == ErrTooLarge {
				if cr.read != pos+HeaderSize {
					t.Fatalf("refused header at %d: reader consumed %d bytes past it", pos, cr.read-pos-HeaderSize)
				}
			}
			break
		}

		runtime.ReadMemStats(&ms)
		allocated := ms.TotalAlloc - allocBefore
		bound := max(2*largest, growChunk)
		bound += bound/8 + 8<<10 // size classes and page rounding
		if c := cap(r.buf); c > bound {
			t.Fatalf("reader holds a %d-byte buffer; the largest payload that arrived is %d bytes", c, largest)
		}
		// Every growth step allocates at most twice what has arrived, so the
		// sum over steps stays within twice the bound.
		if limit := uint64(2*bound + 16<<10); allocated > limit {
			t.Fatalf("reading %d bytes allocated %d bytes (limit %d); the largest payload that arrived is %d bytes",
				len(data), allocated, limit, largest)
		}

		// Append and Write make the same bytes as the wire had.
		if last != nil {
			payload := last[HeaderSize:]
			if !bytes.Equal(Append(nil, payload), last) {
				t.Fatal("Append does not re-encode the last frame to the bytes read")
			}
			var w bytes.Buffer
			if err := Write(&w, payload); err != nil || !bytes.Equal(w.Bytes(), last) {
				t.Fatalf("Write of the last frame differs (%v)", err)
			}
		}
	})
}
