package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The phases of a run, in order.
const (
	phaseNonStream = "nonstream"
	phaseStream    = "stream"
	phaseOpen      = "open"
	phaseGrowth    = "growth"
	phasePlane     = "plane"
	phaseReplicas  = "replicas"
)

// phaseNames lists every phase in run order.
var phaseNames = []string{phaseNonStream, phaseStream, phaseOpen, phasePlane, phaseReplicas, phaseGrowth}

// params are the sizes of one run.
type params struct {
	Conc            []int         // non-stream concurrencies
	Warmup          time.Duration // per non-stream point, not measured
	Duration        time.Duration // per non-stream point, measured
	StreamConc      []int         // streaming concurrencies
	StreamWarmup    time.Duration
	StreamDuration  time.Duration
	StreamDeltas    int           // sim:long N of the streaming scenario
	OpenStreams     int           // streams held open at once
	OpenSlow        time.Duration // sim:slow pause before every delta
	OpenDeltas      int           // sim:long K of an open stream
	OpenParallel    int           // streams being connected and written at a time
	Settle          time.Duration // pause before an open-streams baseline
	ProfileDuration time.Duration // -pprof: CPU profile of spark under non-stream c=16
	Accounts        int           // Genspark accounts in GS_COOKIE

	Growth  growthParams  // the growth curves
	Compare compareParams // the management plane and replicas phases
}

func paramsFor(quick bool) params {
	if quick {
		return params{
			Conc: []int{1, 16, 64}, Warmup: 150 * time.Millisecond, Duration: 600 * time.Millisecond,
			StreamConc: []int{1, 16}, StreamWarmup: 150 * time.Millisecond, StreamDuration: 600 * time.Millisecond,
			StreamDeltas: 200,
			OpenStreams:  1000, OpenSlow: 500 * time.Millisecond, OpenDeltas: 6, OpenParallel: 128,
			Settle: 300 * time.Millisecond, ProfileDuration: 2 * time.Second, Accounts: 8,
			Growth: growthParamsFor(true), Compare: compareParamsFor(true),
		}
	}
	return params{
		Conc: []int{1, 16, 64}, Warmup: time.Second, Duration: 6 * time.Second,
		StreamConc: []int{1, 16}, StreamWarmup: 500 * time.Millisecond, StreamDuration: 4 * time.Second,
		StreamDeltas: 200,
		// 15 deltas 2 s apart: a stream lives 30 s, so all of them are open
		// at once even when opening 10,000 takes 20 s on a busy machine.
		OpenStreams: 10000, OpenSlow: 2 * time.Second, OpenDeltas: 15, OpenParallel: 256,
		Settle: time.Second, ProfileDuration: 6 * time.Second, Accounts: 8,
		Growth: growthParamsFor(false), Compare: compareParamsFor(false),
	}
}

// The model every request asks for; a plain Genspark chat model.
const benchModel = "claude-sonnet-4-5"

// Prompts. The streaming prompt asks the simulator for 200 deltas; the
// open-stream prompt for slow deltas (its "sim:slow 0" form is used to
// capture the upstream body quickly).
const (
	promptNonStream = "Hello from the spark benchmark; please say this line back."
	promptStream    = "What is the weather in Paris? Answer at length. sim:long %d"
	promptOpen      = "Keep this stream open. sim:slow %d sim:long %d"
)

// benchTools are the tools sent with the streaming scenario, so that
// spark's tool-calling emulation wraps the answer.
const benchTools = `[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}},` +
	`{"type":"function","function":{"name":"get_time","description":"Current local time in a time zone.","parameters":{"type":"object","properties":{"tz":{"type":"string"}},"required":["tz"]}}}]`

// scenario is one request in both protocols.
type scenario struct {
	openai []byte // spark's request
	ask    []byte // the upstream request spark sends for it
	header http.Header
}

