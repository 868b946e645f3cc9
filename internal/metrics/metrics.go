// Package metrics is spark's Prometheus instrumentation, on a registry of
// its own (never the global one). Names follow the OpenTelemetry GenAI
// semantic conventions in their Prometheus form (dots to underscores, the
// unit as a suffix): gen_ai_server_request_duration_seconds,
// gen_ai_server_time_to_first_token_seconds and gen_ai_client_token_usage,
// with the conventions' attributes as labels (gen_ai_request_model,
// gen_ai_response_model, gen_ai_provider_name, gen_ai_token_type,
// error_type). What the conventions do not cover is under spark_.
//
// Request observations are appended to a pending list and applied to the
// instruments in batches, off the request path: every FlushInterval by a
// goroutine, and at each scrape (so a scrape sees every request that ended
// before it). The server pays one short critical section per request, and
// no goroutine wake-up (a channel send to a waiting goroutine cost more
// than the rest of the request's server steps).
//
// Every method of a nil *Metrics does nothing, so callers need no check
// when metrics are off.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Bucket boundaries, as the GenAI conventions advise for each instrument.
var (
	// DurationBuckets are gen_ai.server.request.duration's (seconds).
	DurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	// TimeToFirstTokenBuckets are gen_ai.server.time_to_first_token's
	// (seconds).
	TimeToFirstTokenBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	// TokenBuckets are gen_ai.client.token.usage's (tokens).
	TokenBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	// AdmissionBuckets are for spark_admission_wait_seconds: a local
	// limiter answers in microseconds, a shared one in a network round
	// trip.
	AdmissionBuckets = []float64{0.00001, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
)

// MaxLabelValues bounds the distinct values one label of a model takes
// (a catch-all provider serves any name a client sends); later values are
// reported as OtherLabel, so a client cannot grow the registry.
const MaxLabelValues = 200

// OtherLabel stands for label values past MaxLabelValues.
const OtherLabel = "other"

// MaxPending is how many observations may wait to be applied; past it
// they are dropped and counted (spark_metrics_dropped_total).
const MaxPending = 1 << 16

// FlushInterval is how often pending observations are applied between
// scrapes.
const FlushInterval = 200 * time.Millisecond

// Request is what one finished API request (a client-key route) reports:
// the route pattern, the models asked for and served, the provider, the
// status and error class, the times and the tokens. It is taken from the
// same usage note as the request's usage record.
type Request struct {
	Route         string // route pattern, "POST /v1/chat/completions"
	RequestModel  string // as the client asked ("" when it named none)
	ResponseModel string // the catalog model served ("" when none was resolved)
	Provider      string // "" when no upstream was reached
	Status        int
	ErrorType     string // the gateway's error code; "" on success
	Duration      time.Duration
	// TimeToFirstToken is 0 when no answer event came.
	TimeToFirstToken time.Duration
	InputTokens      int64
	OutputTokens     int64
	ReasoningTokens  int64
	// Admission is the limiters' decision on the request, observed with
	// it (Wait 0: no limiter ran).
	Admission Admission
}

// Admission is the limiters' decision on one request: the time from its
// arrival to the decision, and the limit that refused it with a 429 ("ip",
// "key"; "" when admitted).
type Admission struct {
	Wait      time.Duration
	RefusedBy string
}

// AccountState is one account as the accounts gauge counts it.
type AccountState struct {
	Provider string
	State    string // active, resting, disabled
}

// event is one pending observation: a request or an admission alone (a
// request outside the API).
type event struct {
	req  Request
	kind uint8
}

const (
	eventRequest uint8 = iota
	eventAdmission
)

// Metrics holds spark's instruments and their registry.
type Metrics struct {
	reg *prometheus.Registry

	requestDuration *prometheus.HistogramVec
	ttft            *prometheus.HistogramVec
	tokens          *prometheus.HistogramVec
	mismatches      *prometheus.CounterVec
	upstreamErrors  *prometheus.CounterVec
	admissionWait   prometheus.Histogram
	admissionRefuse *prometheus.CounterVec
	redisErrors     *prometheus.CounterVec
	databaseErrors  *prometheus.CounterVec
	dropped         prometheus.Counter

	// mu guards the pending observations: cur, the chunk being filled,
	// full, the chunks filled since the last flush, n, their count, and
	// free, emptied chunks for reuse (fixed-size chunks: one growing slice
	// cost a large clear and copy at each growth).
	mu     sync.Mutex
	cur    []event
	full   [][]event
	free   [][]event
	n      int
	closed bool
	// applyMu serialises applying; seen (the model label values, bounded)
	// and series are guarded by it.
	applyMu sync.Mutex
	seen    map[string]struct{}
	series  map[requestKey]*requestSeries
	// refusals caches the refusal counters by limit (the server's fixed
	// few: ip, key).
	refusals map[string]prometheus.Counter

	accountsMu sync.Mutex
	accounts   func() []AccountState

	closeOnce sync.Once
	kick      chan struct{} // a chunk filled: flush
	stop      chan struct{}
	done      chan struct{}
}

// New returns spark's instruments on a new registry (with the Go runtime
// and process collectors) and starts the goroutine that applies request
// observations; Close stops it.
func New() *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		seen:     map[string]struct{}{},
		series:   map[requestKey]*requestSeries{},
		refusals: map[string]prometheus.Counter{},
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	apiLabels := []string{"http_route", "gen_ai_request_model", "gen_ai_response_model", "gen_ai_provider_name", "http_response_status_code", "error_type"}
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_server_request_duration_seconds",
		Help:    "Duration of API requests (time to the last byte), by route, model, provider, status and error type; its _count is the number of requests.",
		Buckets: DurationBuckets,
	}, apiLabels)
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_server_time_to_first_token_seconds",
		Help:    "Time from the request's arrival to its first answer event, for requests that had one.",
		Buckets: TimeToFirstTokenBuckets,
	}, []string{"http_route", "gen_ai_request_model", "gen_ai_response_model", "gen_ai_provider_name"})
	m.tokens = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_client_token_usage",
		Help:    "Tokens per request by type (input, output, reasoning); _sum is the total.",
		Buckets: TokenBuckets,
	}, []string{"gen_ai_token_type", "gen_ai_request_model", "gen_ai_response_model", "gen_ai_provider_name"})
	m.mismatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spark_served_model_mismatches_total",
		Help: "API requests whose client named a model and was served a different one.",
	}, []string{"gen_ai_request_model", "gen_ai_response_model", "gen_ai_provider_name"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spark_upstream_errors_total",
		Help: "Failed upstream attempts (failed-over ones included) by provider and error class.",
	}, []string{"gen_ai_provider_name", "error_type"})
	m.admissionWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "spark_admission_wait_seconds",
		Help:    "Time from a request's arrival to the decision of spark's limits (per IP, per key) on it, for requests a limit was asked about.",
		Buckets: AdmissionBuckets,
	})
	m.admissionRefuse = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spark_admission_refusals_total",
		Help: "Requests refused with 429 by spark's own limits, by limit (ip, key).",
	}, []string{"limit"})
	m.redisErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spark_redis_errors_total",
		Help: "Failed Redis operations by operation.",
	}, []string{"op"})
	m.databaseErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spark_database_errors_total",
		Help: "Failed database operations by operation.",
	}, []string{"op"})
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "spark_metrics_dropped_total",
		Help: "Observations dropped because MaxPending were waiting to be applied.",
	})
	m.reg.MustRegister(m.requestDuration, m.ttft, m.tokens, m.mismatches, m.upstreamErrors,
		m.admissionWait, m.admissionRefuse, m.redisErrors, m.databaseErrors, m.dropped,
		accountsCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	go m.flushLoop()
	return m
}

