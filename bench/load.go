package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// proto is the wire protocol a target answers in.
type proto int

const (
	// protoAsk is the Genspark ask stream (the simulator, directly or
	// through the bare proxy): `data: {...}` events, the answer ending with
	// a message_result event.
	protoAsk proto = iota
	// protoOpenAI is spark's OpenAI chat completions: one JSON document, or
	// SSE chunks ending with `data: [DONE]`.
	protoOpenAI
)

// target is one endpoint the load generator drives.
type target struct {
	key    string      // direct, proxy, spark
	name   string      // as printed in the report
	url    string      // POST endpoint
	proto  proto       // answer format
	header http.Header // request headers, shared read-only by all requests
	proc   *proc       // the process serving it
	tls    *tls.Config // trusts the target's certificate (nil = plain HTTP)
}

// Markers the parsers look for. Matching bytes instead of decoding JSON
// keeps the load generator cheap next to what it measures.
var (
	askDelta     = []byte(`"field_name": "session_state.answer", "delta": "`)
	askResult    = []byte(`"type": "message_result"`)
	sseData      = []byte("data: ")
	sseDone      = []byte("data: [DONE]")
	oaiDelta     = []byte(`"delta":{`)
	oaiContent   = []byte(`"content":"`)
	oaiFinish    = []byte(`"finish_reason":"stop"`)
	errNoEnd     = errors.New("answer ended without its final event")
	errNoContent = errors.New("answer carried no content")
)

// exchange is the outcome of one request.
type exchange struct {
	lat    time.Duration // request written → answer fully read
	ttft   time.Duration // request written → first content delta (streams)
	deltas int           // content deltas received (streams)
	err    error
}

// worker holds one load-generating goroutine's reusable buffers.
type worker struct {
	hc  *http.Client
	br  *bufio.Reader
	buf bytes.Buffer
}

func newWorker(hc *http.Client, readBuf int) *worker {
	return &worker{hc: hc, br: bufio.NewReaderSize(nil, readBuf)}
}

// newTransport returns the load generator's transport: HTTP/1.1 with up to
// conns keep-alive connections (or none kept with keepAlive false), or,
// with tlsConf, HTTPS with HTTP/2 when the server offers it; no compression,
// no proxy.
func newTransport(conns int, keepAlive bool, tlsConf *tls.Config) *http.Transport {
	return &http.Transport{
		TLSClientConfig:       tlsConf,
		ForceAttemptHTTP2:     tlsConf != nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
		DisableKeepAlives:     !keepAlive,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
}

// hooks observe one request (open streams).
type hooks struct {
	wrote func() // the request is on the wire
	first func() // the first content delta arrived
}

// do sends one request and reads its whole answer. stream selects the
// streaming parser (time to first content delta, delta count); h may be
// nil.
func (w *worker) do(ctx context.Context, t *target, body []byte, stream bool, h *hooks) exchange {
	if h != nil && h.wrote != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { h.wrote() },
		})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return exchange{err: err}
	}
	req.Header = t.header
	start := time.Now()
	resp, err := w.hc.Do(req)
	if err != nil {
		return exchange{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return exchange{err: fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(msg))}
	}
	if !stream && t.proto == protoOpenAI {
		w.buf.Reset()
		if _, err := w.buf.ReadFrom(resp.Body); err != nil {
			return exchange{err: err}
		}
		ex := exchange{lat: time.Since(start)}
		if !bytes.Contains(w.buf.Bytes(), oaiFinish) {
			ex.err = errNoEnd
		}
		return ex
	}
	var ex exchange
	done := false
	w.br.Reset(resp.Body)
	for {
		line, rerr := w.br.ReadSlice('\n')
		if len(line) > 0 {
			isDelta := false
			switch t.proto {
			case protoAsk:
				if bytes.Contains(line, askDelta) {
					isDelta = true
				} else if bytes.Contains(line, askResult) {
					done = true
				}
			case protoOpenAI:
				if bytes.HasPrefix(line, sseData) {
					if bytes.HasPrefix(line, sseDone) {
						done = true
					} else {
						isDelta = hasContent(line)
					}
				}
			}
			if isDelta {
				ex.deltas++
				if ex.deltas == 1 {
					ex.ttft = time.Since(start)
					if h != nil && h.first != nil {
						h.first()
					}
				}
			}
		}
		if rerr == bufio.ErrBufferFull {
			continue // a long line: the rest follows
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			ex.err = rerr
			return ex
		}
	}
	ex.lat = time.Since(start)
	switch {
	case !done:
		ex.err = errNoEnd
	case ex.deltas == 0:
		ex.err = errNoContent
	}
	return ex
}

