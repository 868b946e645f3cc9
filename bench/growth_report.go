package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// series is one measured line of a growth curve.
type series struct {
	Key   string // figure-name part
	Label string // legend and column title
	X, Y  []float64
	// NoFit marks a reference line shown but not fitted.
	NoFit bool
}

// panel is one metric of a growth curve.
type panel struct {
	Metric string // what Y is, with its unit ("spark CPU per request, µs")
	Series []series
	Expect string // the verdict a healthy gateway shows
	// SlopeScale converts the fitted slope (Y units per X unit) into
	// SlopeUnit.
	SlopeScale float64
	SlopeUnit  string
}

// curve is one growth curve: the work on X, one or two metrics.
type curve struct {
	ID     string // figure names and chart file
	Title  string
	XLabel string // with its unit
	XName  string // column title
	LogX   bool
	XFmt   func(float64) string
	Panels []panel
	About  string // how it was measured
}

func intX(x float64) string { return thousands(int(math.Round(x))) }

// curves returns the growth curves of the run (nil without a growth phase).
func (r *Report) curves() []curve {
	g := r.Growth
	if g == nil {
		return nil
	}
	p := r.Params.Growth
	var out []curve

	if len(g.Conv) > 0 {
		mk := func(key, label string, f func(ConvPoint) float64, nofit bool) series {
			s := series{Key: key, Label: label, NoFit: nofit}
			for _, pt := range g.Conv {
				s.X = append(s.X, float64(pt.BodyBytes)/1000)
				s.Y = append(s.Y, f(pt))
			}
			return s
		}
		cpu := func(x *LoadResult, key string) float64 { return x.CPUPer1000(key) * 1000 }
		added := func(x, d *LoadResult) float64 {
			if x == nil || d == nil || x.Count == 0 || d.Count == 0 {
				return math.NaN()
			}
			return ms(x.Lat.P50 - d.Lat.P50)
		}
		out = append(out, curve{
			ID: "conversation", Title: "Conversation size (non-stream, c=1)", XLabel: "request body, kB (1 kB = 1,000 bytes)", XName: "body", LogX: true,
			XFmt: func(x float64) string { return fmtBytes(int(x * 1000)) },
			About: fmt.Sprintf("A system message and alternating user and assistant turns of up to 4,000 bytes of English-like text, then a short question the simulator echoes (the answer is the same at every size); non-stream, one client, %s per target and size after %s warm-up. "+
				"*Every message new* opens each message of each request with a new counter, so spark's prompt-token cache misses and the tokeniser reads the whole conversation every time; *resent* sends the same conversation again, as an agent resends its history. CPU is the process's user+system time over the window ÷ answers; added latency is the p50 minus the direct simulator's on the upstream request spark sent for the same conversation.",
				p.ConvDur, p.ConvWarm),
			Panels: []panel{
				{Metric: "CPU per request, µs", Expect: verdictLinear, SlopeScale: 1, SlopeUnit: "µs per kB", Series: []series{
					mk("spark_fresh.cpu_us", "spark, every message new", func(pt ConvPoint) float64 { return cpu(pt.SparkFresh, "spark") }, false),
					mk("spark_repeat.cpu_us", "spark, conversation resent", func(pt ConvPoint) float64 { return cpu(pt.SparkRepeat, "spark") }, false),
					mk("proxy.cpu_us", "bare proxy", func(pt ConvPoint) float64 { return cpu(pt.Proxy, "proxy") }, false),
				}},
				{Metric: "added latency p50, ms", Expect: verdictLinear, SlopeScale: 1000, SlopeUnit: "µs per kB", Series: []series{
					mk("spark_fresh.added_p50_ms", "spark, every message new", func(pt ConvPoint) float64 { return added(pt.SparkFresh, pt.Direct) }, false),
					mk("spark_repeat.added_p50_ms", "spark, conversation resent", func(pt ConvPoint) float64 { return added(pt.SparkRepeat, pt.Direct) }, false),
					mk("proxy.added_p50_ms", "bare proxy", func(pt ConvPoint) float64 { return added(pt.Proxy, pt.Direct) }, false),
					mk("direct.p50_ms", "direct simulator p50 (reference)", func(pt ConvPoint) float64 {
						if pt.Direct == nil || pt.Direct.Count == 0 {
							return math.NaN()
						}
						return ms(pt.Direct.Lat.P50)
					}, true),
				}},
			},
		})
	}

	if len(g.Tools) > 0 {
		mk := func(key, label string, f func(ToolPoint) float64, nofit bool) series {
			s := series{Key: key, Label: label, NoFit: nofit}
			for _, pt := range g.Tools {
				s.X = append(s.X, float64(pt.Tools))
				s.Y = append(s.Y, f(pt))
			}
			return s
		}
		out = append(out, curve{
			ID: "tools", Title: "Tool definitions (streaming, tool emulation on, c=1)", XLabel: "tool definitions in the request", XName: "tools",
			XFmt: intX,
			About: fmt.Sprintf("Distinct function tools of about 480 bytes each (four parameters, an enum and bounds), resent unchanged with every request as agents do; a stream of `sim:long %d`, one client, %s per target and count after %s warm-up. TTFT added is spark's p50 time to the first content delta minus the direct simulator's on the upstream request spark sent (which carries the tool prompt).",
				p.ToolDeltas, p.ToolDur, p.ToolWarm),
			Panels: []panel{
				{Metric: "TTFT added p50, ms", Expect: verdictLinear, SlopeScale: 1000, SlopeUnit: "µs per tool", Series: []series{
					mk("spark.ttft_added_p50_ms", "spark", func(pt ToolPoint) float64 {
						if pt.Spark == nil || pt.Direct == nil || pt.Spark.Count == 0 || pt.Direct.Count == 0 {
							return math.NaN()
						}
						return ms(pt.Spark.TTFT.P50 - pt.Direct.TTFT.P50)
					}, false),
					mk("direct.ttft_p50_ms", "direct simulator TTFT p50 (reference)", func(pt ToolPoint) float64 {
						if pt.Direct == nil || pt.Direct.Count == 0 {
							return math.NaN()
						}
						return ms(pt.Direct.TTFT.P50)
					}, true),
				}},
				{Metric: "CPU per request, µs", Expect: verdictLinear, SlopeScale: 1, SlopeUnit: "µs per tool", Series: []series{
					mk("spark.cpu_us", "spark", func(pt ToolPoint) float64 { return pt.Spark.CPUPer1000("spark") * 1000 }, false),
					mk("sim.cpu_us", "simulator, direct (reference)", func(pt ToolPoint) float64 { return pt.Direct.CPUPer1000("sim") * 1000 }, true),
				}},
			},
		})
	}

	if len(g.Pool) > 0 {
		s := series{Key: "ns_per_lease", Label: "internal/pool, random strategy"}
		a := series{Key: "allocs_per_lease", Label: "internal/pool, random strategy"}
		for _, pt := range g.Pool {
			s.X, s.Y = append(s.X, float64(pt.Accounts)), append(s.Y, pt.NsPerOp)
			a.X, a.Y = append(a.X, float64(pt.Accounts)), append(a.Y, pt.AllocsPerOp)
		}
		out = append(out, curve{
			ID: "pool", Title: "Pool size (lease + release)", XLabel: "accounts in the pool", XName: "accounts", LogX: true, XFmt: intX,
			About: fmt.Sprintf("One `Acquire` and its `Release(nil)` of `internal/pool` as spark builds it (default random strategy, every account serving the model through a map lookup, as spark's model check is), over the in-memory store, in the bench process on one goroutine, %s per size after 1,000 warm-up leases. Through HTTP this cost would drown in the request's own, so it is measured where it is paid; there is no proxy equivalent to compare with, the 10-account point is the reference.", p.PoolDur),
			Panels: []panel{
				{Metric: "ns per lease and release", Expect: verdictFlat, SlopeScale: 1, SlopeUnit: "ns per account", Series: []series{s}},
				{Metric: "allocations per lease", Expect: verdictFlat, SlopeScale: 1, SlopeUnit: "per account", Series: []series{a}},
			},
		})
	}

	if len(g.Length) > 0 {
		mk := func(key, label string, f func(LengthPoint) float64) series {
			s := series{Key: key, Label: label}
			for _, pt := range g.Length {
				s.X = append(s.X, float64(pt.Deltas))
				s.Y = append(s.Y, f(pt))
			}
			return s
		}
		perStream := func(x *LoadResult, key string) float64 {
			if x == nil || x.Count == 0 {
				return math.NaN()
			}
			return x.CPU[key].Seconds() * 1000 / float64(x.Count)
		}
		mem := func(v float64, ok bool) float64 {
			if !ok {
				return math.NaN()
			}
			return v / 1024
		}
		out = append(out, curve{
			ID: "length", Title: "Stream length (c=1)", XLabel: "content deltas per stream", XName: "deltas", LogX: true, XFmt: intX,
			About: fmt.Sprintf("Streams of `sim:long N` without tools, one client, %s per target and length (at least one whole stream); CPU per stream is the process's CPU over the window ÷ streams, its slope the CPU per delta. Memory per stream: %d streams kept in flight (a new one opened as each ends), the target's live heap plus goroutine stacks read right after a forced GC %d times 100 ms apart, minus the same before, ÷ %d.",
				p.LengthDur, p.LengthMemConc, p.LengthMemSamples, p.LengthMemConc),
			Panels: []panel{
				{Metric: "CPU per stream, ms", Expect: verdictLinear, SlopeScale: 1000, SlopeUnit: "µs per delta", Series: []series{
					mk("spark.cpu_ms_per_stream", "spark", func(pt LengthPoint) float64 { return perStream(pt.Spark, "spark") }),
					mk("proxy.cpu_ms_per_stream", "bare proxy", func(pt LengthPoint) float64 { return perStream(pt.Proxy, "proxy") }),
				}},
				{Metric: "live memory per stream in flight, KiB", Expect: verdictFlat, SlopeScale: 1024, SlopeUnit: "bytes per delta", Series: []series{
					mk("spark.mem_kib_per_stream", "spark", func(pt LengthPoint) float64 { return mem(pt.MemSpark, pt.MemOK) }),
					mk("proxy.mem_kib_per_stream", "bare proxy", func(pt LengthPoint) float64 { return mem(pt.MemProxy, pt.MemOK) }),
				}},
			},
		})
	}

	if len(g.Conc) > 0 {
		mk := func(key, label string, f func(*OpenResult) float64) series {
			s := series{Key: key, Label: label}
			for _, pt := range g.Conc {
				o := pt.Spark
				if strings.HasPrefix(key, "proxy") {
					o = pt.Proxy
				}
				s.X = append(s.X, float64(pt.Streams))
				if o == nil || o.OpenAtTop == 0 {
					s.Y = append(s.Y, math.NaN())
					continue
				}
				s.Y = append(s.Y, f(o))
			}
			return s
		}
		rss := func(o *OpenResult) float64 { return float64(o.RSSTop-o.RSSBefore) / (1 << 20) }
		live := func(o *OpenResult) float64 {
			if o.LiveTop.Sys == 0 || o.LiveBefore.Sys == 0 {
				return math.NaN()
			}
			return float64(o.LiveTop.HeapAlloc+o.LiveTop.Stack-o.LiveBefore.HeapAlloc-o.LiveBefore.Stack) / (1 << 20)
		}
		gor := func(o *OpenResult) float64 {
			if o.GorTop == 0 {
				return math.NaN()
			}
			return float64(o.GorTop - o.GorBefore)
		}
		out = append(out, curve{
			ID: "streams", Title: "Concurrently open streams", XLabel: "streams open at once", XName: "streams", LogX: true, XFmt: intX,
			About: fmt.Sprintf("`sim:slow %d sim:long %d` streams (as in the open-streams phase), opened at most %d at a time into a **fresh** process per point (so that no earlier point's memory is reused), after %d warm-up streams and a settle; RSS and goroutines are sampled once every stream has its first delta, then the live heap plus goroutine stacks right after a forced GC (what the streams hold, without the garbage the collector has not yet returned), each as growth over the idle process; the streams are then cancelled. The slope of the growth is the cost of one more open stream; the intercept is what the first streams cost once (connection pools, buffers).",
				int(r.Params.OpenSlow/time.Millisecond), r.Params.OpenDeltas, r.Params.OpenParallel, p.ConcWarmStreams) + concFailures(g.Conc),
			Panels: []panel{
				{Metric: "RSS growth, MiB", Expect: verdictLinear, SlopeScale: 1024, SlopeUnit: "KiB per stream", Series: []series{
					mk("spark.rss_growth_mib", "spark", rss),
					mk("proxy.rss_growth_mib", "bare proxy", rss),
				}},
				{Metric: "live heap + stacks growth, MiB", Expect: verdictLinear, SlopeScale: 1024, SlopeUnit: "KiB per stream", Series: []series{
					mk("spark.live_growth_mib", "spark", live),
					mk("proxy.live_growth_mib", "bare proxy", live),
				}},
				{Metric: "goroutine growth", Expect: verdictLinear, SlopeScale: 1, SlopeUnit: "goroutines per stream", Series: []series{
					mk("spark.goroutine_growth", "spark", gor),
					mk("proxy.goroutine_growth", "bare proxy", gor),
				}},
			},
		})
	}
	return out
}

