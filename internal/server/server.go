// Package server assembles spark's HTTP surface: one route table in which
// every route has a class (internal/route), and the steps applied to every
// request by its route's class — recovery, request ids, access log, CORS,
// route prefix, per-IP limit, authentication, per-key limit, body bound and
// read deadline — with every error written as JSON in the caller's dialect.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/dashapi"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/metrics"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// KeyVerifier checks a client API key. It reports ok false for a key it
// does not know; an error with gw.CodeUnauthorized (an expired key) is
// answered 401 with its message, any other error 500.
type KeyVerifier interface {
	Verify(ctx context.Context, key string) (k ClientKey, ok bool, err error)
}

// ClientKey is a verified client API key: its id and the policies the
// server enforces on every request made with it. Zero values restrict
// nothing.
type ClientKey struct {
	ID string // safe to log
	// Grant goes into the request's context (reqctx.WithGrant) for the
	// gateway: whose accounts serve the key and which models it may use.
	// nil: every account and model.
	Grant *reqctx.Grant
	// IPAllow lists the client addresses (as ClientIP computes them) the
	// key may be used from: 403 from any other.
	IPAllow []netip.Prefix
	// PerMinute bounds the key's requests in any sliding minute, refused
	// ones included; 0 takes Options.KeyPerMinute (KEY_RATE_LIMIT).
	PerMinute int
	// MaxConcurrent bounds the key's requests in flight.
	MaxConcurrent int
	// TokenQuota bounds the input and output tokens of the key's whole
	// life; TokensUsed is what it has used so far. Used up: 429
	// insufficient_quota.
	TokenQuota, TokensUsed int64
}

// KeyAdmitter admits a client-key request under its key's rate and
// concurrency limits in one step (limit.Admitter behind an adapter).
// Refused, it returns a *gw.Error with gw.CodeClientRateLimited (and its
// RetryAfter); any other error is a failure of its backend, which lets the
// request through. release, never nil when err is nil, is called once when
// the request has ended, its answer stream included.
type KeyAdmitter interface {
	AdmitKey(ctx context.Context, keyID string, perMinute, maxConcurrent int) (release func(), err error)
}

// TokenMeter counts the tokens client keys use, for their token quotas.
// AddTokens is called after every client-key request that reported tokens;
// it must not block (the store is written off the request path).
type TokenMeter interface {
	AddTokens(keyID string, n int64)
}

// Authenticator checks the credential of a dashboard-session, admin or
// metrics request (a cookie, a header) and returns the id of whom it
// proves. It must not read the request body. A valid credential that
// lacks the route's rights is reported as an error with gw.CodeForbidden
// (answered 403); other errors are answered 500.
type Authenticator interface {
	Authenticate(r *http.Request) (id string, ok bool, err error)
}

// Limiter decides whether one more request under key is allowed now.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// UsageRecorder receives the usage record of every finished client-key
// request. Record must not block (usage.Recorder queues it).
type UsageRecorder interface {
	Record(rec store.UsageRecord) bool
}

// ErrorWriter renders err in dialect d's envelope (d is resolved: OpenAI,
// Anthropic or Google, never route.ByClient). It must write the whole response.
type ErrorWriter func(w http.ResponseWriter, d route.Dialect, err error)

// Body read deadline defaults: a request body must arrive within
// DefaultBodyReadBase plus its size at DefaultBodyMinRate (its declared
// Content-Length when smaller than its route's bound, else the bound), and
// never later than DefaultBodyReadMax (the whole-request read timeout spark
// had before). A 1 KiB chat body gets 10 s, a 32 MiB one 4 min 26 s, a
// large image edit 5 min.
const (
	DefaultBodyReadBase = 10 * time.Second
	DefaultBodyMinRate  = 128 << 10 // bytes per second: 1 Mbit/s
	DefaultBodyReadMax  = 5 * time.Minute
)

