package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/metrics"
	"github.com/sparkgw/spark/internal/metrics/metricstest"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
)

// allowN admits the first n requests of any key, then refuses.
type allowN struct{ n int }

func (a *allowN) AdmitKey(context.Context, string, int, int) (func(), error) {
	if a.n--; a.n < 0 {
		return nil, &gw.Error{Code: gw.CodeClientRateLimited, RetryAfter: time.Second, Message: "Too many requests for this API key"}
	}
	return func() {}, nil
}

// metricsServer serves client-key routes that fill the usage note as the
// gateway does, with metrics on, usage records off, a per-key limit of
// keyLimit requests, and /metrics behind METRICS_TOKEN "scrape-token".
func metricsServer(t *testing.T, keyLimit int) (*server.Server, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	t.Cleanup(func() { m.Close() })
	s := server.New(server.Options{Keys: keys{"sk-good": "key_1"}, Instruments: m, WriteError: writeDialect,
		KeyAdmitter: &allowN{n: keyLimit}, KeyPerMinute: 60, Metrics: metrics.NewTokenAuthenticator("scrape-token")})
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note := reqctx.UsageOf(r.Context())
		if note == nil {
			t.Error("no usage note in the handler's context with metrics on and usage records off")
			return
		}
		model := r.URL.Query().Get("model")
		served := model
		if model == "gpt-4o" {
			served = "gemini-3-pro" // an alias served by another model
		}
		note.SetModels(model, served)
		note.SetProvider("alpha")
		note.SetAccount("acct_7")
		note.MarkFirstEvent(time.Now())
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: {}\n\n"))
		note.AddTokens(12, 34, 5)
	})
	fail := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note := reqctx.UsageOf(r.Context())
		note.SetModels("gemini-3-pro", "gemini-3-pro")
		note.SetProvider("beta")
		err := &gw.Error{Code: gw.CodeNoAccounts, Message: "All cookies are temporarily unavailable."}
		note.SetErrorClass(string(err.Code))
		openai.WriteError(w, err)
	})
	if err := s.Handle(
		route.Route{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Dialect: route.OpenAI, Handler: stream},
		route.Route{Pattern: "POST /v1/responses", Class: route.ClientKey, Dialect: route.OpenAI, Handler: fail},
		route.Route{Pattern: "GET /metrics", Class: route.Metrics, Handler: m.Handler()},
	); err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	return s, m
}

// TestMetricsFromUsageNote: the requests' metrics, scraped from /metrics,
// are those of the usage note: count by route, model, provider and status,
// durations, time to first token, tokens by type, a served-model mismatch,
// and the per-key limit's refusals.
func TestMetricsFromUsageNote(t *testing.T) {
	s, _ := metricsServer(t, 3)
	auth := map[string]string{"Authorization": "Bearer sk-good"}
	for _, p := range []string{"/v1/chat/completions?model=gpt-5.1", "/v1/chat/completions?model=gpt-4o", "/v1/responses", "/v1/responses"} {
		request(t, s, "POST", p, auth)
	}
	f := metricstest.Scrape(t, s, "/metrics", "Authorization", "Bearer scrape-token")

	const dur = "gen_ai_server_request_duration_seconds"
	tests := []struct {
		name   string
		family string
		labels []string
		want   float64
	}{
		{"chat requests", dur, []string{"http_route", "POST /v1/chat/completions", "gen_ai_provider_name", "alpha", "http_response_status_code", "200"}, 2},
		{"by requested model", dur, []string{"gen_ai_request_model", "gpt-5.1", "gen_ai_response_model", "gpt-5.1"}, 1},
		{"failed request", dur, []string{"http_route", "POST /v1/responses", "gen_ai_provider_name", "beta", "http_response_status_code", "429", "error_type", "no_accounts"}, 1},
		{"refused by the key limit", dur, []string{"http_route", "POST /v1/responses", "http_response_status_code", "429", "error_type", "client_rate_limited"}, 1},
		{"time to first token", "gen_ai_server_time_to_first_token_seconds", []string{"gen_ai_provider_name", "alpha"}, 2},
		{"input tokens", "gen_ai_client_token_usage", []string{"gen_ai_token_type", "input"}, 2},
		{"mismatch", "spark_served_model_mismatches_total", []string{"gen_ai_request_model", "gpt-4o", "gen_ai_response_model", "gemini-3-pro"}, 1},
		{"key refusals", "spark_admission_refusals_total", []string{"limit", "key"}, 1},
		{"admission decisions", "spark_admission_wait_seconds", nil, 4},
	}
	for _, tt := range tests {
		got, ok := f.Value(tt.family, tt.labels...)
		if !ok || got != tt.want {
			t.Errorf("%s: %s%v = %v (found %v), want %v; series:\n%s", tt.name, tt.family, tt.labels, got, ok, tt.want,
				strings.Join(f.Series(tt.family), "\n"))
		}
	}
	sums := map[string]float64{"input": 24, "output": 68, "reasoning": 10}
	for typ, want := range sums {
		if got, _ := f.Sum("gen_ai_client_token_usage", "gen_ai_token_type", typ); got != want {
			t.Errorf("%s tokens: sum %v, want %v", typ, got, want)
		}
	}
	if got, ok := f.Value("spark_served_model_mismatches_total", "gen_ai_request_model", "gpt-5.1"); ok {
		t.Errorf("a request served the model it named counted as a mismatch (%v)", got)
	}
}