// runner holds one run's state.
type runner struct {
	opts Options
	p    params
	log  func(format string, args ...any)
	rep  *Report

	dir                string
	certFile           string       // the simulator's certificate ("" = plain HTTP upstream)
	simTLS             *tls.Config  // trusts certFile (nil = plain HTTP upstream)
	simClient          *http.Client // reaches the simulator's request log
	simURL             string       // the simulator's base URL
	sim, proxy, spark  *proc
	direct, bare, gate *target
	procs              []*proc
	// extraProcs are CPU sources the comparison phases add to each
	// variant's accounts (the PostgreSQL and Redis servers).
	extraProcs []*proc

	sparkBin   string // the spark binary every spark process runs
	sparkPprof bool   // it has --pprof
	trustEnv   []string
	apiKey     string
}

func (r *runner) run(ctx context.Context) (rep *Report, err error) {
	start := time.Now()
	r.log = func(format string, args ...any) {
		fmt.Fprintf(r.opts.Log, "bench %6.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	r.rep = &Report{Quick: r.opts.Quick, Command: r.opts.Command, Started: start.UTC(), Params: r.p, Machine: machineFacts(r.opts.Root)}
	defer func() {
		r.rep.Wall = time.Since(start)
		if err != nil && r.rep.hasAny() {
			rep = r.rep
		}
	}()

	if r.dir, err = os.MkdirTemp("", "spark-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.dir)
	defer func() {
		for _, p := range []*proc{r.spark, r.proxy, r.sim} {
			p.stop()
		}
	}()

	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	for _, ph := range []struct {
		name string
		run  func(context.Context) error
	}{{phaseNonStream, r.nonStream}, {phaseStream, r.streaming}, {phaseOpen, r.openStreams},
		{phasePlane, r.plane}, {phaseReplicas, r.replicas}, {phaseGrowth, r.growth}} {
		if r.opts.Phases != nil && !slices.Contains(r.opts.Phases, ph.name) {
			continue
		}
		if err := ph.run(ctx); err != nil {
			return nil, err
		}
	}
	for _, p := range []*proc{r.spark, r.proxy, r.sim} {
		if !p.alive() {
			return nil, errors.New(p.exitNote())
		}
	}
	r.log("done")
	return r.rep, nil
}

// setup builds spark and starts the three processes.
func (r *runner) setup(ctx context.Context) error {
	bin := r.opts.Spark
	pprof := true
	if bin == "" {
		r.log("building ./cmd/spark")
		var err error
		if bin, err = buildSpark(ctx, r.opts.Root, r.dir); err != nil {
			return err
		}
	} else {
		// A prebuilt binary: does `spark serve -h` list --pprof?
		out, _ := exec.CommandContext(ctx, bin, "serve", "-h").CombinedOutput()
		pprof = strings.Contains(string(out), "-pprof")
		r.rep.Notes = append(r.rep.Notes, "spark was the prebuilt binary given with -spark, not built from this checkout")
		if !pprof {
			r.rep.Notes = append(r.rep.Notes, "that binary has no --pprof flag: goroutine counts and profiles of spark are missing")
		}
	}

	r.sparkBin, r.sparkPprof = bin, pprof
	var err error
	r.log("starting the simulator and the bare proxy")
	simURL, simEnv, trustEnv := "http://", []string(nil), []string(nil)
	r.rep.Upstream = "the simulator over plain HTTP/1.1 (`-plain-upstream`); it closes every connection after its answer (docs/genspark-upstream.md §2.5), so spark and the bare proxy dial once per request"
	if !r.opts.PlainUpstream {
		r.rep.Upstream = "the simulator over HTTPS (HTTP/2 through ALPN, throwaway self-signed certificate that spark and the bare proxy trust through SSL_CERT_FILE), as the real upstreams are served: upstream connections are reused and streams multiplexed; the load generator reaches the direct simulator the same way and spark and the bare proxy over plain HTTP/1.1"
		// HTTPS with HTTP/2, as the real upstreams are served; spark and
		// the bare proxy trust the throwaway certificate the same way.
		r.certFile = filepath.Join(r.dir, "sim.pem")
		simURL, simEnv, trustEnv = "https://", []string{certEnv + "=" + r.certFile}, []string{"SSL_CERT_FILE=" + r.certFile}
	}
	if r.sim, err = startRole(ctx, "sim", "simulator", "sim", filepath.Join(r.dir, "sim.log"), simEnv...); err != nil {
		return err
	}
	simURL += r.sim.addr
	r.simURL = simURL
	if r.certFile != "" {
		pemBytes, err := os.ReadFile(r.certFile)
		if err != nil {
			return fmt.Errorf("simulator certificate: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return errors.New("simulator certificate: no PEM certificate in " + r.certFile)
		}
		r.simTLS = &tls.Config{RootCAs: roots}
	}
	r.simClient = &http.Client{Transport: newTransport(1, false, r.simTLS)}
	r.trustEnv = trustEnv
	if r.proxy, err = startRole(ctx, "proxy", "bare proxy", "proxy", filepath.Join(r.dir, "proxy.log"), append(trustEnv, upstreamEnv+"="+simURL)...); err != nil {
		return err
	}

	// Spark: a first start on an empty DATA_DIR, then a restart on it.
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	apiKey := "sk-bench-" + rand.Text()
	r.apiKey = apiKey
	env := sparkEnv(addr, simURL, r.certFile, filepath.Join(r.dir, "data"), apiKey, r.p.Accounts)
	r.rep.UsageRecords = !r.opts.NoUsage
	if r.opts.NoUsage {
		env = append(env, "USAGE_RECORDS=0")
	}
	logPath := filepath.Join(r.dir, "spark.log")
	r.log("starting spark (empty DATA_DIR)")
	sp, fresh, err := startSpark(ctx, bin, pprof, env, addr, logPath)
	if err != nil {
		return err
	}
	sp.stop()
	r.log("restarting spark (existing DATA_DIR)")
	if r.spark, r.rep.StartupWarm, err = startSpark(ctx, bin, pprof, env, addr, logPath); err != nil {
		return err
	}
	r.rep.StartupFresh = fresh
	r.rep.StartupSelf = sparkStartupLog(logPath)
	r.procs = []*proc{r.sim, r.proxy, r.spark}

	// Is the machine quiet? Other processes' CPU over half a second.
	c0 := cpuSnapshot(r.procs)
	time.Sleep(500 * time.Millisecond)
	if o, ok := otherCPU(c0, cpuSnapshot(r.procs)); ok {
		r.rep.IdleOther = o.Seconds() / 0.5
		if r.rep.IdleOther > 0.2 {
			r.log("warning: other processes keep %.1f cores busy; every figure will be noisy", r.rep.IdleOther)
		}
	}

	r.direct = &target{key: "direct", name: "direct simulator", url: simURL + "/api/copilot/ask", proto: protoAsk, proc: r.sim, tls: r.simTLS}
	r.bare = &target{key: "proxy", name: "bare proxy", url: "http://" + r.proxy.addr + "/api/copilot/ask", proto: protoAsk, proc: r.proxy}
	r.gate = &target{key: "spark", name: "spark", url: "http://" + addr + "/v1/chat/completions", proto: protoOpenAI, proc: r.spark,
		header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + apiKey}}}
	return nil
}

// capture sends body to spark and returns the upstream request spark sent
// for it, as the simulator recorded it.
func (r *runner) capture(ctx context.Context, body []byte, stream bool, marker string) (*scenario, error) {
	// Empty the simulator's log first: it holds the last 10,000 requests.
	logURL := r.simURL + "/_sim/requests"
	if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, logURL, nil); err == nil {
		if resp, err := r.simClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	w := newWorker(&http.Client{Transport: newTransport(1, false, nil)}, 64<<10)
	if ex := w.do(ctx, r.gate, body, stream, nil); ex.err != nil {
		return nil, fmt.Errorf("spark answer: %w", ex.err)
	}
	raw, err := fetch(ctx, r.simClient, logURL, 64<<20)
	if err != nil {
		return nil, err
	}
	var log struct {
		Requests []struct {
			Path   string            `json:"path"`
			Header map[string]string `json:"header"`
			Body   string            `json:"body"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(raw, &log); err != nil {
		return nil, fmt.Errorf("simulator request log: %w", err)
	}
	for i := len(log.Requests) - 1; i >= 0; i-- {
		e := log.Requests[i]
		if e.Path != "/api/copilot/ask" || !strings.Contains(e.Body, marker) {
			continue
		}
		h := http.Header{}
		for k, v := range e.Header {
			switch http.CanonicalHeaderKey(k) {
			case "Content-Length", "Accept-Encoding":
			default:
				h.Set(k, v)
			}
		}
		return &scenario{openai: body, ask: []byte(e.Body), header: h}, nil
	}
	return nil, errors.New("the simulator did not record spark's upstream request")
}

func openAIBody(prompt string, stream bool, tools string) []byte {
	m := map[string]any{
		"model":    benchModel,
		"messages": []map[string]string{{"role": "user", "content": prompt}},
	}
	if stream {
		m["stream"] = true
	}
	if tools != "" {
		m["tools"] = json.RawMessage(tools)
	}
	b, _ := json.Marshal(m)
	return b
}

// targets returns the three targets with the upstream headers of sc.
func (r *runner) targets(sc *scenario) []*target {
	d, b := *r.direct, *r.bare
	d.header, b.header = sc.header, sc.header
	return []*target{&d, &b, r.gate}
}

func (r *runner) bodyFor(sc *scenario, t *target) []byte {
	if t.proto == protoOpenAI {
		return sc.openai
	}
	return sc.ask
}

// nonStream measures non-stream chat at every concurrency.
func (r *runner) nonStream(ctx context.Context) error {
	sc, err := r.capture(ctx, openAIBody(promptNonStream, false, ""), false, promptNonStream)
	if err != nil {
		return fmt.Errorf("non-stream scenario: %w", err)
	}
	for _, c := range r.p.Conc {
		for _, t := range r.targets(sc) {
			r.log("non-stream c=%d %s", c, t.name)
			res, err := runLoad(ctx, t, r.bodyFor(sc, t), false, c, r.p.Warmup, r.p.Duration, r.procs)
			if err != nil {
				return err
			}
			r.rep.NonStream = append(r.rep.NonStream, res)
		}
	}
	if r.opts.Pprof {
		return r.profile(ctx, sc, false)
	}
	return nil
}

// profile repeats the bare proxy's and spark's c=16 point of a scenario
// under the CPU profiler, after the measured points so that profiling does
// not disturb them.
func (r *runner) profile(ctx context.Context, sc *scenario, stream bool) error {
	if err := os.MkdirAll(r.opts.ProfileDir, 0o755); err != nil {
		return err
	}
	kind := map[bool]string{false: "nonstream", true: "stream"}[stream]
	secs := int(r.p.ProfileDuration / time.Second)
	for _, t := range r.targets(sc)[1:] {
		if t.proc.pprof == "" {
			continue
		}
		file := filepath.Join(r.opts.ProfileDir, t.key+"-cpu-"+kind+"-c16.pprof")
		r.log("profiling %s under %s c=16 for %ds → %s", t.name, kind, secs, relPath(file))
		perr := make(chan error, 1)
		go func() { perr <- t.proc.saveProfile(ctx, fmt.Sprintf("profile?seconds=%d", secs), file) }()
		time.Sleep(50 * time.Millisecond) // the profiler starts before the load
		if _, err := runLoad(ctx, t, r.bodyFor(sc, t), stream, 16, 0, r.p.ProfileDuration+500*time.Millisecond, r.procs); err != nil {
			return err
		}
		if err := <-perr; err != nil {
			return fmt.Errorf("%s CPU profile: %w", t.name, err)
		}
		r.rep.Profiles = append(r.rep.Profiles, file)
		if t.key == "spark" {
			r.rep.ProfileTops = append(r.rep.ProfileTops, ProfileTop{Label: "spark under " + kind + " c=16", File: file, Top: pprofTop(ctx, file)})
		}
	}
	return nil
}

// sparkStartupLog returns the start-up time spark logged last
// ("spark listening ... startup=57ms": configuration to listening), 0 if
// none.
func sparkStartupLog(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var d time.Duration
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.Contains(line, "spark listening") {
			continue
		}
		if _, v, ok := strings.Cut(line, "startup="); ok {
			v, _, _ = strings.Cut(v, " ")
			if x, err := time.ParseDuration(strings.Trim(v, `"`)); err == nil {
				d = x
			}
		}
	}
	return d
}

// pprofTop returns `go tool pprof -top` of a profile (flat), then the
// cumulative view of spark's own functions, or why it failed.
func pprofTop(ctx context.Context, file string) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"-top", "-nodecount=25"},
		{"-top", "-cum", "-nodecount=40", "-show=github.com/sparkgw/"},
	} {
		cmd := append([]string{"tool", "pprof"}, args...)
		out, err := exec.CommandContext(ctx, goTool(), append(cmd, file)...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("go %s failed: %v\n%s", strings.Join(cmd, " "), err, out)
		}
		if b.Len() > 0 {
			b.WriteString("\n\n$ go tool pprof " + strings.Join(args, " ") + "\n")
		}
		b.WriteString(strings.TrimSpace(string(out)))
	}
	return b.String()
}