// Options configure the server.
type Options struct {
	Logger *slog.Logger
	Prefix string      // ROUTE_PREFIX, normalised ("" or "/hf")
	Keys   KeyVerifier // nil = client-key routes are open (ALLOW_NO_AUTH)
	// Session, Admin and Metrics authenticate the routes of those classes;
	// nil refuses every request to them with 401.
	Session   Authenticator
	Admin     Authenticator
	Metrics   Authenticator
	IPLimiter Limiter // nil = no per-IP limit
	// KeyAdmitter applies each key's requests-per-minute and concurrency
	// limits; nil: none. KeyPerMinute is the requests-per-minute limit of
	// a key without its own (KEY_RATE_LIMIT; 0: none).
	KeyAdmitter  KeyAdmitter
	KeyPerMinute int
	// Tokens counts every key's tokens after each request (nil: token
	// quotas are not kept up to date).
	Tokens TokenMeter
	// WriteError renders errors; nil writes a minimal OpenAI or Anthropic
	// envelope.
	WriteError ErrorWriter
	TrustProxy bool   // take the client IP and scheme from X-Forwarded-* headers
	PublicURL  string // external base URL for links spark mints (PUBLIC_URL)
	Debug      bool
	// Usage receives one record per client-key request when it has ended
	// (nil: no usage accounting, USAGE_RECORDS=0).
	Usage UsageRecorder
	// BodyReadBase, BodyMinRate and BodyReadMax set request bodies' read
	// deadline (see DefaultBodyReadBase); zero takes the default.
	BodyReadBase time.Duration
	BodyMinRate  int64
	BodyReadMax  time.Duration
	// Instruments receive, for every client-key request, the observation
	// taken from the same usage note as its usage record, and the
	// limiters' admission decisions (nil: no metrics). Metrics above is
	// the authenticator of the /metrics route.
	Instruments *metrics.Metrics
	// Readiness are the checks /readyz runs (the store, shared state);
	// AddReadinessCheck adds more.
	Readiness []ReadinessCheck
	// Root serves GET / (a public route: the dashboard, which sends a
	// browser without a session to its sign-in page); nil answers a line
	// saying where the APIs are.
	Root http.Handler
}

// ReadinessCheck is one dependency /readyz checks: Check returns nil when
// it is reachable. Name appears in /readyz's answer (never the error, which
// may hold an address).
type ReadinessCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// ReadinessTimeout bounds each readiness check of one /readyz request.
const ReadinessTimeout = 2 * time.Second

// policy is what the server applies to the routes of one class.
type policy struct {
	ipLimit  bool  // the per-IP limit
	keyLimit bool  // the client key's policies (allowlist, limits, quota)
	maxBody  int64 // default body bound
	quiet    bool  // access log at Debug (probes)
	// sameOrigin refuses cross-origin state-changing requests (browser
	// sessions ride on a cookie; client keys are sent explicitly and
	// need no such check).
	sameOrigin bool
}

// policies is the one place that says what each class gets; authentication
// is chosen by class in (*Server).authenticate.
var policies = [...]policy{
	route.Public:     {maxBody: 64 << 10, quiet: true, sameOrigin: true},
	route.ClientKey:  {ipLimit: true, keyLimit: true, maxBody: 32 << 20},
	route.SignedLink: {ipLimit: true, maxBody: 64 << 10, sameOrigin: true},
	route.Session:    {ipLimit: true, maxBody: 1 << 20, sameOrigin: true},
	route.Admin:      {ipLimit: true, maxBody: 1 << 20, sameOrigin: true},
	route.Metrics:    {ipLimit: true, maxBody: 64 << 10, sameOrigin: true},
}

// entry is a registered route with its effective body bound.
type entry struct {
	route.Route
	maxBody int64
}

// Server is spark's root http.Handler.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	table   map[string]*entry // by pattern
	order   []*entry          // in registration order
	methods []string          // every method a route answers, for Allow
	ready   atomic.Bool
	// draining is set at the start of a graceful shutdown: /readyz then
	// answers 503 so load balancers stop sending new requests.
	draining atomic.Bool
	checksMu sync.Mutex
	checks   []ReadinessCheck
	// sameOrigin refuses cross-origin POST, PUT, PATCH and DELETE on the
	// classes whose policy asks for it (Go's CSRF protection: Sec-Fetch-Site,
	// else Origin against Host and PUBLIC_URL).
	sameOrigin *http.CrossOriginProtection
}

// New returns a Server serving the public routes (/, /healthz, /readyz);
// add the others with Handle before serving.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BodyReadBase <= 0 {
		opts.BodyReadBase = DefaultBodyReadBase
	}
	if opts.BodyMinRate <= 0 {
		opts.BodyMinRate = DefaultBodyMinRate
	}
	if opts.BodyReadMax <= 0 {
		opts.BodyReadMax = DefaultBodyReadMax
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), table: map[string]*entry{}, sameOrigin: http.NewCrossOriginProtection(),
		checks: slices.Clone(opts.Readiness)}
	if u, err := url.Parse(opts.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		// The origin browsers send when spark is reached at PUBLIC_URL
		// through a proxy that rewrites Host.
		_ = s.sameOrigin.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	root := opts.Root
	if root == nil {
		root = http.HandlerFunc(s.root)
	}
	err := s.Handle(
		route.Route{Pattern: "GET /healthz", Class: route.Public, Handler: http.HandlerFunc(s.healthz)},
		route.Route{Pattern: "GET /readyz", Class: route.Public, Handler: http.HandlerFunc(s.readyz)},
		route.Route{Pattern: "GET /{$}", Class: route.Public, Handler: root},
	)
	if err != nil {
		panic(err) // the built-in routes are valid
	}
	return s
}