// growthFigures are the growth curves' figures: every point of every
// series and the slope of every fitted series.
func (r *Report) growthFigures(add func(string, float64, bool)) {
	for _, c := range r.curves() {
		for _, pn := range c.Panels {
			for _, s := range pn.Series {
				for i := range s.X {
					add(fmt.Sprintf("growth.%s.%s.%s", c.ID, strconv.FormatFloat(s.X[i]*xScale(c.ID), 'f', 0, 64), s.Key), s.Y[i], true)
				}
				if !s.NoFit {
					f, ok := fitCurve(s.X, s.Y)
					add(fmt.Sprintf("growth.%s.fit.%s.slope", c.ID, s.Key), f.Slope*pn.SlopeScale, ok)
				}
			}
		}
	}
}

// xScale turns a curve's X into the integer its figure names use (bytes
// for the conversation, whose X is in kB).
func xScale(id string) float64 {
	if id == "conversation" {
		return 1000
	}
	return 1
}

// fmtFloat shows v with about 3 significant digits ("n/a" if not finite).
func fmtFloat(v float64) string {
	if !finite(v) {
		return "n/a"
	}
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1000:
		return thousands(int(math.Round(v)))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// growthMarkdown renders the growth curves.
func (r *Report) growthMarkdown(w func(string, ...any), link func(file string) string) {
	cs := r.curves()
	if len(cs) == 0 {
		return
	}
	w("\n### Growth curves\n\nHow spark's cost grows with the work, next to the bare proxy or the direct simulator measured in the same run. ")
	w("Each fitted series gets an ordinary least-squares line y = a + b·x through all its points (b is the **slope**, given in the unit shown) and a **verdict**: ")
	w("*flat* when that line rises by at most %.0f%% from the smallest to the largest work; otherwise *worse than linear* when the growth exponent — the least-squares slope of ln y against ln x over the upper half of the points (at least three) — exceeds %.1f, and *linear* when it does not (1 is a line through the origin, less than 1 a line with a fixed cost on top, 2 a quadratic). ", 100*flatRise, worseExponent)
	w("*Expected* is the verdict a healthy gateway shows. On a geometric x range the slope is dominated by the largest points, which is where the marginal cost is read.\n")
	for _, c := range cs {
		w("\n#### %s\n\n%s\n\n", c.Title, c.About)
		// Points: one column per series.
		w("| %s |", c.XName)
		sep := "| ---: |"
		for _, pn := range c.Panels {
			for _, s := range pn.Series {
				w(" %s: %s |", pn.Metric, s.Label)
				sep += " ---: |"
			}
		}
		w("\n%s\n", sep)
		xs := c.Panels[0].Series[0].X
		for i := range xs {
			w("| %s |", c.XFmt(xs[i]))
			for _, pn := range c.Panels {
				for _, s := range pn.Series {
					v := math.NaN()
					if i < len(s.Y) {
						v = s.Y[i]
					}
					w(" %s |", fmtFloat(v))
				}
			}
			w("\n")
		}
		w("\n| metric | series | verdict | expected | slope b | intercept a | growth exponent |\n| --- | --- | --- | --- | ---: | ---: | ---: |\n")
		for _, pn := range c.Panels {
			for _, s := range pn.Series {
				if s.NoFit {
					continue
				}
				f, ok := fitCurve(s.X, s.Y)
				if !ok {
					w("| %s | %s | n/a | %s | — | — | — |\n", pn.Metric, s.Label, pn.Expect)
					continue
				}
				verdict := f.Verdict
				if verdict != pn.Expect {
					verdict = "**" + verdict + "**"
				}
				w("| %s | %s | %s | %s | %s %s | %s | %s |\n", pn.Metric, s.Label, verdict, pn.Expect, fmtFloat(f.Slope*pn.SlopeScale), pn.SlopeUnit, fmtFloat(f.Intercept), fmtFloat(f.Exponent))
			}
		}
		for _, ch := range r.Charts {
			if ch.ID == c.ID {
				w("\n![%s](%s)\n", ch.Title, link(ch.File))
			}
		}
	}
}

// growthTargets evaluates the next targets that the growth curves measure.
func (r *Report) growthTargets() []Target {
	var out []Target
	g := r.Growth
	{
		t := Target{Name: "conversation size: spark CPU per kB of prompt, tokenising included", Goal: "≤ 2 µs per kB, at most linear"}
		var s series
		for _, c := range r.curves() {
			if c.ID == "conversation" {
				s = c.Panels[0].Series[0]
			}
		}
		f, ok := fitCurve(s.X, s.Y)
		switch {
		case g == nil || !ok:
			t.Status = statusNotMeasured
		default:
			t.Measured = fmt.Sprintf("%s µs per kB, %s", fmtFloat(f.Slope), f.Verdict)
			first, last := 0, len(s.X)-1
			t.Note = fmt.Sprintf("every message new; least-squares slope of CPU per request over %s–%s (%s → %s µs per request); growth exponent %s",
				fmtBytes(int(s.X[first]*1000)), fmtBytes(int(s.X[last]*1000)), fmtFloat(s.Y[first]), fmtFloat(s.Y[last]), fmtFloat(f.Exponent))
			if f.Slope <= 2 && f.Verdict != verdictWorse {
				t.Status = statusMet
			} else {
				t.Status = statusMissed
				if f.Slope > 2 {
					t.Note = fmt.Sprintf("%.1f× the goal; ", f.Slope/2) + t.Note
				}
			}
		}
		out = append(out, t)
	}
	{
		t := Target{Name: "lease + release at 10,000 accounts vs 10 accounts", Goal: "≤ 1.2×"}
		var lo, hi *PoolPoint
		if g != nil {
			for i := range g.Pool {
				switch g.Pool[i].Accounts {
				case 10:
					lo = &g.Pool[i]
				case 10000:
					hi = &g.Pool[i]
				}
			}
		}
		if lo == nil || hi == nil || lo.NsPerOp <= 0 {
			t.Status = statusNotMeasured
		} else {
			q := hi.NsPerOp / lo.NsPerOp
			t.Measured = fmt.Sprintf("%.2f×", q)
			t.Note = fmt.Sprintf("%s ns at 10,000 accounts vs %s ns at 10", fmtFloat(hi.NsPerOp), fmtFloat(lo.NsPerOp))
			if q <= 1.2 {
				t.Status = statusMet
			} else {
				t.Status = statusMissed
				t.Note = fmt.Sprintf("%.1f× the goal; ", q/1.2) + t.Note
			}
		}
		out = append(out, t)
	}
	{
		t := Target{Name: "TTFT added by 128 tools", Goal: "≤ 2 ms"}
		var zero, full *ToolPoint
		if g != nil {
			for i := range g.Tools {
				switch g.Tools[i].Tools {
				case 0:
					zero = &g.Tools[i]
				case 128:
					full = &g.Tools[i]
				}
			}
		}
		valid := func(p *ToolPoint) bool {
			return p != nil && p.Spark != nil && p.Direct != nil && p.Spark.Count > 0 && p.Direct.Count > 0
		}
		if !valid(zero) || !valid(full) {
			t.Status = statusNotMeasured
		} else {
			a0 := full.Spark.TTFT.P50 - full.Direct.TTFT.P50
			z0 := zero.Spark.TTFT.P50 - zero.Direct.TTFT.P50
			d := a0 - z0
			t.Measured = fmtAdded(d)
			t.Note = fmt.Sprintf("spark's TTFT added at p50 over the direct simulator: %s with 128 tools, %s without (c=1)", fmtAdded(a0), fmtAdded(z0))
			if d <= 2*time.Millisecond {
				t.Status = statusMet
			} else {
				t.Status = statusMissed
				t.Note = fmt.Sprintf("over by %s; ", fmtMS(d-2*time.Millisecond)) + t.Note
			}
		}
		out = append(out, t)
	}
	return out
}

// concFailures is the sentence that reports the streams that failed at
// some point of the concurrent-streams curve ("" when none did).
func concFailures(pts []ConcPoint) string {
	var all []string
	for _, pt := range pts {
		all = append(all, pt.Failures...)
	}
	if len(all) == 0 {
		return ""
	}
	return " **Streams failed in this run:** " + strings.Join(all, "; ") + "."
}