// streaming measures streams of StreamDeltas deltas with tools in the
// request.
func (r *runner) streaming(ctx context.Context) error {
	prompt := fmt.Sprintf(promptStream, r.p.StreamDeltas)
	sc, err := r.capture(ctx, openAIBody(prompt, true, benchTools), true, "Answer at length")
	if err != nil {
		return fmt.Errorf("streaming scenario: %w", err)
	}
	if !bytes.Contains(sc.ask, []byte("get_weather")) {
		return errors.New("streaming scenario: spark did not put the tools into the upstream prompt (TOOL_CALLING_ENABLED off?)")
	}
	for _, c := range r.p.StreamConc {
		for _, t := range r.targets(sc) {
			r.log("stream c=%d %s", c, t.name)
			res, err := runLoad(ctx, t, r.bodyFor(sc, t), true, c, r.p.StreamWarmup, r.p.StreamDuration, r.procs)
			if err != nil {
				return err
			}
			r.rep.Stream = append(r.rep.Stream, res)
		}
	}
	// The same stream without tools at c=1 (direct and spark): what the
	// tool-calling emulation adds to the time to first token.
	plain, err := r.capture(ctx, openAIBody(prompt, true, ""), true, "Answer at length")
	if err != nil {
		return fmt.Errorf("streaming scenario without tools: %w", err)
	}
	for _, t := range []*target{r.targets(plain)[0], r.gate} {
		r.log("stream c=1 without tools %s", t.name)
		res, err := runLoad(ctx, t, r.bodyFor(plain, t), true, 1, r.p.StreamWarmup, r.p.StreamDuration, r.procs)
		if err != nil {
			return err
		}
		r.rep.StreamNoTools = append(r.rep.StreamNoTools, res)
	}
	if r.opts.Pprof {
		return r.profile(ctx, sc, true)
	}
	return nil
}