// Registry is the registry the instruments are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Close stops the flushing goroutine and applies what is pending.
// Observations after Close are dropped.
func (m *Metrics) Close() error {
	if m == nil {
		return nil
	}
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.Flush()
	})
	return nil
}

// Handler serves the registry in the Prometheus text format, after
// applying the observations pending before the scrape.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Flush()
		h.ServeHTTP(w, r)
	})
}

// Flush applies the pending observations to the instruments.
func (m *Metrics) Flush() {
	if m == nil {
		return
	}
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	m.mu.Lock()
	chunks := m.full
	if len(m.cur) > 0 {
		chunks = append(chunks, m.cur)
		m.cur = nil
	}
	m.full, m.n = nil, 0
	m.mu.Unlock()
	for _, batch := range chunks {
		for i := range batch {
			ev := &batch[i]
			if ev.kind == eventRequest {
				m.applyRequest(&ev.req)
			}
			m.applyAdmission(ev.req.Admission)
		}
	}
	m.mu.Lock()
	for _, batch := range chunks {
		if len(m.free) < maxFreeChunks {
			m.free = append(m.free, batch[:0])
		}
	}
	m.mu.Unlock()
}

// chunkSize is the length of one chunk of pending observations;
// maxFreeChunks bounds the emptied chunks kept for reuse.
const (
	chunkSize     = 512
	maxFreeChunks = 4
)

