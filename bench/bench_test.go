package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary serve the helper roles the harness starts
// by re-executing itself (the simulator and the bare proxy).
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// logWriter sends the harness's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestQuickRun runs the whole harness in -quick mode (build, simulator,
// bare proxy, spark, every phase) and checks that it produced every figure
// and wrote them all. It never asserts a speed: the machine running the
// tests may be slow, loaded or under the race detector.
func TestQuickRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, Options{Quick: true, Out: out, Log: logWriter{t}, Command: "go test ./bench"})
	if err != nil {
		t.Fatalf("quick run: %v", err)
	}
	t.Logf("quick run took %s", time.Since(start).Round(time.Millisecond))

	figs := rep.Figures()
	// 2 start-up + 3 concurrencies × 17 non-stream + 2 × 23 stream + 8
	// stream without tools + 6 CPU + 2 × 9 open-stream figures, then the
	// growth curves: a figure per point of every series and a slope per
	// fitted series (conversation 7 series, 6 fitted; tools 4, 2 fitted;
	// pool 2; stream length 4; concurrent streams 6).
	g := rep.Params.Growth
	growth := 7*len(g.ConvBytes) + 6 + 4*len(g.ToolCounts) + 2 + 2*len(g.PoolSizes) + 2 + 4*len(g.Lengths) + 4 + 6*len(g.ConcStreams) + 6
	// The management plane: 5 figures for each of its 3 configurations,
	// 2 ratios and 3 showing it was on. The replicas: 11 at c=16, 11 at
	// c=1 and 11 of the admission step, when PostgreSQL and Redis were
	// given; without them the phase says why it was skipped, and with
	// SPARK_REQUIRE_SERVICES=1 it must have run.
	plane, replicas := 3*5+2+3, 0
	switch {
	case rep.Replicas == nil:
		t.Error("the replicas phase left no trace in the report")
	case rep.Replicas.Skipped == "":
		replicas = 11 + 11 + 11
	case os.Getenv(requireServicesEnv) == "1":
		t.Errorf("%s=1 but the replicas phase was skipped: %s", requireServicesEnv, rep.Replicas.Skipped)
	default:
		t.Logf("replicas phase skipped: %s", rep.Replicas.Skipped)
	}
	if want := 2 + 3*17 + 2*23 + 8 + 6 + 2*9 + plane + replicas + growth; len(figs) != want {
		t.Errorf("%d figures, want %d", len(figs), want)
	}
	for _, f := range figs {
		if !f.Valid {
			t.Errorf("figure %s was not produced", f.Name)
			continue
		}
		if mustBePositive(f.Name) && !(f.Value > 0) {
			t.Errorf("figure %s = %v, want a measured (positive) value", f.Name, f.Value)
		}
	}

	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	written := parseFigures(t, doc)
	for _, f := range figs {
		v, ok := written[f.Name]
		if !ok {
			t.Errorf("%s: figure %s missing or unparsable", out, f.Name)
			continue
		}
		if math.Abs(v-f.Value) > 1e-3+1e-6*math.Abs(f.Value) {
			t.Errorf("%s: figure %s = %v, report says %v", out, f.Name, v, f.Value)
		}
	}
	skipped := 0
	for _, tg := range rep.Targets() {
		if tg.Status == statusNotMeasured && !strings.HasPrefix(tg.Name, "10,000") {
			t.Errorf("target %q was not measured", tg.Name)
		}
		if tg.Status == statusSkipped {
			skipped++
			if replicas > 0 || tg.Note != rep.Replicas.Skipped {
				t.Errorf("target %q skipped (%s) though the replicas phase ran or for another reason", tg.Name, tg.Note)
			}
		}
		if !bytes.Contains(doc, []byte("| "+tg.Name+" |")) {
			t.Errorf("%s has no row for target %q", out, tg.Name)
		}
	}
	if replicas == 0 && (skipped != 2 || !bytes.Contains(doc, []byte("Skipped: "+rep.Replicas.Skipped))) {
		t.Errorf("the replicas phase was skipped, but %d targets say so and the report does not give the reason", skipped)
	}
	// The headline comparison, the management plane's and the replicas'
	// (when they ran), and one chart per growth curve, each an SVG next to
	// the report (docs/bench/) and shown in it.
	wantCharts := []string{"headline.svg", "plane.svg", "growth-conversation.svg", "growth-tools.svg", "growth-pool.svg", "growth-length.svg", "growth-streams.svg"}
	if replicas > 0 {
		wantCharts = append(wantCharts, "replicas.svg")
	}
	if len(rep.Charts) != len(wantCharts) {
		t.Errorf("%d charts, want %d: %+v", len(rep.Charts), len(wantCharts), rep.Charts)
	}
	for _, name := range wantCharts {
		file := filepath.Join(filepath.Dir(out), "docs", "bench", name)
		svg, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("chart %s: %v", name, err)
			continue
		}
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("</svg>")) || !bytes.Contains(svg, []byte("<path")) {
			t.Errorf("chart %s is not a drawn SVG (%d bytes)", name, len(svg))
		}
		if !bytes.Contains(doc, []byte("](docs/bench/"+name+")")) {
			t.Errorf("%s does not show the chart docs/bench/%s", out, name)
		}
	}
	for _, want := range []string{markBegin, markEnd, "nproc", rep.Machine.GoVersion, "go test ./bench", "### Non-stream chat", "### Streaming", "### Open streams", "### CPU and start-up", "### Management plane", "### Replicas", "### Growth curves"} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("%s lacks %q", out, want)
		}
	}
}