// hasContent reports whether an OpenAI chunk line carries non-empty
// delta.content (the role-only first chunk has "content":"").
func hasContent(line []byte) bool {
	i := bytes.Index(line, oaiDelta)
	if i < 0 {
		return false
	}
	rest := line[i+len(oaiDelta):]
	j := bytes.Index(rest, oaiContent)
	if j < 0 {
		return false
	}
	rest = rest[j+len(oaiContent):]
	return len(rest) > 0 && rest[0] != '"'
}

// Dist summarises a set of durations.
type Dist struct {
	N    int
	P50  time.Duration
	P90  time.Duration
	P99  time.Duration
	Max  time.Duration
	Mean time.Duration
}

// distOf returns the nearest-rank percentiles of d (sorted in place).
func distOf(d []time.Duration) Dist {
	if len(d) == 0 {
		return Dist{}
	}
	slices.Sort(d)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(d)))) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Dist{N: len(d), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: d[len(d)-1], Mean: sum / time.Duration(len(d))}
}

// LoadResult is one closed-loop measurement: conc clients sending the same
// request back to back to one target.
type LoadResult struct {
	Target   string // target key
	Conc     int
	Count    int           // answers completed in the measuring window
	Errors   int           // failed requests in the window
	FirstErr string        // the first failure, for the report
	Elapsed  time.Duration // measuring window (first start → last answer)
	Lat      Dist          // whole-answer latency
	TTFT     Dist          // time to the first content delta (streams)
	Deltas   int64         // content deltas received (streams)
	CPU      map[string]time.Duration
	// Other is the CPU time processes outside the benchmark used during
	// the window (-1 = unknown): a busy machine makes every figure noisy.
	Other time.Duration
}

// OtherCores is Other as busy cores on average (-1 = unknown).
func (r *LoadResult) OtherCores() float64 {
	if r == nil || r.Other < 0 || r.Elapsed <= 0 {
		return -1
	}
	return r.Other.Seconds() / r.Elapsed.Seconds()
}

// RPS is answers per second.
func (r *LoadResult) RPS() float64 {
	if r == nil || r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Count) / r.Elapsed.Seconds()
}

// DeltasPerSec is content deltas relayed per second (streams).
func (r *LoadResult) DeltasPerSec() float64 {
	if r == nil || r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Deltas) / r.Elapsed.Seconds()
}

// CPUPer1000 is the CPU seconds process key spent per 1,000 answers.
func (r *LoadResult) CPUPer1000(key string) float64 {
	if r == nil || r.Count == 0 {
		return 0
	}
	return r.CPU[key].Seconds() / float64(r.Count) * 1000
}

// Keys of cpuSnapshot besides the processes' own.
const (
	cpuBench   = "bench"   // this process (the load generator)
	cpuMachine = "machine" // busy time of all CPUs together
)

// cpuSnapshot reads the CPU time of every process, of the load generator
// and of the whole machine.
func cpuSnapshot(procs []*proc) map[string]time.Duration {
	out := make(map[string]time.Duration, len(procs)+2)
	for _, p := range procs {
		if p == nil {
			continue
		}
		if d, err := p.cpu(); err == nil {
			out[p.key] = d
		}
	}
	if d, err := cpuOfFile("/proc/self/stat"); err == nil {
		out[cpuBench] = d
	}
	if d, err := machineBusy(); err == nil {
		out[cpuMachine] = d
	}
	return out
}

// otherCPU is the CPU time other processes of the machine used between two
// snapshots (the machine's busy time minus the benchmark's processes').
func otherCPU(c0, c1 map[string]time.Duration) (time.Duration, bool) {
	m0, ok0 := c0[cpuMachine]
	m1, ok1 := c1[cpuMachine]
	if !ok0 || !ok1 {
		return 0, false
	}
	other := m1 - m0
	for k, v := range c1 {
		if k != cpuMachine {
			other -= v - c0[k]
		}
	}
	return max(other, 0), true
}

