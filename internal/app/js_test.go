package app_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/config"
)

// TestJavaScriptSDKs runs the official JavaScript SDKs (the npm packages
// openai, @anthropic-ai/sdk and @google/genai, pinned in
// test/js/package.json) against a
// gateway serving both upstreams. Their stream helpers are stricter about
// event order than the Go SDKs: ChatCompletionStream rejects a missing
// finish_reason or a malformed tool-call delta, ResponseStream and
// MessageStream reject events that arrive before what they refer to.
//
// The scripts are test/js/*.test.mjs, run with node's built-in test runner.
// They need node and the npm packages (npm ci --prefix test/js); without
// them the test is skipped, except under CI, where it fails.
func TestJavaScriptSDKs(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", root, err)
	}
	dir := filepath.Join(root, "test", "js")
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not installed"
	default:
		for _, pkg := range []string{"openai", "@anthropic-ai/sdk", "@google/genai"} {
			if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
				missing = "test/js/node_modules lacks " + pkg
				break
			}
		}
	}
	if missing != "" {
		msg := missing + ": run ./scripts/test.sh, or install node and run `npm ci --prefix test/js`"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so the JavaScript SDK tests must run)")
		}
		t.Skip(msg)
	}

	h := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie })

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// SPARK_JS_TESTS narrows the run to some scripts while working on them
	// (e.g. test/js/structured.test.mjs).
	scripts := "test/js/"
	if s := os.Getenv("SPARK_JS_TESTS"); s != "" {
		scripts = s
	}
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", scripts)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"SPARK_BASE_URL="+h.url,
		"SPARK_API_KEY="+testKey,
		"SPARK_SIM_URL="+h.simURL,
		"NO_COLOR=1",
		"FORCE_COLOR=0",
	)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node --test did not finish within 3 minutes:\n%s", out)
	}
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s\n--- gateway log (tail) ---\n%s", scripts, err, out, tail(h.logs.String(), 8000))
	}
	t.Logf("node --test %s:\n%s", scripts, out)
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
