// Package server assembles spark's HTTP surface: the middleware stack
// (recovery, request ids, access log, CORS, route prefix, per-IP limit,
// API-key auth, per-key limit) around the front-ends' routes.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
)

// KeyVerifier checks a client API key and returns its id.
type KeyVerifier interface {
	Verify(ctx context.Context, key string) (keyID string, ok bool, err error)
}

// Limiter decides whether one more request under key is allowed now.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// ErrorWriter renders err in the envelope of the client API r speaks.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// Options configure the server's middleware.
type Options struct {
	Logger     *slog.Logger
	Prefix     string      // ROUTE_PREFIX, normalised ("" or "/hf")
	Keys       KeyVerifier // nil = no authentication (ALLOW_NO_AUTH)
	IPLimiter  Limiter     // nil = no per-IP limit
	KeyLimiter Limiter     // nil = no per-key limit
	WriteError ErrorWriter
	TrustProxy bool   // take the client IP and scheme from X-Forwarded-* headers
	PublicURL  string // external base URL for links spark mints (PUBLIC_URL)
	Debug      bool
}

// Server is spark's root http.Handler.
type Server struct {
	opts   Options
	routes *http.ServeMux
	ready  atomic.Bool
}

// New returns a Server; register routes on Mux() before serving.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, routes: http.NewServeMux()}
	s.routes.HandleFunc("GET /healthz", s.healthz)
	s.routes.HandleFunc("HEAD /healthz", s.healthz)
	s.routes.HandleFunc("GET /{$}", s.root)
	s.routes.HandleFunc("HEAD /{$}", s.root)
	return s
}

// Mux is where front-ends register their routes (without the route prefix:
// the server strips it).
func (s *Server) Mux() *http.ServeMux { return s.routes }

// SetReady marks the gateway able to serve; /healthz answers 503 until then.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// ServeHTTP implements http.Handler. Every request goes through the same
// steps in order: panic recovery, request id, access log, CORS (preflights
// answered here), path rewriting, the per-IP limit, authentication, the
// per-key limit, then the routes. The steps run one after the other rather
// than as nested middleware, so the stack under a long-lived stream holds
// one frame for all of them instead of two per step: a streaming handler's
// goroutine then stays within its first stack segment (BENCHMARKS.md, open
// streams).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer s.recoverPanic(w, r)
	r = s.withRequestID(w, r)
	sr := &statusRecorder{ResponseWriter: w}
	start := time.Now()
	admitted, ok := s.admit(sr, r)
	if ok {
		s.routes.ServeHTTP(sr, admitted)
	}
	s.logRequest(r, reqctx.KeyID(admitted.Context()), sr, start)
}

// admit runs the steps before the routes. It reports false when one of
// them answered the request (preflight, unknown path, limit, bad key); r
// comes back with the rewritten path and the caller's key id.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if s.preflight(w, r) {
		return r, false
	}
	r, ok := s.rewrite(w, r)
	if !ok {
		return r, false
	}
	if s.opts.IPLimiter != nil && isAPI(r) &&
		!s.allow(w, r, s.opts.IPLimiter, "ip:"+ClientIP(r, s.opts.TrustProxy), "Too many requests from this IP address") {
		return r, false
	}
	if r, ok = s.authenticate(w, r); !ok {
		return r, false
	}
	if id := reqctx.KeyID(r.Context()); s.opts.KeyLimiter != nil && isAPI(r) && id != "" &&
		!s.allow(w, r, s.opts.KeyLimiter, "key:"+id, "Too many requests for this API key") {
		return r, false
	}
	return r, true
}

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
	_, _ = w.Write([]byte("spark: OpenAI- and Anthropic-compatible gateway. API under " + s.opts.Prefix + "/v1\n"))
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if s.opts.WriteError != nil {
		s.opts.WriteError(w, r, err)
		return
	}
	e := gw.AsError(err)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	http.Error(w, e.Message, gw.HTTPStatus(e.Code))
}

// recoverPanic, deferred, turns a panic into a 500 in the API's envelope
// and a log line.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.opts.Logger.Error("panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
	s.writeError(w, r, errors.New("panic"))
}