// runLoad drives t with conc closed-loop clients for warm+dur; only the
// requests started after the warm-up count. The CPU time of procs is read
// at the start and at the end of the measuring window.
func runLoad(ctx context.Context, t *target, body []byte, stream bool, conc int, warm, dur time.Duration, procs []*proc) (*LoadResult, error) {
	return runLoadFn(ctx, t, func(int) []byte { return body }, stream, conc, warm, dur, procs)
}

// runLoadFn is runLoad with a body per request: next(worker) returns the
// body worker (0 ≤ worker < conc) sends next; it may reuse the worker's
// buffer. With warm 0 the CPU times are read before the first request, so
// the window's CPU belongs to the counted answers alone.
func runLoadFn(ctx context.Context, t *target, next func(worker int) []byte, stream bool, conc int, warm, dur time.Duration, procs []*proc) (*LoadResult, error) {
	tr := newTransport(conc, true, t.tls)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	start := time.Now()
	measureFrom := start.Add(warm)
	end := measureFrom.Add(dur)
	cpu0 := make(chan map[string]time.Duration, 1)
	if warm <= 0 {
		cpu0 <- cpuSnapshot(procs)
	} else {
		timer := time.AfterFunc(warm, func() { cpu0 <- cpuSnapshot(procs) })
		defer timer.Stop()
	}

	type partial struct {
		lat, ttft  []time.Duration
		deltas     int64
		errs       int
		firstErr   error
		lastFinish time.Time
	}
	parts := make([]partial, conc)
	var wg sync.WaitGroup
	for i := range conc {
		wg.Go(func() {
			p := &parts[i]
			w := newWorker(hc, 64<<10)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				ex := w.do(ctx, t, next(i), stream, nil)
				if t0.Before(measureFrom) {
					continue
				}
				if ex.err != nil {
					p.errs++
					if p.firstErr == nil {
						p.firstErr = ex.err
					}
					time.Sleep(time.Millisecond) // no hot loop against a failing target
					continue
				}
				p.lat = append(p.lat, ex.lat)
				if stream {
					p.ttft = append(p.ttft, ex.ttft)
					p.deltas += int64(ex.deltas)
				}
				p.lastFinish = time.Now()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var c0 map[string]time.Duration
	select {
	case c0 = <-cpu0:
	default:
		return nil, errors.New("the warm-up did not end before the phase") // cannot happen: warm < warm+dur
	}
	c1 := cpuSnapshot(procs)

	res := &LoadResult{Target: t.key, Conc: conc, CPU: map[string]time.Duration{}}
	var lat, ttft []time.Duration
	last := measureFrom
	for _, p := range parts {
		lat = append(lat, p.lat...)
		ttft = append(ttft, p.ttft...)
		res.Deltas += p.deltas
		res.Errors += p.errs
		if p.firstErr != nil && res.FirstErr == "" {
			res.FirstErr = p.firstErr.Error()
		}
		if p.lastFinish.After(last) {
			last = p.lastFinish
		}
	}
	res.Count = len(lat)
	res.Elapsed = last.Sub(measureFrom)
	res.Lat = distOf(lat)
	res.TTFT = distOf(ttft)
	for k, v := range c1 {
		if v0, ok := c0[k]; ok {
			res.CPU[k] = v - v0
		}
	}
	res.Other = -1
	if o, ok := otherCPU(c0, c1); ok {
		res.Other = o
	}
	return res, nil
}

// OpenResult is one open-streams measurement: n slow streams opened
// against one target and held until they end.
type OpenResult struct {
	Target    string
	Streams   int           // streams started
	Opened    int           // streams that received their first content delta
	OpenAtTop int           // streams open at the same time when sampled
	Completed int           // streams that ended with the final event
	Failed    int           // streams that failed
	FirstErr  string        // the first failure
	OpenTime  time.Duration // first request → all streams opened (or failed)

	RSSBefore int64 // bytes, before the first request
	RSSTop    int64 // bytes, when all streams were open
	GorBefore int   // goroutines before (0 = unknown)
	GorTop    int   // goroutines when all streams were open (0 = unknown)
	// MemBefore and MemTop are the Go runtime's own accounts at the same
	// moments (zero = unknown): heap spans and goroutine stacks.
	MemBefore, MemTop memStats
	// LiveBefore and LiveTop are the same right after a forced GC (growth
	// curves only; zero = not sampled): HeapAlloc is then the live heap.
	LiveBefore, LiveTop memStats
}

// MemPerStream is the growth of heap in use and of goroutine stacks per
// open stream, in bytes (ok false when unknown).
func (o *OpenResult) MemPerStream() (heap, stack float64, ok bool) {
	if o == nil || o.OpenAtTop == 0 || o.MemBefore.Sys == 0 || o.MemTop.Sys == 0 {
		return 0, 0, false
	}
	n := float64(o.OpenAtTop)
	return float64(o.MemTop.HeapInuse-o.MemBefore.HeapInuse) / n, float64(o.MemTop.Stack-o.MemBefore.Stack) / n, true
}

// RSSPerStream is the RSS growth per open stream, in bytes.
func (o *OpenResult) RSSPerStream() float64 {
	if o == nil || o.OpenAtTop == 0 {
		return 0
	}
	return float64(o.RSSTop-o.RSSBefore) / float64(o.OpenAtTop)
}

// GoroutinesPerStream is the goroutine growth per open stream (0 = unknown).
func (o *OpenResult) GoroutinesPerStream() float64 {
	if o == nil || o.OpenAtTop == 0 || o.GorTop == 0 {
		return 0
	}
	return float64(o.GorTop-o.GorBefore) / float64(o.OpenAtTop)
}

// runOpen starts n streams against t, at most parallel of them being
// connected and written at a time, samples t's process once every stream
// has received its first content delta (or failed) and waits for all of
// them to end. snap, if not nil, is called at the top (for heap and
// goroutine profiles).
//
// With endEarly, the streams are cancelled once sampled instead of being
// held to their end (growth curves): Completed then stays 0 and the
// cancellations do not count as failures.
func runOpen(ctx context.Context, t *target, body []byte, n, parallel int, snap func(context.Context), endEarly bool) (*OpenResult, error) {
	outer := ctx
	ctx, cancelStreams := context.WithCancel(ctx)
	defer cancelStreams()
	tr := newTransport(0, false, t.tls)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	res := &OpenResult{Target: t.key, Streams: n}

	var err error
	if res.RSSBefore, err = t.proc.rss(); err != nil {
		return nil, err
	}
	res.GorBefore, _ = t.proc.goroutines(ctx)
	res.MemBefore, _ = t.proc.memStats(ctx)

	var opened, finished, failedEarly, completed, failed atomic.Int64
	var errOnce sync.Once
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	start := time.Now()

	launched := 0
launch:
	for launched < n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		launched++
		wg.Go(func() {
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			w := newWorker(hc, 4<<10)
			wasOpen := false
			ex := w.do(ctx, t, body, true, &hooks{
				wrote: release,
				first: func() {
					wasOpen = true
					opened.Add(1)
				},
			})
			release()
			if ex.err != nil && endEarly && ctx.Err() != nil && outer.Err() == nil {
				finished.Add(1) // cancelled on purpose once sampled
				return
			}
			if ex.err != nil {
				failed.Add(1)
				if !wasOpen {
					failedEarly.Add(1)
				}
				errOnce.Do(func() { res.FirstErr = ex.err.Error() })
			} else {
				completed.Add(1)
			}
			finished.Add(1)
		})
	}

	// The top: every stream has received its first delta (or failed).
	for ctx.Err() == nil && opened.Load()+failedEarly.Load() < int64(launched) {
		time.Sleep(10 * time.Millisecond)
	}
	res.OpenTime = time.Since(start)
	res.OpenAtTop = int(opened.Load() - (finished.Load() - failedEarly.Load()))
	if ctx.Err() == nil {
		// Three samples 100 ms apart: the highest is the held memory.
		for i := range 3 {
			if i > 0 {
				time.Sleep(100 * time.Millisecond)
			}
			if v, err := t.proc.rss(); err == nil && v > res.RSSTop {
				res.RSSTop = v
			}
		}
		res.GorTop, _ = t.proc.goroutines(ctx)
		res.MemTop, _ = t.proc.memStats(ctx)
		if snap != nil {
			snap(ctx)
		}
	}
	if endEarly {
		cancelStreams()
	}

	wg.Wait()
	res.Opened = int(opened.Load())
	res.Completed = int(completed.Load())
	res.Failed = int(failed.Load()) + (n - launched)
	if err := outer.Err(); err != nil {
		return res, err
	}
	return res, nil
}
