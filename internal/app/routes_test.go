package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
)

// wildcard matches a {name} or {name...} segment of a route pattern.
var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// TestRouteTableAuthByDefault walks the gateway's real route table: every
// route has a class, everything under /v1 but the signed image link needs
// a client key, and each such route refuses a request without one with a
// JSON 401 in its dialect before its handler sees it.
func TestRouteTableAuthByDefault(t *testing.T) {
	h := start(t, func(c *config.Config) { c.RoutePrefix = "hf" })
	srv, ok := h.app.Handler().(*server.Server)
	if !ok {
		t.Fatalf("handler is %T", h.app.Handler())
	}
	routes := srv.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes in the table", len(routes))
	}
	for _, rt := range routes {
		if !rt.Class.Valid() {
			t.Errorf("%s: no class", rt.Pattern)
		}
		path := wildcard.ReplaceAllString(rt.Path(), "x")
		path = strings.TrimSuffix(path, "{$}")
		switch {
		case rt.Pattern == "GET /v1/images/proxy":
			if rt.Class != route.SignedLink {
				t.Errorf("%s: class %s", rt.Pattern, rt.Class)
			}
			resp, body := send(t, h, rt.Method(), path, nil)
			if resp.StatusCode == http.StatusUnauthorized || !json.Valid([]byte(body)) {
				t.Errorf("unsigned proxy link: %d %s", resp.StatusCode, body)
			}
		case strings.HasPrefix(rt.Path(), "/v1/"), strings.HasPrefix(rt.Path(), "/v1beta/"):
			if rt.Class != route.ClientKey {
				t.Errorf("%s: class %s, want client_key", rt.Pattern, rt.Class)
				continue
			}
			resp, body := send(t, h, rt.Method(), path, nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s without a key: %d %s", rt.Pattern, resp.StatusCode, body)
				continue
			}
			wantDialect := "openai"
			switch rt.Dialect {
			case route.Anthropic:
				wantDialect = "anthropic"
			case route.Google:
				wantDialect = "google"
			}
			if got := dialectOf(body); got != wantDialect {
				t.Errorf("%s: 401 in %s envelope, want %s: %s", rt.Pattern, got, wantDialect, body)
			}
		case strings.HasPrefix(rt.Path(), "/api/"):
			// The dashboard API: a session, or an admin's session.
			if rt.Class != route.Session && rt.Class != route.Admin {
				t.Errorf("%s: class %s, want session or admin", rt.Pattern, rt.Class)
				continue
			}
			if resp, body := send(t, h, rt.Method(), path, nil); resp.StatusCode != http.StatusUnauthorized || !json.Valid([]byte(body)) {
				t.Errorf("%s without a session: %d %s", rt.Pattern, resp.StatusCode, body)
			}
		default:
			if rt.Class != route.Public {
				t.Errorf("%s outside /v1: class %s", rt.Pattern, rt.Class)
			}
		}
	}
}

// send makes a request to the gateway (under its prefix) with hdr and no
// key unless hdr has one.
func send(t *testing.T, h *harness, method, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// dialectOf names the error envelope of body: "openai", "anthropic",
// "google" or "".
func dialectOf(body string) string {
	var v struct {
		Type  string                     `json:"type"`
		Error map[string]json.RawMessage `json:"error"`
	}
	if json.Unmarshal([]byte(body), &v) != nil || v.Error == nil {
		return ""
	}
	_, code := v.Error["code"]
	_, param := v.Error["param"]
	_, status := v.Error["status"]
	switch {
	case v.Type == "" && code && status && !param:
		return "google"
	case v.Type == "error" && !code && !param:
		return "anthropic"
	case v.Type == "" && code && param:
		return "openai"
	}
	return ""
}

// TestUnknownRoutesAndMethodsThroughTheSDKs: the official SDKs parse the
// gateway's 404 and 405 (once plain text), each in its own envelope.
func TestUnknownRoutesAndMethodsThroughTheSDKs(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()

	var oaErr *openai.Error
	err := h.client.Post(ctx, "chat/completion", map[string]any{"model": "gpt-5.2"}, nil)
	if !errors.As(err, &oaErr) || oaErr.StatusCode != http.StatusNotFound || oaErr.Type != "invalid_request_error" ||
		!strings.Contains(oaErr.Message, "Invalid URL (POST /v1/chat/completion)") {
		t.Fatalf("OpenAI SDK, unknown route: %v", err)
	}
	err = h.client.Get(ctx, "chat/completions", nil, nil)
	if !errors.As(err, &oaErr) || oaErr.StatusCode != http.StatusMethodNotAllowed ||
		oaErr.Response.Header.Get("Allow") != "POST" || oaErr.Code != "method_not_allowed" {
		t.Fatalf("OpenAI SDK, wrong method: %v", err)
	}

	var anErr *sdk.Error
	ac := h.anthropic()
	err = ac.Post(ctx, "v1/message", map[string]any{"model": "claude-sonnet-4-5"}, nil)
	if !errors.As(err, &anErr) || anErr.StatusCode != http.StatusNotFound || dialectOf(anErr.RawJSON()) != "anthropic" ||
		!strings.Contains(anErr.RawJSON(), `"not_found_error"`) {
		t.Fatalf("Anthropic SDK, unknown route: %v (%s)", err, rawJSON(anErr))
	}
	err = ac.Get(ctx, "v1/messages", nil, nil)
	if !errors.As(err, &anErr) || anErr.StatusCode != http.StatusMethodNotAllowed || dialectOf(anErr.RawJSON()) != "anthropic" {
		t.Fatalf("Anthropic SDK, wrong method: %v (%s)", err, rawJSON(anErr))
	}

	// Outside /v1 too: JSON, never "404 page not found"; under /v1beta
	// (the Gemini API) in Google's envelope.
	for p, want := range map[string]string{"/favicon.ico": "openai", "/v2/models": "openai", "/v1beta/tunedModels": "google"} {
		resp, body := send(t, h, "GET", p, nil)
		if resp.StatusCode != http.StatusNotFound || dialectOf(body) != want {
			t.Errorf("%s: %d %s, want a 404 in the %s envelope", p, resp.StatusCode, body, want)
		}
	}
}

func rawJSON(e *sdk.Error) string {
	if e == nil {
		return ""
	}
	return e.RawJSON()
}

// TestUnauthenticatedBodyIsNotAwaited: a chat request without a key gets
// its 401 while its declared body has not been sent, and the connection
// closes (the real front-end behind the real server).
func TestUnauthenticatedBodyIsNotAwaited(t *testing.T) {
	h := start(t, nil)
	u, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // a guard, not a measure
	if _, err := io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000\r\n\r\n{\"model\":"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close || dialectOf(string(body)) != "openai" {
		t.Fatalf("%d close=%v %s", resp.StatusCode, resp.Close, body)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("connection still open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection still open")
	}
}