// flushLoop applies pending observations every FlushInterval until Close.
func (m *Metrics) flushLoop() {
	defer close(m.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.Flush()
		case <-m.kick:
			m.Flush()
		case <-m.stop:
			return
		}
	}
}

// ObserveRequest adds one finished API request to the pending
// observations. It never blocks on the instruments: with MaxPending
// waiting, the observation is dropped and counted.
func (m *Metrics) ObserveRequest(r Request) {
	if m == nil {
		return
	}
	m.enqueue(event{kind: eventRequest, req: r})
}

// ObserveAdmission adds the admission decision of a request outside the
// API (whose ObserveRequest carries its own).
func (m *Metrics) ObserveAdmission(a Admission) {
	if m == nil {
		return
	}
	m.enqueue(event{kind: eventAdmission, req: Request{Admission: a}})
}

func (m *Metrics) enqueue(ev event) {
	m.mu.Lock()
	if m.closed || m.n >= MaxPending {
		m.mu.Unlock()
		m.dropped.Inc()
		return
	}
	if len(m.cur) == cap(m.cur) {
		if m.cur != nil {
			m.full = append(m.full, m.cur)
			// Apply it soon: pending observations hold pointers the
			// garbage collector scans at every cycle, so they are kept
			// few. One wake-up per chunk, not per request.
			select {
			case m.kick <- struct{}{}:
			default:
			}
		}
		if k := len(m.free); k > 0 {
			m.cur, m.free = m.free[k-1], m.free[:k-1]
		} else {
			m.cur = make([]event, 0, chunkSize)
		}
	}
	m.cur = append(m.cur, ev)
	m.n++
	m.mu.Unlock()
}

// UpstreamError counts one failed upstream attempt of provider with the
// gateway's error class (rate_limited, upstream_timeout, ...).
func (m *Metrics) UpstreamError(provider, errorType string) {
	if m == nil {
		return
	}
	m.upstreamErrors.WithLabelValues(provider, errorType).Inc()
}

// RedisError counts one failed Redis operation (op names it: "admit",
// "publish", ...). Safe for concurrent use; callers on a nil *Metrics
// count nothing.
func (m *Metrics) RedisError(op string) {
	if m == nil {
		return
	}
	m.redisErrors.WithLabelValues(op).Inc()
}

// DatabaseError counts one failed database operation (op names it).
func (m *Metrics) DatabaseError(op string) {
	if m == nil {
		return
	}
	m.databaseErrors.WithLabelValues(op).Inc()
}

// ErrorCounter is what the shared-state and store engines count their
// failures through; *Metrics implements it (a nil one counts nothing).
type ErrorCounter interface {
	RedisError(op string)
	DatabaseError(op string)
}

var _ ErrorCounter = (*Metrics)(nil)

// WatchAccounts sets the function the accounts gauge (spark_accounts)
// reads at each scrape: the pool's snapshot, as provider and state.
func (m *Metrics) WatchAccounts(snapshot func() []AccountState) {
	if m == nil {
		return
	}
	m.accountsMu.Lock()
	m.accounts = snapshot
	m.accountsMu.Unlock()
}

// requestKey is the label tuple of a request's series.
type requestKey struct {
	route, reqModel, respModel, provider, errorType string
	status                                          int
}

