package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	CPUs      int    // logical CPUs (nproc)
	CPUModel  string // /proc/cpuinfo model name
	Memory    string // MemTotal
	Kernel    string
	GoVersion string // the toolchain that built spark
	Platform  string // GOOS/GOARCH
	FDLimit   uint64 // RLIMIT_NOFILE hard limit
	Commit    string // git HEAD, "+ uncommitted changes" when dirty
}

func machineFacts(root string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Platform: runtime.GOOS + "/" + runtime.GOARCH, FDLimit: fdLimit(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(goTool(), "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	// Read-only git queries; no git, no commit.
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			m.Commit += " + uncommitted changes"
		}
	}
	return m
}

// Report is everything one run measured.
type Report struct {
	Quick   bool
	Command string
	Started time.Time
	Wall    time.Duration
	Params  params
	Machine Machine
	// Upstream describes how the simulator was served and trusted.
	Upstream string

	StartupFresh time.Duration // exec → /healthz 200, empty DATA_DIR
	StartupWarm  time.Duration // exec → /healthz 200, existing DATA_DIR
	StartupSelf  time.Duration // spark's own log: configuration → listening (restart)
	IdleOther    float64       // cores other processes kept busy before the first phase
	UsageRecords bool          // spark kept usage records (not -no-usage)

	NonStream     []*LoadResult
	Stream        []*LoadResult
	StreamNoTools []*LoadResult // c=1 without tools: direct and spark
	Open          []*OpenResult

	OpenRequested int    // streams asked for
	OpenCapNote   string // why fewer were held, if so

	Growth *Growth // the growth curves (nil without the growth phase)
	// Plane is what the management plane costs (nil without its phase);
	// Replicas what PostgreSQL and Redis cost (nil without its phase,
	// Skipped set when its services were not given).
	Plane    *Plane
	Replicas *Replicas

	// Charts are the SVG charts written for this report; ChartBase is the
	// directory the Markdown's links are relative to ("" = the working
	// directory).
	Charts    []Chart
	ChartBase string

	Profiles    []string     // files written with -pprof
	ProfileTops []ProfileTop // go tool pprof -top of spark's CPU profiles
	Notes       []string
}

// ProfileTop is the `go tool pprof -top` text of one profile.
type ProfileTop struct {
	Label, File, Top string
}

// otherLoad summarises the CPU other processes used during the measuring
// windows: mean and highest busy cores (ok false when unknown).
func (r *Report) otherLoad() (mean, peak float64, ok bool) {
	var sum, secs float64
	for _, rs := range [][]*LoadResult{r.NonStream, r.Stream, r.StreamNoTools} {
		for _, x := range rs {
			c := x.OtherCores()
			if c < 0 {
				continue
			}
			ok = true
			sum += x.Other.Seconds()
			secs += x.Elapsed.Seconds()
			peak = max(peak, c)
		}
	}
	if !ok || secs == 0 {
		return 0, 0, false
	}
	return sum / secs, peak, true
}

func (r *Report) hasAny() bool {
	return r.StartupWarm > 0 || len(r.NonStream) > 0
}

func find(rs []*LoadResult, key string, c int) *LoadResult {
	for _, r := range rs {
		if r.Target == key && r.Conc == c {
			return r
		}
	}
	return nil
}

func (r *Report) open(key string) *OpenResult {
	for _, o := range r.Open {
		if o.Target == key {
			return o
		}
	}
	return nil
}