// mustBePositive reports whether a figure is a measured amount that cannot
// be zero when the phase ran (differences and error counts can).
func mustBePositive(name string) bool {
	for _, suffix := range []string{".rps", ".p50_ms", ".p99_ms", ".streams_per_s", ".deltas_per_s", ".deltas_per_stream",
		".ttft_p50_ms", ".ttft_p99_ms", ".cpu_s_per_1000", ".ratio_vs_proxy", ".deltas_ratio_vs_proxy",
		".streams", ".open_at_once", ".completed", ".rss_top_mib", ".goroutines_per_stream", ".heap_inuse_per_stream_kib", ".stack_per_stream_kib", "_data_dir_ms",
		".ratio_vs_off", ".ratio_vs_embedded", ".p50_us", ".p99_us", ".requests_counted", ".tokens_used", ".postgres_cpu_s_per_1000", ".redis_cpu_s_per_1000"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// parseFigures reads the machine-readable appendix of a report.
func parseFigures(t *testing.T, doc []byte) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " = ")
		if !ok || strings.ContainsAny(name, " |") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue // n/a
		}
		out[name] = v
	}
	return out
}

func TestWriteReportKeepsNotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	rep := &Report{Command: "go run ./bench", Params: paramsFor(true)}
	if err := writeReport(path, rep); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	if !bytes.HasPrefix(first, []byte("# Benchmarks")) || !bytes.Contains(first, []byte(markBegin)) {
		t.Fatalf("new file:\n%s", first)
	}
	notes := "\n## Analysis\n\nhand-written notes\n"
	if err := os.WriteFile(path, append(first, notes...), 0o644); err != nil {
		t.Fatal(err)
	}
	rep.Command = "go run ./bench -pprof"
	if err := writeReport(path, rep); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !bytes.Contains(second, []byte("hand-written notes")) || !bytes.Contains(second, []byte("go run ./bench -pprof")) ||
		bytes.Count(second, []byte(markBegin)) != 1 || bytes.Contains(second, []byte("Command: `go run ./bench`\n")) {
		t.Fatalf("rewritten file:\n%s", second)
	}
}

func TestHasContent(t *testing.T) {
	for line, want := range map[string]bool{
		`data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`: false,
		`data: {"choices":[{"index":0,"delta":{"content":"You sa"},"finish_reason":null}]}`:              true,
		`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`:                              false,
		`data: {"choices":[{"index":0,"delta":{"content":"\"quoted\""}}]}`:                               true,
	} {
		if got := hasContent([]byte(line)); got != want {
			t.Errorf("hasContent(%s) = %v, want %v", line, got, want)
		}
	}
}

func TestDist(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	got := distOf(d)
	if got.N != 100 || got.P50 != 50*time.Millisecond || got.P99 != 99*time.Millisecond || got.Max != 100*time.Millisecond {
		t.Fatalf("distOf = %+v", got)
	}
	if (distOf(nil) != Dist{}) {
		t.Fatal("empty dist")
	}
}

// TestPlainUpstream sets the harness up with -plain-upstream and drives one
// short non-stream point through each target: the simulator over plain
// HTTP/1.1 still answers directly, through the bare proxy and through spark.
func TestPlainUpstream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{
		opts: Options{PlainUpstream: true, Root: root},
		p:    params{Conc: []int{1}, Duration: 200 * time.Millisecond, Accounts: 2},
		log:  func(format string, args ...any) { t.Logf(format, args...) },
		rep:  &Report{},
		dir:  t.TempDir(),
	}
	defer func() {
		for _, p := range []*proc{r.spark, r.proxy, r.sim} {
			p.stop()
		}
	}()
	if err := r.setup(ctx); err != nil {
		t.Fatal(err)
	}
	if r.simTLS != nil || !strings.HasPrefix(r.direct.url, "http://") || !strings.Contains(r.rep.Upstream, "plain HTTP/1.1") {
		t.Fatalf("plain upstream set up as %q (direct %s)", r.rep.Upstream, r.direct.url)
	}
	if err := r.nonStream(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.rep.NonStream) != 3 {
		t.Fatalf("%d non-stream results, want 3", len(r.rep.NonStream))
	}
	for _, res := range r.rep.NonStream {
		if res.Errors > 0 || res.RPS() <= 0 {
			t.Errorf("%s: %d errors, %.0f req/s (first error: %s)", res.Target, res.Errors, res.RPS(), res.FirstErr)
		}
	}
}