// Handle adds routes to the table (patterns without the route prefix: the
// server strips it). It fails, and the gateway must not start, for a route
// without a valid class, a pattern without a method, a nil handler, or a
// pattern that conflicts with one already registered.
func (s *Server) Handle(routes ...route.Route) error {
	for _, rt := range routes {
		if err := s.handle(rt); err != nil {
			return fmt.Errorf("route %q: %w", rt.Pattern, err)
		}
	}
	return nil
}

func (s *Server) handle(rt route.Route) (err error) {
	switch {
	case !rt.Class.Valid():
		return fmt.Errorf("no class (public, client key, signed link, session, admin or metrics)")
	case rt.Method() == "" || !strings.HasPrefix(rt.Path(), "/"):
		return fmt.Errorf("pattern must be \"METHOD /path\"")
	case rt.Handler == nil:
		return fmt.Errorf("no handler")
	case rt.MaxBody < 0:
		return fmt.Errorf("negative body bound")
	}
	defer func() {
		// ServeMux panics on an invalid or conflicting pattern.
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	s.mux.Handle(rt.Pattern, rt.Handler)
	e := &entry{Route: rt, maxBody: rt.MaxBody}
	if e.maxBody == 0 {
		e.maxBody = policies[rt.Class].maxBody
	}
	s.table[rt.Pattern] = e
	s.order = append(s.order, e)
	s.addMethod(rt.Method())
	if rt.Method() == http.MethodGet {
		s.addMethod(http.MethodHead)
	}
	return nil
}

// addMethod records m for the Allow header, in the order GET, HEAD, POST,
// PUT, PATCH, DELETE, then others as registered.
func (s *Server) addMethod(m string) {
	if slices.Contains(s.methods, m) {
		return
	}
	s.methods = append(s.methods, m)
	rank := func(m string) int {
		if i := slices.Index([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}, m); i >= 0 {
			return i
		}
		return 6
	}
	slices.SortStableFunc(s.methods, func(a, b string) int { return rank(a) - rank(b) })
}

// Routes returns the route table in registration order.
func (s *Server) Routes() []route.Route {
	out := make([]route.Route, len(s.order))
	for i, e := range s.order {
		out[i] = e.Route
	}
	return out
}

// SetReady marks the gateway able to serve; /healthz and /readyz answer
// 503 until then.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// SetDraining marks the start of a graceful shutdown: from then on
// /readyz answers 503 ("draining") while /healthz still answers 200, so
// the process is taken out of rotation without being restarted.
func (s *Server) SetDraining() { s.draining.Store(true) }

// AddReadinessCheck adds a dependency /readyz checks (a shared-state
// connection set up after the server).
func (s *Server) AddReadinessCheck(c ReadinessCheck) {
	s.checksMu.Lock()
	s.checks = append(s.checks, c)
	s.checksMu.Unlock()
}

// ServeHTTP implements http.Handler. Every request goes through the same
// steps in order: panic recovery, request id, access log, CORS (preflights
// answered here), path rewriting, route matching (404 and 405 answered
// here), then by the route's class the per-IP limit, authentication, the
// per-key limit and the body bound, then the route's handler. The steps run
// one after the other rather than as nested middleware, so the stack under
// a long-lived stream holds one frame for all of them instead of two per
// step: a streaming handler's goroutine then stays within its first stack
// segment (BENCHMARKS.md, open streams).
//
// With usage accounting on, a usage note (reqctx.Usage) goes into the
// request's context with the request id; the gateway fills it while the
// handler runs, and the last step turns it into the request's usage record
// for a client-key route. That costs no goroutine and no lock beyond the
// note's own, taken a few times per request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var e *entry // the matched route, nil until matched
	defer s.recoverPanic(w, r, &e)
	var note *reqctx.Usage
	if s.opts.Usage != nil || s.opts.Tokens != nil || s.opts.Instruments != nil {
		note = new(reqctx.Usage)
	}
	r = s.withRequestID(w, r, note)
	sr := &statusRecorder{ResponseWriter: w, pendingBody: bodyPending(r), http1: r.ProtoMajor == 1, usage: note}
	// The key's concurrency slot is held until the handler has returned,
	// which for a stream is when the stream has ended; deferred, a panic
	// frees it too.
	defer sr.releaseKey()
	start := time.Now()
	admitted, ok := s.admit(sr, r, &e)
	if sr.limited && s.opts.Instruments != nil {
		// From arrival to the admission decision: one clock read, as a
		// read costs as much as the rest of the metrics' work.
		sr.admission.Wait = max(time.Since(start), time.Nanosecond)
	}
	if ok {
		s.mux.ServeHTTP(sr, admitted)
	}
	sr.releaseKey()
	keyID := reqctx.KeyID(admitted.Context())
	status, elapsed := s.logRequest(r, keyID, e, sr, start)
	if note != nil && e != nil && e.Class == route.ClientKey {
		owner := ""
		if g := reqctx.GrantOf(admitted.Context()); g != nil {
			owner = g.OwnerID
		}
		// One reading of the note feeds the token meter, the metrics and
		// the usage record.
		n := note.Note()
		if s.opts.Tokens != nil && keyID != "" && n.InputTokens+n.OutputTokens > 0 {
			s.opts.Tokens.AddTokens(keyID, n.InputTokens+n.OutputTokens)
		}
		if s.opts.Instruments != nil {
			s.observe(e, sr, &n, status, start, elapsed)
		}
		if s.opts.Usage != nil {
			s.recordUsage(r, keyID, owner, e, sr, n, status, start, elapsed)
		}
	} else if sr.admission.Wait > 0 {
		s.opts.Instruments.ObserveAdmission(sr.admission)
	}
}

