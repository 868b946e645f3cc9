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
	"github.com/sparkgw/spark/internal/identity/idptest"
)

// Who the browser tests sign in as.
const (
	browserAdminEmail    = "admin@spark.test"
	browserAdminPassword = "correct horse battery staple"
	browserOIDCEmail     = "oidc-user@corp.example"
	// browserXSSName is the OIDC user's name: the users page must show it
	// as text.
	browserXSSName = `<img src=x onerror="window.__xss=1"> Mallory`
)

// TestDashboardInBrowser drives the dashboard in headless Chromium: the
// scripts in test/browser (playwright-core, axe-core, the openai SDK,
// pinned in test/browser/package.json) against the whole gateway with the
// simulators, a password admin and a loopback OpenID provider. It needs
// Debian's chromium (SPARK_TEST_CHROMIUM, set by scripts/services/
// chromium.sh) and `npm ci --prefix test/browser`; without them it is
// skipped, unless SPARK_REQUIRE_SERVICES=1, when it fails.
//
// Screenshots of every page (light and dark, desktop and a 390 px phone)
// go to $SPARK_ARTIFACTS/browser when that is set, else to the test's
// temporary directory (its path is logged).
func TestDashboardInBrowser(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "test", "browser")
	chromium := os.Getenv("SPARK_TEST_CHROMIUM")
	node, nodeErr := exec.LookPath("node")
	missing := ""
	switch {
	case chromium == "":
		missing = "SPARK_TEST_CHROMIUM is not set"
	case nodeErr != nil:
		missing = "node is not installed"
	default:
		for _, pkg := range []string{"playwright-core", "axe-core", "openai"} {
			if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
				missing = "test/browser/node_modules lacks " + pkg
				break
			}
		}
	}
	if missing != "" {
		msg := missing + ": source scripts/services/chromium.sh (installs chromium, runs npm ci in test/browser)"
		if os.Getenv("SPARK_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg + " (SPARK_REQUIRE_SERVICES=1)")
		}
		t.Skip(msg)
	}

	idp := idptest.New(t, "spark-dashboard", "dashboard-secret", time.Now)
	idp.SignInAs(idptest.Identity{Email: browserOIDCEmail, EmailVerified: true, Name: browserXSSName})
	h := start(t, func(c *config.Config) {
		c.AdminEmail, c.AdminPassword, c.PasswordLogin = browserAdminEmail, browserAdminPassword, true
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = idp.URL, "spark-dashboard", "dashboard-secret"
		c.OIDCProviderName = "Test IdP"
		c.GeminiCookie = geminiCookie
	})

	artifacts := filepath.Join(t.TempDir(), "browser")
	if a := os.Getenv("SPARK_ARTIFACTS"); a != "" {
		artifacts = filepath.Join(a, "browser")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", artifacts)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	scripts := "test/browser/"
	if s := os.Getenv("SPARK_BROWSER_TESTS"); s != "" {
		scripts = s
	}
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", scripts)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"SPARK_BASE_URL="+h.url,
		"SPARK_API_KEY="+testKey,
		"SPARK_ADMIN_EMAIL="+browserAdminEmail,
		"SPARK_ADMIN_PASSWORD="+browserAdminPassword,
		"SPARK_OIDC_NAME=Test IdP",
		"SPARK_OIDC_EMAIL="+browserOIDCEmail,
		"SPARK_XSS_NAME="+browserXSSName,
		"SPARK_ACCOUNT_PROVIDER=genspark",
		"SPARK_ACCOUNT_COOKIE=session_id=gamma-browser-account",
		"SPARK_ACCOUNT_COOKIE_LOGGED_OUT=session_id=expired-browser-account",
		"SPARK_CHAT_MODEL=gpt-5.1",
		"SPARK_ARTIFACTS_DIR="+artifacts,
		"SPARK_TEST_CHROMIUM="+chromium,
		"NO_COLOR=1",
		"FORCE_COLOR=0",
	)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("the browser tests did not finish within 8 minutes:\n%s", out)
	}
	if err != nil {
		t.Fatalf("browser tests failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
