package app_test

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/config"
)

// dirSize is the total size of the files under dir (the database and its
// write-ahead log).
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A 4 MB model name is a 400 on every chat front-end, before any upstream
// call, and nothing of it is stored (issue 11, finding 2: such names went
// into the bindings table for good).
func TestHugeModelNameIsRefusedAndStoresNothing(t *testing.T) {
	dataDir := t.TempDir()
	h := start(t, func(c *config.Config) { c.DataDir = dataDir })
	// A normal answer first, so that the database holds a binding and its
	// size settles.
	if res, body := h.post("/v1/chat/completions", testKey,
		`{"model":"my-favourite-model","messages":[{"role":"user","content":"hello"}]}`); res.StatusCode != 200 {
		t.Fatalf("control request: %d %s", res.StatusCode, body)
	}
	asks, before := len(h.asks()), dirSize(t, dataDir)

	huge := strings.Repeat("m", 4<<20)
	for _, tc := range []struct{ path, body, anthropicType string }{
		{"/v1/chat/completions", `{"model":"` + huge + `","messages":[{"role":"user","content":"hi"}]}`, ""},
		{"/v1/responses", `{"model":"` + huge + `","input":"hi"}`, ""},
		{"/v1/messages", `{"model":"` + huge + `","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, "invalid_request_error"},
	} {
		res, body := h.post(tc.path, testKey, tc.body)
		if res.StatusCode != 400 {
			t.Fatalf("%s: status %d", tc.path, res.StatusCode)
		}
		if len(body) > 4096 {
			t.Errorf("%s: the %d-byte error echoes the name", tc.path, len(body))
		}
		var env struct {
			Type  string `json:"type"`
			Error struct {
				Type  string  `json:"type"`
				Param *string `json:"param"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatalf("%s: %v: %s", tc.path, err, body)
		}
		if env.Error.Type != "invalid_request_error" {
			t.Errorf("%s: error type %q: %s", tc.path, env.Error.Type, body)
		}
		if tc.anthropicType == "" && (env.Error.Param == nil || *env.Error.Param != "model") {
			t.Errorf("%s: param %v: %s", tc.path, env.Error.Param, body)
		}
		if tc.anthropicType != "" && env.Type != "error" {
			t.Errorf("%s: not the Anthropic envelope: %s", tc.path, body)
		}
	}
	if n := len(h.asks()); n != asks {
		t.Errorf("%d upstream asks for refused requests", n-asks)
	}
	if grown := dirSize(t, dataDir) - before; grown > 1<<20 {
		t.Errorf("the data directory grew by %d bytes", grown)
	}
}

// With REASONING_HIDE, no client sees reasoning, and the usage still counts
// its tokens (issue 12, finding 6: the gateway dropped reasoning before
// counting it, so the count was 0).
func TestHiddenReasoningIsStillCounted(t *testing.T) {
	h := start(t, func(c *config.Config) { c.ReasoningHide = true })

	res, body := h.post("/v1/chat/completions", testKey,
		`{"model":"o3-pro","messages":[{"role":"user","content":"think first sim:think"}]}`)
	var chat struct {
		Choices []struct {
			Message map[string]any `json:"message"`
		} `json:"choices"`
		Usage struct {
			Details struct {
				Reasoning int `json:"reasoning_tokens"`
			} `json:"completion_tokens_details"`
		} `json:"usage"`
	}
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &chat) != nil || len(chat.Choices) != 1 {
		t.Fatalf("chat: %d %s", res.StatusCode, body)
	}
	if _, ok := chat.Choices[0].Message["reasoning_content"]; ok || chat.Usage.Details.Reasoning <= 0 {
		t.Errorf("chat: reasoning shown or not counted: %s", body)
	}

	_, body = h.post("/v1/chat/completions", testKey,
		`{"model":"o3-pro","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"think first sim:think"}]}`)
	if strings.Contains(body, `"reasoning_content"`) || strings.Contains(body, `"reasoning_tokens":0`) || !strings.Contains(body, `"reasoning_tokens":`) {
		t.Errorf("chat stream: reasoning shown or not counted:\n%s", body)
	}

	res, body = h.post("/v1/responses", testKey,
		`{"model":"o3-pro","reasoning":{"summary":"auto"},"input":"think first sim:think"}`)
	var rsp struct {
		Output []struct {
			Type string `json:"type"`
		} `json:"output"`
		Usage struct {
			Details struct {
				Reasoning int `json:"reasoning_tokens"`
			} `json:"output_tokens_details"`
		} `json:"usage"`
	}
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &rsp) != nil {
		t.Fatalf("responses: %d %s", res.StatusCode, body)
	}
	for _, it := range rsp.Output {
		if it.Type == "reasoning" {
			t.Errorf("responses: a reasoning item: %s", body)
		}
	}
	if rsp.Usage.Details.Reasoning <= 0 {
		t.Errorf("responses: reasoning not counted: %s", body)
	}

	res, body = h.post("/v1/messages", testKey,
		`{"model":"claude-sonnet-4-5","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"think first sim:think"}]}`)
	if res.StatusCode != 200 || strings.Contains(body, `"thinking"`) || !strings.Contains(body, `"text"`) {
		t.Errorf("messages: %d, thinking shown:\n%s", res.StatusCode, body)
	}
}
