package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// geminiCLISettings points Gemini CLI at an API key (GEMINI_API_KEY) and
// turns off what would reach the internet: update checks, usage
// statistics, telemetry, the ripgrep download. Folder trust is off so the
// temporary workspace needs no confirmation.
const geminiCLISettings = `{
  "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
  "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false},
  "tools": {"useRipgrep": false}
}`

// TestGeminiCLI runs the real Gemini CLI (@google/gemini-cli 0.61.0,
// pinned in test/js/package.json) non-interactively against a gateway with
// only a Gemini web account: it answers a prompt, and in yolo mode
// completes a write_file call the simulated model makes (sim:tool), then
// exits 0; with its default model ("auto") its routing classifier gets
// JSON at once and the turn runs on the model the classifier picks. GOOGLE_GEMINI_BASE_URL is the gateway's root: the CLI's SDK
// appends /v1beta/models/{model}:streamGenerateContent?alt=sse, and the
// CLI sends gemini-3-flash as gemini-3.8-flash, which spark resolves to
// the web app's flash model.
//
// Without node or the npm packages the test is skipped, except under CI.
func TestGeminiCLI(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(root, "test", "js", "node_modules", ".bin", "gemini")
	_, err = exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not installed"
	default:
		if _, err := os.Stat(cli); err != nil {
			missing = "test/js/node_modules lacks @google/gemini-cli"
		}
	}
	if missing != "" {
		msg := missing + ": run ./scripts/test.sh, or install node and run `npm ci --prefix test/js`"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so the Gemini CLI test must run)")
		}
		t.Skip(msg)
	}

	h := start(t, geminiOnly)
	home, work := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".gemini"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".gemini", "settings.json"), []byte(geminiCLISettings), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Dir = work
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + home,
			"GOOGLE_GEMINI_BASE_URL=" + h.url,
			"GEMINI_API_KEY=" + testKey,
			"GEMINI_CLI_NO_RELAUNCH=true",
			"GEMINI_TELEMETRY_ENABLED=false",
			"NO_COLOR=1",
			"TERM=dumb",
			"CI=1",
		}
		cmd.WaitDelay = 10 * time.Second
		out, err := cmd.CombinedOutput()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("gemini did not finish within 2 minutes:\n%s", out)
		}
		if err != nil {
			t.Fatalf("gemini %q: %v\n%s\n--- gateway log (tail) ---\n%s", args, err, out, tail(h.logs.String(), 6000))
		}
		return string(out)
	}

	t.Run("prompt", func(t *testing.T) {
		out := run(t, "-m", "gemini-3-flash", "-p", "Reply with nonce7c1e")
		if !strings.Contains(out, "nonce7c1e") {
			t.Fatalf("the answer lacks the simulator's echo of the prompt:\n%s", out)
		}
	})
	// Without -m the CLI routes each turn (its default model "auto"): a
	// classifier request (generateContent with a responseJsonSchema of
	// complexity_reasoning and complexity_score) picks flash or pro. Through
	// spark's structured outputs the classifier gets JSON at once: one
	// classifier request, no retries.
	t.Run("auto routing", func(t *testing.T) {
		// A score the CLI routes to flash (below its threshold of 90): the
		// sim:json directive is in the user text both the classifier and
		// the routed turn see, so the answer is that JSON too.
		before := len(h.generates())
		out := run(t, "--output-format", "json", "-p",
			`Route me. sim:json {"complexity_reasoning":"nonce3e8a","complexity_score":10}`)
		res := cliJSONResult(t, out)
		if !strings.Contains(res.Response, "nonce3e8a") {
			t.Fatalf("the answer lacks the simulator's JSON:\n%s", out)
		}
		router, main := res.modelOf("utility_router"), res.modelOf("main")
		if router == "" || res.Stats.Models[router].API.TotalErrors != 0 {
			t.Fatalf("no classifier request without errors in the CLI's stats:\n%s", out)
		}
		// Were the classifier's JSON not parsed, the CLI would fall back to
		// its default pro model.
		if !strings.Contains(main, "flash") || strings.Contains(main, "lite") {
			t.Fatalf("the turn ran on %q, want the flash model the classifier's score 10 picks:\n%s", main, out)
		}
		classifier := h.structuredGenerates(before)
		if len(classifier) != 1 || classifier[0].Outcome != "completed" {
			t.Fatalf("%d classifier requests reached the simulator, want 1 answered: %+v", len(classifier), classifier)
		}

		// The simulator's own answer to the classifier (no directive) is the
		// schema's minimal instance, complexity_score 0: schema-valid JSON at
		// once (one request), which the CLI then refuses itself (it wants a
		// score of at least 1, a bound its schema does not state) and falls
		// back to its default model; the turn is answered all the same.
		before = len(h.generates())
		out = run(t, "-p", "Reply with nonce4b7d")
		if !strings.Contains(out, "nonce4b7d") {
			t.Fatalf("the answer lacks the simulator's echo of the prompt:\n%s", out)
		}
		if n := len(h.structuredGenerates(before)); n != 1 {
			t.Fatalf("%d classifier requests reached the simulator, want 1 (no retries)", n)
		}
	})
	t.Run("write_file", func(t *testing.T) {
		target := filepath.Join(work, "gm-out.txt")
		before := len(h.generates())
		run(t, "-m", "gemini-3-flash", "--approval-mode", "yolo", "-p",
			`Write the file. sim:tool write_file {"file_path":"`+target+`","content":"nonce9d2f"}`)
		got, err := os.ReadFile(target)
		if err != nil || string(got) != "nonce9d2f" {
			t.Fatalf("file %s: %q, %v", target, got, err)
		}
		if n := len(h.generates()) - before; n < 2 {
			t.Fatalf("%d upstream turns, want the call and the answer to its result", n)
		}
	})
}

// structuredGenerates returns the Gemini web turns from the before-th on
// whose prompt asks for an answer in a JSON Schema (spark's
// structured-output prompt carries a json-schema fence).
func (h *harness) structuredGenerates(before int) []simcore.Entry {
	var out []simcore.Entry
	for _, e := range h.generates()[before:] {
		if p, _ := e.Facts["prompt"].(string); strings.Contains(p, "```json-schema") {
			out = append(out, e)
		}
	}
	return out
}

// cliResult is what Gemini CLI prints with --output-format json: the
// answer and, per model, its requests by role (main, utility_router, ...).
type cliResult struct {
	Response string `json:"response"`
	Stats    struct {
		Models map[string]struct {
			API struct {
				TotalRequests int `json:"totalRequests"`
				TotalErrors   int `json:"totalErrors"`
			} `json:"api"`
			Roles map[string]json.RawMessage `json:"roles"`
		} `json:"models"`
	} `json:"stats"`
}

// modelOf returns the model that served role's requests ("" when none).
func (r *cliResult) modelOf(role string) string {
	for name, m := range r.Stats.Models {
		if _, ok := m.Roles[role]; ok {
			return name
		}
	}
	return ""
}

// cliJSONResult finds the JSON result in the CLI's combined output (after
// its terminal warnings).
func cliJSONResult(t *testing.T, out string) *cliResult {
	t.Helper()
	for i := 0; i < len(out); i++ {
		if out[i] != '{' || (i > 0 && out[i-1] != '\n') {
			continue
		}
		var r cliResult
		if json.NewDecoder(strings.NewReader(out[i:])).Decode(&r) == nil && r.Stats.Models != nil {
			return &r
		}
	}
	t.Fatalf("no JSON result in the CLI's output:\n%s", out)
	return nil
}