// fdLimit is RLIMIT_NOFILE's hard limit, which every child inherits (Go
// raises the soft limit to it at start).
func fdLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Max
}

// openCap is the most streams one proxy can hold under RLIMIT_NOFILE
// (0 = no cap known), with why.
func (r *runner) openCap(n int) (int, string) {
	// Over plain HTTP/1.1 a proxy holds two sockets per stream (client and
	// upstream); over HTTP/2 the upstream streams share a connection per
	// 250 (Go's default server limit), so one descriptor per stream.
	perStream, how := 2, "two descriptors per stream (client and upstream)"
	if !r.opts.PlainUpstream {
		perStream, how = 1, "one descriptor per stream (the client's; upstream streams are multiplexed over HTTP/2)"
	}
	if lim := fdLimit(); lim > 0 && r.opts.Streams == 0 && uint64(perStream*n+n/100+64) > lim {
		capped := max((int(lim)-64)*100/(100*perStream+1)/100*100, 10)
		return capped, fmt.Sprintf("RLIMIT_NOFILE is %d (hard) on this machine and cannot be raised without CAP_SYS_RESOURCE; "+
			"a proxy needs %s, so %d streams need %d. The run holds %d; "+
			"`-streams %d` forces the full count.", lim, how, n, perStream*n+n/100+64, capped, n)
	}
	return n, ""
}