// requestSeries are a label tuple's instruments, resolved once: a
// WithLabelValues per instrument (label hashing and validation) costs more
// than the observations themselves.
type requestSeries struct {
	duration, ttft           prometheus.Observer
	input, output, reasoning prometheus.Observer
	mismatch                 prometheus.Counter // nil when the models agree
}

func (m *Metrics) applyRequest(r *Request) {
	k := requestKey{r.Route, m.bound(r.RequestModel), m.bound(r.ResponseModel), r.Provider, r.ErrorType, r.Status}
	s := m.series[k]
	if s == nil {
		if len(m.series) >= maxSeries {
			clear(m.series) // resolved again on demand; the series stay registered
		}
		s = &requestSeries{
			duration:  m.requestDuration.WithLabelValues(k.route, k.reqModel, k.respModel, k.provider, strconv.Itoa(k.status), k.errorType),
			ttft:      m.ttft.WithLabelValues(k.route, k.reqModel, k.respModel, k.provider),
			input:     m.tokens.WithLabelValues("input", k.reqModel, k.respModel, k.provider),
			output:    m.tokens.WithLabelValues("output", k.reqModel, k.respModel, k.provider),
			reasoning: m.tokens.WithLabelValues("reasoning", k.reqModel, k.respModel, k.provider),
		}
		if Mismatch(r.RequestModel, r.ResponseModel) {
			s.mismatch = m.mismatches.WithLabelValues(k.reqModel, k.respModel, k.provider)
		}
		m.series[k] = s
	}
	s.duration.Observe(r.Duration.Seconds())
	if r.TimeToFirstToken > 0 {
		s.ttft.Observe(r.TimeToFirstToken.Seconds())
	}
	if r.InputTokens > 0 || r.OutputTokens > 0 || r.ReasoningTokens > 0 {
		s.input.Observe(float64(r.InputTokens))
		s.output.Observe(float64(r.OutputTokens))
		if r.ReasoningTokens > 0 {
			s.reasoning.Observe(float64(r.ReasoningTokens))
		}
	}
	if s.mismatch != nil {
		s.mismatch.Inc()
	}
}

func (m *Metrics) applyAdmission(a Admission) {
	if a.Wait <= 0 {
		return
	}
	m.admissionWait.Observe(a.Wait.Seconds())
	if a.RefusedBy == "" {
		return
	}
	c := m.refusals[a.RefusedBy]
	if c == nil {
		c = m.admissionRefuse.WithLabelValues(a.RefusedBy)
		m.refusals[a.RefusedBy] = c
	}
	c.Inc()
}

// maxSeries bounds the resolved-series cache.
const maxSeries = 4096

// Mismatch reports whether a request that named model requested was served
// another model: both are known and they differ beyond letter case. A
// request whose model did not resolve (served "") is not a mismatch.
func Mismatch(requested, served string) bool {
	return requested != "" && served != "" && !strings.EqualFold(requested, served)
}

// bound returns v while fewer than MaxLabelValues model names were seen
// (or v is one of them), else OtherLabel. Called with applyMu held.
func (m *Metrics) bound(v string) string {
	if v == "" {
		return v
	}
	if _, ok := m.seen[v]; ok {
		return v
	}
	if len(m.seen) >= MaxLabelValues {
		return OtherLabel
	}
	m.seen[v] = struct{}{}
	return v
}

// accountsCollector reports spark_accounts from the pool's snapshot at
// scrape time.
type accountsCollector struct{ m *Metrics }

var accountsDesc = prometheus.NewDesc("spark_accounts",
	"Upstream accounts by provider and state (active, resting, disabled).",
	[]string{"gen_ai_provider_name", "state"}, nil)

func (c accountsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- accountsDesc }

func (c accountsCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.accountsMu.Lock()
	snapshot := c.m.accounts
	c.m.accountsMu.Unlock()
	if snapshot == nil {
		return
	}
	counts := map[AccountState]int{}
	for _, a := range snapshot() {
		counts[a]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(accountsDesc, prometheus.GaugeValue, float64(n), k.Provider, k.State)
	}
}
