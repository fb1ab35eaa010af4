package bench

import (
	"fmt"
)

// summarizeTunnel computes the tunnel section's ratios (TunnelSummary);
// tr nil means the section was not run.
func summarizeTunnel(tr *TunnelReport) *TunnelSummary {
	s := &TunnelSummary{NullReasons: map[string]string{}}
	type series = func(*TunnelResult) []float64
	bulk := func(t *TunnelResult) []float64 { return t.BulkRuns }
	serial := func(t *TunnelResult) []float64 { return t.ConnsSerialRuns }
	concurrent := func(t *TunnelResult) []float64 { return t.ConnsConcurrentRuns }
	rt := func(t *TunnelResult) []float64 { return t.RoundTripRuns }
	cpu := func(t *TunnelResult) []float64 { return t.CPURuns }

	// ratio is kemtcp's figure over the best (largest) of the others',
	// run by run, or nil with the reason of the first tool missing.
	ratio := func(field string, f series, others ...string) *float64 {
		mine, why := tunnelRuns(tr, ToolKemtcp, f)
		if why != "" {
			s.NullReasons[field] = why
			return nil
		}
		var theirs [][]float64
		for _, o := range others {
			v, why := tunnelRuns(tr, o, f)
			if why != "" {
				s.NullReasons[field] = why
				return nil
			}
			theirs = append(theirs, v)
		}
		return PairedRatio(mine, bestOf(theirs))
	}
	// conns is the lesser of the one-at-a-time and the concurrent ratio.
	conns := func(field, other string) *float64 {
		a, b := ratio(field, serial, other), ratio(field, concurrent, other)
		if a == nil || b == nil {
			return nil
		}
		v := min(*a, *b)
		return &v
	}
	s.BulkVsBestTool = ratio("bulk_vs_best_tool", bulk, ToolStunnel, ToolSSH)
	s.BulkVsDirect = ratio("bulk_vs_direct", bulk, ToolDirect)
	s.ConnsVsStunnel = conns("conns_vs_stunnel", ToolStunnel)
	s.ConnsVsSSH = conns("conns_vs_ssh", ToolSSH)
	s.ConnsVsDirect = conns("conns_vs_direct", ToolDirect)
	s.RTVsBestTool = ratio("rt_vs_best_tool", rt, ToolStunnel, ToolSpiped, ToolSSH)
	s.CPUPerGBVsStunnel = ratio("cpu_per_gb_vs_stunnel", cpu, ToolStunnel)
	if len(s.NullReasons) == 0 {
		s.NullReasons = nil
	}
	return s
}

// tunnelRuns returns tool's runs of a figure, or why there are none.
func tunnelRuns(tr *TunnelReport, tool string, f func(*TunnelResult) []float64) ([]float64, string) {
	if tr == nil {
		return nil, "the tunnel section was not run"
	}
	for i := range tr.Tools {
		t := &tr.Tools[i]
		if t.Tool != tool {
			continue
		}
		switch {
		case t.Status == TunnelNotInstalled:
			return nil, fmt.Sprintf("%s is not installed", toolTitle(tool))
		case t.Status != StatusOK:
			return nil, fmt.Sprintf("%s %s", toolTitle(tool), t.Status)
		case len(f(t)) == 0:
			return nil, fmt.Sprintf("%s: the figure was not measured", toolTitle(tool))
		}
		return f(t), ""
	}
	return nil, fmt.Sprintf("%s was not measured (see -tunnel-tools)", toolTitle(tool))
}

// bestOf returns, run by run, the largest of the series (as long as the
// shortest).
func bestOf(series [][]float64) []float64 {
	if len(series) == 0 {
		return nil
	}
	n := len(series[0])
	for _, s := range series {
		n = min(n, len(s))
	}
	out := make([]float64, n)
	for i := range n {
		for _, s := range series {
			out[i] = max(out[i], s[i])
		}
	}
	return out
}