// openScenario is the slow stream the open-stream phases hold.
func (r *runner) openScenario(ctx context.Context) (*scenario, error) {
	slowMS := int(r.p.OpenSlow / time.Millisecond)
	quickBody := openAIBody(fmt.Sprintf(promptOpen, 0, r.p.OpenDeltas), true, "")
	sc, err := r.capture(ctx, quickBody, true, "Keep this stream open")
	if err != nil {
		return nil, fmt.Errorf("open-stream scenario: %w", err)
	}
	from, to := fmt.Sprintf("sim:slow %d ", 0), fmt.Sprintf("sim:slow %d ", slowMS)
	sc.openai = openAIBody(fmt.Sprintf(promptOpen, slowMS, r.p.OpenDeltas), true, "")
	sc.ask = bytes.Replace(sc.ask, []byte(from), []byte(to), 1)
	if !bytes.Contains(sc.ask, []byte(to)) {
		return nil, errors.New("open-stream scenario: could not set sim:slow in the upstream body")
	}
	return sc, nil
}

// openStreams holds many slow streams open through the bare proxy and
// through spark.
func (r *runner) openStreams(ctx context.Context) error {
	n := r.p.OpenStreams
	if r.opts.Streams > 0 {
		n = r.opts.Streams
	}
	r.rep.OpenRequested = n
	if capped, note := r.openCap(n); note != "" {
		r.rep.OpenCapNote, n = note, capped
	}
	sc, err := r.openScenario(ctx)
	if err != nil {
		return err
	}
	slowMS := int(r.p.OpenSlow / time.Millisecond)
	for _, t := range r.targets(sc)[1:] {
		r.settle()
		r.log("open streams: %d through %s (sim:slow %d sim:long %d)", n, t.name, slowMS, r.p.OpenDeltas)
		var snap func(context.Context)
		if r.opts.Pprof && t.key == "spark" && t.proc.pprof != "" {
			snap = func(ctx context.Context) {
				for _, p := range []struct{ path, file string }{
					{"heap", "spark-heap-open-streams.pprof"},
					{"goroutine", "spark-goroutine-open-streams.pprof"},
				} {
					file := filepath.Join(r.opts.ProfileDir, p.file)
					if err := t.proc.saveProfile(ctx, p.path, file); err == nil {
						r.rep.Profiles = append(r.rep.Profiles, file)
					}
				}
			}
		}
		res, err := runOpen(ctx, t, r.bodyFor(sc, t), n, r.p.OpenParallel, snap, false)
		if res != nil {
			r.rep.Open = append(r.rep.Open, res)
		}
		if err != nil {
			return err
		}
		r.log("  %d/%d completed, %d failed, %d open at once", res.Completed, res.Streams, res.Failed, res.OpenAtTop)
	}
	return nil
}

// settle lets connections of the previous phase close and the Go runtimes
// go idle before a memory baseline is taken.
func (r *runner) settle() {
	runtime.GC()
	time.Sleep(r.p.Settle)
}