func TestFitCurve(t *testing.T) {
	xs := []float64{10, 30, 100, 300, 1000, 3000, 10000}
	curve := func(f func(x float64) float64) []float64 {
		var ys []float64
		for _, x := range xs {
			ys = append(ys, f(x))
		}
		return ys
	}
	for _, tc := range []struct {
		name      string
		ys        []float64
		verdict   string
		slope     float64
		intercept float64
	}{
		{"constant", curve(func(float64) float64 { return 250 }), verdictFlat, 0, 250},
		{"fixed cost plus a little", curve(func(x float64) float64 { return 1000 + 0.01*x }), verdictFlat, 0.01, 1000},
		{"fixed cost plus linear", curve(func(x float64) float64 { return 180 + 2*x }), verdictLinear, 2, 180},
		{"through the origin", curve(func(x float64) float64 { return 64 * x }), verdictLinear, 64, 0},
		{"quadratic", curve(func(x float64) float64 { return 5 + x*x/100 }), verdictWorse, math.NaN(), math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := fitCurve(xs, tc.ys)
			if !ok {
				t.Fatal("no fit")
			}
			if f.Verdict != tc.verdict {
				t.Errorf("verdict %q (rise %.3f, exponent %.3f), want %q", f.Verdict, f.Rise, f.Exponent, tc.verdict)
			}
			if !math.IsNaN(tc.slope) && (math.Abs(f.Slope-tc.slope) > 1e-9*math.Max(1, tc.slope) || math.Abs(f.Intercept-tc.intercept) > 1e-6*math.Max(1, tc.intercept)) {
				t.Errorf("fit y = %v + %v·x, want %v + %v·x", f.Intercept, f.Slope, tc.intercept, tc.slope)
			}
		})
	}
	if _, ok := fitCurve([]float64{5, 5}, []float64{1, 2}); ok {
		t.Error("a fit through points at one x")
	}
	if f, ok := fitCurve([]float64{1, 2, 3}, []float64{1, math.NaN(), 3}); !ok || f.N != 2 || math.Abs(f.Slope-1) > 1e-12 {
		t.Errorf("NaN point not left out: %+v", f)
	}
}

// TestCommandLineHidesServiceURLs: the command recorded in the report
// never carries the services' URLs, which may hold passwords.
func TestCommandLineHidesServiceURLs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-phases", "replicas", "-database-url", "postgres://u:pw@h/db", "-redis-url=redis://:pw@h:6379/0"},
			"go run ./bench -phases replicas -database-url URL -redis-url=URL"},
		{[]string{"--database-url=postgres://u:pw@h/db", "-quick"}, "go run ./bench --database-url=URL -quick"},
		{[]string{"-out", "x y.md"}, "go run ./bench -out 'x y.md'"},
	} {
		got := commandLine(tc.args)
		if got != tc.want || strings.Contains(got, "pw") {
			t.Errorf("commandLine(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestReplicasWithoutServices: without PostgreSQL and Redis the replicas
// phase is skipped and says why (the report shows it), unless the
// services are required, which makes it an error.
func TestReplicasWithoutServices(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		wantSkip string
		wantErr  bool
	}{
		{"neither", Options{}, "no PostgreSQL (SPARK_TEST_DATABASE_URL or -database-url) and no Redis (SPARK_TEST_REDIS_URL or -redis-url)", false},
		{"no Redis", Options{DatabaseURL: "postgres://127.0.0.1:1/x"}, "no Redis (SPARK_TEST_REDIS_URL or -redis-url)", false},
		{"required", Options{RedisURL: "redis://127.0.0.1:1/0", RequireServices: true}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &runner{opts: tc.opts, p: paramsFor(true), rep: &Report{Params: paramsFor(true)}, log: func(string, ...any) {}}
			err := r.replicas(t.Context())
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "SPARK_REQUIRE_SERVICES=1") {
					t.Fatalf("err = %v, want the missing service named", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rp := r.rep.Replicas
			if rp == nil || !strings.HasPrefix(rp.Skipped, tc.wantSkip) {
				t.Fatalf("Replicas = %+v, want skipped: %q", rp, tc.wantSkip)
			}
			md := r.rep.Markdown()
			if !strings.Contains(md, "Skipped: "+rp.Skipped) {
				t.Errorf("the report does not say why the phase was skipped:\n%s", md)
			}
			for _, tg := range r.rep.Targets() {
				if strings.Contains(tg.Name, "Redis") && (tg.Status != statusSkipped || tg.Note != rp.Skipped) {
					t.Errorf("target %q: status %q, note %q", tg.Name, tg.Status, tg.Note)
				}
			}
		})
	}
}

// schedRuntime reads a thread's scheduler runtime, which grows as the
// thread works.
func TestSchedRuntime(t *testing.T) {
	if _, err := os.Stat("/proc/self/sched"); err != nil {
		t.Skip("no /proc/PID/sched here")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	path := fmt.Sprintf("/proc/%d/task/%d/sched", os.Getpid(), syscall.Gettid())
	before, err := schedRuntime(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1_000_000 { // some CPU time of this thread
		_ = strconv.Itoa(i)
	}
	after, err := schedRuntime(path)
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("runtime %v after work, %v before: want it to grow", after, before)
	}
}
