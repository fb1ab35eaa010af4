package bench

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
)

// kemOps are the operations of the kem section, with their timeInC
// counterparts.
var kemOps = []struct {
	name string
	cop  cOp
}{
	{OpKeygen, cKeypair},
	{OpEncaps, cEncaps},
	{OpDecaps, cDecaps},
}

// measureKEM fills r.KEM.
func (c *Config) measureKEM(r *Report) error {
	for _, backend := range c.Backends {
		for _, alg := range c.Algorithms {
			s, err := kem.Lookup(alg, backend)
			if err != nil {
				status := StatusUnsupported
				if errors.Is(err, kem.ErrNotCompiledIn) {
					status = StatusNotCompiled
				} else if !errors.Is(err, kem.ErrUnsupported) {
					return err
				}
				for _, op := range kemOps {
					r.KEM = append(r.KEM, KEMResult{Backend: backend, Algorithm: alg, Op: op.name, Status: status})
				}
				continue
			}
			for _, op := range kemOps {
				c.progress("kem: %s %s %s", backend, alg, op.name)
				res, err := c.measureKEMOp(s, op.name, op.cop)
				if err != nil {
					return fmt.Errorf("kem %s %s %s: %w", backend, alg, op.name, err)
				}
				r.KEM = append(r.KEM, res)
			}
		}
	}
	return nil
}

// kemOpFunc returns one iteration of op on s, as a peer runs it.
func kemOpFunc(s kem.Scheme, op string) (func() error, error) {
	dk, err := s.GenerateKey()
	if err != nil {
		return nil, err
	}
	ek := dk.EncapsulationKey().Bytes() // the bytes a client receives
	_, ct, err := dk.EncapsulationKey().Encapsulate()
	if err != nil {
		return nil, err
	}
	switch op {
	case OpKeygen:
		return func() error {
			k, err := s.GenerateKey()
			if err != nil {
				return err
			}
			k.Destroy()
			return nil
		}, nil
	case OpEncaps:
		return func() error {
			k, err := s.NewEncapsulationKey(ek)
			if err != nil {
				return err
			}
			_, _, err = k.Encapsulate()
			return err
		}, nil
	case OpDecaps:
		return func() error {
			_, err := dk.Decapsulate(ct)
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

// kemPairs is how many alternating Go and C batches make one run of a
// liboqs operation: a busy moment on the machine then spoils a pair or two,
// which the median of the pairs' ratios leaves out, not the whole run.
const kemPairs = 16

// measureKEMOp times op on s Runs times, each run about Duration/5 of
// work. For liboqs each run is kemPairs pairs of batches, one through
// package kem and one inside C (timeInC) of the same number of
// iterations, the order alternating; the run's Go/C is the median of the
// pairs' ratios.
func (c *Config) measureKEMOp(s kem.Scheme, op string, cop cOp) (KEMResult, error) {
	res := KEMResult{Backend: s.Backend(), Algorithm: s.Name(), Op: op, Status: StatusOK}
	f, err := kemOpFunc(s, op)
	if err != nil {
		return res, err
	}
	// X-Wing on liboqs is liboqs's ML-KEM-768 with Go's X25519: there is
	// no C loop to compare it with.
	withC := s.Backend() == kem.BackendLiboqs && s.Name() != kem.XWing
	batches := 1
	if withC {
		batches = kemPairs
	}
	n, err := calibrate(f, c.Duration/5/time.Duration(batches))
	if err != nil {
		return res, err
	}
	// Each batch is timed by the wall clock and by the CPU time of the
	// thread that runs it (the goroutine is locked to it). Go/C uses the
	// thread CPU times when there are any: on an idle machine they equal
	// the wall times, and on a busy one they leave out the time other
	// processes take. (The process's CPU time would not do: it also counts
	// the runtime's other threads, which work on another core while a
	// goroutine makes cgo calls, without slowing the operation down.) The
	// C batch's thread time also covers timeInC's setup, one key pair and
	// one encapsulation outside its clock: under 0.2% of a batch, in C's
	// disfavour.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	type timing struct{ wall, cpu time.Duration }
	cpuOK := true
	measure := func(batch func() (time.Duration, error)) (timing, error) {
		c0, ok0 := threadCPU()
		w0 := time.Now()
		inner, err := batch()
		w := time.Since(w0)
		c1, ok1 := threadCPU()
		cpuOK = cpuOK && ok0 && ok1
		if inner > 0 {
			w = inner // the C loop's own clock, without the cgo call around it
		}
		return timing{w, c1 - c0}, err
	}
	goBatch := func() (time.Duration, error) {
		for range n {
			if err := f(); err != nil {
				return 0, err
			}
		}
		return 0, nil
	}
	cBatch := func() (time.Duration, error) { return timeInC(s.Name(), cop, n) }
	var goNs, cNs, ratios []float64
	for range c.Runs {
		runtime.GC()
		var goWall, cWall time.Duration
		var pairRatios []float64
		for i := range batches {
			var g, cd timing
			if withC && i%2 == 1 {
				if cd, err = measure(cBatch); err != nil {
					return res, err
				}
			}
			if g, err = measure(goBatch); err != nil {
				return res, err
			}
			if withC && i%2 == 0 {
				if cd, err = measure(cBatch); err != nil {
					return res, err
				}
			}
			goWall += g.wall
			if withC {
				cWall += cd.wall
				if cpuOK && cd.cpu > 0 {
					pairRatios = append(pairRatios, float64(g.cpu)/float64(cd.cpu))
				} else {
					pairRatios = append(pairRatios, float64(g.wall)/float64(cd.wall))
				}
			}
		}
		iters := float64(n * batches)
		goNs = append(goNs, float64(goWall.Nanoseconds())/iters)
		if withC {
			cNs = append(cNs, float64(cWall.Nanoseconds())/iters)
			ratios = append(ratios, NewStat(pairRatios).Median)
		}
	}
	if withC {
		res.GoOverCBasis = "wall time"
		if cpuOK {
			res.GoOverCBasis = "thread CPU time"
		}
	}
	res.NsPerOp = NewStat(goNs)
	res.OpsPerSec = NewStat(inverse(goNs, 1e9))
	if withC {
		res.CNsPerOp = NewStat(cNs)
		res.GoOverC = NewStat(ratios)
	}
	return res, nil
}

// calibrate warms f up and returns how many iterations take about target
// (at least 10).
func calibrate(f func() error, target time.Duration) (int, error) {
	n := 1
	for {
		start := time.Now()
		for range n {
			if err := f(); err != nil {
				return 0, err
			}
		}
		el := time.Since(start)
		if el >= target/4 || n >= 1<<24 {
			per := float64(el) / float64(n)
			return max(10, int(float64(target)/max(per, 1))), nil
		}
		n *= 4
	}
}

// inverse returns k/x for each x.
func inverse(xs []float64, k float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = k / x
	}
	return out
}