// withRequestID gives the request an id, echoed as X-Request-Id and
// request-id (the Anthropic SDKs read the latter), and puts it and the base
// URL into the request's context.
func (s *Server) withRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := "req_" + hex.EncodeToString(b[:])
	w.Header().Set("X-Request-Id", id)
	w.Header().Set("Request-Id", id)
	ctx := reqctx.WithRequestID(r.Context(), id)
	ctx = reqctx.WithBaseURL(ctx, s.baseURL(r))
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

// statusRecorder captures the status for the access log and forwards
// flushes (streams) to the real writer.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
	}
	sr.ResponseWriter.WriteHeader(code)
}

func (sr *statusRecorder) Write(p []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	n, err := sr.ResponseWriter.Write(p)
	sr.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

// logRequest writes the access-log line of a finished request.
// It logs the path as the client sent it and the id of the key that
// authenticated the request ("" when none did).
func (s *Server) logRequest(r *http.Request, keyID string, sr *statusRecorder, start time.Time) {
	status := sr.status
	if status == 0 {
		status = http.StatusOK
	}
	if r.Context().Err() != nil && status == http.StatusOK && sr.bytes == 0 {
		status = 499
	}
	level := slog.LevelInfo
	if r.URL.Path == "/healthz" {
		level = slog.LevelDebug
	}
	s.opts.Logger.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", sr.bytes),
		slog.Duration("duration", time.Since(start)),
		slog.String("key_id", keyID),
	)
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
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Api-Key, Anthropic-Version, Anthropic-Beta, OpenAI-Organization, OpenAI-Project")
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
		s.writeError(w, r, &gw.Error{Code: gw.CodeNotFound, Message: "no route for " + r.URL.Path + " (routes are under " + s.opts.Prefix + "/v1)"})
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
// reports false for a path outside the prefix.
func (s *Server) normalise(p string) (string, bool) {
	if s.opts.Prefix != "" && p != "/healthz" && p != "/" {
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

// isAPI reports whether the path needs authentication and limits.
func isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/v1"
}

// ClientIP returns the client's address: the connection's remote address,
// or with trustProxy the first X-Forwarded-For / X-Real-IP entry.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := strings.TrimSpace(first); ip != "" {
				return ip
			}
		}
		if ip := strings.TrimSpace(r.Header.Get("X-Real-IP")); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) allow(w http.ResponseWriter, r *http.Request, l Limiter, key, msg string) bool {
	ok, wait, err := l.Allow(r.Context(), key)
	if err != nil {
		s.opts.Logger.Error("rate limiter failed; allowing request", "error", err)
		return true
	}
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	s.writeError(w, r, &gw.Error{Code: gw.CodeClientRateLimited, RetryAfter: wait,
		Message: msg + "; retry in " + strconv.Itoa(max(secs, 1)) + "s"})
	return false
}

// APIKey extracts the client key: Authorization Bearer, x-api-key
// (Anthropic) or api-key (Azure style).
func APIKey(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if k, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
		if k, ok := strings.CutPrefix(h, "bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	return strings.TrimSpace(r.Header.Get("Api-Key"))
}

// isPublic reports routes whose URL is itself the capability (signed image
// proxy links): they need no API key.
func isPublic(r *http.Request) bool {
	return r.URL.Path == "/v1/images/proxy" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
}

// authenticate checks the client key of API requests (all but the public
// ones) and puts its id into the request's context; it answers 401 and
// reports false for a missing or wrong key.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if s.opts.Keys == nil || !isAPI(r) || isPublic(r) {
		return r, true
	}
	key := APIKey(r)
	if key == "" {
		s.writeError(w, r, &gw.Error{Code: gw.CodeUnauthorized, Message: "Missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'"})
		return r, false
	}
	id, ok, err := s.opts.Keys.Verify(r.Context(), key)
	if err != nil {
		s.writeError(w, r, gw.Wrap(gw.CodeInternal, err, "could not verify the API key"))
		return r, false
	}
	if !ok {
		s.writeError(w, r, &gw.Error{Code: gw.CodeUnauthorized, Message: "Incorrect API key provided"})
		return r, false
	}
	return r.WithContext(reqctx.WithKeyID(r.Context(), id)), true
}
