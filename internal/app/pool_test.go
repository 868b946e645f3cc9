package app_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/store"
)

// Two of three accounts are rate-limited: 100 requests, no client error,
// and the limited accounts are rested after their first failure.
func TestFailoverAroundLimitedAccounts(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.GSCookie = "session_id=limited-one,session_id=healthy-two,session_id=limited-three"
		c.RequestRateLimit = 0
	})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	sem := make(chan struct{}, 8)
	for i := range 100 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "gpt-5.2", Messages: userMsg("request " + strconv.Itoa(i)),
			})
			if err == nil && !strings.Contains(resp.Choices[0].Message.Content, "request "+strconv.Itoa(i)) {
				err = errors.New("wrong answer: " + resp.Choices[0].Message.Content)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("client saw an error: %v", err)
		}
	}
	limitedAsks := 0
	for _, e := range h.asks() {
		if strings.Contains(e.Header["Cookie"], "limited") {
			limitedAsks++
		}
	}
	// Each limited account is tried at most a few times (concurrent requests
	// may pick it before its first failure is recorded), then rests.
	if limitedAsks > 16 {
		t.Fatalf("limited accounts were asked %d times: they are not resting", limitedAsks)
	}
	resting := 0
	for _, st := range h.app.Pool().Snapshot() {
		if st.LastError.Code == "rate_limited" {
			resting++
			if st.State != store.StateResting || st.RestUntil.IsZero() {
				t.Fatalf("limited account %s: state %s, rest-until %v", st.Label, st.State, st.RestUntil)
			}
		}
	}
	if resting != 2 {
		t.Fatalf("%d accounts resting, want the 2 limited ones", resting)
	}
}

func TestAllAccountsLimited(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.GSCookie = "session_id=limited-a,session_id=limited-b"
		c.RateLimitCookieLock = 120
	})
	for i := range 2 { // the second request finds every account resting
		resp, body := h.post("/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"x"}]}`)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
		}
		if !strings.Contains(body, "All cookies are temporarily unavailable.") {
			t.Fatalf("request %d: body %s", i, body)
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 120 {
			t.Fatalf("request %d: Retry-After %q", i, resp.Header.Get("Retry-After"))
		}
	}
	if n := len(h.asks()); n != 2 {
		t.Fatalf("upstream asked %d times; resting accounts must not be asked", n)
	}
}

func TestLoggedOutAccountIsDisabledAndReported(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.GSCookie = "session_id=expired-old,session_id=fresh-new"
		c.PoolStrategy = "round-robin" // both accounts are tried within 4 requests
	})
	for range 4 {
		if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-5.2", Messages: userMsg("hello"),
		}); err != nil {
			t.Fatal(err)
		}
	}
	found := false
	for _, st := range h.app.Pool().Snapshot() {
		if st.LastError.Code == "logged_out" {
			found = true
			if st.State != store.StateDisabled {
				t.Fatalf("logged-out account state %q", st.State)
			}
		}
	}
	if !found {
		t.Fatal("no account reported as logged out")
	}
	expiredAsks := 0
	for _, e := range h.asks() {
		if strings.Contains(e.Header["Cookie"], "expired") {
			expiredAsks++
		}
	}
	if expiredAsks > 1 {
		t.Fatalf("disabled account asked %d times", expiredAsks)
	}
}

// A failure after the first streamed byte is not retried on another
// account: the stream ends with an error event.
func TestNoFailoverAfterFirstByte(t *testing.T) {
	h := start(t, nil)
	stream := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("this one drops sim:drop sim:long 10"),
	})
	got := 0
	for stream.Next() {
		got++
	}
	if stream.Err() == nil {
		t.Fatal("a dropped upstream stream ended without an error")
	}
	if got == 0 {
		t.Fatal("no chunk arrived before the drop")
	}
	if n := len(h.asks()); n != 1 {
		t.Fatalf("upstream asked %d times after the first byte; want 1", n)
	}
}

func TestCloudflareChallengeMessage(t *testing.T) {
	h := start(t, nil)
	resp, body := h.post("/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"sim:cloudflare"}]}`)
	if resp.StatusCode < 500 || !strings.Contains(body, "Detected Cloudflare Challenge Page") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
}

// Two client keys never share an automatically bound upstream chat.
func TestAutoBindingIsScopedToTheClientKey(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.APISecret = "sk-key-one,sk-key-two"
		c.GSCookie = "session_id=only-account"
	})
	ask := func(key string) {
		t.Helper()
		cl := openai.NewClient(option.WithBaseURL(h.url+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
		if _, err := cl.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-5.2", Messages: userMsg("bind me"),
		}); err != nil {
			t.Fatal(err)
		}
	}
	ask("sk-key-one")
	ask("sk-key-one")
	ask("sk-key-two")
	asks := h.asks()
	if len(asks) != 3 {
		t.Fatalf("%d asks", len(asks))
	}
	first, second, other := asks[0].Facts, asks[1].Facts, asks[2].Facts
	if first["chat_id"] != "" || second["chat_id"] != first["project_id"] {
		t.Fatalf("key one did not continue its chat: first %v, second %v", first, second)
	}
	if other["chat_id"] != "" {
		t.Fatalf("key two was put into key one's chat %v", other["chat_id"])
	}
}

// No cookie, key or token reaches the logs, even at debug level.
func TestNoSecretsInLogs(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.GSCookie = "session_id=secretcookievalue123,session_id=limited-secretvalue456"
	})
	for _, content := range []string{"hello", "sim:think", "sim:ratelimit", "sim:cloudflare"} {
		h.post("/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"`+content+`"}]}`)
		h.post("/v1/chat/completions", "sk-wrong-key-value", `{"model":"gpt-5.2","messages":[{"role":"user","content":"x"}]}`)
	}
	logs := h.logs.String()
	if logs == "" {
		t.Fatal("no logs captured")
	}
	for _, secret := range []string{"secretcookievalue123", "secretvalue456", testKey, "sk-wrong-key-value"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("secret %q found in logs", secret)
		}
	}
}