// Figure is one named number of the report.
type Figure struct {
	Name  string
	Value float64
	Valid bool // measured from samples (false: missing or unknown)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Figures lists every figure of the report under a stable name; the test
// asserts each was produced, and the Markdown lists them in its appendix.
func (r *Report) Figures() []Figure {
	var out []Figure
	add := func(name string, v float64, valid bool) {
		out = append(out, Figure{Name: name, Value: v, Valid: valid && !math.IsNaN(v) && !math.IsInf(v, 0)})
	}
	add("startup.empty_data_dir_ms", ms(r.StartupFresh), r.StartupFresh > 0)
	add("startup.existing_data_dir_ms", ms(r.StartupWarm), r.StartupWarm > 0)

	for _, c := range r.Params.Conc {
		d := find(r.NonStream, "direct", c)
		px := find(r.NonStream, "proxy", c)
		for _, key := range []string{"direct", "proxy", "spark"} {
			x := find(r.NonStream, key, c)
			p := fmt.Sprintf("nonstream.c%d.%s.", c, key)
			ok := x != nil && x.Count > 0
			add(p+"rps", x.RPS(), ok)
			add(p+"p50_ms", ms(lat(x).P50), ok)
			add(p+"p99_ms", ms(lat(x).P99), ok)
			add(p+"errors", float64(errs(x)), x != nil)
			if key != "direct" {
				okd := ok && d != nil && d.Count > 0
				add(p+"added_p50_ms", ms(lat(x).P50-lat(d).P50), okd)
				add(p+"added_p99_ms", ms(lat(x).P99-lat(d).P99), okd)
			}
			if key == "spark" {
				add(p+"ratio_vs_proxy", ratio(x.RPS(), px.RPS()), ok && px != nil && px.Count > 0)
			}
		}
	}
	for _, c := range r.Params.StreamConc {
		d := find(r.Stream, "direct", c)
		px := find(r.Stream, "proxy", c)
		for _, key := range []string{"direct", "proxy", "spark"} {
			x := find(r.Stream, key, c)
			p := fmt.Sprintf("stream.c%d.%s.", c, key)
			ok := x != nil && x.Count > 0
			add(p+"streams_per_s", x.RPS(), ok)
			add(p+"deltas_per_s", x.DeltasPerSec(), ok)
			add(p+"deltas_per_stream", perStream(x), ok)
			add(p+"ttft_p50_ms", ms(ttft(x).P50), ok)
			add(p+"ttft_p99_ms", ms(ttft(x).P99), ok)
			add(p+"errors", float64(errs(x)), x != nil)
			if key != "direct" {
				okd := ok && d != nil && d.Count > 0
				add(p+"ttft_added_p50_ms", ms(ttft(x).P50-ttft(d).P50), okd)
				add(p+"ttft_added_p99_ms", ms(ttft(x).P99-ttft(d).P99), okd)
			}
			if key == "spark" {
				add(p+"deltas_ratio_vs_proxy", ratio(x.DeltasPerSec(), px.DeltasPerSec()), ok && px != nil && px.Count > 0)
			}
		}
	}
	{
		d, s := find(r.StreamNoTools, "direct", 1), find(r.StreamNoTools, "spark", 1)
		for _, key := range []string{"direct", "spark"} {
			x := d
			if key == "spark" {
				x = s
			}
			p := "stream_notools.c1." + key + "."
			ok := x != nil && x.Count > 0
			add(p+"deltas_per_s", x.DeltasPerSec(), ok)
			add(p+"ttft_p50_ms", ms(ttft(x).P50), ok)
			add(p+"ttft_p99_ms", ms(ttft(x).P99), ok)
			if key == "spark" {
				okd := ok && d != nil && d.Count > 0
				add(p+"ttft_added_p50_ms", ms(ttft(x).P50-ttft(d).P50), okd)
				add(p+"ttft_added_p99_ms", ms(ttft(x).P99-ttft(d).P99), okd)
			}
		}
	}
	for _, key := range []string{"proxy", "spark", "sim"} {
		ns := find(r.NonStream, keyOrDirect(key), 16)
		st := find(r.Stream, keyOrDirect(key), 16)
		add("cpu.nonstream_c16."+key+".cpu_s_per_1000", ns.CPUPer1000(key), ns != nil && ns.Count > 0)
		add("cpu.stream_c16."+key+".cpu_s_per_1000", st.CPUPer1000(key), st != nil && st.Count > 0)
	}
	for _, key := range []string{"proxy", "spark"} {
		o := r.open(key)
		p := "open." + key + "."
		ok := o != nil && o.OpenAtTop > 0
		add(p+"streams", float64(openN(o, func(o *OpenResult) int { return o.Streams })), o != nil)
		add(p+"open_at_once", float64(openN(o, func(o *OpenResult) int { return o.OpenAtTop })), o != nil)
		add(p+"completed", float64(openN(o, func(o *OpenResult) int { return o.Completed })), o != nil)
		add(p+"failed", float64(openN(o, func(o *OpenResult) int { return o.Failed })), o != nil)
		add(p+"rss_per_stream_kib", o.RSSPerStream()/1024, ok)
		add(p+"rss_top_mib", float64(openN(o, func(o *OpenResult) int { return int(o.RSSTop >> 20) })), ok)
		add(p+"goroutines_per_stream", o.GoroutinesPerStream(), ok && o.GorTop > 0)
		heap, stack, memOK := o.MemPerStream()
		add(p+"heap_inuse_per_stream_kib", heap/1024, ok && memOK)
		add(p+"stack_per_stream_kib", stack/1024, ok && memOK)
	}
	r.compareFigures(add)
	r.growthFigures(add)
	return out
}

// keyOrDirect maps the simulator's process key to the target whose load
// measured it (the direct-simulator point).
func keyOrDirect(key string) string {
	if key == "sim" {
		return "direct"
	}
	return key
}

func lat(r *LoadResult) Dist {
	if r == nil {
		return Dist{}
	}
	return r.Lat
}

func ttft(r *LoadResult) Dist {
	if r == nil {
		return Dist{}
	}
	return r.TTFT
}

func errs(r *LoadResult) int {
	if r == nil {
		return 0
	}
	return r.Errors
}

func perStream(r *LoadResult) float64 {
	if r == nil || r.Count == 0 {
		return 0
	}
	return float64(r.Deltas) / float64(r.Count)
}

func openN(o *OpenResult, f func(*OpenResult) int) int {
	if o == nil {
		return 0
	}
	return f(o)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// status of a target.
const (
	statusMet         = "met"
	statusMissed      = "**missed**"
	statusNotMeasured = "not measured"
)

// Target is one of the targets with its verdict.
type Target struct {
	Name, Goal, Measured, Status, Note string
}

// Targets evaluates the targets on this run.
func (r *Report) Targets() []Target {
	var out []Target
	// p99 added latency, non-stream, c=16.
	{
		t := Target{Name: "p99 added latency, non-stream, c=16", Goal: "≤ 1 ms"}
		s, d := find(r.NonStream, "spark", 16), find(r.NonStream, "direct", 16)
		if s == nil || d == nil || s.Count == 0 || d.Count == 0 {
			t.Status = statusNotMeasured
		} else {
			added := s.Lat.P99 - d.Lat.P99
			t.Measured = fmtAdded(added)
			t.Note = fmt.Sprintf("spark p99 %s vs direct simulator %s", fmtMS(s.Lat.P99), fmtMS(d.Lat.P99))
			if p := find(r.NonStream, "proxy", 16); p != nil && p.Count > 0 {
				// The physical limit: what one extra hop costs on this machine.
				t.Note += fmt.Sprintf("; the bare proxy adds %s, spark %s beyond it", fmtAdded(p.Lat.P99-d.Lat.P99), fmtAdded(s.Lat.P99-p.Lat.P99))
			}
			if added <= time.Millisecond {
				t.Status = statusMet
			} else {
				t.Status = statusMissed
				t.Note = fmt.Sprintf("over by %s; ", fmtMS(added-time.Millisecond)) + t.Note
			}
		}
		out = append(out, t)
	}
	for _, c := range []int{16, 64} {
		t := Target{Name: fmt.Sprintf("throughput vs bare proxy, non-stream, c=%d", c), Goal: "≥ 0.90×"}
		s, p := find(r.NonStream, "spark", c), find(r.NonStream, "proxy", c)
		if s == nil || p == nil || s.Count == 0 || p.Count == 0 {
			t.Status = statusNotMeasured
		} else {
			q := s.RPS() / p.RPS()
			t.Measured = fmt.Sprintf("%.2f×", q)
			t.Note = fmt.Sprintf("spark %.0f req/s vs bare proxy %.0f req/s", s.RPS(), p.RPS())
			if q >= 0.9 {
				t.Status = statusMet
			} else {
				t.Status = statusMissed
				t.Note = fmt.Sprintf("short by %.2f× (%.0f%% of the goal); ", 0.9-q, 100*q/0.9) + t.Note
			}
		}
		out = append(out, t)
	}
	for _, c := range r.Params.StreamConc {
		t := Target{Name: fmt.Sprintf("streaming relay vs bare proxy, deltas/s, c=%d", c), Goal: "≥ 1.00×"}
		s, p := find(r.Stream, "spark", c), find(r.Stream, "proxy", c)
		if s == nil || p == nil || s.Count == 0 || p.Count == 0 || p.DeltasPerSec() == 0 {
			t.Status = statusNotMeasured
		} else {
			q := s.DeltasPerSec() / p.DeltasPerSec()
			t.Measured = fmt.Sprintf("%.2f×", q)
			t.Note = fmt.Sprintf("spark %.0f deltas/s vs bare proxy %.0f deltas/s (tools in the request)", s.DeltasPerSec(), p.DeltasPerSec())
			if q >= 1 {
				t.Status = statusMet
			} else {
				t.Status = statusMissed
				t.Note = fmt.Sprintf("short by %.2f× (%.0f%% of the goal); ", 1-q, 100*q) + t.Note
			}
		}
		out = append(out, t)
	}
	{
		t := Target{Name: "TTFT added at p50, streaming, tools in the request", Goal: "≤ 1 ms"}
		s, d := find(r.Stream, "spark", 1), find(r.Stream, "direct", 1)
		if s == nil || d == nil || s.Count == 0 || d.Count == 0 {
			t.Status = statusNotMeasured
		} else {
			added := s.TTFT.P50 - d.TTFT.P50
			t.Measured = fmtAdded(added) + " (c=1)"
			t.Note = fmt.Sprintf("spark %s vs direct simulator %s", fmtMS(s.TTFT.P50), fmtMS(d.TTFT.P50))
			if s16, d16 := find(r.Stream, "spark", 16), find(r.Stream, "direct", 16); s16 != nil && d16 != nil && s16.Count > 0 && d16.Count > 0 {
				t.Note += fmt.Sprintf("; at c=16: %s", fmtAdded(s16.TTFT.P50-d16.TTFT.P50))
			}
			if sn, dn := find(r.StreamNoTools, "spark", 1), find(r.StreamNoTools, "direct", 1); sn != nil && dn != nil && sn.Count > 0 && dn.Count > 0 {
				t.Note += fmt.Sprintf("; without tools (c=1): %s", fmtAdded(sn.TTFT.P50-dn.TTFT.P50))
			}
			if added <= time.Millisecond {
				t.Status = statusMet
			} else {
				t.Status = statusMissed
				t.Note = fmt.Sprintf("over by %s; ", fmtMS(added-time.Millisecond)) + t.Note
			}
		}
		out = append(out, t)
	}
	o := r.open("spark")
	{
		t := Target{Name: "10,000 concurrently open streams through spark, none failed", Goal: "10,000 open, 0 failed"}
		switch {
		case o == nil:
			t.Status = statusNotMeasured
		default:
			t.Measured = fmt.Sprintf("%s run, %s open at once, %s completed, %s failed",
				thousands(o.Streams), thousands(o.OpenAtTop), thousands(o.Completed), thousands(o.Failed))
			switch {
			case o.Streams < 10000:
				t.Status = statusNotMeasured + " at 10,000"
				if r.Quick {
					t.Note = "-quick holds fewer streams"
				} else if r.OpenCapNote != "" {
					t.Note = "file-descriptor limit of this machine (see below)"
				}
				if o.Failed > 0 || o.OpenAtTop < o.Streams {
					t.Note = strings.TrimPrefix(t.Note+fmt.Sprintf("; at %s: %s failed, %s of them open at once", thousands(o.Streams), thousands(o.Failed), thousands(o.OpenAtTop)), "; ")
				}
			case o.Failed == 0 && o.OpenAtTop == o.Streams:
				t.Status = statusMet
			default:
				t.Status = statusMissed
				t.Note = fmt.Sprintf("%s failed, %s open at once", thousands(o.Failed), thousands(o.OpenAtTop))
				if o.FirstErr != "" {
					t.Note += "; first failure: " + o.FirstErr
				}
			}
		}
		out = append(out, t)
	}
	{
		t := Target{Name: "RSS per open stream (spark)", Goal: fmt.Sprintf("≤ %d KiB", rssGoalKiB)}
		if o == nil || o.OpenAtTop == 0 {
			t.Status = statusNotMeasured
		} else {
			per := o.RSSPerStream() / 1024
			t.Measured = fmt.Sprintf("%.1f KiB", per)
			t.Note = fmt.Sprintf("(%s − %s) / %s streams", fmtMiB(o.RSSTop), fmtMiB(o.RSSBefore), thousands(o.OpenAtTop))
			if p := r.open("proxy"); p != nil && p.OpenAtTop > 0 {
				t.Note += fmt.Sprintf("; bare proxy %.1f KiB", p.RSSPerStream()/1024)
			}
			if per <= rssGoalKiB {
				t.Status = statusMet
			} else {
				t.Status = statusMissed
				t.Note = fmt.Sprintf("over by %.1f KiB (%.0f%%); ", per-rssGoalKiB, 100*(per-rssGoalKiB)/rssGoalKiB) + t.Note
			}
		}
		out = append(out, t)
	}
	out = append(out, r.compareTargets()...)
	return append(out, r.growthTargets()...)
}

// rssGoalKiB is the RSS per open stream spark may use (issue 17's next
// target; it was 64 KiB).
const rssGoalKiB = 48

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.3f ms", ms(d)) }

func fmtAdded(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("−%.3f ms", -ms(d))
	}
	return fmt.Sprintf("+%.3f ms", ms(d))
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func names(key string) string {
	switch key {
	case "direct":
		return "direct simulator"
	case "proxy":
		return "bare proxy"
	}
	return key
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	w("## Latest run (%s)\n\n", mode)
	w("- Command: `%s`\n", r.Command)
	w("- Date: %s, wall time %s\n", r.Started.Format("2006-01-02 15:04 UTC"), r.Wall.Round(time.Second))
	if m.Commit != "" {
		w("- Commit: %s\n", m.Commit)
	}
	w("- Machine: %s, nproc %d, %s RAM, %s, %s, RLIMIT_NOFILE %d\n", orUnknown(m.CPUModel), m.CPUs, orUnknown(m.Memory), orUnknown(m.Kernel), m.Platform, m.FDLimit)
	w("- Go: %s\n", m.GoVersion)
	p := r.Params
	w("- Load: closed loop, Go net/http keep-alive clients in the bench process; non-stream points %s after %s warm-up, stream points %s after %s warm-up\n",
		p.Duration, p.Warmup, p.StreamDuration, p.StreamWarmup)
	if mean, peak, ok := r.otherLoad(); ok {
		w("- Other processes on the machine: %.2f cores busy on average during the measuring windows (highest %.2f; %.2f before the first phase)", mean, peak, r.IdleOther)
		if mean > 0.1*float64(m.CPUs) || peak > 0.25*float64(m.CPUs) {
			w(" — **the machine was not idle: treat every figure as noisy**")
		}
		w("\n")
	}
	w("- Upstream: %s\n", r.Upstream)
	usageRecords := "usage records on"
	if !r.UsageRecords {
		usageRecords = "USAGE_RECORDS=0"
	}
	w("- spark: `./cmd/spark` as its own process, %d Genspark accounts, API key (Bearer), REQUEST_RATE_LIMIT=0, ACCOUNT_MAX_CONCURRENCY=0, %s, other settings default (tool calling on, INFO access log to a file); profiles through `spark serve --pprof`\n\n",
		p.Accounts, usageRecords)

	link := func(file string) string {
		if r.ChartBase != "" {
			if rel, err := filepath.Rel(r.ChartBase, file); err == nil {
				return filepath.ToSlash(rel)
			}
		}
		return filepath.ToSlash(relPath(file))
	}
	for _, ch := range r.Charts {
		if ch.ID == chartHeadline {
			w("![%s](%s)\n\n", ch.Title, link(ch.File))
		}
	}

	w("### Targets\n\n| target | goal | measured | status | note |\n| --- | --- | --- | --- | --- |\n")
	for _, t := range r.Targets() {
		w("| %s | %s | %s | %s | %s |\n", t.Name, t.Goal, orDash(t.Measured), t.Status, orDash(t.Note))
	}

	w("\n### Non-stream chat\n\nAdded latency is the target's percentile minus the direct simulator's at the same concurrency; the ratio is req/s ÷ the bare proxy's req/s.\n\n")
	w("| c | target | req/s | p50 | p99 | added p50 | added p99 | vs bare proxy | errors | other load |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, c := range p.Conc {
		d, px := find(r.NonStream, "direct", c), find(r.NonStream, "proxy", c)
		for _, key := range []string{"direct", "proxy", "spark"} {
			x := find(r.NonStream, key, c)
			if x == nil {
				continue
			}
			added50, added99, rat := "—", "—", "—"
			if key != "direct" && d != nil {
				added50, added99 = fmtAdded(x.Lat.P50-d.Lat.P50), fmtAdded(x.Lat.P99-d.Lat.P99)
			}
			if px != nil && px.RPS() > 0 && key != "direct" {
				rat = fmt.Sprintf("%.2f×", x.RPS()/px.RPS())
			}
			w("| %d | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n", c, names(key), x.RPS(), fmtMS(x.Lat.P50), fmtMS(x.Lat.P99), added50, added99, rat, errCell(x.Errors, x.FirstErr), fmtCores(x.OtherCores()))
		}
	}

	w("\n### Streaming, `sim:long %d`, tools in the request\n\nTTFT is the time from sending the request to the first content delta; deltas/s counts content deltas received by all clients together. The last rows repeat c=1 without tools in the request, to show what the tool-calling emulation adds.\n\n", p.StreamDeltas)
	w("| c | target | streams/s | deltas/s | deltas/stream | TTFT p50 | TTFT p99 | added p50 | added p99 | vs bare proxy | errors | other load |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, c := range p.StreamConc {
		d, px := find(r.Stream, "direct", c), find(r.Stream, "proxy", c)
		for _, key := range []string{"direct", "proxy", "spark"} {
			x := find(r.Stream, key, c)
			if x == nil {
				continue
			}
			added50, added99, rat := "—", "—", "—"
			if key != "direct" && d != nil {
				added50, added99 = fmtAdded(x.TTFT.P50-d.TTFT.P50), fmtAdded(x.TTFT.P99-d.TTFT.P99)
			}
			if px != nil && px.DeltasPerSec() > 0 && key != "direct" {
				rat = fmt.Sprintf("%.2f×", x.DeltasPerSec()/px.DeltasPerSec())
			}
			w("| %d | %s | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s |\n", c, names(key), x.RPS(), x.DeltasPerSec(), perStream(x),
				fmtMS(x.TTFT.P50), fmtMS(x.TTFT.P99), added50, added99, rat, errCell(x.Errors, x.FirstErr), fmtCores(x.OtherCores()))
		}
	}

	for _, key := range []string{"direct", "spark"} {
		x := find(r.StreamNoTools, key, 1)
		if x == nil {
			continue
		}
		added50, added99 := "—", "—"
		if d := find(r.StreamNoTools, "direct", 1); key != "direct" && d != nil {
			added50, added99 = fmtAdded(x.TTFT.P50-d.TTFT.P50), fmtAdded(x.TTFT.P99-d.TTFT.P99)
		}
		w("| 1, no tools | %s | %.0f | %.0f | %.0f | %s | %s | %s | %s | — | %s | %s |\n", names(key), x.RPS(), x.DeltasPerSec(), perStream(x),
			fmtMS(x.TTFT.P50), fmtMS(x.TTFT.P99), added50, added99, errCell(x.Errors, x.FirstErr), fmtCores(x.OtherCores()))
	}

	w("\n### Open streams, `sim:slow %d sim:long %d`\n\nEvery stream is opened (at most %d being connected and written at a time) and held until it ends; RSS and goroutines are sampled once all of them have received their first delta. Per stream = growth over the idle process ÷ streams open at that moment. Heap and stacks are the Go runtime's own accounts (runtime.MemStats HeapInuse and StackInuse, no GC forced): the rest of the RSS growth is heap the collector has not yet returned and runtime overhead.\n\n",
		int(p.OpenSlow/time.Millisecond), p.OpenDeltas, p.OpenParallel)
	w("| target | streams | open at once | completed | failed | time to open all | RSS idle | RSS all open | RSS / stream | heap / stream | stacks / stream | goroutines / stream |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, o := range r.Open {
		gor := "n/a"
		if o.GorTop > 0 {
			gor = fmt.Sprintf("%.2f (%s → %s)", o.GoroutinesPerStream(), thousands(o.GorBefore), thousands(o.GorTop))
		}
		heap, stack := "n/a", "n/a"
		if h, st, ok := o.MemPerStream(); ok {
			heap, stack = fmt.Sprintf("%.1f KiB", h/1024), fmt.Sprintf("%.1f KiB", st/1024)
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %.1f KiB | %s | %s | %s |\n", names(o.Target), thousands(o.Streams), thousands(o.OpenAtTop), thousands(o.Completed),
			errCell(o.Failed, o.FirstErr), o.OpenTime.Round(time.Millisecond), fmtMiB(o.RSSBefore), fmtMiB(o.RSSTop), o.RSSPerStream()/1024, heap, stack, gor)
	}
	if r.OpenCapNote != "" {
		w("\n%s requested. %s\n", thousands(r.OpenRequested), r.OpenCapNote)
	}

	w("\n### CPU and start-up\n\nCPU is user+system time of each process (from /proc/PID/stat) over the measuring window ÷ answers × 1,000.\n\n")
	w("| process | CPU s / 1,000 non-stream requests (c=16) | CPU s / 1,000 streams of %d deltas (c=16) |\n| --- | ---: | ---: |\n", p.StreamDeltas)
	for _, key := range []string{"spark", "proxy", "sim"} {
		ns, st := find(r.NonStream, keyOrDirect(key), 16), find(r.Stream, keyOrDirect(key), 16)
		label := names(key)
		if key == "sim" {
			label = "simulator (direct point)"
		}
		w("| %s | %.3f | %.3f |\n", label, ns.CPUPer1000(key), st.CPUPer1000(key))
	}
	w("\n| spark start-up, exec → `/healthz` 200 | time |\n| --- | ---: |\n")
	w("| empty DATA_DIR (first start: key, migrations, account import) | %s |\n", r.StartupFresh.Round(100*time.Microsecond))
	w("| existing DATA_DIR | %s |\n", r.StartupWarm.Round(100*time.Microsecond))
	if r.StartupSelf > 0 {
		w("| existing DATA_DIR, spark's own `startup=` log (configuration → listening) | %s |\n", r.StartupSelf)
	}

	r.compareMarkdown(w, link)
	r.growthMarkdown(w, link)

	if len(r.Notes) > 0 {
		w("\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
	}
	if len(r.Profiles) > 0 {
		w("\n### Profiles\n\n")
		for _, f := range r.Profiles {
			w("- `%s`\n", relPath(f))
		}
		for _, p := range r.ProfileTops {
			w("\n<details><summary><code>go tool pprof -top %s</code> (%s)</summary>\n\n```\n%s\n```\n\n</details>\n", relPath(p.File), p.Label, p.Top)
		}
	}

	w("\n<details><summary>All figures (machine-readable)</summary>\n\n```\n")
	for _, f := range r.Figures() {
		if f.Valid {
			w("%s = %s\n", f.Name, strconv.FormatFloat(f.Value, 'f', 4, 64))
		} else {
			w("%s = n/a\n", f.Name)
		}
	}
	w("```\n\n</details>\n")
	return b.String()
}

// fmtCores shows the cores other processes kept busy ("?" = unknown).
func fmtCores(c float64) string {
	if c < 0 {
		return "?"
	}
	return fmt.Sprintf("%.2f", c)
}

func errCell(n int, first string) string {
	if n == 0 || first == "" {
		return strconv.Itoa(n)
	}
	if len(first) > 80 {
		first = first[:80] + "…"
	}
	return fmt.Sprintf("%d (%s)", n, strings.ReplaceAll(first, "|", "/"))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// relPath shows files under the working directory relative to it.
func relPath(f string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, f); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return f
}

// Markers delimit the generated part of BENCHMARKS.md; text outside them
// (analysis notes) survives a new run.
const (
	markBegin = "<!-- bench:begin — generated by go run ./bench; edit outside these markers -->"
	markEnd   = "<!-- bench:end -->"
)

const benchmarksIntro = `# Benchmarks

` + "`go run ./bench`" + ` measures what spark itself costs next to its upstream. In one run on
127.0.0.1 it builds ` + "`./cmd/spark`" + `, starts the upstream simulator with zero think time,
spark in front of it and, as the physical limit, a bare ` + "`httputil.ReverseProxy`" + ` in front
of the same simulator (each its own process), drives all three with the same Go load
generator and writes the section below, with SVG charts in ` + "`docs/bench/`" + `. ` + "`go run ./bench -quick`" + `
is a one-minute version (printed, not written here); ` + "`-pprof`" + ` also saves CPU, heap and
goroutine profiles of spark under ` + "`bench/out/`" + `. The test suite runs the quick mode
(` + "`go test ./bench`" + `).

`

// writeReport writes rep into path between the markers, keeping the rest
// of the file.
func writeReport(path string, rep *Report) error {
	gen := markBegin + "\n\n" + rep.Markdown() + "\n" + markEnd + "\n"
	old, err := os.ReadFile(path)
	var doc string
	switch {
	case err == nil && strings.Contains(string(old), markBegin) && strings.Contains(string(old), markEnd):
		s := string(old)
		i := strings.Index(s, markBegin)
		j := strings.Index(s, markEnd) + len(markEnd)
		if j < i {
			return fmt.Errorf("%s: bench markers out of order", path)
		}
		rest := strings.TrimPrefix(s[j:], "\n")
		doc = s[:i] + gen + rest
	case err == nil && len(strings.TrimSpace(string(old))) > 0:
		doc = strings.TrimRight(string(old), "\n") + "\n\n" + gen
	default:
		doc = benchmarksIntro + gen
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
