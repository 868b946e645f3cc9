package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
)

// writeDialect renders errors as the app does: Anthropic's envelope or
// OpenAI's, as the server decided.
func writeDialect(w http.ResponseWriter, d route.Dialect, err error) {
	if d == route.Anthropic {
		anthropic.WriteError(w, err)
		return
	}
	openai.WriteError(w, err)
}

// echo answers 200 with "<class>|<key id>".
func echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(name + "|" + reqctx.KeyID(r.Context())))
	})
}

// tableServer serves one route of each kind the tests need.
func tableServer(t *testing.T, opts server.Options) *server.Server {
	t.Helper()
	if opts.WriteError == nil {
		opts.WriteError = writeDialect
	}
	s := server.New(opts)
	if err := s.Handle(
		route.Route{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Dialect: route.OpenAI, Handler: echo("chat")},
		route.Route{Pattern: "POST /v1/messages", Class: route.ClientKey, Dialect: route.Anthropic, Handler: echo("messages")},
		route.Route{Pattern: "GET /v1/models/{model...}", Class: route.ClientKey, Handler: echo("models")},
		route.Route{Pattern: "DELETE /v1/models/{model...}", Class: route.ClientKey, Handler: echo("delete")},
		route.Route{Pattern: "GET /v1/images/proxy", Class: route.SignedLink, Dialect: route.OpenAI, Handler: echo("proxy")},
		route.Route{Pattern: "POST /v1beta/models/{call}", Class: route.ClientKey, GoogleKey: true, Handler: echo("gemini")},
		route.Route{Pattern: "GET /dashboard/api/me", Class: route.Session, Handler: echo("session")},
		route.Route{Pattern: "POST /admin/keys", Class: route.Admin, Handler: echo("admin")},
		route.Route{Pattern: "GET /metrics", Class: route.Metrics, Handler: echo("metrics")},
	); err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	return s
}

