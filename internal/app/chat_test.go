package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/simulator/simcore"
	"github.com/sparkgw/spark/internal/testutil"
)

func TestChatNonStream(t *testing.T) {
	h := start(t, nil)
	prompt := "Grüße aus Köln, 你好 😀 — say it back"
	resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "claude-sonnet-4-5",
		Messages: userMsg(prompt),
	})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if got := resp.Choices[0].Message.Content; !strings.Contains(got, prompt) {
		t.Fatalf("answer %q does not contain the prompt", got)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Model != "claude-sonnet-4-5" {
		t.Fatalf("finish %q model %q", resp.Choices[0].FinishReason, resp.Model)
	}
	if resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 ||
		resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Fatalf("usage %+v", resp.Usage)
	}
	ask := h.lastAsk()
	if got := ask.Facts["models"]; !equalAny(got, []string{"claude-sonnet-4-5"}) {
		t.Fatalf("upstream models = %v", got)
	}
	if ask.Facts["search"] != false {
		t.Fatalf("search flag sent for a plain model: %v", ask.Facts["search"])
	}
}

func TestChatStreamWithUsage(t *testing.T) {
	h := start(t, nil)
	stream := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gpt-5.2",
		Messages:      userMsg("stream me sim:long 12"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	chunks, usageChunks := 0, 0
	for stream.Next() {
		c := stream.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("accumulator rejected chunk %d", chunks)
		}
		chunks++
		if c.Usage.TotalTokens > 0 {
			usageChunks++
			if len(c.Choices) != 0 {
				t.Fatalf("usage chunk carries choices: %v", c.Choices)
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if !strings.Contains(acc.Choices[0].Message.Content, "stream me") {
		t.Fatalf("accumulated %q", acc.Choices[0].Message.Content)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Fatalf("finish reason %q", acc.Choices[0].FinishReason)
	}
	if usageChunks != 1 || acc.Usage.CompletionTokens == 0 {
		t.Fatalf("usage chunks %d, usage %+v", usageChunks, acc.Usage)
	}
	if chunks < 12 {
		t.Fatalf("only %d chunks for 12 upstream deltas: the stream was buffered", chunks)
	}
}

func TestChatStreamWithoutUsageHasNoUsageChunk(t *testing.T) {
	h := start(t, nil)
	resp, body := h.post("/v1/chat/completions", testKey,
		`{"model":"gpt-5.2","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(body, `"usage"`) || strings.Contains(body, "\nid:") {
		t.Fatalf("unexpected usage or id line in stream:\n%s", body)
	}
	if !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("stream does not end with [DONE]:\n%s", body)
	}
}

func TestReasoning(t *testing.T) {
	for _, hide := range []bool{false, true} {
		t.Run(map[bool]string{false: "shown", true: "REASONING_HIDE"}[hide], func(t *testing.T) {
			h := start(t, func(c *config.Config) { c.ReasoningHide = hide })
			resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "o3-pro", Messages: userMsg("think first sim:think"),
			})
			if err != nil {
				t.Fatal(err)
			}
			raw := resp.Choices[0].Message.RawJSON()
			has := strings.Contains(raw, `"reasoning_content"`)
			if has == hide {
				t.Fatalf("reasoning_content present=%v with hide=%v: %s", has, hide, raw)
			}
			if strings.Contains(resp.Choices[0].Message.Content, "Let me think") {
				t.Fatalf("reasoning leaked into content: %q", resp.Choices[0].Message.Content)
			}

			// Streaming: reasoning arrives in its own deltas, before the text.
			_, body := h.post("/v1/chat/completions", testKey,
				`{"model":"o3-pro","stream":true,"messages":[{"role":"user","content":"think sim:think"}]}`)
			r, c := strings.Index(body, `"reasoning_content"`), strings.Index(body, `"content":"You`)
			if hide && r >= 0 || !hide && (r < 0 || c < 0 || r > c) {
				t.Fatalf("stream reasoning at %d, content at %d (hide=%v)", r, c, hide)
			}
		})
	}
}

func TestSearchSuffix(t *testing.T) {
	h := start(t, nil)
	resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude-sonnet-4-5-search", Messages: userMsg("news please"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ask := h.lastAsk()
	if ask.Facts["search"] != true {
		t.Fatalf("request_web_knowledge not sent: %v", ask.Facts)
	}
	if !equalAny(ask.Facts["models"], []string{"claude-sonnet-4-5"}) {
		t.Fatalf("upstream models = %v", ask.Facts["models"])
	}
	if resp.Model == "" {
		t.Fatal("no model in response")
	}
}

func TestUnknownModelUsesMixtureOfAgents(t *testing.T) {
	h := start(t, nil)
	if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "my-favourite-model", Messages: userMsg("hello"),
	}); err != nil {
		t.Fatal(err)
	}
	ask := h.lastAsk()
	if ask.Facts["moa"] != true || !equalAny(ask.Facts["models"], []string{"gpt-5.1-low", "claude-sonnet-4-5", "gemini-3-pro-preview"}) {
		t.Fatalf("MoA not used: %v", ask.Facts)
	}
}

