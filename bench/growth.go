package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
)

// growthParams size the growth curves.
type growthParams struct {
	ConvBytes          []int // conversation sizes: bytes of the client's request body
	ConvWarm, ConvDur  time.Duration
	ToolCounts         []int // tool definitions in the request
	ToolDeltas         int   // sim:long of the tools scenario
	ToolWarm, ToolDur  time.Duration
	PoolSizes          []int // accounts in the pool
	PoolDur            time.Duration
	Lengths            []int         // deltas per stream
	LengthDur          time.Duration // CPU window per point (c=1)
	LengthMemConc      int           // streams in flight while the live heap is sampled
	LengthMemSamples   int
	ConcStreams        []int // concurrently open streams
	ConcWarmStreams    int   // streams opened and dropped on a fresh process before its baseline
	LengthWarmBelowMax int   // warm each target with one stream when the length is at most this (longer ones warm themselves)
}

func growthParamsFor(quick bool) growthParams {
	if quick {
		return growthParams{
			ConvBytes: []int{1000, 10000, 100000, 1000000}, ConvWarm: 50 * time.Millisecond, ConvDur: 250 * time.Millisecond,
			ToolCounts: []int{0, 8, 128}, ToolDeltas: 20, ToolWarm: 50 * time.Millisecond, ToolDur: 250 * time.Millisecond,
			PoolSizes: []int{10, 100, 1000, 10000}, PoolDur: 50 * time.Millisecond,
			Lengths: []int{10, 100, 1000, 10000}, LengthDur: 250 * time.Millisecond, LengthMemConc: 4, LengthMemSamples: 2,
			ConcStreams: []int{100, 300, 1000}, ConcWarmStreams: 16, LengthWarmBelowMax: 10000,
		}
	}
	return growthParams{
		// 1 kB → 1 MB in 8 geometric steps (1 kB = 1,000 bytes).
		ConvBytes: geometric(1000, 1000000, 8), ConvWarm: 300 * time.Millisecond, ConvDur: 1500 * time.Millisecond,
		ToolCounts: []int{0, 1, 2, 4, 8, 16, 32, 64, 128}, ToolDeltas: 20, ToolWarm: 200 * time.Millisecond, ToolDur: 1500 * time.Millisecond,
		PoolSizes: []int{10, 30, 100, 300, 1000, 3000, 10000}, PoolDur: 500 * time.Millisecond,
		// 32 streams in flight: with 8, the live memory per stream moved by
		// ±150 KiB between samples (GC timing, buffers in flight).
		Lengths: []int{10, 100, 1000, 10000, 100000}, LengthDur: 2 * time.Second, LengthMemConc: 32, LengthMemSamples: 8,
		ConcStreams: []int{100, 300, 1000, 3000, 10000}, ConcWarmStreams: 32, LengthWarmBelowMax: 10000,
	}
}

// geometric returns n integers from lo to hi in equal ratios.
func geometric(lo, hi float64, n int) []int {
	out := make([]int, n)
	for i := range n {
		out[i] = int(math.Round(lo * math.Pow(hi/lo, float64(i)/float64(n-1))))
	}
	return out
}

// Growth holds the growth curves of one run.
type Growth struct {
	Conv   []ConvPoint
	Tools  []ToolPoint
	Pool   []PoolPoint
	Length []LengthPoint
	Conc   []ConcPoint
}

// ConvPoint is one conversation size, non-stream at c=1.
type ConvPoint struct {
	Size      int // requested size of the client's request body
	BodyBytes int // the client's request body as built (figure names use it)
	AskBytes  int // the upstream request spark sent for it
	Direct    *LoadResult
	Proxy     *LoadResult
	// SparkRepeat resends one conversation (spark's prompt-token cache
	// hits, as when an agent resends its history); SparkFresh makes every
	// message of every request unique, so the tokeniser reads the whole
	// prompt each time.
	SparkRepeat, SparkFresh *LoadResult
}