// TestMetricsRouteNeedsToken: /metrics on the main port answers only the
// scraper's bearer token.
func TestMetricsRouteNeedsToken(t *testing.T) {
	s, _ := metricsServer(t, 10)
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer scrape-tokeN", http.StatusUnauthorized},
		{"client key", "Bearer sk-good", http.StatusUnauthorized},
		{"longer token", "Bearer scrape-token-and-more", http.StatusUnauthorized},
		{"token", "Bearer scrape-token", http.StatusOK},
		{"token, scheme in another case", "bearer scrape-token", http.StatusOK},
	} {
		hdr := map[string]string{}
		if tt.auth != "" {
			hdr["Authorization"] = tt.auth
		}
		if w := do(t, s, "GET", "/metrics", hdr); w.Code != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, w.Code, tt.want)
		}
	}
}

// TestMetricsOffByDefault: without a metrics authenticator the metrics
// route refuses every scrape.
func TestMetricsOffByDefault(t *testing.T) {
	m := metrics.New()
	t.Cleanup(func() { m.Close() })
	s := server.New(server.Options{})
	mustHandle(s, route.Route{Pattern: "GET /metrics", Class: route.Metrics, Handler: m.Handler()})
	s.SetReady(true)
	if w := do(t, s, "GET", "/metrics", map[string]string{"Authorization": "Bearer anything"}); w.Code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", w.Code)
	}
}

// TestReadyzDrainingAndChecks: /readyz answers 503 while starting, while a
// readiness check fails (naming it) and once draining; /healthz stays 200
// while draining.
func TestReadyzDrainingAndChecks(t *testing.T) {
	storeDown := errors.New("dial tcp 10.0.0.1:5432: secret-host unreachable")
	var storeErr error
	s := server.New(server.Options{Readiness: []server.ReadinessCheck{
		{Name: "store", Check: func(context.Context) error { return storeErr }},
	}})
	get := func(path string) *httptest.ResponseRecorder { return do(t, s, "GET", path, nil) }
	if w := get("/readyz"); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "starting") {
		t.Errorf("before SetReady: %d %q", w.Code, w.Body.String())
	}
	s.SetReady(true)
	if w := get("/readyz"); w.Code != http.StatusOK {
		t.Errorf("ready: %d %q", w.Code, w.Body.String())
	}
	storeErr = storeDown
	w := get("/readyz")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "store") || strings.Contains(w.Body.String(), "secret-host") {
		t.Errorf("store down: %d %q (want 503 naming the check, not its error)", w.Code, w.Body.String())
	}
	storeErr = nil
	redisUp := true
	s.AddReadinessCheck(server.ReadinessCheck{Name: "redis", Check: func(context.Context) error {
		if !redisUp {
			return errors.New("down")
		}
		return nil
	}})
	redisUp = false
	if w := get("/readyz"); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "redis") {
		t.Errorf("redis down: %d %q", w.Code, w.Body.String())
	}
	redisUp = true
	s.SetDraining()
	if w := get("/readyz"); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "draining") {
		t.Errorf("draining: /readyz %d %q, want 503 draining", w.Code, w.Body.String())
	}
	if w := get("/healthz"); w.Code != http.StatusOK {
		t.Errorf("draining: /healthz %d, want 200 (the process is alive)", w.Code)
	}
}

// BenchmarkServeMetrics compares the server's per-request cost with
// metrics off and on (usage records on in both, as by default, with a
// recorder that drops; a per-key limiter in
// both, so the admission observation is counted).
func BenchmarkServeMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		opts := server.Options{Keys: keys{"sk-good": "key_1"}, KeyAdmitter: allowAll{}, KeyPerMinute: 1 << 30, Usage: discardUsage{}}
		var m *metrics.Metrics
		if on {
			m = metrics.New()
			name, opts.Instruments = "on", m
		}
		b.Run(name, func(b *testing.B) {
			s := server.New(opts)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := reqctx.UsageOf(r.Context())
				n.SetModels("gpt-5.1", "gpt-5.1")
				n.SetProvider("alpha")
				n.SetAccount("acct_1")
				n.MarkFirstEvent(time.Now())
				n.AddTokens(1, 2, 3)
				_, _ = w.Write([]byte("ok"))
			})
			if err := s.Handle(route.Route{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Handler: h}); err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			r.Header.Set("Authorization", "Bearer sk-good")
			b.ReportAllocs()
			for b.Loop() {
				s.ServeHTTP(httptest.NewRecorder(), r)
			}
			m.Flush()
		})
		m.Close()
	}
}

type allowAll struct{}

func (allowAll) Allow(context.Context, string) (bool, time.Duration, error) { return true, 0, nil }

func (allowAll) AdmitKey(context.Context, string, int, int) (func(), error) { return func() {}, nil }

// TestMetricsIPRefusalOutsideAPI: a request the per-IP limit refuses
// before any route matched is counted too.
func TestMetricsIPRefusalOutsideAPI(t *testing.T) {
	m := metrics.New()
	t.Cleanup(func() { m.Close() })
	s := server.New(server.Options{IPLimiter: denyAll{}, Instruments: m})
	s.SetReady(true)
	if w := do(t, s, "GET", "/nowhere", nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
	f := metricstest.Scrape(t, m.Handler(), "/metrics")
	if v, _ := f.Value("spark_admission_refusals_total", "limit", "ip"); v != 1 {
		t.Errorf("ip refusals = %v, want 1", v)
	}
	if v, _ := f.Value("spark_admission_wait_seconds"); v != 1 {
		t.Errorf("admission decisions = %v, want 1", v)
	}
	if _, ok := f.Value("gen_ai_server_request_duration_seconds"); ok {
		t.Error("a request outside the API counted as an API request")
	}
}
