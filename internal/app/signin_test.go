package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/config"
)

// browser is a client with a cookie jar that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func call(t *testing.T, c *http.Client, method, u, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestEnvAdminSignsInAndReadsMe: SPARK_ADMIN_EMAIL / SPARK_ADMIN_PASSWORD
// make the first admin, who signs in over HTTP and reads /api/me; a client
// API key does not open the dashboard API; a changed password takes over
// at the next start; nothing secret reaches the logs.
func TestEnvAdminSignsInAndReadsMe(t *testing.T) {
	dir := t.TempDir()
	env := func(pw string) func(*config.Config) {
		return func(c *config.Config) {
			c.DataDir, c.AdminEmail, c.AdminPassword, c.PasswordLogin = dir, "Boss@Example.com", pw, true
			c.RoutePrefix = "/hf"
		}
	}
	h := start(t, env("first-password"))
	if h.app.SetupToken != "" {
		t.Fatal("a setup link was minted although SPARK_ADMIN_EMAIL made an admin")
	}
	c := browser(t)
	if st, _, body := call(t, c, "GET", h.url+"/api/me", "", "Authorization", "Bearer "+testKey); st != http.StatusUnauthorized {
		t.Fatalf("client key on /api/me: %d %s", st, body)
	}
	st, hdr, body := call(t, c, "POST", h.url+"/auth/login", `{"email":"boss@example.com","password":"first-password"}`)
	if st != http.StatusNoContent || !strings.Contains(hdr.Get("Set-Cookie"), "Path=/hf") {
		t.Fatalf("login: %d %s Set-Cookie %q", st, body, hdr.Get("Set-Cookie"))
	}
	st, _, body = call(t, c, "GET", h.url+"/api/me", "")
	var me map[string]string
	if err := json.Unmarshal([]byte(body), &me); st != 200 || err != nil || me["email"] != "Boss@Example.com" || me["role"] != "admin" || !strings.HasPrefix(me["id"], "usr_") {
		t.Fatalf("/api/me: %d %s", st, body)
	}
	if st, _, body := call(t, c, "GET", h.url+"/api/users", ""); st != 200 || !strings.Contains(body, `"builtin":true`) {
		t.Fatalf("/api/users: %d %s", st, body)
	}
	if st, _, body := call(t, c, "GET", h.url+"/api/audit", ""); st != 200 || !strings.Contains(body, `"action":"login"`) {
		t.Fatalf("/api/audit: %d %s", st, body)
	}
	var session string
	for _, ck := range c.Jar.Cookies(mustParse(t, h.url)) {
		session = ck.Value
	}
	logs := h.logs.String()
	for _, secret := range []string{"first-password", session} {
		if secret == "" || strings.Contains(logs, secret) {
			t.Fatalf("a secret (%d bytes) is empty or in the logs", len(secret))
		}
	}
	h.stop()

	h = start(t, env("second-password"))
	c = browser(t)
	if st, _, _ := call(t, c, "POST", h.url+"/auth/login", `{"email":"boss@example.com","password":"first-password"}`); st != http.StatusUnauthorized {
		t.Fatalf("old password after SPARK_ADMIN_PASSWORD changed: %d", st)
	}
	if st, _, body := call(t, c, "POST", h.url+"/auth/login", `{"email":"boss@example.com","password":"second-password"}`); st != http.StatusNoContent {
		t.Fatalf("new password: %d %s", st, body)
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSetupLinkAtFirstStart: without SPARK_ADMIN_EMAIL and with no admin,
// the gateway mints a setup link that creates the first admin once; with
// PASSWORD_LOGIN=0 password sign-in is refused.
func TestSetupLinkAtFirstStart(t *testing.T) {
	h := start(t, nil)
	link := h.app.SetupLink("http://spark.test")
	if h.app.SetupToken == "" || !strings.HasPrefix(link, "http://spark.test/setup?token=") {
		t.Fatalf("setup link %q", link)
	}
	token := strings.TrimPrefix(link, "http://spark.test/setup?token=")
	c := browser(t)
	body := `{"token":"` + token + `","email":"first@example.com","password":"first-password"}`
	if st, _, out := call(t, c, "POST", h.url+"/setup", body); st != http.StatusCreated {
		t.Fatalf("setup: %d %s", st, out)
	}
	if st, _, out := call(t, c, "GET", h.url+"/api/me", ""); st != 200 || !strings.Contains(out, "first@example.com") {
		t.Fatalf("/api/me after setup: %d %s", st, out)
	}
	if st, _, _ := call(t, browser(t), "POST", h.url+"/setup", body); st < 400 {
		t.Fatalf("setup link reused: %d", st)
	}
	// PASSWORD_LOGIN is off in this harness's config.
	if st, _, out := call(t, browser(t), "POST", h.url+"/auth/login", `{"email":"first@example.com","password":"first-password"}`); st != http.StatusForbidden {
		t.Fatalf("login with PASSWORD_LOGIN=0: %d %s", st, out)
	}
	if strings.Contains(h.logs.String(), token) {
		t.Fatal("the setup token is in the logs")
	}
}