// ToolPoint is one number of tool definitions, streaming at c=1.
type ToolPoint struct {
	Tools     int
	BodyBytes int
	Direct    *LoadResult
	Spark     *LoadResult
}

// PoolPoint is one pool size, measured in this process.
type PoolPoint struct {
	Accounts    int
	Ops         int
	NsPerOp     float64 // one Acquire plus its Release
	AllocsPerOp float64
}

// LengthPoint is one stream length.
type LengthPoint struct {
	Deltas         int
	Proxy, Spark   *LoadResult
	MemProxy       float64 // live heap + stacks per stream in flight, bytes
	MemSpark       float64
	MemOK          bool
	MemConcurrency int
}

// ConcPoint is one number of concurrently open streams, each target a
// fresh process.
type ConcPoint struct {
	Streams      int
	Proxy, Spark *OpenResult
	// Failures says which process failed some of the point's streams (the
	// point is kept and its figures are those of the streams that opened;
	// the report prints these lines under the curve).
	Failures []string
}

// growth runs the growth curves.
func (r *runner) growth(ctx context.Context) error {
	r.rep.Growth = &Growth{}
	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"pool size", r.growthPool},
		{"conversation size", r.growthConversation},
		{"tool definitions", r.growthTools},
		{"stream length", r.growthLength},
		{"concurrent streams", r.growthConcurrent},
	} {
		r.log("growth: %s", step.name)
		if err := step.run(ctx); err != nil {
			return fmt.Errorf("growth curve %s: %w", step.name, err)
		}
	}
	return nil
}

// clearSimLog empties the simulator's request log, which keeps up to 1 MB
// of every body.
func (r *runner) clearSimLog(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, r.simURL+"/_sim/requests", nil)
	if err != nil {
		return
	}
	if resp, err := r.simClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// noteErrors records failed requests of a growth point in the report.
func (r *runner) noteErrors(what string, res *LoadResult) {
	if res.Errors > 0 {
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("growth, %s: %d of %d requests failed (first: %s)", what, res.Errors, res.Errors+res.Count, res.FirstErr))
	}
}

// warmOnce sends one request to t and reads its answer.
func warmOnce(ctx context.Context, t *target, body []byte, stream bool) {
	tr := newTransport(1, false, t.tls)
	defer tr.CloseIdleConnections()
	newWorker(&http.Client{Transport: tr}, 64<<10).do(ctx, t, body, stream, nil)
}

// --- conversation size ---

// convPrompt ends every conversation; the simulator echoes it, so the
// answer is the same at every size.
const convPrompt = "Conversation benchmark: please say this line back."

// noncePlaceholder opens every earlier message; its 16 zeros are replaced
// by a counter to make a message unique.
const noncePlaceholder = "[nonce 0000000000000000]"

var benchWords = strings.Fields(`the gateway answers every request with a stream of tokens while the pool
leases an account and the upstream model writes its reply about weather maps code reviews tests
deployments invoices travel plans recipes and the history of small towns near rivers in spring
please summarise explain compare translate refactor the function below so that it returns early
when the input is empty and logs a warning otherwise keep the public interface unchanged`)

// convBody returns an OpenAI chat request of about size bytes: a system
// message and alternating user and assistant turns of up to 4,000 bytes of
// English-like text, each opening with noncePlaceholder, then convPrompt.
func convBody(size int) []byte {
	rng := rand.New(rand.NewPCG(uint64(size), 17))
	const overhead, perMessage, chunk = 260, 40, 4000
	budget := max(size-overhead, 200)
	var msgs []map[string]string
	role := "system"
	for budget > 0 {
		n := min(budget, chunk)
		var b strings.Builder
		b.WriteString(noncePlaceholder)
		for b.Len() < n-perMessage {
			b.WriteByte(' ')
			b.WriteString(benchWords[rng.IntN(len(benchWords))])
		}
		msgs = append(msgs, map[string]string{"role": role, "content": b.String()})
		budget -= n
		if role == "user" {
			role = "assistant"
		} else {
			role = "user"
		}
	}
	msgs = append(msgs, map[string]string{"role": "user", "content": convPrompt})
	body, _ := json.Marshal(map[string]any{"model": benchModel, "messages": msgs})
	return body
}

