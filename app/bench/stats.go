package bench

import (
	"fmt"
	"math"
	"slices"
)

// Stat is one figure: the median of several runs and their spread.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// SpreadPct is half the range of the runs, in percent of the median:
	// every run lies within Median ± SpreadPct% (and the range is at most
	// twice that).
	SpreadPct float64 `json:"spread_pct"`
	Runs      int     `json:"runs"`
	// Values are the runs, in the order they ran (-benchfmt writes them
	// for benchstat).
	Values []float64 `json:"values,omitempty"`
}

// NewStat summarizes the values of several runs. It returns nil for no
// values, and ignores NaNs and infinities (a run that measured nothing).
func NewStat(values []float64) *Stat {
	v := make([]float64, 0, len(values))
	for _, x := range values {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return nil
	}
	runs := slices.Clone(v)
	slices.Sort(v)
	s := &Stat{Median: median(v), Min: v[0], Max: v[len(v)-1], Runs: len(v), Values: runs}
	if s.Median != 0 {
		s.SpreadPct = (s.Max - s.Min) / 2 / math.Abs(s.Median) * 100
	}
	return s
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Ratio returns the median of a over the median of b, or nil if either is
// missing or b is zero.
func Ratio(a, b *Stat) *float64 {
	if a == nil || b == nil || b.Median == 0 {
		return nil
	}
	r := a.Median / b.Median
	return &r
}

// PairedRatio returns the median of a[i]/b[i]: the ratio of two figures
// measured in alternating runs, so that a busy moment on the machine hits
// both sides of each pair. nil if there are no pairs.
func PairedRatio(a, b []float64) *float64 {
	var r []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			r = append(r, a[i]/b[i])
		}
	}
	st := NewStat(r)
	if st == nil {
		return nil
	}
	return &st.Median
}

// value returns the median, or NaN for nil.
func (s *Stat) value() float64 {
	if s == nil {
		return math.NaN()
	}
	return s.Median
}

// format prints the median with thousands separators and the spread, e.g.
// "12,345 ±1.2%".
func (s *Stat) format(decimals int) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%s ±%.1f%%", group(s.Median, decimals), s.SpreadPct)
}

// group formats x with the given decimals and thousands separators.
func group(x float64, decimals int) string {
	if math.IsNaN(x) {
		return "-"
	}
	str := fmt.Sprintf("%.*f", decimals, math.Abs(x))
	intPart, frac := str, ""
	for i := range str {
		if str[i] == '.' {
			intPart, frac = str[:i], str[i:]
			break
		}
	}
	var out []byte
	for i := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, intPart[i])
	}
	sign := ""
	if x < 0 {
		sign = "-"
	}
	return sign + string(out) + frac
}

// ratioString prints a ratio as "1.23x", or "-" for nil.
func ratioString(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fx", *r)
}