// observe hands the request's observation, taken from the usage note
// (the usage record's source), to the metrics queue.
func (s *Server) observe(e *entry, sr *statusRecorder, n *reqctx.UsageNote, status int, start time.Time, elapsed time.Duration) {
	obs := metrics.Request{
		Route:           e.Pattern,
		RequestModel:    n.Model,
		ResponseModel:   n.ServedModel,
		Provider:        n.Provider,
		Status:          status,
		ErrorType:       n.ErrorClass,
		Duration:        elapsed,
		InputTokens:     n.InputTokens,
		OutputTokens:    n.OutputTokens,
		ReasoningTokens: n.ReasoningTokens,
	}
	if !n.FirstEvent.IsZero() {
		obs.TimeToFirstToken = max(n.FirstEvent.Sub(start), time.Nanosecond)
	}
	if obs.ErrorType == "" && status == 499 {
		obs.ErrorType = string(gw.CodeCanceled)
	}
	obs.Admission = sr.admission
	s.opts.Instruments.ObserveRequest(obs)
}

// recordUsage hands the usage record of a finished client-key request to
// the recorder.
func (s *Server) recordUsage(r *http.Request, keyID, owner string, e *entry, sr *statusRecorder, n reqctx.UsageNote, status int, start time.Time, elapsed time.Duration) {
	rec := store.UsageRecord{
		Time:            start.Add(elapsed),
		RequestID:       reqctx.RequestID(r.Context()),
		KeyID:           keyID,
		OwnerID:         owner,
		AccountID:       n.AccountID,
		Route:           e.Pattern,
		Model:           n.Model,
		ServedModel:     n.ServedModel,
		Status:          status,
		ErrorClass:      n.ErrorClass,
		InputTokens:     n.InputTokens,
		OutputTokens:    n.OutputTokens,
		ReasoningTokens: n.ReasoningTokens,
		LatencyMS:       elapsed.Milliseconds(),
		Stream:          strings.HasPrefix(sr.Header().Get("Content-Type"), "text/event-stream"),
	}
	if !n.FirstEvent.IsZero() {
		// At least 1 ms: 0 means no answer event came. The latency is at
		// least the time to the first event (a sub-millisecond answer
		// would otherwise report 0 ms of latency and 1 ms to its first
		// event).
		rec.TTFTMS = max(n.FirstEvent.Sub(start).Milliseconds(), 1)
		rec.LatencyMS = max(rec.LatencyMS, rec.TTFTMS)
	}
	if rec.ErrorClass == "" && status == 499 {
		rec.ErrorClass = string(gw.CodeCanceled)
	}
	s.opts.Usage.Record(rec)
}

