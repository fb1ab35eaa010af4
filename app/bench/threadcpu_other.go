//go:build !linux

package bench

import "time"

// threadCPU is not available here: the Go/C ratios use the wall time.
func threadCPU() (time.Duration, bool) { return 0, false }
