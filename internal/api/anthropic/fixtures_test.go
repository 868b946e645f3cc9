package anthropic_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/llm"
)

// capture is one recorded client request (testdata/README.md).
type capture struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func loadCapture(t *testing.T, name string) capture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var c capture
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// replay sends c to srv with the captured method, target, headers and body
// (body optionally rewritten by edit).
func replay(t *testing.T, srv *httptest.Server, c capture, edit func(map[string]any)) (*http.Response, string) {
	t.Helper()
	body := []byte(c.Body)
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		body, _ = json.Marshal(m)
	}
	req, err := http.NewRequest(c.Method, srv.URL+c.URL, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.Headers {
		switch k {
		case "host", "content-length", "connection", "accept-encoding":
			continue // transport-level; set by the client
		}
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(out)
}

// TestClaudeCodeFixtures replays every captured Claude Code request: each
// parses and is answered 200, streamed when the request says so (the
// captured requests all do) and as one Message when stream is turned off.
func TestClaudeCodeFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/claude-code-*.json")
	if err != nil || len(files) != 5 {
		t.Fatalf("fixtures: %v %v", files, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		c := loadCapture(t, name)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			b := &fakeBackend{Events: []llm.Event{
				reasoning("thinking..."), text("nonce0123456789ab"), finish(llm.FinishStop), usage(0, 3),
			}}
			srv := newServer(t, b, anthropic.Options{})
			if strings.Contains(c.URL, "count_tokens") {
				res, body := replay(t, srv, c, nil)
				var v struct {
					InputTokens int `json:"input_tokens"`
				}
				if res.StatusCode != 200 || json.Unmarshal([]byte(body), &v) != nil || v.InputTokens <= 0 {
					t.Fatalf("status %d: %s", res.StatusCode, body)
				}
				if b.Calls() != 0 {
					t.Error("count_tokens called the backend")
				}
				return
			}

			res, body := replay(t, srv, c, nil)
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d %q: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
			}
			frames := sseFrames(t, body)
			if frames[0].Event != "message_start" || frames[len(frames)-1].Event != "message_stop" {
				t.Errorf("transcript:\n%s", body)
			}
			if !strings.Contains(body, `"text":"nonce0123456789ab"`) {
				t.Errorf("answer text missing:\n%s", body)
			}
			// thinking.display is "omitted" in print mode (no thinking
			// blocks) and "updates" in the interactive UI (shown).
			if got, want := strings.Contains(body, `"type":"thinking"`), strings.Contains(name, "interactive"); got != want {
				t.Errorf("thinking block sent: %v, want %v", got, want)
			}
			checkClaudeCodeRequest(t, name, b.LastRequest(t))

			res, body = replay(t, srv, c, func(m map[string]any) { m["stream"] = false })
			if res.StatusCode != 200 || !strings.Contains(body, `"text":"nonce0123456789ab"`) {
				t.Fatalf("non-stream: status %d: %s", res.StatusCode, body)
			}
			var msg struct {
				Usage struct {
					InputTokens int `json:"input_tokens"`
				} `json:"usage"`
			}
			if json.Unmarshal([]byte(body), &msg) != nil || msg.Usage.InputTokens < 1000 {
				t.Errorf("input tokens = %d, want the estimate of a large prompt", msg.Usage.InputTokens)
			}
		})
	}
}

// checkClaudeCodeRequest checks the conversion of a captured Messages
// request.
func checkClaudeCodeRequest(t *testing.T, name string, req *llm.Request) {
	t.Helper()
	if req.Model != "claude-sonnet-4-5" || req.MaxTokens != 32000 || !req.Reasoning {
		t.Errorf("model %q max %d reasoning %v", req.Model, req.MaxTokens, req.Reasoning)
	}
	if req.Messages[0].Role != llm.RoleSystem || len(req.Messages[0].Parts) != 3 {
		t.Errorf("system = %+v", req.Messages[0])
	}
	if u := req.Messages[1]; u.Role != llm.RoleUser || len(u.Parts) != 9 {
		t.Errorf("first user message has %d parts", len(u.Parts))
	}
	wantTools := 11 // 12 minus DeferredToolPlaceholder
	if strings.Contains(name, "interactive") {
		wantTools = 12 // plus AskUserQuestion
	}
	if len(req.Tools) != wantTools {
		t.Errorf("%d tools, want %d", len(req.Tools), wantTools)
	}
	for _, tl := range req.Tools {
		if tl.Name == "DeferredToolPlaceholder" {
			t.Error("the deferred placeholder tool was offered")
		}
		if len(tl.Parameters) == 0 {
			t.Errorf("tool %s without schema", tl.Name)
		}
	}
	if !strings.Contains(name, "tool-result") {
		if len(req.Messages) != 2 {
			t.Errorf("%d messages", len(req.Messages))
		}
		return
	}
	if len(req.Messages) != 4 {
		t.Fatalf("%d messages: %+v", len(req.Messages), req.Messages)
	}
	const id = "toolu_81917fb6b9e930aaf996039f"
	call := req.Messages[2]
	if call.Role != llm.RoleAssistant || len(call.Parts) != 1 || call.Parts[0].Type != llm.PartToolCall ||
		call.Parts[0].ToolCall.ID != id || call.Parts[0].ToolCall.Name != "Write" ||
		call.Parts[0].ToolCall.Arguments != `{"file_path":"<WORKDIR>/out.txt","content":"nonce0123456789ab"}` {
		t.Errorf("assistant call = %+v", call)
	}
	res := req.Messages[3]
	if res.Role != llm.RoleTool || res.Parts[0].ToolResult.CallID != id || res.Parts[0].ToolResult.Name != "Write" ||
		res.Parts[0].ToolResult.Content == "" {
		t.Errorf("tool result = %+v", res)
	}
}
