package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
)

type keys map[string]string

func (k keys) Verify(_ context.Context, key string) (server.ClientKey, bool, error) {
	id, ok := k[key]
	return server.ClientKey{ID: id}, ok, nil
}

type denyAll struct{}

func (denyAll) Allow(context.Context, string) (bool, time.Duration, error) {
	return false, 1500 * time.Millisecond, nil
}

func newServer(opts server.Options) *server.Server {
	s := server.New(opts)
	mustHandle(s, route.Route{Pattern: "GET /v1/models/{model...}", Class: route.ClientKey,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(r.PathValue("model") + "|" + reqctx.KeyID(r.Context())))
		})})
	s.SetReady(true)
	return s
}

func mustHandle(s *server.Server, routes ...route.Route) {
	if err := s.Handle(routes...); err != nil {
		panic(err)
	}
}

func do(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAuthHeaders(t *testing.T) {
	s := newServer(server.Options{Keys: keys{"sk-1": "key1"}})
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
		body   string
	}{
		{"bearer", map[string]string{"Authorization": "Bearer sk-1"}, 200, "m|key1"},
		{"x-api-key", map[string]string{"X-Api-Key": "sk-1"}, 200, "m|key1"},
		{"azure api-key", map[string]string{"Api-Key": "sk-1"}, 200, "m|key1"},
		{"wrong", map[string]string{"Authorization": "Bearer sk-2"}, 401, ""},
		{"missing", nil, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, s, "GET", "/v1/models/m", tc.hdr)
			if w.Code != tc.status || (tc.body != "" && w.Body.String() != tc.body) {
				t.Fatalf("%d %q", w.Code, w.Body.String())
			}
			if w.Header().Get("X-Request-Id") == "" || w.Header().Get("Request-Id") == "" {
				t.Fatal("no request id headers")
			}
		})
	}
}

func TestPreflightNeedsNoAuth(t *testing.T) {
	s := newServer(server.Options{Keys: keys{}})
	w := do(t, s, "OPTIONS", "/v1/chat/completions", map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Headers": "authorization,x-api-key,anthropic-version",
	})
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "authorization") {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
}

func TestPathRewrites(t *testing.T) {
	s := newServer(server.Options{Prefix: "/hf"})
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/hf/v1/models/a", 200, "a|"},
		{"/hf/v1/v1/models/a", 200, "a|"},
		{"/hf/v1/models/openai%2Fgpt-4o", 200, "openai/gpt-4o|"},
		{"/v1/models/a", 404, ""},
		{"/hfx/v1/models/a", 404, ""},
		{"/healthz", 200, "ok"},
	}
	for _, tc := range tests {
		w := do(t, s, "GET", tc.path, nil)
		if w.Code != tc.status || (tc.body != "" && w.Body.String() != tc.body) {
			t.Errorf("%s: %d %q", tc.path, w.Code, w.Body.String())
		}
	}
}

func TestHealthzBeforeReady(t *testing.T) {
	s := server.New(server.Options{})
	if w := do(t, s, "GET", "/healthz", nil); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("not ready yet but %d", w.Code)
	}
	s.SetReady(true)
	if w := do(t, s, "GET", "/healthz", nil); w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
}

func TestIPLimitAnswers429WithRetryAfter(t *testing.T) {
	s := newServer(server.Options{IPLimiter: denyAll{}})
	w := do(t, s, "GET", "/v1/models/a", nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("%d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if w := do(t, s, "GET", "/healthz", nil); w.Code != 200 {
		t.Fatalf("healthz limited: %d", w.Code)
	}
}

func TestClientIP(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
	if got := server.ClientIP(r, false); got != "192.0.2.1" {
		t.Fatalf("untrusted: %s", got)
	}
	if got := server.ClientIP(r, true); got != "203.0.113.9" {
		t.Fatalf("trusted: %s", got)
	}
}

// TestAccessLogLine: one line per request with the path as sent, the
// status, and the id of the key that authenticated it.
func TestAccessLogLine(t *testing.T) {
	var buf bytes.Buffer
	s := newServer(server.Options{Keys: keys{"sk-1": "key1"}, Prefix: "/hf",
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	do(t, s, http.MethodGet, "/hf/v1/v1/models/m", map[string]string{"Authorization": "Bearer sk-1"})
	do(t, s, http.MethodGet, "/hf/v1/models/m", map[string]string{"Authorization": "Bearer nope"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{
		`msg=request request_id=req_`, `path=/hf/v1/v1/models/m status=200`, `key_id=key1`,
	} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line 1 lacks %q (%d): %s", want, i, lines[0])
		}
	}
	if !strings.Contains(lines[1], "status=401") || !strings.Contains(lines[1], `key_id=""`) {
		t.Errorf("rejected request logged as %s", lines[1])
	}
	if strings.Contains(buf.String(), "sk-1") || strings.Contains(buf.String(), "nope") {
		t.Errorf("a key reached the log: %s", buf.String())
	}
}

// TestPanicBecomes500: a panicking handler answers 500 in the API envelope
// with the request id header, and the server keeps serving.
func TestPanicBecomes500(t *testing.T) {
	var buf bytes.Buffer
	s := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	mustHandle(s, route.Route{Pattern: "GET /v1/boom", Class: route.ClientKey,
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })})
	s.SetReady(true)
	w := do(t, s, http.MethodGet, "/v1/boom", nil)
	if w.Code != http.StatusInternalServerError || w.Header().Get("X-Request-Id") == "" {
		t.Fatalf("status %d, request id %q", w.Code, w.Header().Get("X-Request-Id"))
	}
	if !strings.Contains(buf.String(), "panic serving request") {
		t.Errorf("no panic log line: %s", buf.String())
	}
	if w := do(t, s, http.MethodGet, "/healthz", nil); w.Code != http.StatusOK {
		t.Fatalf("healthz after a panic: %d", w.Code)
	}
}
