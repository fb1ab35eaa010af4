package bench

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // png
	_ "gonum.org/v1/plot/vg/vgsvg" // svg
)

// ChartFormats are the file extensions WriteChart accepts.
var ChartFormats = []string{".svg", ".png"}

// WriteChart draws the report's main figures (gonum.org/v1/plot), one panel
// per section measured, into path; its extension (.svg or .png) picks the
// format.
func (r *Report) WriteChart(path string) error {
	ext := strings.ToLower(filepath.Ext(path))
	if !slices.Contains(ChartFormats, ext) {
		return fmt.Errorf("chart %q: want a file name ending in %s", path, strings.Join(ChartFormats, " or "))
	}
	var panels []*plot.Plot
	for _, make := range []func() (*plot.Plot, error){r.kemPlot, r.handshakePlot, r.sweepPlot, r.echoPlot, r.legacyPlot, r.idlePlot} {
		p, err := make()
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		if p != nil {
			panels = append(panels, p)
		}
	}
	tunnel, err := r.tunnelPlots()
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	panels = append(panels, tunnel...)
	if len(panels) == 0 {
		return errors.New("chart: the report has no figures to draw")
	}
	cols := min(3, len(panels))
	rows := (len(panels) + cols - 1) / cols
	w, h := vg.Length(cols)*7*vg.Inch, vg.Length(rows)*5*vg.Inch
	canvas, err := draw.NewFormattedCanvas(w, h, ext[1:])
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range grid[i] {
			if k := i*cols + j; k < len(panels) {
				grid[i][j] = panels[k]
			}
		}
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Inch / 4, PadY: vg.Inch / 4,
		PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	dc := draw.New(canvas)
	cells := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(cells[i][j])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("chart: writing %s: %w", path, err)
	}
	return f.Close()
}

// newPlot returns a plot with a title, axis labels and the legend on top.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Y.Tick.Marker = readableTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	return p
}

// readableTicks are plot.DefaultTicks labelled with thousands separators
// and no more decimals than the step needs.
type readableTicks struct{}

func (readableTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	decimals := 0
	if hi-lo < 10 {
		decimals = 1
	}
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = group(ticks[i].Value, decimals)
		}
	}
	return ticks
}

// headroom leaves room above the bars for the legend.
func headroom(p *plot.Plot, values ...[]float64) {
	top := 0.0
	for _, vs := range values {
		for _, v := range vs {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
		}
	}
	if top > 0 {
		p.Y.Min, p.Y.Max = 0, top*1.35
	}
}

