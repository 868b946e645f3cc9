package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart is one SVG chart the harness wrote.
type Chart struct {
	ID    string // chartHeadline or a growth curve's ID
	Title string
	File  string
}

// IDs of the charts that are not growth curves.
const (
	chartHeadline = "headline" // spark ÷ the bare proxy
	chartPlane    = "plane"    // the management plane on vs off
	chartReplicas = "replicas" // PostgreSQL + Redis vs embedded
)

// writeCharts draws the headline comparison (when the non-stream and
// stream phases ran) and every growth curve into dir as SVG files and
// records them in rep.Charts.
func writeCharts(dir string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	if p, ok := headlinePlot(rep); ok {
		file := filepath.Join(dir, "headline.svg")
		if err := saveSVG(file, 7*vg.Inch, 4*vg.Inch, p); err != nil {
			errs = append(errs, err)
		} else {
			rep.Charts = append(rep.Charts, Chart{ID: chartHeadline, Title: "spark's throughput relative to a bare reverse proxy", File: file})
		}
	}
	for _, c := range []struct {
		id, title string
		plots     []*plot.Plot
	}{
		{chartPlane, "What the management plane costs: non-stream throughput, c=16", planePlots(rep)},
		{chartReplicas, "What replicas cost: PostgreSQL + Redis vs the embedded store", replicaPlots(rep)},
	} {
		if len(c.plots) == 0 {
			continue
		}
		file := filepath.Join(dir, c.id+".svg")
		if err := saveSVG(file, vg.Length(len(c.plots))*4*vg.Inch, 3.6*vg.Inch, c.plots...); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Charts = append(rep.Charts, Chart{ID: c.id, Title: c.title, File: file})
	}
	for _, c := range rep.curves() {
		var plots []*plot.Plot
		for _, pn := range c.Panels {
			plots = append(plots, curvePlot(c, pn))
		}
		file := filepath.Join(dir, "growth-"+c.ID+".svg")
		if err := saveSVG(file, vg.Length(len(plots))*4.5*vg.Inch, 3.6*vg.Inch, plots...); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Charts = append(rep.Charts, Chart{ID: c.ID, Title: "Growth: " + c.Title, File: file})
	}
	return errors.Join(errs...)
}

// saveSVG draws the plots side by side into one SVG file.
func saveSVG(file string, w, h vg.Length, plots ...*plot.Plot) error {
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", file, err)
	}
	return f.Close()
}

// headlinePlot is spark's throughput ÷ the bare proxy's at every measured
// concurrency, non-stream and streaming.
func headlinePlot(rep *Report) (*plot.Plot, bool) {
	var vals plotter.Values
	var labels []string
	for _, c := range rep.Params.Conc {
		s, p := find(rep.NonStream, "spark", c), find(rep.NonStream, "proxy", c)
		if s != nil && p != nil && p.RPS() > 0 {
			vals = append(vals, s.RPS()/p.RPS())
			labels = append(labels, fmt.Sprintf("chat c=%d", c))
		}
	}
	for _, c := range rep.Params.StreamConc {
		s, p := find(rep.Stream, "spark", c), find(rep.Stream, "proxy", c)
		if s != nil && p != nil && p.DeltasPerSec() > 0 {
			vals = append(vals, s.DeltasPerSec()/p.DeltasPerSec())
			labels = append(labels, fmt.Sprintf("stream c=%d", c))
		}
	}
	if len(vals) == 0 {
		return nil, false
	}
	p := plot.New()
	p.Title.Text = "spark ÷ bare httputil.ReverseProxy, same simulator, same run"
	p.Y.Label.Text = "requests/s (chat) or deltas/s (stream) ratio"
	bars, err := plotter.NewBarChart(vals, vg.Points(36))
	if err != nil {
		return nil, false
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bars)
	parity := plotter.NewFunction(func(float64) float64 { return 1 })
	parity.Color = color.Gray{Y: 60}
	parity.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(parity)
	p.Legend.Add("bare proxy = 1.0", parity)
	var at plotter.XYs
	var texts []string
	for i, v := range vals {
		at = append(at, plotter.XY{X: float64(i), Y: v})
		texts = append(texts, fmt.Sprintf("%.2f×", v))
	}
	if labels, err := plotter.NewLabels(plotter.XYLabels{XYs: at, Labels: texts}); err == nil {
		for i := range labels.TextStyle {
			labels.TextStyle[i].XAlign = draw.XCenter
		}
		labels.Offset = vg.Point{Y: vg.Points(3)}
		p.Add(labels)
	}
	p.Legend.Top = true
	p.NominalX(labels...)
	p.Y.Min = 0
	top := 1.15
	for _, v := range vals {
		top = max(top, v*1.15)
	}
	p.Y.Max = top
	return p, true
}

