package toolcall_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sparkgw/spark/internal/jsonschema"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/toolcall"
)

// captureTools reads the tools of a captured client request (the front-ends'
// testdata: {"method","url","headers","body"}), flattening Codex's
// namespace tools.
func captureTools(tb testing.TB, path string) []llm.Tool {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var capture struct {
		Body struct {
			Tools []wireTool `json:"tools"`
		} `json:"body"`
	}
	if err := json.Unmarshal(data, &capture); err != nil {
		tb.Fatal(err)
	}
	var out []llm.Tool
	var add func(ts []wireTool)
	add = func(ts []wireTool) {
		for _, t := range ts {
			if t.Type == "namespace" {
				add(t.Tools)
				continue
			}
			schema := t.InputSchema
			if schema == nil {
				schema = t.Parameters
			}
			out = append(out, llm.Tool{Name: t.Name, Parameters: schema})
		}
	}
	add(capture.Body.Tools)
	return out
}

type wireTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"input_schema"`
	Parameters  json.RawMessage `json:"parameters"`
	Tools       []wireTool      `json:"tools"`
}

var (
	claudeCodeCapture = filepath.Join("..", "api", "anthropic", "testdata", "claude-code-2.1.330-interactive-messages-request.json")
	codexCapture      = filepath.Join("..", "api", "responses", "testdata", "codex-0.169.0-responses-request.json")
)

// The tool sets of real agents compile within the limits, and their calls
// validate.
func TestRealAgentToolsCompile(t *testing.T) {
	calls := map[string]string{
		"Read":  `{"file_path":"/tmp/a.go","offset":10}`,
		"Bash":  `{"command":"ls","timeout":1000}`,
		"Write": `{"file_path":"/tmp/a","content":"x"}`,
	}
	for _, path := range []string{claudeCodeCapture, codexCapture} {
		tools := captureTools(t, path)
		if len(tools) < 8 {
			t.Fatalf("%s: %d tools", path, len(tools))
		}
		for _, tool := range tools {
			if err := toolcall.CheckParameters(tool.Parameters); err != nil {
				t.Errorf("%s: tool %s: %v", filepath.Base(path), tool.Name, err)
				continue
			}
			args, ok := calls[tool.Name]
			if !ok {
				continue
			}
			delete(calls, tool.Name)
			s, err := jsonschema.Options{Lenient: true}.Compile(tool.Parameters)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ValidateJSON(context.Background(), []byte(args)); err != nil {
				t.Errorf("tool %s, arguments %s: %v", tool.Name, args, err)
			}
			if err := s.ValidateJSON(context.Background(), []byte(`{"unexpected":1}`)); err == nil {
				t.Errorf("tool %s accepts arguments without its required properties", tool.Name)
			}
		}
	}
	if len(calls) > 0 {
		t.Errorf("tools not found in the capture: %v", calls)
	}
}

// BenchmarkCompileClaudeCodeTools compiles Claude Code's whole tool set
// without the cache: what the first request of a conversation pays.
func BenchmarkCompileClaudeCodeTools(b *testing.B) {
	tools := captureTools(b, claudeCodeCapture)
	b.ReportAllocs()
	for b.Loop() {
		for _, tool := range tools {
			if _, err := (jsonschema.Options{Lenient: true}).Compile(tool.Parameters); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkCompileClaudeCodeToolsCached is the same through the cache:
// what every later turn pays.
func BenchmarkCompileClaudeCodeToolsCached(b *testing.B) {
	tools := captureTools(b, claudeCodeCapture)
	b.ReportAllocs()
	for b.Loop() {
		for _, tool := range tools {
			if err := toolcall.CheckParameters(tool.Parameters); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkValidateReadCall validates a typical Read call.
func BenchmarkValidateReadCall(b *testing.B) {
	var read json.RawMessage
	for _, tool := range captureTools(b, claudeCodeCapture) {
		if tool.Name == "Read" {
			read = tool.Parameters
		}
	}
	s, err := jsonschema.Options{Lenient: true}.Compile(read)
	if err != nil {
		b.Fatal(err)
	}
	args := []byte(`{"file_path":"/home/u/project/main.go","offset":120,"limit":80}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.ValidateJSON(ctx, args); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrapClaudeCodeTools is the tool work on the way to the first
// token of a Claude Code turn: the front-end's schema check and Wrap
// (compiled schemas come from the cache after the first turn).
func BenchmarkWrapClaudeCodeTools(b *testing.B) {
	req := newReq(llm.ToolChoiceAuto, "")
	req.Tools = captureTools(b, claudeCodeCapture)
	e := toolcall.New(toolcall.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for _, tool := range req.Tools {
			if err := toolcall.CheckParameters(tool.Parameters); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := e.Wrap(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
