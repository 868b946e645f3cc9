package anthropic_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// interopBackend answers by scenario, chosen by the last user text.
func interopBackend(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	last := req.Messages[len(req.Messages)-1]
	prompt := req.LastUserText()
	var evs []llm.Event
	var err error
	switch {
	case last.Role == llm.RoleTool && strings.Contains(prompt, "sim:write"):
		evs = []llm.Event{text("File written.")}
	case last.Role == llm.RoleTool:
		evs = []llm.Event{text("after tools")}
	case strings.Contains(prompt, "sim:write "):
		path := strings.TrimSpace(prompt[strings.Index(prompt, "sim:write ")+len("sim:write "):])
		args := `{"file_path":"` + path + `","content":"nonce0123456789ab"}`
		evs = []llm.Event{toolDelta(0, "call_w", "Write", args), finish(llm.FinishToolCalls)}
	case strings.Contains(prompt, "Reply with nonce"):
		evs = []llm.Event{reasoning("The user wants the nonce."), text("nonce0123456789ab")}
	case prompt == "think":
		evs = []llm.Event{reasoning("Hmm, let me "), reasoning("see."), text("Answer.")}
	case prompt == "tool":
		evs = []llm.Event{text("Checking."),
			toolDelta(0, "call_1", "get_weather", `{"city":`), toolDelta(0, "", "", `"Paris"}`),
			toolDelta(1, "call_2", "get_weather", `{"city":"Lyon"}`), finish(llm.FinishToolCalls)}
	case prompt == "stop":
		evs = []llm.Event{text("before ST"), text("OP after")}
	case prompt == "ratelimit":
		return nil, &gw.Error{Code: gw.CodeRateLimited, Message: "slow down", RetryAfter: 2 * time.Second}
	case prompt == "midfail":
		evs, err = []llm.Event{text("partial")}, &gw.Error{Code: gw.CodeUnavailable, Message: "upstream went away"}
	default:
		evs = []llm.Event{text("Hello "), text("world")}
	}
	if err == nil {
		evs = append(evs, finish(llm.FinishStop), usage(0, 5))
	}
	return newFakeStream(ctx, evs, err), nil
}

// TestInterop runs the official TypeScript SDK (testdata/interop) and, when
// installed, Claude Code itself against the handler. It is opt-in:
// SPARK_INTEROP_DIR names a directory where `npm install @anthropic-ai/sdk
// @anthropic-ai/claude-code` was run (needs node).
func TestInterop(t *testing.T) {
	dir := os.Getenv("SPARK_INTEROP_DIR")
	if dir == "" {
		t.Skip("set SPARK_INTEROP_DIR to a directory with node_modules/@anthropic-ai/{sdk,claude-code}")
	}
	srv := newServer(t, &fakeBackend{ChatFn: interopBackend}, anthropic.Options{PingInterval: time.Second})

	t.Run("TypeScriptSDK", func(t *testing.T) {
		script, err := os.ReadFile("testdata/interop/sdk-check.mjs")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "spark-sdk-check.mjs")
		if err := os.WriteFile(path, script, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		cmd := exec.Command("node", path)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "BASE_URL="+srv.URL)
		out, err := cmd.CombinedOutput()
		t.Logf("\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
	})

	claude := filepath.Join(dir, "node_modules", ".bin", "claude")
	if _, err := os.Stat(claude); err != nil {
		t.Log("Claude Code not installed; skipped")
		return
	}
	run := func(t *testing.T, work string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, claude, args...)
		cmd.Dir = work
		home := t.TempDir()
		cmd.Env = append(os.Environ(),
			"HOME="+home, "XDG_CONFIG_HOME="+home,
			"ANTHROPIC_BASE_URL="+srv.URL, "ANTHROPIC_API_KEY=sk-ant-test",
			"ANTHROPIC_MODEL=claude-sonnet-4-5",
			"DISABLE_TELEMETRY=1", "DISABLE_AUTOUPDATER=1", "DISABLE_ERROR_REPORTING=1",
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("claude %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Run("ClaudeCodePrint", func(t *testing.T) {
		out := run(t, t.TempDir(), "-p", "Reply with nonce")
		if !strings.Contains(out, "nonce0123456789ab") {
			t.Errorf("output: %s", out)
		}
	})
	t.Run("ClaudeCodeTool", func(t *testing.T) {
		work := t.TempDir()
		target := filepath.Join(work, "out.txt")
		out := run(t, work, "-p", "--allowedTools=Write", "Create it. sim:write "+target)
		got, err := os.ReadFile(target)
		if err != nil || string(got) != "nonce0123456789ab" || !strings.Contains(out, "File written.") {
			t.Errorf("file %q (%v), output: %s", got, err, out)
		}
	})
}
