package session

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSmallSize: a retained buffer is the smallest power of two that holds
// n bytes, and at least minBufSize.
func TestSmallSize(t *testing.T) {
	for n, want := range map[int]int{1: minBufSize, 255: 256, 256: 256, 257: 512, 2048: 2048, 2049: 4096, retainBufSize: retainBufSize} {
		require.Equal(t, want, smallSize(n), "smallSize(%d)", n)
	}
}

// TestSizeClasses: above retainBufSize, each power-of-two range (2^(e-1),
// 2^e] has classSteps classes; an n-byte buffer gets the smallest class
// that holds it, which wastes less than one step; the class of a class size
// is itself; pool indexes grow with the size, one per class, and every size
// up to 2^maxClassExp has a pool while larger ones have none.
//
// Equivalent mutants:
// buffers.go:43 `n - 1` to `n + 1`: they fall on different sides of a power of two only for n = 2^k or 2^k-1, whose class is the same from either side.
// buffers.go:68 `n <= retainBufSize` to `<`: a buffer of exactly retainBufSize bytes then goes to the pool of its class, from which getPooled (n > retainBufSize) never takes.
// Living mutant, not equivalent: buffers.go:72 `idx < len(bigPools)` to `<=` panics for a buffer over 2^maxClassExp bytes (16 GiB), which no test allocates.
func TestSizeClasses(t *testing.T) {
	prevIdx, prevSize := -1, retainBufSize
	for e := 13; e <= maxClassExp+1; e++ {
		base, step := 1<<(e-1), 1<<(e-1)/classSteps
		for q := 1; q <= classSteps; q++ {
			size := base + q*step
			for _, n := range []int{prevSize + 1, size - 1, size} { // the smallest, and the largest sizes of the class
				idx, got := sizeClass(n)
				msg := fmt.Sprintf("sizeClass(%d) = %d, %d", n, idx, got)
				require.Equal(t, size, got, msg)
				if prevIdx >= 0 {
					require.Equal(t, prevIdx+1, idx, "the next class, the next pool: %s", msg)
				}
				require.Equal(t, size <= 1<<maxClassExp, idx < len(bigPools), "pooled iff at most 2^%d bytes: %s", maxClassExp, msg)
			}
			prevIdx, _ = sizeClass(size)
			prevSize = size
		}
	}
	// The first class after retainBufSize, and no pool (and no panic) past
	// the largest class.
	idx, size := sizeClass(retainBufSize + 1)
	require.Equal(t, retainBufSize+retainBufSize/classSteps, size)
	require.Equal(t, 13*classSteps, idx)
	require.Nil(t, getPooled(1<<maxClassExp+1))
}