func request(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// envelope parses an error body and reports its dialect ("openai" or
// "anthropic") and error type; it fails the test for anything else.
func envelope(t *testing.T, w *httptest.ResponseRecorder) (dialect, typ, msg string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, body %q", ct, w.Body.String())
	}
	var env struct {
		Type  string `json:"type"`
		Error struct {
			Type    string  `json:"type"`
			Message string  `json:"message"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Message == "" || env.Error.Type == "" {
		t.Fatalf("not a JSON error envelope (%v): %q", err, w.Body.String())
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(w.Body.Bytes(), &raw)
	var inner map[string]json.RawMessage
	_ = json.Unmarshal(raw["error"], &inner)
	_, hasCode := inner["code"]
	_, hasParam := inner["param"]
	switch {
	case env.Type == "error" && !hasCode && !hasParam:
		return "anthropic", env.Error.Type, env.Error.Message
	case env.Type == "" && hasCode && hasParam:
		return "openai", env.Error.Type, env.Error.Message
	}
	t.Fatalf("neither envelope: %s", w.Body.String())
	return "", "", ""
}

// TestHandleRefusesRouteWithoutClass: a route the table cannot classify
// (or serve) is an error at registration, so the gateway does not start.
func TestHandleRefusesRouteWithoutClass(t *testing.T) {
	tests := []struct {
		name string
		rt   route.Route
	}{
		{"no class", route.Route{Pattern: "GET /v1/new", Handler: echo("x")}},
		{"unknown class", route.Route{Pattern: "GET /v1/new", Class: route.Metrics + 1, Handler: echo("x")}},
		{"no method", route.Route{Pattern: "/v1/new", Class: route.ClientKey, Handler: echo("x")}},
		{"no handler", route.Route{Pattern: "GET /v1/new", Class: route.ClientKey}},
		{"negative body bound", route.Route{Pattern: "GET /v1/new", Class: route.ClientKey, MaxBody: -1, Handler: echo("x")}},
		{"conflict", route.Route{Pattern: "GET /healthz", Class: route.Public, Handler: echo("x")}},
		{"bad pattern", route.Route{Pattern: "GET /v1/{", Class: route.ClientKey, Handler: echo("x")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := server.New(server.Options{})
			before := len(s.Routes())
			if err := s.Handle(tc.rt); err == nil {
				t.Fatal("registered")
			}
			if n := len(s.Routes()); n != before {
				t.Fatalf("refused route is in the table (%d routes, %d before)", n, before)
			}
		})
	}
	s := server.New(server.Options{})
	_ = s.Handle(route.Route{Pattern: "GET /v1/new", Handler: echo("x")})
	if w := request(t, s, "GET", "/v1/new", nil); w.Code != http.StatusNotFound {
		t.Fatalf("route without a class served: %d", w.Code)
	}
}

// TestEveryRouteHasAClass: the table the server serves from only holds
// classified routes, the built-in ones included.
func TestEveryRouteHasAClass(t *testing.T) {
	s := tableServer(t, server.Options{})
	seen := map[string]bool{}
	for _, rt := range s.Routes() {
		if !rt.Class.Valid() {
			t.Errorf("%s has no class", rt.Pattern)
		}
		seen[rt.Pattern] = true
	}
	for _, p := range []string{"GET /healthz", "GET /readyz", "GET /{$}"} {
		if !seen[p] {
			t.Errorf("built-in route %s missing", p)
		}
	}
}

// TestUnknownRouteIsJSON404InTheCallersDialect: no plain-text 404 ever;
// Anthropic clients (anthropic-version or x-api-key) read Anthropic's
// envelope, the others OpenAI's.
func TestUnknownRouteIsJSON404InTheCallersDialect(t *testing.T) {
	s := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"}, Prefix: "/hf"})
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		dialect, typ       string
	}{
		{"openai under v1", "POST", "/hf/v1/chat/completion", map[string]string{"Authorization": "Bearer sk-1"}, "openai", "invalid_request_error"},
		{"openai no key", "GET", "/hf/v1/nothing", nil, "openai", "invalid_request_error"},
		{"anthropic-version", "POST", "/hf/v1/message", map[string]string{"Anthropic-Version": "2023-06-01"}, "anthropic", "not_found_error"},
		{"x-api-key", "GET", "/hf/v1/nothing", map[string]string{"X-Api-Key": "sk-1"}, "anthropic", "not_found_error"},
		{"outside v1", "GET", "/hf/wp-login.php", nil, "openai", "invalid_request_error"},
		{"outside v1 anthropic", "GET", "/hf/favicon.ico", map[string]string{"Anthropic-Version": "2023-06-01"}, "anthropic", "not_found_error"},
		{"outside prefix", "GET", "/v1/models/a", nil, "openai", "invalid_request_error"},
		{"outside prefix anthropic", "GET", "/v1/models/a", map[string]string{"X-Api-Key": "k"}, "anthropic", "not_found_error"},
		{"bare v1", "GET", "/hf/v1", nil, "openai", "invalid_request_error"},
		{"long path", "GET", "/hf/v1/" + strings.Repeat("x", 100000), nil, "openai", "invalid_request_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := request(t, s, tc.method, tc.path, tc.hdr)
			if w.Code != http.StatusNotFound {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			d, typ, msg := envelope(t, w)
			if d != tc.dialect || typ != tc.typ {
				t.Fatalf("%s %s, want %s %s: %s", d, typ, tc.dialect, tc.typ, w.Body.String())
			}
			if !strings.Contains(msg, "Invalid URL") || len(msg) > 600 {
				t.Errorf("message %q does not say the URL is invalid in a few words", msg)
			}
		})
	}
}

// TestWrongMethodIs405WithAllow: a known path with another method answers
// 405 with the methods it does take, in the route's dialect (or the
// caller's, for routes of both).
func TestWrongMethodIs405WithAllow(t *testing.T) {
	s := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"}})
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		allow, dialect     string
	}{
		{"GET on chat", "GET", "/v1/chat/completions", nil, "POST", "openai"},
		{"GET on chat doubled v1", "GET", "/v1/v1/chat/completions", nil, "POST", "openai"},
		{"PUT on messages", "PUT", "/v1/messages", nil, "POST", "anthropic"},
		{"POST on models", "POST", "/v1/models/gpt-5", nil, "GET, HEAD, DELETE", "openai"},
		{"POST on models by anthropic", "POST", "/v1/models/gpt-5", map[string]string{"Anthropic-Version": "2023-06-01"}, "GET, HEAD, DELETE", "anthropic"},
		{"POST on healthz", "POST", "/healthz", nil, "GET, HEAD", "openai"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := request(t, s, tc.method, tc.path, tc.hdr)
			if w.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if d, typ, _ := envelope(t, w); d != tc.dialect || typ != "invalid_request_error" {
				t.Errorf("%s %s: %s", d, typ, w.Body.String())
			}
		})
	}
}

// TestClientKeySources: Bearer in any case, x-api-key, api-key; Google's
// x-goog-api-key and ?key= only where the route says so.
func TestClientKeySources(t *testing.T) {
	s := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"}})
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
	}{
		{"Bearer", "GET", "/v1/models/m", map[string]string{"Authorization": "Bearer sk-1"}, 200},
		{"bearer", "GET", "/v1/models/m", map[string]string{"Authorization": "bearer sk-1"}, 200},
		{"BEARER", "GET", "/v1/models/m", map[string]string{"Authorization": "BEARER sk-1"}, 200},
		{"BeArEr extra spaces", "GET", "/v1/models/m", map[string]string{"Authorization": "BeArEr   sk-1 "}, 200},
		{"x-api-key", "GET", "/v1/models/m", map[string]string{"X-Api-Key": "sk-1"}, 200},
		{"api-key", "GET", "/v1/models/m", map[string]string{"Api-Key": "sk-1"}, 200},
		{"Basic scheme", "GET", "/v1/models/m", map[string]string{"Authorization": "Basic sk-1"}, 401},
		{"Bearer without key", "GET", "/v1/models/m", map[string]string{"Authorization": "Bearer "}, 401},
		{"wrong key", "GET", "/v1/models/m", map[string]string{"Authorization": "Bearer sk-2"}, 401},
		{"x-goog-api-key off v1beta", "GET", "/v1/models/m", map[string]string{"X-Goog-Api-Key": "sk-1"}, 401},
		{"?key= off v1beta", "GET", "/v1/models/m?key=sk-1", nil, 401},
		{"x-goog-api-key on v1beta", "POST", "/v1beta/models/m:generateContent", map[string]string{"X-Goog-Api-Key": "sk-1"}, 200},
		{"?key= on v1beta", "POST", "/v1beta/models/m:generateContent?key=sk-1", nil, 200},
		{"bearer on v1beta", "POST", "/v1beta/models/m:generateContent", map[string]string{"Authorization": "bearer sk-1"}, 200},
		{"wrong ?key= on v1beta", "POST", "/v1beta/models/m:generateContent?key=sk-2", nil, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := request(t, s, tc.method, tc.path, tc.hdr)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if tc.status == 200 && !strings.HasSuffix(w.Body.String(), "|key1") {
				t.Fatalf("key id not passed on: %q", w.Body.String())
			}
			if tc.status == 401 {
				envelope(t, w)
			}
		})
	}
}

// TestSignedLinkNeedsNoKey: the signed-link route is served without a key
// but stays under the per-IP limit; public probes are under neither.
func TestSignedLinkNeedsNoKey(t *testing.T) {
	s := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"}})
	if w := request(t, s, "GET", "/v1/images/proxy?u=x&sig=y", nil); w.Code != 200 || w.Body.String() != "proxy|" {
		t.Fatalf("signed link: %d %q", w.Code, w.Body.String())
	}
	if w := request(t, s, "HEAD", "/v1/images/proxy?u=x&sig=y", nil); w.Code != 200 {
		t.Fatalf("HEAD signed link: %d", w.Code)
	}
	limited := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"}, IPLimiter: denyAll{}})
	if w := request(t, limited, "GET", "/v1/images/proxy?u=x", nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("signed link not IP limited: %d", w.Code)
	}
	for _, p := range []string{"/healthz", "/readyz", "/"} {
		if w := request(t, limited, "GET", p, nil); w.Code != 200 {
			t.Fatalf("%s limited: %d", p, w.Code)
		}
	}
}

// headerAuth accepts requests whose X-Test-Credential is its secret.
type headerAuth struct{ secret, id string }

func (a headerAuth) Authenticate(r *http.Request) (string, bool, error) {
	return a.id, r.Header.Get("X-Test-Credential") == a.secret, nil
}

type failingAuth struct{}

func (failingAuth) Authenticate(*http.Request) (string, bool, error) {
	return "", false, errors.New("session store down")
}

// TestSessionAdminMetricsNeedTheirAuthenticator: without an authenticator
// those classes refuse every request with a JSON 401 (a client key does
// not open them); with one, only its credential does.
func TestSessionAdminMetricsNeedTheirAuthenticator(t *testing.T) {
	routes := []struct{ method, path, name string }{
		{"GET", "/dashboard/api/me", "session"},
		{"POST", "/admin/keys", "admin"},
		{"GET", "/metrics", "metrics"},
	}
	closed := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"}})
	open := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"},
		Session: headerAuth{"s", "user1"}, Admin: headerAuth{"a", "admin1"}, Metrics: headerAuth{"m", "scraper"}})
	broken := tableServer(t, server.Options{Session: failingAuth{}, Admin: failingAuth{}, Metrics: failingAuth{}})
	creds := map[string]string{"session": "s", "admin": "a", "metrics": "m"}
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer sk-1"}, {"X-Test-Credential": creds[rt.name]}} {
				w := request(t, closed, rt.method, rt.path, hdr)
				if w.Code != http.StatusUnauthorized {
					t.Fatalf("no authenticator, %v: %d %s", hdr, w.Code, w.Body.String())
				}
				envelope(t, w)
			}
			if w := request(t, open, rt.method, rt.path, map[string]string{"Authorization": "Bearer sk-1"}); w.Code != http.StatusUnauthorized {
				t.Fatalf("client key opened %s: %d", rt.name, w.Code)
			}
			w := request(t, open, rt.method, rt.path, map[string]string{"X-Test-Credential": creds[rt.name]})
			if w.Code != 200 || !strings.HasPrefix(w.Body.String(), rt.name+"|") || strings.HasSuffix(w.Body.String(), "|") {
				t.Fatalf("with credential: %d %q", w.Code, w.Body.String())
			}
			if w := request(t, broken, rt.method, rt.path, nil); w.Code != http.StatusInternalServerError {
				t.Fatalf("failing authenticator: %d", w.Code)
			}
		})
	}
}

// TestServerErrorsFollowTheRouteDialect: the server's own refusals on a
// route (401, 429) are in that route's envelope.
func TestServerErrorsFollowTheRouteDialect(t *testing.T) {
	s := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"}})
	tests := []struct {
		path    string
		hdr     map[string]string
		dialect string
	}{
		{"/v1/messages", nil, "anthropic"},
		{"/v1/v1/messages", nil, "anthropic"},
		{"/v1/messages", map[string]string{"Authorization": "Bearer nope"}, "anthropic"},
		{"/v1/chat/completions", nil, "openai"},
		{"/v1/chat/completions", map[string]string{"X-Api-Key": "nope"}, "openai"}, // the route's dialect is fixed
	}
	for _, tc := range tests {
		w := request(t, s, "POST", tc.path, tc.hdr)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("%s: %d", tc.path, w.Code)
		}
		if d, typ, _ := envelope(t, w); d != tc.dialect || (d == "anthropic" && typ != "authentication_error") {
			t.Errorf("%s %v: %s %s", tc.path, tc.hdr, d, typ)
		}
	}
	limited := tableServer(t, server.Options{IPLimiter: denyAll{}})
	w := request(t, limited, "POST", "/v1/messages", nil)
	if d, typ, _ := envelope(t, w); w.Code != 429 || d != "anthropic" || typ != "rate_limit_error" {
		t.Fatalf("limit on messages: %d %s %s", w.Code, d, typ)
	}
}

// TestReadyz: /readyz, like /healthz, is 503 until the gateway can serve,
// with or without the route prefix.
func TestReadyz(t *testing.T) {
	s := server.New(server.Options{Prefix: "/hf"})
	for _, p := range []string{"/readyz", "/hf/readyz"} {
		if w := request(t, s, "GET", p, nil); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s before ready: %d", p, w.Code)
		}
	}
	s.SetReady(true)
	for _, p := range []string{"/readyz", "/hf/readyz", "/healthz"} {
		if w := request(t, s, "GET", p, nil); w.Code != 200 {
			t.Fatalf("%s when ready: %d", p, w.Code)
		}
	}
}

// TestCanonicalRedirectKeepsThePrefix: an unclean path redirects (307, as
// http.ServeMux does) to the clean path under the route prefix.
func TestCanonicalRedirectKeepsThePrefix(t *testing.T) {
	s := tableServer(t, server.Options{Prefix: "/hf"})
	for _, p := range []string{"/hf/v1//models/a?x=1", "/hf/v1/chat/../models/a?x=1"} {
		w := request(t, s, "GET", p, nil)
		if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "/hf/v1/models/a?x=1" {
			t.Fatalf("%s: %d Location %q", p, w.Code, w.Header().Get("Location"))
		}
	}
	// %2F is not a separator: an id with an encoded double slash is served
	// as sent, not cleaned.
	if w := request(t, s, "GET", "/hf/v1/models/a%2F%2Fb", nil); w.Code != 200 || w.Body.String() != "models|" {
		t.Fatalf("encoded slashes: %d %q", w.Code, w.Body.String())
	}
}

// TestDeclaredBodyOverTheBoundIs413: a Content-Length over the route's
// bound is refused before the handler runs.
func TestDeclaredBodyOverTheBoundIs413(t *testing.T) {
	called := false
	s := server.New(server.Options{WriteError: writeDialect})
	mustHandle(s, route.Route{Pattern: "POST /v1/small", Class: route.ClientKey, MaxBody: 10,
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })})
	r := httptest.NewRequest("POST", "/v1/small", strings.NewReader(strings.Repeat("x", 11)))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || called {
		t.Fatalf("status %d, handler called %v", w.Code, called)
	}
	envelope(t, w)
	r = httptest.NewRequest("POST", "/v1/small", strings.NewReader(strings.Repeat("x", 10)))
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 || !called {
		t.Fatalf("within the bound: %d, handler called %v", w.Code, called)
	}
}

// TestDefaultErrorWriterIsJSON: a server given no ErrorWriter still
// answers JSON envelopes in the caller's dialect.
func TestDefaultErrorWriterIsJSON(t *testing.T) {
	s := server.New(server.Options{Keys: keys{}})
	mustHandle(s, route.Route{Pattern: "POST /v1/messages", Class: route.ClientKey, Dialect: route.Anthropic, Handler: echo("m")})
	tests := []struct {
		method, path string
		hdr          map[string]string
		status       int
		dialect, typ string
	}{
		{"GET", "/v1/nope", nil, 404, "openai", "not_found"},
		{"GET", "/v1/nope", map[string]string{"Anthropic-Version": "2023-06-01"}, 404, "anthropic", "not_found_error"},
		{"POST", "/v1/messages", nil, 401, "anthropic", "authentication_error"},
		{"GET", "/v1/messages", nil, 405, "anthropic", "invalid_request_error"},
	}
	for _, tc := range tests {
		w := request(t, s, tc.method, tc.path, tc.hdr)
		if d, typ, _ := envelope(t, w); w.Code != tc.status || d != tc.dialect || typ != tc.typ {
			t.Errorf("%s %s: %d %s %s", tc.method, tc.path, w.Code, d, typ)
		}
	}
}