// freshBodies returns a body source that writes a new counter into every
// nonce of template for each request (one buffer per worker).
func freshBodies(template []byte, conc int) func(worker int) []byte {
	var seq atomic.Uint64
	var pos []int
	zeros := []byte("0000000000000000]")
	for i := 0; ; {
		j := bytes.Index(template[i:], []byte(noncePlaceholder))
		if j < 0 {
			break
		}
		at := i + j + len(noncePlaceholder) - len(zeros)
		pos = append(pos, at)
		i = at
	}
	bufs := make([][]byte, conc)
	for i := range bufs {
		bufs[i] = bytes.Clone(template)
	}
	return func(worker int) []byte {
		b := bufs[worker]
		var hex [16]byte
		n := seq.Add(1)
		for i := range 16 {
			hex[15-i] = "0123456789abcdef"[(n>>(4*i))&15]
		}
		for _, p := range pos {
			copy(b[p:p+16], hex[:])
		}
		return b
	}
}

func (r *runner) growthConversation(ctx context.Context) error {
	g := r.p.Growth
	for _, size := range g.ConvBytes {
		body := convBody(size)
		sc, err := r.capture(ctx, body, false, "Conversation benchmark")
		if err != nil {
			return fmt.Errorf("%d bytes: %w", size, err)
		}
		if !json.Valid(sc.ask) {
			return fmt.Errorf("%d bytes: the simulator kept only part of spark's upstream request (%d bytes)", size, len(sc.ask))
		}
		pt := ConvPoint{Size: size, BodyBytes: len(body), AskBytes: len(sc.ask)}
		ts := r.targets(sc)
		runs := []struct {
			dst  **LoadResult
			t    *target
			next func(int) []byte
		}{
			{&pt.Direct, ts[0], nil},
			{&pt.Proxy, ts[1], nil},
			{&pt.SparkRepeat, ts[2], nil},
			{&pt.SparkFresh, ts[2], freshBodies(body, 1)},
		}
		for _, run := range runs {
			b := r.bodyFor(sc, run.t)
			next := run.next
			if next == nil {
				next = func(int) []byte { return b }
			}
			r.log("  conversation %s, %s%s", fmtBytes(len(body)), run.t.name, map[bool]string{true: " (every message new)"}[run.next != nil])
			if _, err := runLoadFn(ctx, run.t, next, false, 1, 0, g.ConvWarm, r.procs); err != nil {
				return err
			}
			res, err := runLoadFn(ctx, run.t, next, false, 1, 0, g.ConvDur, r.procs)
			if err != nil {
				return err
			}
			r.noteErrors(fmt.Sprintf("conversation %s, %s", fmtBytes(len(body)), run.t.name), res)
			*run.dst = res
			r.clearSimLog(ctx)
		}
		r.rep.Growth.Conv = append(r.rep.Growth.Conv, pt)
		if r.opts.Pprof && size == slices.Max(g.ConvBytes) {
			for _, run := range runs[2:] {
				b := r.bodyFor(sc, run.t)
				next, kind := run.next, "conversation-fresh"
				if next == nil {
					next, kind = func(int) []byte { return b }, "conversation-resent"
				}
				if err := r.profileGrowth(ctx, run.t, next, false, kind, fmt.Sprintf("spark under a %s conversation, %s, c=1", fmtBytes(len(body)), strings.TrimPrefix(kind, "conversation-"))); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// profileGrowth saves spark's CPU profile while t (spark) serves one
// client sending next's bodies (-pprof).
func (r *runner) profileGrowth(ctx context.Context, t *target, next func(int) []byte, stream bool, kind, label string) error {
	if t.proc.pprof == "" {
		return nil
	}
	if err := os.MkdirAll(r.opts.ProfileDir, 0o755); err != nil {
		return err
	}
	secs := max(int(r.p.ProfileDuration/time.Second)/2, 1)
	file := filepath.Join(r.opts.ProfileDir, "spark-cpu-"+kind+".pprof")
	r.log("profiling spark under %s for %ds → %s", kind, secs, relPath(file))
	perr := make(chan error, 1)
	go func() { perr <- t.proc.saveProfile(ctx, fmt.Sprintf("profile?seconds=%d", secs), file) }()
	time.Sleep(50 * time.Millisecond) // the profiler starts before the load
	if _, err := runLoadFn(ctx, t, next, stream, 1, 0, time.Duration(secs)*time.Second+500*time.Millisecond, r.procs); err != nil {
		return err
	}
	if err := <-perr; err != nil {
		return fmt.Errorf("spark CPU profile: %w", err)
	}
	r.clearSimLog(ctx)
	r.rep.Profiles = append(r.rep.Profiles, file)
	r.rep.ProfileTops = append(r.rep.ProfileTops, ProfileTop{Label: label, File: file, Top: pprofTop(ctx, file)})
	return nil
}

// fmtBytes shows a size in kB (1,000 bytes).
func fmtBytes(n int) string {
	if n >= 1000000 {
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f kB", float64(n)/1e3)
}

// --- tool definitions ---

const promptTools = "Tool benchmark: what is in the inventory today? sim:long %d"

// benchToolDefs returns n distinct tool definitions (about 480 bytes each)
// as a JSON array ("" for none).
func benchToolDefs(n int) string {
	if n == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"function","function":{"name":"inventory_tool_%03d","description":"Looks up records of kind %d in the inventory service and returns their fields, newest first.",`+
			`"parameters":{"type":"object","properties":{"id":{"type":"string","description":"Record id"},"limit":{"type":"integer","minimum":1,"maximum":100},`+
			`"fields":{"type":"array","items":{"type":"string"}},"mode":{"type":"string","enum":["fast","full"]}},"required":["id"]}}}`, i, i)
	}
	b.WriteByte(']')
	return b.String()
}

func (r *runner) growthTools(ctx context.Context) error {
	g := r.p.Growth
	for _, n := range g.ToolCounts {
		body := openAIBody(fmt.Sprintf(promptTools, g.ToolDeltas), true, benchToolDefs(n))
		sc, err := r.capture(ctx, body, true, "Tool benchmark")
		if err != nil {
			return fmt.Errorf("%d tools: %w", n, err)
		}
		if n > 0 && !bytes.Contains(sc.ask, fmt.Appendf(nil, "inventory_tool_%03d", n-1)) {
			return fmt.Errorf("%d tools: spark did not put the tools into the upstream prompt (TOOL_CALLING_ENABLED off?)", n)
		}
		pt := ToolPoint{Tools: n, BodyBytes: len(body)}
		ts := r.targets(sc)
		for _, run := range []struct {
			dst **LoadResult
			t   *target
		}{{&pt.Direct, ts[0]}, {&pt.Spark, ts[2]}} {
			r.log("  %d tools, %s", n, run.t.name)
			b := r.bodyFor(sc, run.t)
			if _, err := runLoad(ctx, run.t, b, true, 1, 0, g.ToolWarm, r.procs); err != nil {
				return err
			}
			res, err := runLoad(ctx, run.t, b, true, 1, 0, g.ToolDur, r.procs)
			if err != nil {
				return err
			}
			r.noteErrors(fmt.Sprintf("%d tools, %s", n, run.t.name), res)
			*run.dst = res
		}
		r.clearSimLog(ctx)
		r.rep.Growth.Tools = append(r.rep.Growth.Tools, pt)
		if r.opts.Pprof && n == slices.Max(g.ToolCounts) {
			b := r.bodyFor(sc, ts[2])
			if err := r.profileGrowth(ctx, ts[2], func(int) []byte { return b }, true, "tools", fmt.Sprintf("spark under streams with %d tools, c=1", n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// --- pool size ---

// growthPool measures one Acquire plus its Release of internal/pool (the
// pool spark builds, over the in-memory store) in this process: through
// HTTP the cost would drown in the request's own. ServesModel is a map
// lookup per account, as spark's is.
func (r *runner) growthPool(ctx context.Context) error {
	for _, n := range r.p.Growth.PoolSizes {
		pt, err := measurePool(ctx, n, r.p.Growth.PoolDur)
		if err != nil {
			return fmt.Errorf("%d accounts: %w", n, err)
		}
		r.log("  %d accounts: %.0f ns per lease and release, %.1f allocations", n, pt.NsPerOp, pt.AllocsPerOp)
		r.rep.Growth.Pool = append(r.rep.Growth.Pool, pt)
	}
	return nil
}

func measurePool(ctx context.Context, n int, dur time.Duration) (PoolPoint, error) {
	st := memstore.New(nil)
	serves := map[string]bool{}
	for i := range n {
		a, err := st.CreateAccount(ctx, store.Account{Provider: "genspark", Label: fmt.Sprintf("bench-%d", i), Cookie: fmt.Sprintf("session_id=bench-%d", i)})
		if err != nil {
			return PoolPoint{}, err
		}
		serves[a.ID] = true
	}
	p, err := pool.New(ctx, pool.Options{
		Store:       st,
		ServesModel: func(acct *gw.Account, _ string) bool { return serves[acct.ID] },
	})
	if err != nil {
		return PoolPoint{}, err
	}
	req := pool.Request{Provider: "genspark", Model: benchModel}
	op := func() error {
		l, err := p.Acquire(ctx, req)
		if err != nil {
			return err
		}
		l.Release(nil)
		return nil
	}
	for range 1000 { // warm-up
		if err := op(); err != nil {
			return PoolPoint{}, err
		}
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	ops := 0
	start := time.Now()
	for time.Since(start) < dur && ctx.Err() == nil {
		for range 256 {
			if err := op(); err != nil {
				return PoolPoint{}, err
			}
		}
		ops += 256
	}
	el := time.Since(start)
	runtime.ReadMemStats(&m1)
	return PoolPoint{Accounts: n, Ops: ops, NsPerOp: float64(el.Nanoseconds()) / float64(ops),
		AllocsPerOp: float64(m1.Mallocs-m0.Mallocs) / float64(ops)}, ctx.Err()
}

// --- stream length ---

const promptLength = "Length benchmark, answer at length. sim:long %d"

func (r *runner) growthLength(ctx context.Context) error {
	g := r.p.Growth
	const probe = 7
	sc0, err := r.capture(ctx, openAIBody(fmt.Sprintf(promptLength, probe), true, ""), true, "Length benchmark")
	if err != nil {
		return err
	}
	from := fmt.Appendf(nil, "sim:long %d", probe)
	if !bytes.Contains(sc0.ask, from) {
		return errors.New("could not find sim:long in the upstream body")
	}
	for _, n := range g.Lengths {
		sc := &scenario{
			openai: openAIBody(fmt.Sprintf(promptLength, n), true, ""),
			ask:    bytes.ReplaceAll(sc0.ask, from, fmt.Appendf(nil, "sim:long %d", n)),
			header: sc0.header,
		}
		ts := r.targets(sc)
		pt := LengthPoint{Deltas: n, MemConcurrency: g.LengthMemConc, MemOK: true}
		for _, run := range []struct {
			dst **LoadResult
			mem *float64
			t   *target
		}{{&pt.Proxy, &pt.MemProxy, ts[1]}, {&pt.Spark, &pt.MemSpark, ts[2]}} {
			b := r.bodyFor(sc, run.t)
			r.log("  %d deltas per stream, %s", n, run.t.name)
			if n <= g.LengthWarmBelowMax {
				warmOnce(ctx, run.t, b, true)
			}
			res, err := runLoad(ctx, run.t, b, true, 1, 0, g.LengthDur, r.procs)
			if err != nil {
				return err
			}
			r.noteErrors(fmt.Sprintf("stream length %d, %s", n, run.t.name), res)
			*run.dst = res
			var snap func(context.Context)
			if r.opts.Pprof && run.t.key == "spark" && n == slices.Max(g.Lengths) {
				file := filepath.Join(r.opts.ProfileDir, "spark-heap-long-streams.pprof")
				snap = func(ctx context.Context) {
					if err := os.MkdirAll(r.opts.ProfileDir, 0o755); err == nil && run.t.proc.saveProfile(ctx, "heap", file) == nil {
						r.rep.Profiles = append(r.rep.Profiles, file)
					}
				}
			}
			mem, err := inFlightMemory(ctx, run.t, b, g.LengthMemConc, g.LengthMemSamples, snap)
			if err != nil {
				r.log("  memory per stream: %v", err)
				pt.MemOK = false
			}
			*run.mem = mem
		}
		r.rep.Growth.Length = append(r.rep.Growth.Length, pt)
	}
	return nil
}

// inFlightMemory keeps conc streams in flight against t (each worker
// opening the next as soon as one ends) and samples t's live heap plus
// goroutine stacks, right after a forced GC, every 100 ms once each
// worker has received a delta: the mean growth over the idle process,
// divided by conc, in bytes. snap, if not nil, is called after the last
// sample (a heap profile). The streams are then cancelled.
func inFlightMemory(ctx context.Context, t *target, body []byte, conc, samples int, snap func(context.Context)) (float64, error) {
	base, err := t.proc.liveMemStats(ctx)
	if err != nil {
		return 0, err
	}
	sctx, cancel := context.WithCancel(ctx)
	tr := newTransport(conc, true, t.tls)
	hc := &http.Client{Transport: tr}
	var started atomic.Int64
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
	}()
	for range conc {
		wg.Go(func() {
			w := newWorker(hc, 64<<10)
			first := true
			for sctx.Err() == nil {
				w.do(sctx, t, body, true, &hooks{first: func() {
					if first {
						first = false
						started.Add(1)
					}
				}})
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for started.Load() < int64(conc) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if started.Load() < int64(conc) {
		return 0, fmt.Errorf("%d of %d streams started", started.Load(), conc)
	}
	var sum float64
	for i := range samples {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		m, err := t.proc.liveMemStats(ctx)
		if err != nil {
			return 0, err
		}
		sum += float64(m.HeapAlloc + m.Stack - base.HeapAlloc - base.Stack)
	}
	if snap != nil {
		snap(ctx)
	}
	return sum / float64(samples) / float64(conc), nil
}

// --- concurrent streams ---

func (r *runner) growthConcurrent(ctx context.Context) error {
	g := r.p.Growth
	sc, err := r.openScenario(ctx)
	if err != nil {
		return err
	}
	ts := r.targets(sc)
	for _, want := range g.ConcStreams {
		n, _ := r.openCap(want)
		if n < want {
			r.log("  %d streams capped at %d by RLIMIT_NOFILE", want, n)
		}
		pt := ConcPoint{Streams: n}
		for _, base := range ts[1:] {
			t, stop, err := r.freshTarget(ctx, base)
			if err != nil {
				return err
			}
			res, err := r.concPoint(ctx, t, r.bodyFor(sc, base), n)
			stop()
			if err != nil {
				return err
			}
			if res.Failed > 0 || res.OpenAtTop < n {
				msg := fmt.Sprintf("%s, %d streams: %d failed, %d open at once (first error: %s)", t.name, n, res.Failed, res.OpenAtTop, res.FirstErr)
				r.log("  %s", msg)
				pt.Failures = append(pt.Failures, msg)
			}
			if base.key == "spark" {
				pt.Spark = res
			} else {
				pt.Proxy = res
			}
		}
		r.rep.Growth.Conc = append(r.rep.Growth.Conc, pt)
	}
	return nil
}

// concPoint warms a fresh process with a few streams, lets it settle and
// opens n streams, cancelled once sampled.
func (r *runner) concPoint(ctx context.Context, t *target, body []byte, n int) (*OpenResult, error) {
	g := r.p.Growth
	if _, err := runOpen(ctx, t, body, g.ConcWarmStreams, g.ConcWarmStreams, nil, true); err != nil {
		return nil, err
	}
	r.settle()
	_, _ = t.proc.liveMemStats(ctx) // a GC in the target too
	time.Sleep(r.p.Settle / 2)
	before, err := t.proc.liveMemStats(ctx)
	if err != nil {
		return nil, err
	}
	var top memStats
	r.log("  %d open streams, %s (fresh process)", n, t.name)
	res, err := runOpen(ctx, t, body, n, r.p.OpenParallel, func(ctx context.Context) {
		top, _ = t.proc.liveMemStats(ctx) // after RSS and goroutines were sampled
	}, true)
	if res != nil {
		res.LiveBefore, res.LiveTop = before, top
	}
	return res, err
}

// freshTarget starts a new process of base's kind (bare proxy or spark)
// next to the running ones and returns base pointed at it, with a
// function that stops it.
func (r *runner) freshTarget(ctx context.Context, base *target) (*target, func(), error) {
	t := *base
	switch base.key {
	case "proxy":
		p, err := startRole(ctx, "proxy", "bare proxy", "proxy", filepath.Join(r.dir, "proxy-fresh.log"), append(slices.Clone(r.trustEnv), upstreamEnv+"="+r.simURL)...)
		if err != nil {
			return nil, nil, err
		}
		t.url, t.proc = "http://"+p.addr+"/api/copilot/ask", p
		return &t, p.stop, nil
	case "spark":
		st, p, err := r.startExtraSpark(ctx, "fresh", nil)
		if err != nil {
			return nil, nil, err
		}
		return st, p.stop, nil
	}
	return nil, nil, fmt.Errorf("no fresh process for %s", base.key)
}

// extraSparks counts the spark processes started besides the main one.
var extraSparks atomic.Int64

// startExtraSpark starts another spark process next to the main one, on
// its own port and an empty DATA_DIR, with the benchmark's configuration
// plus extraEnv, and returns the target that reaches it. It is the hook for
// phases that compare configurations in one run: usage records, key
// policies and metrics on against off, or PostgreSQL and Redis
// (DATABASE_URL, REDIS_URL) against the embedded store.
func (r *runner) startExtraSpark(ctx context.Context, name string, extraEnv []string) (*target, *proc, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, nil, err
	}
	id := strconv.FormatInt(extraSparks.Add(1), 10)
	dataDir := filepath.Join(r.dir, "data-"+name+"-"+id)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	env := sparkEnv(addr, r.simURL, r.certFile, dataDir, r.apiKey, r.p.Accounts)
	if r.opts.NoUsage {
		env = append(env, "USAGE_RECORDS=0")
	}
	env = append(env, extraEnv...)
	p, _, err := startSpark(ctx, r.sparkBin, r.sparkPprof, env, addr, filepath.Join(r.dir, "spark-"+name+"-"+id+".log"))
	if err != nil {
		return nil, nil, err
	}
	t := *r.gate
	t.url, t.proc = "http://"+addr+"/v1/chat/completions", p
	return &t, p, nil
}
