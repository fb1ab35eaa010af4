package session

import (
	"math/bits"
	"sync"
)

// Record buffers. Each direction of a Conn seals or opens a record in one
// buffer. Small records (the common case: a line of text) use a buffer the
// Conn keeps, sized lazily to a power of two between minBufSize and
// retainBufSize, so an idle Conn holds at most retainBufSize bytes per
// direction. Larger records borrow a buffer from a process-wide pool of size
// classes and give it back as soon as the record is written (Send) or
// consumed (the next Recv), so no idle Conn keeps a large buffer, and a
// stream of large records still does not allocate. A receive buffer holds
// plaintext once its record is open, so it is wiped before it goes back to
// the pool.

const (
	// minBufSize is the smallest retained buffer.
	minBufSize = 256
	// retainBufSize is the largest buffer a Conn keeps between records.
	retainBufSize = 4 << 10
	// classSteps is the number of size classes per power of two above
	// retainBufSize: a class wastes at most 1/classSteps of its size.
	classSteps = 4
	// maxClassExp bounds the pooled sizes (2^maxClassExp bytes); larger
	// buffers are allocated and left to the garbage collector.
	maxClassExp = 34
)

// bigPools holds pooled buffers (*[]byte) by size class.
var bigPools [(maxClassExp + 1) * classSteps]sync.Pool

// sizeClass returns the pool index and the size of the class of an n-byte
// buffer, n > retainBufSize: the classes of (2^(e-1), 2^e] are
// 2^(e-1) + q*2^(e-1)/classSteps for q = 1..classSteps. An index past
// bigPools means the size is not pooled.
func sizeClass(n int) (idx, size int) {
	e := bits.Len(uint(n - 1)) // 2^(e-1) < n <= 2^e
	base := 1 << (e - 1)
	step := base / classSteps
	q := (n - base + step - 1) / step
	return e*classSteps + q - 1, base + q*step
}

// smallSize is the retained buffer size for n <= retainBufSize bytes.
func smallSize(n int) int { return max(minBufSize, 1<<bits.Len(uint(n-1))) }

// recordBuf is one direction's buffer.
type recordBuf struct {
	small []byte  // retained, cap <= retainBufSize
	big   *[]byte // borrowed from bigPools while a large record uses it
	class int     // bigPools index of big, or -1 if it is not to be pooled
	used  int     // bytes of big handed out
	wipe  bool    // clear big's used bytes before pooling it
}

// getSmall returns the retained buffer with length n <= retainBufSize.
func (b *recordBuf) getSmall(n int) []byte {
	if cap(b.small) < n {
		b.small = make([]byte, smallSize(n))
	}
	return b.small[:n]
}

// tryPooled returns a pooled buffer of length n > retainBufSize, or nil if
// the pool of its class is empty.
func (b *recordBuf) tryPooled(n int) []byte {
	idx, _ := sizeClass(n)
	if idx >= len(bigPools) {
		return nil
	}
	p, _ := bigPools[idx].Get().(*[]byte)
	if p == nil {
		return nil
	}
	b.big, b.class, b.used = p, idx, n
	return (*p)[:n]
}

// adopt makes buf, of capacity at least the class size of n, the borrowed
// buffer, to be pooled on release.
func (b *recordBuf) adopt(buf []byte, n int) {
	idx, size := sizeClass(n)
	if idx >= len(bigPools) || cap(buf) < size {
		idx = -1
	}
	b.big, b.class, b.used = &buf, idx, n
}

// get returns a buffer of length n, valid until release: the retained one,
// a pooled one, or a new one that goes to the pool on release.
func (b *recordBuf) get(n int) []byte {
	if n <= retainBufSize {
		return b.getSmall(n)
	}
	if buf := b.tryPooled(n); buf != nil {
		return buf
	}
	_, size := sizeClass(n)
	buf := make([]byte, n, max(n, size))
	b.adopt(buf, n)
	return buf
}

// release gives a borrowed buffer back to its pool.
func (b *recordBuf) release() {
	if b.big == nil {
		return
	}
	if b.class >= 0 {
		if b.wipe {
			clear((*b.big)[:b.used])
		}
		bigPools[b.class].Put(b.big)
	}
	b.big = nil
}

// drop releases everything, the retained buffer included.
func (b *recordBuf) drop() {
	b.release()
	if b.wipe {
		clear(b.small)
	}
	b.small = nil
}
