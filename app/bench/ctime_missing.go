//go:build !liboqs

package bench

import (
	"errors"
	"time"
)

// cOp is one KEM operation that timeInC times.
type cOp int

const (
	cKeypair cOp = iota
	cEncaps
	cDecaps
)

// haveCTiming reports whether timeInC can run: not without liboqs.
const haveCTiming = false

// timeInC needs liboqs.
func timeInC(name string, op cOp, iterations int) (time.Duration, error) {
	return 0, errors.New("timing in C needs liboqs (build with -tags liboqs)")
}
