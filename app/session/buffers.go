package session

import (
	"math/bits"
	"sync"
)

// Record buffers. Each direction of a Conn reads or seals records in one
// buffer. Small records (the common case: a line of text) use a buffer the
// Conn keeps, sized to a power of two between minBufSize and retainBufSize,
// so an idle Conn holds at most retainBufSize bytes per direction. Larger
// records borrow a buffer from a process-wide pool of size classes and give
// it back as soon as the record is written or consumed, so no idle Conn
// keeps a large buffer, and a stream of large records does not allocate.
// Plaintext is wiped from a buffer as soon as it is delivered, so no buffer
// goes back to the pool holding any.

const (
	// minBufSize is the smallest retained buffer.
	minBufSize = 256
	// retainBufSize is the largest buffer a Conn keeps between records.
	retainBufSize = 4 << 10
	// growChunk is how far ahead of the bytes that have arrived the reader
	// reserves memory for a large frame when the pool has no buffer for it.
	growChunk = 32 << 10
	// classSteps is the number of size classes per power of two above
	// retainBufSize: a class wastes at most 1/classSteps of its size.
	classSteps = 4
	// maxClassExp bounds the pooled sizes (2^maxClassExp bytes); larger
	// buffers are allocated and left to the garbage collector.
	maxClassExp = 34
)

// bigPools holds pooled buffers (*[]byte, len == cap == class size) by
// size class.
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

// getPooled returns a pooled buffer of n's class, n > retainBufSize, or nil
// if the pool of that class is empty.
func getPooled(n int) *[]byte {
	idx, _ := sizeClass(n)
	if idx >= len(bigPools) {
		return nil
	}
	p, _ := bigPools[idx].Get().(*[]byte)
	return p
}

// putPooled gives a buffer back to the pool of its size, if its size is a
// class size; others are left to the garbage collector.
func putPooled(p *[]byte) {
	n := cap(*p)
	if n <= retainBufSize {
		return
	}
	idx, size := sizeClass(n)
	if idx < len(bigPools) && size == n {
		*p = (*p)[:n]
		bigPools[idx].Put(p)
	}
}

// bigBuffer returns a buffer of at least n > retainBufSize bytes: a pooled
// one, or a new one of the class size (which putPooled will take).
func bigBuffer(n int) *[]byte {
	if p := getPooled(n); p != nil {
		return p
	}
	_, size := sizeClass(n)
	b := make([]byte, max(size, n))
	return &b
}
