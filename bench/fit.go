package main

import (
	"cmp"
	"math"
	"slices"
)

// Verdicts of a growth curve: how the cost grows with the work.
const (
	verdictFlat   = "flat"
	verdictLinear = "linear"
	verdictWorse  = "worse than linear"
)

// flatRise is the most the fitted line may rise over a curve's range,
// relative to its value at the smallest size, for the curve to count as
// flat.
const flatRise = 0.20

// worseExponent is the growth exponent above which a curve counts as
// worse than linear.
const worseExponent = 1.2

// Fit describes how a measured cost y grows with the work x.
//
// Slope and Intercept are the ordinary least-squares line y = Intercept +
// Slope·x through all points. Rise is how much that line climbs from the
// smallest to the largest x, relative to its value at the smallest x.
// Exponent is the least-squares slope of ln y against ln x over the upper
// half of the points (at least three; points with y ≤ 0 are left out):
// the power k of y ∝ x^k where the work is largest, 1 for a line through
// the origin, below 1 for a line with a positive intercept, 2 for a
// quadratic cost. The verdict: flat when Rise ≤ 20%; otherwise worse than
// linear when Exponent > 1.2; otherwise linear.
type Fit struct {
	N         int     // points fitted
	Slope     float64 // y units per x unit
	Intercept float64 // y units
	Rise      float64 // (fit(xmax) − fit(xmin)) / fit(xmin); +Inf when fit(xmin) ≤ 0 < slope
	Exponent  float64 // NaN when fewer than two usable points
	Verdict   string
}

// fitCurve fits ys against xs (same length, at least two points with
// different x); ok is false when there is nothing to fit.
func fitCurve(xs, ys []float64) (f Fit, ok bool) {
	var px, py []float64
	for i := range min(len(xs), len(ys)) {
		if finite(xs[i]) && finite(ys[i]) {
			px, py = append(px, xs[i]), append(py, ys[i])
		}
	}
	f.N = len(px)
	slope, icept, ok := leastSquares(px, py)
	if !ok {
		return f, false
	}
	f.Slope, f.Intercept = slope, icept
	lo, hi := px[0], px[0]
	for _, x := range px {
		lo, hi = min(lo, x), max(hi, x)
	}
	base, top := icept+slope*lo, icept+slope*hi
	switch {
	case base > 0:
		f.Rise = (top - base) / base
	case top > base:
		f.Rise = math.Inf(1)
	default:
		f.Rise = 0
	}

	// The upper half by x, at least three points.
	idx := make([]int, len(px))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(px[a], px[b]) })
	from := min(len(idx)/2, max(len(idx)-3, 0))
	var lx, ly []float64
	for _, i := range idx[from:] {
		if px[i] > 0 && py[i] > 0 {
			lx, ly = append(lx, math.Log(px[i])), append(ly, math.Log(py[i]))
		}
	}
	f.Exponent = math.NaN()
	if k, _, ok := leastSquares(lx, ly); ok {
		f.Exponent = k
	}

	switch {
	case f.Rise <= flatRise:
		f.Verdict = verdictFlat
	case f.Exponent > worseExponent:
		f.Verdict = verdictWorse
	default:
		f.Verdict = verdictLinear
	}
	return f, true
}

// leastSquares returns the ordinary least-squares line through the points.
func leastSquares(xs, ys []float64) (slope, intercept float64, ok bool) {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0, 0, false
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for i := range xs {
		dx := xs[i] - mx
		sxx += dx * dx
		sxy += dx * (ys[i] - my)
	}
	if sxx == 0 {
		return 0, 0, false
	}
	slope = sxy / sxx
	return slope, my - slope*mx, true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
