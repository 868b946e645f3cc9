package app_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

const geminiCookie = "__Secure-1PSID=gem-account-1; __Secure-1PSIDTS=sidts-start-1"

// geminiOnly configures a deployment with one Gemini web account.
func geminiOnly(c *config.Config) {
	c.GSCookie = ""
	c.GeminiCookie = geminiCookie
}

func (h *harness) generates() []simcore.Entry {
	var out []simcore.Entry
	for _, e := range h.requests("gemini") {
		if strings.HasSuffix(e.Path, "/StreamGenerate") {
			out = append(out, e)
		}
	}
	return out
}

func TestGeminiChat(t *testing.T) {
	h := start(t, geminiOnly)
	prompt := "Hallo 世界 👩‍💻 — echo me"
	for _, model := range []string{"gemini-3-flash", "gemini-3-pro"} {
		t.Run(model+"/non-stream", func(t *testing.T) {
			resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: model, Messages: userMsg(prompt),
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(resp.Choices[0].Message.Content, prompt) {
				t.Fatalf("answer %q lacks the prompt", resp.Choices[0].Message.Content)
			}
		})
		t.Run(model+"/stream", func(t *testing.T) {
			stream := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model: model, Messages: userMsg(prompt + " sim:long 8"),
			})
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(acc.Choices[0].Message.Content, prompt) {
				t.Fatalf("streamed %q lacks the prompt", acc.Choices[0].Message.Content)
			}
		})
	}
	gens := h.generates()
	if len(gens) != 4 {
		t.Fatalf("%d StreamGenerate calls", len(gens))
	}
	if gens[0].Facts["model"] == gens[2].Facts["model"] || gens[0].Facts["model_header"] == nil {
		t.Fatalf("flash and pro sent the same model header: %v / %v", gens[0].Facts, gens[2].Facts)
	}
}

func TestGeminiThinking(t *testing.T) {
	h := start(t, geminiOnly)
	resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-3-pro", Messages: userMsg("ponder sim:think"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Choices[0].Message.RawJSON(), `"reasoning_content"`) {
		t.Fatalf("no reasoning: %s", resp.Choices[0].Message.RawJSON())
	}
}

func TestGeminiModelNames(t *testing.T) {
	h := start(t, geminiOnly)
	for _, name := range []string{"gemini-3-flash", "3 Flash", "fbb127bbb056c959", "gpt-4o"} {
		if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: name, Messages: userMsg("which model"),
		}); err != nil {
			t.Fatalf("model %q: %v", name, err)
		}
	}
	models := map[any]bool{}
	for _, g := range h.generates() {
		models[g.Facts["model"]] = true
	}
	if len(models) != 1 {
		t.Fatalf("four names of one model reached the upstream as %v", models)
	}
	resp, body := h.post("/v1/chat/completions", testKey, `{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "gemini-3-flash") {
		t.Fatalf("unknown model on a Gemini-only deployment: %d %s", resp.StatusCode, body)
	}
}

func TestGeminiUsageLimit(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.GSCookie = ""
		c.GeminiCookie = "__Secure-1PSID=limited-gem; __Secure-1PSIDTS=sidts-x"
	})
	_, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-3-flash", Messages: userMsg("x"),
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests ||
		!strings.Contains(apiErr.Message, "All cookies are temporarily unavailable.") {
		t.Fatalf("want 429 with the pool message, got %v", err)
	}
}

func TestGeminiLoggedOut(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.GSCookie = ""
		c.GeminiCookie = "__Secure-1PSID=expired-gem; __Secure-1PSIDTS=sidts-y"
	})
	resp, body := h.post("/v1/chat/completions", testKey, `{"model":"gemini-3-flash","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode < 400 || !strings.Contains(strings.ToLower(body), "cookie") {
		t.Fatalf("logged-out account: %d %s", resp.StatusCode, body)
	}
	loggedOut := false
	for _, st := range h.app.Pool().Snapshot() {
		loggedOut = loggedOut || st.LastError.Code == "logged_out"
	}
	if !loggedOut {
		t.Fatal("the account is not reported as logged out")
	}
}

func TestBothUpstreamsServed(t *testing.T) {
	h := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie })
	for _, model := range []string{"gemini-3-flash", "claude-sonnet-4-5"} {
		if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: model, Messages: userMsg("both"),
		}); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
	}
	if len(h.generates()) != 1 || len(h.asks()) != 1 {
		t.Fatalf("gemini %d, genspark %d requests", len(h.generates()), len(h.asks()))
	}
	page, err := h.client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]bool{}
	for _, m := range page.Data {
		owners[m.OwnedBy] = true
	}
	if !owners["genspark"] || !owners["geminiweb"] {
		t.Fatalf("model owners %v", owners)
	}
}

// A rotated __Secure-1PSIDTS is persisted: after a restart with the same
// GEMINI_COOKIE the gateway sends the fresh value, not the stale one.
func TestGeminiRotationSurvivesRestart(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dataDir := t.TempDir()
	cfg := func(c *config.Config) { geminiOnly(c); c.DataDir = dataDir }

	h := start(t, cfg, app.WithClock(clock))
	if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-3-flash", Messages: userMsg("first"),
	}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	h.app.RotateCookies(context.Background())
	var fresh string
	for _, e := range h.requests("accounts") {
		if v, ok := e.Facts["new_psidts"].(string); ok && v != "" {
			fresh = v
		}
	}
	if fresh == "" {
		t.Fatal("no rotation reached the simulator")
	}
	h.stop()

	h2 := startWith(t, h.sim, h.simURL, cfg, app.WithClock(clock))
	h2.sim.Requests.Reset()
	if _, err := h2.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-3-flash", Messages: userMsg("after restart"),
	}); err != nil {
		t.Fatal(err)
	}
	gens := h2.generates()
	if len(gens) == 0 {
		t.Fatal("no StreamGenerate after restart")
	}
	if cookie := gens[len(gens)-1].Header["Cookie"]; !strings.Contains(cookie, fresh) {
		t.Fatal("after a restart the gateway did not send the rotated __Secure-1PSIDTS")
	}
}

// Once an account's model list is known, it is not picked for a model it
// does not have: no request for Pro goes to the account without Pro.
func TestGeminiAccountsServeOnlyTheirModels(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.GSCookie = ""
		c.GeminiCookie = "__Secure-1PSID=basic-no-pro; __Secure-1PSIDTS=sidts-b,__Secure-1PSID=full-account; __Secure-1PSIDTS=sidts-f"
		c.PoolStrategy = "round-robin"
	})
	ask := func(model string) {
		t.Helper()
		if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: model, Messages: userMsg("x"),
		}); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
	}
	for range 4 { // both accounts discover their lists
		ask("gemini-3-flash")
	}
	h.sim.Requests.Reset()
	for range 6 {
		ask("gemini-3-pro")
	}
	for _, g := range h.generates() {
		if strings.Contains(g.Header["Cookie"], "basic-no-pro") {
			t.Fatalf("a Pro request went to the account without Pro: %v", g.Facts["model"])
		}
	}
	if n := len(h.generates()); n != 6 {
		t.Fatalf("%d generate calls for 6 requests", n)
	}
}