// admit runs the steps before the handler. It reports false when one of
// them answered the request (preflight, unknown path or method, limit, bad
// credential, body too large); r comes back with the rewritten path, the
// caller's key id and the bounded body, and *matched with the route.
func (s *Server) admit(w *statusRecorder, r *http.Request, matched **entry) (*http.Request, bool) {
	if s.preflight(w, r) {
		return r, false
	}
	r, ok := s.rewrite(w, r)
	if !ok {
		return r, false
	}
	if esc := r.URL.EscapedPath(); r.Method != http.MethodConnect && cleanPath(esc) != esc {
		s.redirect(w, r, cleanPath(esc), http.StatusTemporaryRedirect)
		return r, false
	}
	_, pattern := s.mux.Handler(r)
	e := s.table[pattern]
	if e == nil {
		if s.opts.IPLimiter != nil && !s.allowIP(w, r, route.ByClient) {
			return r, false
		}
		s.noRoute(w, r, pattern)
		return r, false
	}
	*matched = e
	pol := policies[e.Class]
	if pol.ipLimit && s.opts.IPLimiter != nil && !s.allowIP(w, r, e.Dialect) {
		return r, false
	}
	if pol.sameOrigin && s.sameOrigin.Check(r) != nil {
		s.refuse(w, r, e.Dialect, &gw.Error{Code: gw.CodeForbidden,
			Message: "Cross-origin request refused: this route accepts state-changing requests only from spark's own pages."})
		return r, false
	}
	var key *ClientKey
	if r, key, ok = s.authenticate(w, r, e); !ok {
		return r, false
	}
	if key != nil && pol.keyLimit {
		if r, ok = s.applyKeyPolicy(w, r, e, key); !ok {
			return r, false
		}
	}
	if w.pendingBody {
		if r.ContentLength > e.maxBody {
			s.refuse(w, r, e.Dialect, &gw.Error{Code: gw.CodeTooLarge,
				Message: "Request body too large: the limit is " + strconv.FormatInt(e.maxBody, 10) + " bytes."})
			return r, false
		}
		s.boundBody(w, r, e.maxBody)
	}
	return r, true
}

// noRoute answers a request no route matches: a redirect to the path with
// a trailing slash when the mux offers one (pattern is then that path),
// else 405 with Allow when the path exists under other methods, else 404;
// the errors in the caller's dialect.
func (s *Server) noRoute(w *statusRecorder, r *http.Request, pattern string) {
	if pattern != "" && strings.HasPrefix(pattern, "/") {
		s.redirect(w, r, pattern, http.StatusMovedPermanently)
		return
	}
	allowed, d := s.allowedMethods(r)
	where := clip(r.Method, 16) + " " + s.opts.Prefix + clip(r.URL.Path, 256)
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.refuse(w, r, d, &gw.Error{Code: gw.CodeMethodNotAllowed,
			Message: "Invalid method for URL (" + where + "): use " + strings.Join(allowed, ", ") + "."})
		return
	}
	s.refuse(w, r, route.ByClient, &gw.Error{Code: gw.CodeNotFound,
		Message: "Invalid URL (" + where + "): no such route; the API is under " + s.opts.Prefix + "/v1 (the Gemini API under " + s.opts.Prefix + route.GooglePath + ")."})
}

// redirect sends the client to path (escaped, without the route prefix)
// under the route prefix, with the request's query, as http.ServeMux does
// for unclean paths (307) and a missing trailing slash (301).
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, path string, code int) {
	loc := s.opts.Prefix + path
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, loc, code)
}

// clip bounds a client-sent string echoed in an error message to n bytes
// (cut on a rune boundary, marked with "...").
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// cleanPath is http.ServeMux's canonical form of p: path.Clean, keeping a
// trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}

// allowedMethods lists the methods some route answers at r's path, and
// the dialect of the first such route.
func (s *Server) allowedMethods(r *http.Request) ([]string, route.Dialect) {
	var (
		allowed []string
		d       = route.ByClient
	)
	probe := *r
	for _, m := range s.methods {
		probe.Method = m
		if _, p := s.mux.Handler(&probe); s.table[p] != nil {
			if allowed == nil {
				d = s.table[p].Dialect
			}
			allowed = append(allowed, m)
		}
	}
	return allowed, d
}

// readyz answers 200 when the gateway may take new requests: started, not
// draining, and every readiness check passing; else 503 naming what is
// not ready.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case !s.ready.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("starting\n"))
		return
	case s.draining.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	s.checksMu.Lock()
	checks := slices.Clone(s.checks)
	s.checksMu.Unlock()
	var failed []string
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), ReadinessTimeout)
		err := c.Check(ctx)
		cancel()
		if err != nil {
			s.opts.Logger.LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed",
				slog.String("check", c.Name), slog.String("error", err.Error()))
			failed = append(failed, c.Name)
		}
	}
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + strings.Join(failed, ", ") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// healthz answers 200 once the gateway has started, draining or not: the
// process is alive.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("starting\n"))
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("spark: OpenAI-, Anthropic- and Gemini-compatible gateway. API under " + s.opts.Prefix + "/v1, Gemini API under " + s.opts.Prefix + route.GooglePath + "\n"))
}

