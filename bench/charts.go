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

// chartHeadline is the ID of the headline comparison chart.
const chartHeadline = "headline"

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
