//go:build !unix

package bench

import "time"

// processCPU is not available here: the ratios fall back to wall time.
func processCPU() (time.Duration, bool) { return 0, false }