// refuse answers the request with err before its handler ran. A request
// body that may still be on its way is not read: the connection closes
// after the answer (see statusRecorder.startResponse), so a slowly sent
// body cannot hold it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, d route.Dialect, err error) {
	s.writeError(w, r, d, err)
}

// writeError renders err in the dialect d resolves to for r.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, d route.Dialect, err error) {
	reqctx.UsageOf(r.Context()).SetErrorClass(string(gw.ErrorCode(err)))
	d = d.For(r)
	if s.opts.WriteError != nil {
		s.opts.WriteError(w, d, err)
		return
	}
	writeMinimalError(w, d, err)
}

// writeMinimalError is the error renderer of a server without
// Options.WriteError (the app passes the front-ends' full renderers): the
// OpenAI, Anthropic or Google envelope with the status of the error's code.
func writeMinimalError(w http.ResponseWriter, d route.Dialect, err error) {
	e := gw.AsError(err)
	status := gw.HTTPStatus(e.Code)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	var body any
	switch d {
	case route.Google:
		st := "INVALID_ARGUMENT"
		switch {
		case status == http.StatusUnauthorized:
			st = "UNAUTHENTICATED"
		case status == http.StatusNotFound:
			st = "NOT_FOUND"
		case status == http.StatusTooManyRequests:
			st = "RESOURCE_EXHAUSTED"
		case status >= 500:
			st = "INTERNAL"
		}
		body = map[string]any{"error": map[string]any{"code": status, "message": e.Message, "status": st}}
	case route.Anthropic:
		typ := "invalid_request_error"
		switch {
		case status == http.StatusUnauthorized:
			typ = "authentication_error"
		case status == http.StatusNotFound:
			typ = "not_found_error"
		case status == http.StatusTooManyRequests:
			typ = "rate_limit_error"
		case status >= 500:
			typ = "api_error"
		}
		body = map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": e.Message}}
	default:
		body = map[string]any{"error": map[string]any{"message": e.Message, "type": string(e.Code), "param": nil, "code": nil}}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// recoverPanic, deferred, turns a panic into a 500 in the API's envelope
// and a log line.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request, matched **entry) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.opts.Logger.Error("panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
	d := route.ByClient
	if *matched != nil {
		d = (*matched).Dialect
	}
	s.writeError(w, r, d, errors.New("panic"))
}

// withRequestID gives the request an id, echoed as X-Request-Id and
// request-id (the Anthropic SDKs read the latter), and puts it and the base
// URL (and the usage note, when not nil) into the request's context.
func (s *Server) withRequestID(w http.ResponseWriter, r *http.Request, note *reqctx.Usage) *http.Request {
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := "req_" + hex.EncodeToString(b[:])
	w.Header().Set("X-Request-Id", id)
	w.Header().Set("Request-Id", id)
	ctx := reqctx.WithRequestID(r.Context(), id)
	ctx = reqctx.WithBaseURL(ctx, s.baseURL(r))
	if note != nil {
		ctx = reqctx.WithUsage(ctx, note)
	}
	return r.WithContext(ctx)
}

// baseURL is the origin the client reached the gateway at (no route
// prefix): PUBLIC_URL when set, else
// the request's scheme and host (forwarded headers only behind a trusted
// proxy).
func (s *Server) baseURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return strings.TrimRight(s.opts.PublicURL, "/")
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if s.opts.TrustProxy {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, "/\\ ") {
			host = h
		}
	}
	return scheme + "://" + host
}

// logRequest writes the access-log line of a finished request: at Debug
// for public routes (probes), at Info otherwise. It logs the path as the
// client sent it and the id of the credential that authenticated the
// request ("" when none did). It returns the status logged and the
// request's duration.
func (s *Server) logRequest(r *http.Request, keyID string, e *entry, sr *statusRecorder, start time.Time) (int, time.Duration) {
	status := sr.status
	if status == 0 {
		status = http.StatusOK
	}
	if r.Context().Err() != nil && status == http.StatusOK && sr.bytes == 0 {
		status = 499
	}
	level := slog.LevelInfo
	if e != nil && policies[e.Class].quiet {
		level = slog.LevelDebug
	}
	elapsed := time.Since(start)
	s.opts.Logger.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", sr.bytes),
		slog.Duration("duration", elapsed),
		slog.String("key_id", keyID),
	)
	return status, elapsed
}