func TestAuthAndBadRequests(t *testing.T) {
	h := start(t, nil)
	bad := openai.NewClient(option.WithBaseURL(h.url+"/v1/"), option.WithAPIKey("sk-wrong"), option.WithMaxRetries(0))
	_, err := bad.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5.2", Messages: userMsg("x")})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong key: %v", err)
	}

	tests := []struct {
		name, path, key, body string
		status                int
		param                 string
	}{
		{"missing key", "/v1/chat/completions", "", `{"model":"gpt-5.2","messages":[{"role":"user","content":"x"}]}`, 401, ""},
		{"not json", "/v1/chat/completions", testKey, `{"model":`, 400, ""},
		{"no messages", "/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[]}`, 400, "messages"},
		{"no model", "/v1/chat/completions", testKey, `{"messages":[{"role":"user","content":"x"}]}`, 400, "model"},
		{"doubled v1", "/v1/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"x"}]}`, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.post(tc.path, tc.key, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 200 {
				return
			}
			var env struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error.Message == "" || env.Error.Type == "" {
				t.Fatalf("not an OpenAI error envelope: %s", body)
			}
			if tc.param != "" && (env.Error.Param == nil || !strings.HasPrefix(*env.Error.Param, tc.param)) {
				t.Fatalf("param = %v, want %s", env.Error.Param, tc.param)
			}
			if strings.Contains(body, "alpha-account") || strings.Contains(body, testKey) {
				t.Fatalf("secret in error body: %s", body)
			}
		})
	}
}

func TestRoutePrefix(t *testing.T) {
	h := start(t, func(c *config.Config) { c.RoutePrefix = "hf" })
	if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("prefixed"),
	}); err != nil {
		t.Fatalf("via prefix: %v", err)
	}
	resp, _ := h.post(strings.TrimSuffix(h.url, "/hf")+"/v1/models", testKey, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("route without prefix answered %d", resp.StatusCode)
	}
}

func TestModelsList(t *testing.T) {
	h := start(t, nil)
	page, err := h.client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	for _, want := range []string{"gpt-5.1", "claude-opus-4-5", "o3-pro", "gpt-image-1", "sora-2"} {
		if !slices.Contains(ids, want) {
			t.Errorf("model %s missing from /v1/models", want)
		}
	}
	m, err := h.client.Models.Get(context.Background(), "fal-ai/nano-banana")
	if err != nil || m.ID != "fal-ai/nano-banana" {
		t.Fatalf("get model with slash: %v %v", m, err)
	}
}

// TestClientDisconnectCancelsUpstream: a client that leaves mid-stream ends
// the upstream request and leaves no goroutine behind.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	h := start(t, nil)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	stream := h.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("long answer sim:long 400 sim:slow 20"),
	})
	for i := 0; i < 3 && stream.Next(); i++ {
	}
	cancel()
	stream.Close()

	entries, err := h.sim.Requests.Wait(waitCtx(t), func(es []simcore.Entry) bool {
		for _, e := range es {
			if e.Path == "/api/copilot/ask" && e.Outcome != simcore.OutcomePending {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("upstream request never ended: %v", err)
	}
	for _, e := range entries {
		if e.Path == "/api/copilot/ask" && e.Outcome != simcore.OutcomeCancelled {
			t.Fatalf("upstream outcome %q, want cancelled", e.Outcome)
		}
	}
	h.client = openai.Client{} // drop idle connections' references
	http.DefaultClient.CloseIdleConnections()
	testutil.SettleGoroutines(t, before+2)
}

func equalAny(v any, want []string) bool {
	list, ok := v.([]string)
	if !ok {
		if anys, ok2 := v.([]any); ok2 {
			for _, a := range anys {
				s, _ := a.(string)
				list = append(list, s)
			}
		} else {
			return false
		}
	}
	return slices.Equal(list, want)
}