// curvePlot draws one panel of a growth curve, one line per series.
func curvePlot(c curve, pn panel) *plot.Plot {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = pn.Metric
	if c.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	for i, s := range pn.Series {
		var xy plotter.XYs
		for j := range s.X {
			if j < len(s.Y) && finite(s.Y[j]) && finite(s.X[j]) && (!c.LogX || s.X[j] > 0) {
				xy = append(xy, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		if len(xy) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			continue
		}
		line.Color = plotutil.Color(i)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		if s.NoFit {
			line.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		}
		p.Add(line, points)
		label := s.Label
		if !s.NoFit {
			if f, ok := fitCurve(s.X, s.Y); ok {
				label += fmt.Sprintf(" (%s, %s %s)", f.Verdict, fmtFloat(f.Slope*pn.SlopeScale), pn.SlopeUnit)
			}
		}
		p.Legend.Add(label, line, points)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	if ymin, ymax := yRange(pn); ymin >= 0 {
		p.Y.Min = 0
		p.Y.Max = math.Max(ymax*1.6, 1e-9) // room for the legend
	}
	return p
}

// yRange is the range of a panel's finite values.
func yRange(pn panel) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range pn.Series {
		for _, v := range s.Y {
			if finite(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if lo > hi {
		return 0, 0
	}
	return lo, hi
}

// barPlot draws one bar per value with its label under it and text above
// it; ref, when not NaN, draws a dashed reference line labelled refLabel.
func barPlot(title, ylabel string, labels []string, vals []float64, texts []string, ref float64, refLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	bars, err := plotter.NewBarChart(plotter.Values(vals), vg.Points(30))
	if err != nil {
		return nil
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bars)
	top := 0.0
	for _, v := range vals {
		top = max(top, v)
	}
	if !math.IsNaN(ref) {
		line := plotter.NewFunction(func(float64) float64 { return ref })
		line.Color = color.Gray{Y: 60}
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		p.Legend.Add(refLabel, line)
		p.Legend.Top = true
		top = max(top, ref)
	}
	var at plotter.XYs
	for i, v := range vals {
		at = append(at, plotter.XY{X: float64(i), Y: v})
	}
	if l, err := plotter.NewLabels(plotter.XYLabels{XYs: at, Labels: texts}); err == nil {
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
		}
		l.Offset = vg.Point{Y: vg.Points(3)}
		p.Add(l)
	}
	p.NominalX(labels...)
	p.Y.Min = 0
	p.Y.Max = math.Max(top*1.3, 1e-9)
	return p
}

// planePlots are the plane phase's panels: throughput and spark's CPU per
// request of each configuration.
func planePlots(rep *Report) []*plot.Plot {
	p := rep.Plane
	off := p.variant("off")
	if !off.valid() {
		return nil
	}
	names := map[string]string{"off": "plane off", "usage": "usage records", "on": "plane on"}
	var labels, rpsText, cpuText []string
	var rps, cpu []float64
	for _, v := range p.Variants {
		labels = append(labels, names[v.Key])
		rps = append(rps, v.RPS())
		rpsText = append(rpsText, fmt.Sprintf("%.0f (%.2f×)", v.RPS(), v.RPS()/off.RPS()))
		cpu = append(cpu, v.CPUPer1000())
		cpuText = append(cpuText, fmt.Sprintf("%.3f", v.CPUPer1000()))
	}
	band := off.RPS() * (1 - planeGoalApart)
	return nonNilPlots(
		barPlot(fmt.Sprintf("Throughput, c=%d", p.Conc), "requests/s (all rounds)", labels, rps, rpsText, band, "5% below plane off (the goal's bound)"),
		barPlot("spark CPU per request", "CPU ms per request", labels, cpu, cpuText, math.NaN(), ""),
	)
}

// replicaPlots are the replicas phase's panels: throughput at c=16, the
// c=1 p50 of each mode and the admission step's p50.
func replicaPlots(rep *Report) []*plot.Plot {
	rp := rep.Replicas
	if rp == nil || rp.Skipped != "" {
		return nil
	}
	emb := pickVariant(rp.Throughput, "embedded")
	if !emb.valid() {
		return nil
	}
	names := map[string]string{"embedded": "embedded", "redis": "SQLite + Redis", "pgredis": "PostgreSQL + Redis"}
	var labels, texts []string
	var vals []float64
	for _, v := range rp.Throughput {
		labels, vals = append(labels, names[v.Key]), append(vals, v.RPS())
		texts = append(texts, fmt.Sprintf("%.0f (%.2f×)", v.RPS(), v.RPS()/emb.RPS()))
	}
	thr := barPlot(fmt.Sprintf("Throughput, c=%d", rep.Params.Compare.Conc), "requests/s (all rounds)", labels, vals, texts,
		emb.RPS()*replicasGoalRatio, "0.9× embedded (the goal)")
	labels, texts, vals = nil, nil, nil
	for _, v := range rp.Latency {
		labels, vals = append(labels, names[v.Key]), append(vals, ms(v.P50()))
		texts = append(texts, fmt.Sprintf("%.3f", ms(v.P50())))
	}
	lat := barPlot("Latency p50, c=1", "ms", labels, vals, texts, math.NaN(), "")
	adm := barPlot("Admission step p50 (in process)", "µs", []string{"in process", "Redis, this key", "Redis, exact"},
		[]float64{us(rp.AdmitMemory.P50), us(rp.AdmitRedis.P50), us(rp.AdmitRedisExact.P50)},
		[]string{fmt.Sprintf("%.1f", us(rp.AdmitMemory.P50)), fmt.Sprintf("%.1f", us(rp.AdmitRedis.P50)), fmt.Sprintf("%.1f", us(rp.AdmitRedisExact.P50))},
		us(rp.AdmitMemory.P50+admitGoal), "in process + 0.3 ms (the goal)")
	return nonNilPlots(thr, lat, adm)
}

func nonNilPlots(ps ...*plot.Plot) []*plot.Plot {
	var out []*plot.Plot
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}