// preflight sets the CORS headers that allow browser clients
// (docs/client-api-surface.md §0.6) and answers preflight requests, without auth;
// it reports whether it answered.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	if origin := r.Header.Get("Origin"); origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	h.Set("Access-Control-Expose-Headers", "X-Request-Id, Request-Id, Retry-After, X-Should-Retry")
	if r.Method != http.MethodOptions {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Api-Key, Anthropic-Version, Anthropic-Beta, OpenAI-Organization, OpenAI-Project, X-Goog-Api-Key, X-Goog-Api-Client")
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// rewrite strips ROUTE_PREFIX and collapses a doubled /v1/v1 prefix (an
// SDK base URL that already ends in /v1 plus a path that starts with it).
// It answers 404 and reports false for a path outside the prefix.
func (s *Server) rewrite(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	p, ok := s.normalise(r.URL.Path)
	if !ok {
		s.refuse(w, r, route.ByClient, &gw.Error{Code: gw.CodeNotFound,
			Message: "Invalid URL (" + clip(r.Method, 16) + " " + clip(r.URL.Path, 256) + "): routes are under " + s.opts.Prefix + "/v1."})
		return r, false
	}
	if p == r.URL.Path {
		return r, true
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = p
	// Apply the same change to the encoded form so %2F inside a model id
	// survives.
	r2.URL.RawPath = ""
	if raw := r.URL.RawPath; raw != "" {
		if rp, ok := s.normalise(raw); ok {
			r2.URL.RawPath = rp
		}
	}
	return r2, true
}

// normalise removes the route prefix and extra /v1 segments from p. It
// reports false for a path outside the prefix. The probes and the root
// answer with or without the prefix.
func (s *Server) normalise(p string) (string, bool) {
	if s.opts.Prefix != "" && p != "/healthz" && p != "/readyz" && p != "/" {
		rest, ok := strings.CutPrefix(p, s.opts.Prefix)
		if !ok || (rest != "" && rest[0] != '/') {
			return "", false
		}
		p = rest
	}
	for strings.HasPrefix(p, "/v1/v1/") || p == "/v1/v1" {
		p = p[len("/v1"):]
	}
	return p, true
}

// ClientIP returns the client's address as the limits, a key's IP
// allowlist and the access log see it (dashapi.ClientIP).
func ClientIP(r *http.Request, trustProxy bool) string { return dashapi.ClientIP(r, trustProxy) }

func (s *Server) allowIP(w http.ResponseWriter, r *http.Request, d route.Dialect) bool {
	return s.allow(w, r, d, s.opts.IPLimiter, "ip:"+ClientIP(r, s.opts.TrustProxy), "Too many requests from this IP address")
}

// allow asks limiter l about key (its kind before the colon: "ip", "key")
// and answers 429 when it refuses; the request notes the decision for the
// metrics.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, d route.Dialect, l Limiter, key, msg string) bool {
	ok, wait, err := l.Allow(r.Context(), key)
	if sr, isSR := w.(*statusRecorder); isSR {
		// Noted on the request, observed with it when it ends.
		sr.limited = true
		if err == nil && !ok {
			sr.admission.RefusedBy, _, _ = strings.Cut(key, ":")
		}
	}
	if err != nil {
		s.opts.Logger.Error("rate limiter failed; allowing request", "error", err)
		return true
	}
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	s.refuse(w, r, d, &gw.Error{Code: gw.CodeClientRateLimited, RetryAfter: wait,
		Message: msg + "; retry in " + strconv.Itoa(max(secs, 1)) + "s"})
	return false
}

// clientKey extracts the client key: an Authorization header with the
// Bearer scheme in any case (RFC 9110, section 11.1), x-api-key (Anthropic) or
// api-key (Azure style); with google also x-goog-api-key and the ?key=
// query parameter (the Gemini API).
func clientKey(r *http.Request, google bool) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " "); ok && strings.EqualFold(scheme, "Bearer") {
			if k := strings.TrimSpace(cred); k != "" {
				return k
			}
		}
	}
	names := [...]string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key"}
	n := len(names)
	if !google {
		n--
	}
	for _, name := range names[:n] {
		if k := strings.TrimSpace(r.Header.Get(name)); k != "" {
			return k
		}
	}
	if google {
		return strings.TrimSpace(r.URL.Query().Get("key"))
	}
	return ""
}