// groupedBars adds one bar series per name: values[i][j] is series i in
// category j (NaN: no bar).
func groupedBars(p *plot.Plot, categories, names []string, values [][]float64) error {
	n := len(names)
	width := vg.Points(math.Min(18, 90/float64(max(1, n))))
	for i, name := range names {
		vs := make(plotter.Values, len(categories))
		for j := range categories {
			v := values[i][j]
			if math.IsNaN(v) {
				v = 0
			}
			vs[j] = v
		}
		bars, err := plotter.NewBarChart(vs, width)
		if err != nil {
			return err
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = width * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(bars)
		p.Legend.Add(name, bars)
	}
	p.NominalX(categories...)
	headroom(p, values...)
	return nil
}

func (r *Report) kemPlot() (*plot.Plot, error) {
	if len(r.KEM) == 0 {
		return nil, nil
	}
	p := newPlot("KEM operations (lower is better)", "", "µs per operation")
	var cats []string
	var names []string
	idx := map[string]int{}
	for _, k := range r.KEM {
		c := strings.TrimPrefix(k.Algorithm, "ML-KEM-") + " " + k.Op
		if !slices.Contains(cats, c) {
			cats = append(cats, c)
		}
		if k.Status == StatusOK && !slices.Contains(names, k.Backend) {
			names = append(names, k.Backend)
			if k.CNsPerOp != nil {
				names = append(names, k.Backend+" in C")
			}
		}
	}
	for i, n := range names {
		idx[n] = i
	}
	values := nanGrid(len(names), len(cats))
	for _, k := range r.KEM {
		if k.Status != StatusOK {
			continue
		}
		j := indexOf(cats, strings.TrimPrefix(k.Algorithm, "ML-KEM-")+" "+k.Op)
		values[idx[k.Backend]][j] = k.NsPerOp.value() / 1e3
		if k.CNsPerOp != nil {
			values[idx[k.Backend+" in C"]][j] = k.CNsPerOp.value() / 1e3
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	if err := groupedBars(p, cats, names, values); err != nil {
		return nil, err
	}
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	return p, nil
}

func (r *Report) handshakePlot() (*plot.Plot, error) {
	if len(r.Handshakes) == 0 {
		return nil, nil
	}
	p := newPlot("Handshakes/s, one client (higher is better)", "", "handshakes per second")
	cats := []string{}
	var names []string
	const tcpName = "plain TCP, same writes"
	for _, h := range r.Handshakes {
		if h.Status != StatusOK || h.Clients != 1 {
			continue
		}
		switch h.Protocol {
		case ProtoSession:
			if !slices.Contains(cats, h.Algorithm) {
				cats = append(cats, h.Algorithm)
			}
			if !slices.Contains(names, "session "+h.Backend) {
				names = append(names, "session "+h.Backend)
			}
		case ProtoTCP:
			if !slices.Contains(cats, h.Algorithm) {
				cats = append(cats, h.Algorithm)
			}
		}
	}
	if slices.ContainsFunc(r.Handshakes, func(h HandshakeResult) bool { return h.Protocol == ProtoTCP }) {
		names = append(names, tcpName)
	}
	names = append(names, "TLS 1.3 "+groupTLS)
	cats = append(cats, "TLS")
	values := nanGrid(len(names), len(cats))
	for _, h := range r.Handshakes {
		if h.Clients != 1 || h.Status != StatusOK {
			continue
		}
		switch h.Protocol {
		case ProtoTLS:
			values[len(names)-1][len(cats)-1] = h.PerSec.value()
		case ProtoTCP:
			values[indexOf(names, tcpName)][indexOf(cats, h.Algorithm)] = h.PerSec.value()
		case ProtoSession:
			values[indexOf(names, "session "+h.Backend)][indexOf(cats, h.Algorithm)] = h.PerSec.value()
		}
	}
	if err := groupedBars(p, cats, names, values); err != nil {
		return nil, err
	}
	return p, nil
}

// tunnelPlots are the tunnel section's panels: bulk Gbit/s, connections
// per second and round trips per second, per tool.
func (r *Report) tunnelPlots() ([]*plot.Plot, error) {
	if r.Tunnel == nil || len(r.Tunnel.Tools) == 0 {
		return nil, nil
	}
	var tools []string
	var rows []TunnelResult
	for _, t := range r.Tunnel.Tools {
		if t.Status == StatusOK {
			tools = append(tools, toolTitle(t.Tool))
			rows = append(rows, t)
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	bulk := newPlot("Tunnels: bulk (higher is better)", "", "Gbit/s")
	vals := make([][]float64, 1)
	for _, t := range rows {
		vals[0] = append(vals[0], t.BulkGbps.value())
	}
	if err := groupedBars(bulk, tools, []string{"bulk"}, vals); err != nil {
		return nil, err
	}
	conns := newPlot("Tunnels: connections/s (higher is better)", "", "connections per second")
	names := []string{"one at a time", fmt.Sprintf("%d at once", r.Tunnel.Workers)}
	vals = nanGrid(len(names), len(rows))
	for j, t := range rows {
		vals[0][j], vals[1][j] = t.ConnsSerial.value(), t.ConnsConcurrent.value()
	}
	if err := groupedBars(conns, tools, names, vals); err != nil {
		return nil, err
	}
	rts := newPlot(fmt.Sprintf("Tunnels: %d-byte round trips/s (higher is better)", r.Tunnel.MessageBytes), "", "round trips per second")
	vals = make([][]float64, 1)
	for _, t := range rows {
		vals[0] = append(vals[0], t.RoundTripsPerSec.value())
	}
	if err := groupedBars(rts, tools, []string{"round trips"}, vals); err != nil {
		return nil, err
	}
	return []*plot.Plot{bulk, conns, rts}, nil
}

func (r *Report) sweepPlot() (*plot.Plot, error) {
	rows := r.Sweep
	title := "Throughput by message size (higher is better)"
	if len(rows) == 0 {
		return nil, nil
	}
	p := newPlot(title, "message size (bytes, log scale)", "MB/s")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	for i, proto := range []string{ProtoSession, ProtoTLS} {
		var xys plotter.XYs
		for _, x := range rows {
			if x.Protocol == proto && x.MBPerSec != nil {
				xys = append(xys, plotter.XY{X: float64(x.MessageSize), Y: x.MBPerSec.Median})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		p.Add(l, s)
		p.Legend.Add(proto, l, s)
	}
	return p, nil
}

func (r *Report) echoPlot() (*plot.Plot, error) {
	if len(r.Echo) == 0 {
		return nil, nil
	}
	p := newPlot(fmt.Sprintf("%d-byte round trips/s (higher is better)", r.Settings.EchoMessage), "", "round trips per second")
	var cats []string
	vals := plotter.Values{}
	for _, e := range r.Echo {
		cats = append(cats, e.Protocol)
		vals = append(vals, e.RoundTripsPerSec.value())
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(30))
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(0)
	p.Add(bars)
	p.NominalX(cats...)
	return p, nil
}

func (r *Report) legacyPlot() (*plot.Plot, error) {
	if len(r.Legacy) == 0 {
		return nil, nil
	}
	p := newPlot(fmt.Sprintf("%d-byte messages/s, legacy vs session (higher is better)", legacyMessageSize), "", "messages per second")
	var cats []string
	for _, s := range r.Legacy {
		if !slices.Contains(cats, s.Algorithm) {
			cats = append(cats, s.Algorithm)
		}
	}
	names := []string{ProtoLegacy, ProtoSession}
	values := nanGrid(len(names), len(cats))
	for _, s := range r.Legacy {
		values[indexOf(names, s.Protocol)][indexOf(cats, s.Algorithm)] = s.MessagesPerSec.value()
	}
	if err := groupedBars(p, cats, names, values); err != nil {
		return nil, err
	}
	return p, nil
}

func (r *Report) idlePlot() (*plot.Plot, error) {
	var xys plotter.XYs
	for _, i := range r.Idle {
		if i.Conns > 0 && i.PerConnBytes != nil {
			xys = append(xys, plotter.XY{X: float64(i.Conns), Y: i.PerConnBytes.Median / 1024})
		}
	}
	if len(xys) == 0 {
		return nil, nil
	}
	p := newPlot("Server memory per idle session connection", "idle connections (log scale)", "KiB of server RSS per connection")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, err
	}
	p.Add(l, s)
	goal := plotter.NewFunction(func(float64) float64 { return targetIdleBytes / 1024 })
	goal.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(goal)
	p.Legend.Add("session", l, s)
	p.Legend.Add("target", goal)
	p.Y.Min = 0
	return p, nil
}

func nanGrid(rows, cols int) [][]float64 {
	g := make([][]float64, rows)
	for i := range g {
		g[i] = make([]float64, cols)
		for j := range g[i] {
			g[i][j] = math.NaN()
		}
	}
	return g
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
