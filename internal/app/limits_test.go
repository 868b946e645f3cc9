package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/sparkgw/spark/internal/config"
)

func TestPerIPRateLimit(t *testing.T) {
	h := start(t, func(c *config.Config) { c.RequestRateLimit = 3 })
	body := `{"model":"gpt-5.2","messages":[{"role":"user","content":"x"}]}`
	for i := range 3 {
		if resp, b := h.post("/v1/chat/completions", testKey, body); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	resp, b := h.post("/v1/chat/completions", testKey, body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d %s", resp.StatusCode, b)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if n := len(h.asks()); n != 3 {
		t.Fatalf("limited request reached the upstream (%d asks)", n)
	}
	// The health check is never limited.
	r, err := http.Get(strings.TrimSuffix(h.url, "/") + "/healthz")
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz under limit: %v %v", r, err)
	}
}

func TestRecaptchaTokenService(t *testing.T) {
	h := start(t, nil)
	// The simulator also serves the token helper at /genspark.
	h2 := start(t, func(c *config.Config) { c.RecaptchaProxyURL = h.simURL })
	if _, err := h2.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("with token"),
	}); err != nil {
		t.Fatal(err)
	}
	// h2's asks went to its own simulator; the token came from h's.
	ask := h2.lastAsk()
	if tok, _ := ask.Facts["recaptcha_token"].(string); tok == "" {
		t.Fatalf("no g_recaptcha_token sent: %v", ask.Facts)
	}
	if n := len(h.requests("recaptcha")); n != 1 {
		t.Fatalf("token service asked %d times", n)
	}

	// A failing token service is reported; no ask (and no null body) is sent.
	h3 := start(t, func(c *config.Config) {
		c.RecaptchaProxyURL = h.simURL
		c.GSCookie = "session_id=recaptchafail-1"
	})
	resp, body := h3.post("/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode < 500 || !strings.Contains(body, "reCAPTCHA token service failed") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if n := len(h3.asks()); n != 0 {
		t.Fatalf("ask sent despite a failed token service (%d)", n)
	}
}

// PROXY_URL routes every upstream call through the proxy.
func TestProxyURL(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			proxied.Add(1)
			pr.Out.URL = pr.In.URL // absolute-form request URI of a forward proxy
			pr.Out.Host = pr.In.URL.Host
		},
	})
	defer proxy.Close()
	for _, tc := range []struct {
		name   string
		mutate func(c *config.Config)
	}{
		{"global PROXY_URL", func(c *config.Config) { c.ProxyURL = proxy.URL }},
		{"per-account proxy", func(c *config.Config) { c.GSCookie = "session_id=proxied-account|proxy=" + proxy.URL }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxied.Store(0)
			h := start(t, tc.mutate)
			if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "gpt-5.2", Messages: userMsg("through the proxy"),
			}); err != nil {
				t.Fatal(err)
			}
			if proxied.Load() == 0 {
				t.Fatal("the upstream call did not go through the proxy")
			}
		})
	}
	// Without a proxy nothing goes through it.
	proxied.Store(0)
	h := start(t, nil)
	if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("direct"),
	}); err != nil || proxied.Load() != 0 {
		t.Fatalf("direct request: %v, proxied %d", err, proxied.Load())
	}
}