// authenticate checks the credential r's route class asks for and puts the
// id it proves into the request's context; it answers 401 (or 500 when
// the check itself failed) and reports false otherwise.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, e *entry) (*http.Request, *ClientKey, bool) {
	var (
		id       string
		ok       bool
		err      error
		verified *ClientKey
	)
	switch e.Class {
	case route.Public, route.SignedLink:
		return r, nil, true
	case route.ClientKey:
		if s.opts.Keys == nil {
			return r, nil, true
		}
		key := clientKey(r, e.GoogleKey)
		if key == "" {
			msg := "Missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
			if e.GoogleKey {
				msg += " or 'x-goog-api-key: <key>'"
			}
			s.refuse(w, r, e.Dialect, &gw.Error{Code: gw.CodeUnauthorized, Message: msg})
			return r, nil, false
		}
		var ck ClientKey
		ck, ok, err = s.opts.Keys.Verify(r.Context(), key)
		if err == nil && !ok {
			s.refuse(w, r, e.Dialect, &gw.Error{Code: gw.CodeUnauthorized, Message: "Incorrect API key provided"})
			return r, nil, false
		}
		id, verified = ck.ID, &ck
	default:
		a := s.authenticator(e.Class)
		if a == nil {
			s.refuse(w, r, e.Dialect, &gw.Error{Code: gw.CodeUnauthorized,
				Message: "This route needs " + e.Class.String() + " authentication, which is not configured."})
			return r, nil, false
		}
		id, ok, err = a.Authenticate(r)
		if err == nil && !ok {
			s.refuse(w, r, e.Dialect, &gw.Error{Code: gw.CodeUnauthorized,
				Message: "This route needs a valid " + e.Class.String() + " credential."})
			return r, nil, false
		}
	}
	if err != nil {
		switch gw.ErrorCode(err) {
		case gw.CodeForbidden, gw.CodeUnauthorized:
			s.refuse(w, r, e.Dialect, err)
			return r, nil, false
		}
		s.refuse(w, r, e.Dialect, gw.Wrap(gw.CodeInternal, err, "could not verify the credential"))
		return r, nil, false
	}
	ctx := reqctx.WithKeyID(r.Context(), id)
	if verified != nil && verified.Grant != nil {
		ctx = reqctx.WithGrant(ctx, verified.Grant)
	}
	return r.WithContext(ctx), verified, true
}

// applyKeyPolicy enforces a verified key's policies before the handler
// runs, in this order: the address allowlist (403: a request from
// elsewhere is not counted against the key), the requests-per-minute
// window and the concurrency cap (429 with Retry-After; every request
// that gets this far counts in the window, refused or not), the token
// quota (429 insufficient_quota). The concurrency slot is released when
// the request has ended (statusRecorder.releaseKey).
func (s *Server) applyKeyPolicy(w *statusRecorder, r *http.Request, e *entry, key *ClientKey) (*http.Request, bool) {
	if len(key.IPAllow) > 0 {
		ip := ClientIP(r, s.opts.TrustProxy)
		if !addressAllowed(ip, key.IPAllow) {
			s.refuse(w, r, e.Dialect, &gw.Error{Code: gw.CodeForbidden,
				Message: "This API key may not be used from " + clip(ip, 64) + ": the address is not in its IP allowlist."})
			return r, false
		}
	}
	if s.opts.KeyAdmitter != nil {
		perMinute := key.PerMinute
		if perMinute == 0 {
			perMinute = s.opts.KeyPerMinute
		}
		if perMinute > 0 || key.MaxConcurrent > 0 {
			release, err := s.opts.KeyAdmitter.AdmitKey(r.Context(), key.ID, perMinute, key.MaxConcurrent)
			w.limited = true // noted for the metrics, observed when the request ends
			switch {
			case err == nil:
				w.release = release
			case gw.ErrorCode(err) == gw.CodeClientRateLimited:
				w.admission.RefusedBy = "key"
				s.refuse(w, r, e.Dialect, err)
				return r, false
			default:
				s.opts.Logger.Error("key limiter failed; allowing request", "key_id", key.ID, "error", err)
			}
		}
	}
	if key.TokenQuota > 0 && key.TokensUsed >= key.TokenQuota {
		w.releaseKey()
		s.refuse(w, r, e.Dialect, &gw.Error{Code: gw.CodeQuotaExhausted,
			Message: "This API key has used its token quota (" + strconv.FormatInt(key.TokensUsed, 10) + " of " +
				strconv.FormatInt(key.TokenQuota, 10) + " tokens)."})
		return r, false
	}
	return r, true
}

// addressAllowed reports whether the client address ip falls in one of
// the prefixes (an IPv4 address mapped into IPv6 counts as IPv4).
func addressAllowed(ip string, allow []netip.Prefix) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// authenticator is the configured authenticator of a session, admin or
// metrics class (nil when none is).
func (s *Server) authenticator(c route.Class) Authenticator {
	switch c {
	case route.Session:
		return s.opts.Session
	case route.Admin:
		return s.opts.Admin
	case route.Metrics:
		return s.opts.Metrics
	}
	return nil
}
