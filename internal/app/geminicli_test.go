package app_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
// exits 0. GOOGLE_GEMINI_BASE_URL is the gateway's root: the CLI's SDK
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
