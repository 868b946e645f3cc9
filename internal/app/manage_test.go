package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/identity/idptest"
)

// TestAccountsAndDoctorThroughApp: the admin adds a Gemini and a Genspark
// account through the dashboard API against the simulator (the Gemini
// provider, without accounts at start, starts for its first one); the
// doctor says ok for the healthy ones (with the models the Gemini one
// reads), logged_out for an expired one and rate_limited for one whose
// chats are limited; a second user, signed in through OIDC,
// sees none of them and gets 404 on them; GET /api/models names the
// admin's accounts.
func TestAccountsAndDoctorThroughApp(t *testing.T) {
	idp := idptest.New(t, "spark-app", "app-secret", time.Now)
	h := start(t, func(c *config.Config) {
		c.AdminEmail, c.AdminPassword, c.PasswordLogin = "boss@example.com", "boss-password", true
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = idp.URL, "spark-app", "app-secret"
	})
	admin := browser(t)
	if st, _, body := call(t, admin, "POST", h.url+"/auth/login", `{"email":"boss@example.com","password":"boss-password"}`); st != http.StatusNoContent {
		t.Fatalf("login: %d %s", st, body)
	}
	_, _, me := call(t, admin, "GET", h.url+"/api/me", "")
	var adminUser struct{ ID string }
	_ = json.Unmarshal([]byte(me), &adminUser)

	st, _, body := call(t, admin, "GET", h.url+"/api/accounts", "")
	if st != 200 || strings.Count(body, `"owner_id":"`+adminUser.ID+`"`) != 2 || strings.Contains(body, "alpha-account") {
		t.Fatalf("the environment's accounts: %d %s", st, body)
	}

	create := func(provider, cookie, label string) string {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"provider": provider, "cookie": cookie, "label": label})
		st, _, body := call(t, admin, "POST", h.url+"/api/accounts", string(b))
		var a struct{ ID string }
		if err := json.Unmarshal([]byte(body), &a); st != http.StatusCreated || err != nil || a.ID == "" {
			t.Fatalf("create %s: %d %s", label, st, body)
		}
		return a.ID
	}
	gemini := create("geminiweb", "__Secure-1PSID=healthy-gemini; __Secure-1PSIDTS=ts", "my gemini")
	expired := create("genspark", "session_id=expired-session", "old genspark")
	limited := create("genspark", "session_id=limited-session", "busy genspark")

	type verdict struct {
		OK        bool     `json:"ok"`
		Problem   *string  `json:"problem"`
		Message   string   `json:"message"`
		Models    []string `json:"models"`
		LatencyMS *int64   `json:"latency_ms"`
	}
	test := func(id string) verdict {
		t.Helper()
		st, _, body := call(t, admin, "POST", h.url+"/api/accounts/"+id+"/test", "")
		var v verdict
		if err := json.Unmarshal([]byte(body), &v); st != 200 || err != nil || v.LatencyMS == nil {
			t.Fatalf("test %s: %d %s", id, st, body)
		}
		return v
	}
	if v := test(gemini); !v.OK || v.Problem != nil || len(v.Models) == 0 {
		t.Fatalf("healthy Gemini account: %+v", v)
	}
	if v := test(expired); v.OK || v.Problem == nil || *v.Problem != "logged_out" || v.Message == "" {
		t.Fatalf("expired Genspark account: %+v", v)
	}
	// Signed in, but its chats are refused: the doctor's chat shows it.
	if v := test(limited); v.OK || v.Problem == nil || *v.Problem != "rate_limited" {
		t.Fatalf("rate-limited Genspark account: %+v", v)
	}
	envAccount := ""
	for _, s := range h.app.Pool().Snapshot() {
		if s.Provider == "genspark" && envAccount == "" {
			envAccount = s.ID // alpha-account, from GS_COOKIE
		}
	}
	if v := test(envAccount); !v.OK || !strings.Contains(v.Message, "claude-sonnet-4-5 answered") {
		t.Fatalf("healthy Genspark account: %+v", v)
	}

	// The new Gemini account serves chats at once.
	st, _, body = call(t, admin, "POST", h.url+"/v1/chat/completions", `{"model":"gemini-3-flash","messages":[{"role":"user","content":"ping from gemini"}]}`,
		"Authorization", "Bearer "+testKey)
	if st != 200 || !strings.Contains(body, "ping from gemini") {
		t.Fatalf("chat through the new Gemini account: %d %s", st, body)
	}
	if st, _, body := call(t, admin, "GET", h.url+"/api/models", ""); st != 200 || !strings.Contains(body, `"id":"gemini-3-flash"`) ||
		!strings.Contains(body, `"label":"my gemini"`) || !strings.Contains(body, `"provider_name":"Gemini web"`) {
		t.Fatalf("/api/models: %d %.2000s", st, body)
	}

	// A second user.
	user := browser(t)
	idp.SignInAs(idptest.Verified("dev@example.org"))
	_, hdr, _ := call(t, user, "GET", h.url+"/auth/login", "")
	resp, err := user.Get(hdr.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st, _, body := call(t, user, "GET", resp.Header.Get("Location"), "", "Accept", "application/json"); st >= 400 {
		t.Fatalf("OIDC callback: %d %s", st, body)
	}
	if st, _, body := call(t, user, "GET", h.url+"/api/accounts", ""); st != 200 || body != `{"data":[]}`+"\n" {
		t.Fatalf("the second user's accounts: %d %s", st, body)
	}
	for _, id := range []string{gemini, expired, limited} {
		if st, _, body := call(t, user, "POST", h.url+"/api/accounts/"+id+"/test", ""); st != http.StatusNotFound {
			t.Fatalf("the second user tests the admin's account: %d %s", st, body)
		}
		if st, _, _ := call(t, user, "DELETE", h.url+"/api/accounts/"+id, ""); st != http.StatusNotFound {
			t.Fatalf("the second user deletes the admin's account: %d", st)
		}
	}
	// The playground does not lease the admin's accounts to them...
	_, _, body = call(t, user, "POST", h.url+"/api/playground/chat", `{"model":"gpt-5.1","messages":[{"role":"user","content":"hello there"}]}`)
	if frames := apitest.ParseFrames(t, body); len(frames) != 1 || frames[0].Event != "error" {
		t.Fatalf("the second user's playground without accounts: %s", body)
	}
	// ... until the admin shares one.
	if st, _, body := call(t, admin, "PATCH", h.url+"/api/accounts/"+gemini, `{"shared":true}`); st != 200 {
		t.Fatalf("share: %d %s", st, body)
	}
	_, _, body = call(t, user, "POST", h.url+"/api/playground/chat", `{"model":"gemini-3-flash","messages":[{"role":"user","content":"hello there sim:think"}]}`)
	frames := apitest.ParseFrames(t, body)
	var names []string
	for _, f := range frames {
		names = append(names, f.Event)
	}
	joined := strings.Join(names, ",")
	if !strings.HasPrefix(joined, "reasoning,") || !strings.Contains(joined, "delta") || !strings.HasSuffix(joined, ",done") || !strings.Contains(body, "hello there") {
		t.Fatalf("the second user's playground with a shared account: %s", body)
	}
	st, _, body = call(t, admin, "GET", h.url+"/api/audit", "")
	for _, action := range []string{"account.create", "account.update"} {
		if st != 200 || !strings.Contains(body, `"action":"`+action+`"`) {
			t.Fatalf("audit lacks %s: %s", action, body)
		}
	}
	for _, secret := range []string{"healthy-gemini", "expired-session", "limited-session"} {
		if strings.Contains(h.logs.String(), secret) {
			t.Fatalf("a cookie is in the logs")
		}
	}
}
