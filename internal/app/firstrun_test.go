package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	sdkoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/config"
)

// noCookies configures a gateway with no upstream account at all.
func noCookies(c *config.Config) { c.GSCookie, c.GeminiCookie = "", "" }

// countingClient is an HTTP client that counts the requests it sends.
func countingClient(n *atomic.Int32) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestNoAccountsConfigured: with no cookie at all, requests that need an
// upstream account get 503 no_accounts_configured with x-should-retry:
// false in the caller's dialect (a configuration error, not a rate limit
// SDKs would retry), and the upstream is never asked.
func TestNoAccountsConfigured(t *testing.T) {
	h := start(t, noCookies)
	tests := []struct {
		name, path, body string
		anthropic        bool
	}{
		{"chat", "/v1/chat/completions", `{"model":"gpt-5.2","messages":[{"role":"user","content":"hi"}]}`, false},
		{"chat stream", "/v1/chat/completions", `{"model":"gpt-5.2","stream":true,"messages":[{"role":"user","content":"hi"}]}`, false},
		{"responses", "/v1/responses", `{"model":"gpt-5.2","input":"hi"}`, false},
		{"messages", "/v1/messages", `{"model":"claude-sonnet-4-5-20250929","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, true},
		{"messages stream", "/v1/messages", `{"model":"claude-sonnet-4-5-20250929","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, h.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.anthropic {
				req.Header.Set("x-api-key", testKey)
				req.Header.Set("anthropic-version", "2023-06-01")
			} else {
				req.Header.Set("Authorization", "Bearer "+testKey)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503: %s", resp.StatusCode, raw)
			}
			if got := resp.Header.Get("X-Should-Retry"); got != "false" {
				t.Errorf("x-should-retry %q, want false", got)
			}
			if ra := resp.Header.Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After %q on a configuration error", ra)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			var body struct {
				Type  string `json:"type"`
				Error struct {
					Type    string  `json:"type"`
					Code    *string `json:"code"`
					Message string  `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body is not JSON: %s", raw)
			}
			if !strings.Contains(body.Error.Message, "GS_COOKIE") {
				t.Errorf("message %q does not say what to set", body.Error.Message)
			}
			if tt.anthropic {
				if body.Type != "error" || body.Error.Type != "api_error" {
					t.Errorf("Anthropic envelope: %s", raw)
				}
			} else if body.Error.Code == nil || *body.Error.Code != "no_accounts_configured" || body.Error.Type != "server_error" {
				t.Errorf("OpenAI envelope: %s", raw)
			}
		})
	}
	if n := len(h.requests("genspark")); n != 0 {
		t.Fatalf("the upstream was asked %d times with no account", n)
	}
}

// TestNoAccountsConfiguredIsNotRetriedBySDKs: the official SDKs, left at
// their default retry policy (they retry 429 and 5xx), send the request
// once, because of x-should-retry: false.
func TestNoAccountsConfiguredIsNotRetriedBySDKs(t *testing.T) {
	h := start(t, noCookies)

	var openaiSent atomic.Int32
	oc := openai.NewClient(option.WithBaseURL(h.url+"/v1/"), option.WithAPIKey(testKey),
		option.WithHTTPClient(countingClient(&openaiSent)), option.WithMaxRetries(2))
	_, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5.2", Messages: userMsg("hi")})
	var oErr *openai.Error
	if !errors.As(err, &oErr) || oErr.StatusCode != http.StatusServiceUnavailable || oErr.Code != "no_accounts_configured" {
		t.Fatalf("OpenAI SDK: %v", err)
	}
	if n := openaiSent.Load(); n != 1 {
		t.Fatalf("OpenAI SDK sent %d requests, want 1", n)
	}

	var anthropicSent atomic.Int32
	ac := sdk.NewClient(sdkoption.WithBaseURL(h.url), sdkoption.WithAPIKey(testKey),
		sdkoption.WithHTTPClient(countingClient(&anthropicSent)), sdkoption.WithMaxRetries(2))
	_, err = ac.Messages.New(context.Background(), sdk.MessageNewParams{
		Model: "claude-sonnet-4-5-20250929", MaxTokens: 64,
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("hi"))},
	})
	var aErr *sdk.Error
	if !errors.As(err, &aErr) || aErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Anthropic SDK: %v", err)
	}
	if n := anthropicSent.Load(); n != 1 {
		t.Fatalf("Anthropic SDK sent %d requests, want 1", n)
	}
}

// TestAllAccountsLoggedOutIsConfiguration: once the only account is logged
// out, no retry can help until an operator gives a new cookie, so the next
// request is the 503 configuration error naming the variable, not a 429.
func TestAllAccountsLoggedOutIsConfiguration(t *testing.T) {
	h := start(t, func(c *config.Config) { c.GSCookie = "session_id=expired-only" })
	body := `{"model":"gpt-5.2","messages":[{"role":"user","content":"hi"}]}`
	h.post("/v1/chat/completions", testKey, body) // finds the account logged out
	resp, raw := h.post("/v1/chat/completions", testKey, body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Should-Retry") != "false" ||
		!strings.Contains(raw, `"code":"no_accounts_configured"`) || !strings.Contains(raw, "logged out") || !strings.Contains(raw, "GS_COOKIE") {
		t.Fatalf("status %d, x-should-retry %q: %s", resp.StatusCode, resp.Header.Get("X-Should-Retry"), raw)
	}
	if n := len(h.asks()); n != 1 {
		t.Fatalf("the logged-out account was asked %d times", n)
	}
}
