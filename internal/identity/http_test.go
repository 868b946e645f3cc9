package identity_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/identity"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
)

// clock is a settable test clock for sessions, setup tokens and throttles.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t     *testing.T
	st    *memstore.Store
	svc   *identity.Service
	clock *clock
	url   string
}

const (
	adminEmail = "admin@example.com"
	adminPass  = "admin-password-1"
	userEmail  = "user@example.com"
	userPass   = "user-password-1"
)

// newHarness serves the identity routes through spark's server with an
// admin (adminEmail) and a user (userEmail).
func newHarness(t *testing.T, mod func(*identity.Options)) *harness {
	t.Helper()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	st := memstore.New(nil)
	st.Now = c.Now
	o := identity.Options{Store: st, PasswordLogin: true, Now: c.Now, Clock: c}
	if mod != nil {
		mod(&o)
	}
	svc, err := identity.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Session: identity.SessionAuthenticator{S: svc}, Admin: identity.AdminAuthenticator{S: svc},
		PublicURL: o.PublicURL})
	if err := srv.Handle(svc.Routes()...); err != nil {
		t.Fatal(err)
	}
	srv.SetReady(true)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	h := &harness{t: t, st: st, svc: svc, clock: c, url: ts.URL}
	if _, err := svc.EnsureAdmin(t.Context(), adminEmail, adminPass); err != nil {
		t.Fatal(err)
	}
	hash, err := identity.HashPassword(userPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(t.Context(), store.User{Email: userEmail, Name: "User", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	return h
}

// client is a browser-like client with its own cookie jar.
func (h *harness) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
	return m
}

// errCode is the "code" of a dashboard error envelope.
func (a answer) errCode(t *testing.T) string {
	t.Helper()
	e, _ := a.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("not an error envelope: %s", a.body)
	}
	code, _ := e["code"].(string)
	return code
}

func (h *harness) do(c *http.Client, method, path, body string, hdr ...string) answer {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func loginBody(email, pw string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return string(b)
}

// login signs c in and fails the test otherwise.
func (h *harness) login(c *http.Client, email, pw string) answer {
	h.t.Helper()
	a := h.do(c, "POST", "/auth/login", loginBody(email, pw))
	if a.status != http.StatusNoContent {
		h.t.Fatalf("login %s: %d %s", email, a.status, a.body)
	}
	return a
}

func (h *harness) userID(email string) string {
	h.t.Helper()
	u, err := h.st.FindUserByEmail(h.t.Context(), email)
	if err != nil {
		h.t.Fatal(err)
	}
	return u.ID
}

func TestLoginSetsSessionCookieAndMe(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client()
	a := h.login(c, " ADMIN@example.com", adminPass)
	ck := a.header.Get("Set-Cookie")
	for _, want := range []string{"spark_session=", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(ck, want) {
			t.Errorf("Set-Cookie %q lacks %q", ck, want)
		}
	}
	if strings.Contains(ck, "Secure") {
		t.Errorf("cookie over plain http without an https PUBLIC_URL is Secure: %q", ck)
	}
	me := h.do(c, "GET", "/api/me", "")
	if me.status != 200 {
		t.Fatalf("/api/me: %d %s", me.status, me.body)
	}
	m := me.json(t)
	if m["email"] != adminEmail || m["role"] != "admin" || m["id"] != h.userID(adminEmail) || len(m) != 4 {
		t.Fatalf("/api/me = %v", m)
	}
	u, _ := h.st.FindUserByEmail(t.Context(), adminEmail)
	if !u.LastLoginAt.Equal(h.clock.Now()) {
		t.Errorf("last_login_at = %v, want %v", u.LastLoginAt, h.clock.Now())
	}
}

func TestCookieSecureWithHTTPSPublicURL(t *testing.T) {
	h := newHarness(t, func(o *identity.Options) { o.PublicURL = "https://spark.example.com" })
	// The test client speaks to the loopback origin; PUBLIC_URL's origin is
	// trusted, the loopback one is the request's own host.
	a := h.login(h.client(), adminEmail, adminPass)
	if !strings.Contains(a.header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("cookie not Secure with an https PUBLIC_URL: %q", a.header.Get("Set-Cookie"))
	}
}

func TestLogoutRevokesSession(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client()
	h.login(c, userEmail, userPass)
	// Keep the cookie to replay it after logout.
	var stolen *http.Cookie
	for _, ck := range c.Jar.Cookies(mustURL(t, h.url)) {
		if ck.Name == identity.CookieName {
			stolen = ck
		}
	}
	if stolen == nil {
		t.Fatal("no session cookie in the jar")
	}
	out := h.do(c, "POST", "/auth/logout", "")
	if out.status != http.StatusNoContent || !strings.Contains(out.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d, Set-Cookie %q", out.status, out.header.Get("Set-Cookie"))
	}
	replay := h.do(http.DefaultClient, "GET", "/api/me", "", "Cookie", identity.CookieName+"="+stolen.Value)
	if replay.status != http.StatusUnauthorized {
		t.Fatalf("revoked session replayed: %d %s", replay.status, replay.body)
	}
	if again := h.do(c, "POST", "/auth/logout", ""); again.status != http.StatusNoContent {
		t.Fatalf("logout without a session: %d", again.status)
	}
}

func TestAPIRoutesNeedSession(t *testing.T) {
	h := newHarness(t, nil)
	routes := []struct{ method, path, body string }{
		{"GET", "/api/me", ""},
		{"GET", "/api/users", ""},
		{"PATCH", "/api/users/" + h.userID(userEmail), `{"disabled":true}`},
		{"GET", "/api/audit", ""},
	}
	for _, rt := range routes {
		for name, cookie := range map[string]string{"none": "", "unknown": identity.CookieName + "=forged-value"} {
			var hdr []string
			if cookie != "" {
				hdr = []string{"Cookie", cookie}
			}
			a := h.do(http.DefaultClient, rt.method, rt.path, rt.body, hdr...)
			if a.status != http.StatusUnauthorized || !strings.Contains(a.body, `"error"`) || a.header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s with %s cookie: %d %s", rt.method, rt.path, name, a.status, a.body)
			}
		}
	}
	if u, _ := h.st.GetUser(t.Context(), h.userID(userEmail)); u.Disabled {
		t.Fatal("an unauthenticated PATCH changed the user")
	}
}

func TestAdminRoutesRefuseUsers(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client()
	h.login(c, userEmail, userPass)
	if me := h.do(c, "GET", "/api/me", ""); me.status != 200 || me.json(t)["role"] != "user" {
		t.Fatalf("/api/me for a user: %d %s", me.status, me.body)
	}
	adminID := h.userID(adminEmail)
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/api/users", ""},
		{"PATCH", "/api/users/" + adminID, `{"disabled":true}`},
		{"PATCH", "/api/users/" + h.userID(userEmail), `{"role":"admin"}`},
		{"GET", "/api/audit", ""},
	} {
		if a := h.do(c, rt.method, rt.path, rt.body); a.status != http.StatusForbidden {
			t.Errorf("%s %s as a user: %d %s", rt.method, rt.path, a.status, a.body)
		}
	}
	if u, _ := h.st.FindUserByEmail(t.Context(), userEmail); u.Role != store.RoleUser {
		t.Fatal("a user promoted themselves")
	}
}

func TestLoginWrongCredentials(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client()
	wrong := h.do(c, "POST", "/auth/login", loginBody(userEmail, "not-the-password"))
	unknown := h.do(c, "POST", "/auth/login", loginBody("nobody@example.com", userPass))
	for name, a := range map[string]answer{"wrong password": wrong, "unknown user": unknown} {
		if a.status != http.StatusUnauthorized || a.errCode(t) != "invalid_credentials" || a.header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d %s cookie %q", name, a.status, a.body, a.header.Get("Set-Cookie"))
		}
	}
	if wrong.body != unknown.body {
		t.Errorf("answers tell users apart: %q vs %q", wrong.body, unknown.body)
	}
	if a := h.do(c, "POST", "/auth/login", `{"email":"x@example.com"}`); a.status != http.StatusBadRequest {
		t.Errorf("no password: %d", a.status)
	}
	// A disabled user is refused with the right password.
	if _, err := h.st.UpdateUser(t.Context(), h.userID(userEmail), store.UserPatch{Disabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	if a := h.do(c, "POST", "/auth/login", loginBody(userEmail, userPass)); a.status != http.StatusUnauthorized {
		t.Errorf("disabled user signed in: %d", a.status)
	}
	audit, _ := h.st.ListAudit(t.Context(), store.AuditQuery{})
	var failed []store.AuditEntry
	for _, e := range audit {
		if e.Action == identity.ActionLoginFailed {
			failed = append(failed, e)
		}
	}
	// Newest first: disabled user, unknown email, wrong password.
	if len(failed) != 3 || failed[0].ActorEmail != userEmail || failed[1].ActorEmail != "" || failed[1].ActorID != "" ||
		failed[2].ActorID != h.userID(userEmail) || failed[2].IP != "127.0.0.1" {
		t.Fatalf("login.failed entries: %+v", failed)
	}
}

func TestLoginThrottledPerEmailAndPerIP(t *testing.T) {
	h := newHarness(t, func(o *identity.Options) { o.LoginPerEmail = 3; o.LoginPerIP = 5 })
	c := h.client()
	for i := range 3 {
		if a := h.do(c, "POST", "/auth/login", loginBody(userEmail, "wrong-password")); a.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, a.status)
		}
	}
	a := h.do(c, "POST", "/auth/login", loginBody(userEmail, userPass))
	if a.status != http.StatusTooManyRequests || a.errCode(t) != "too_many_attempts" || a.header.Get("Retry-After") == "" {
		t.Fatalf("fourth attempt for one email: %d %s Retry-After %q", a.status, a.body, a.header.Get("Retry-After"))
	}
	// Another email from the same IP still gets through, until the IP's
	// own limit (5 attempts a minute) is spent.
	h.login(c, adminEmail, adminPass)
	if a := h.do(c, "POST", "/auth/login", loginBody("other@example.com", "x-password")); a.status != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt from one IP: %d %s", a.status, a.body)
	}
	h.clock.Advance(time.Minute)
	h.login(c, userEmail, userPass)
}

func TestPasswordLoginOff(t *testing.T) {
	h := newHarness(t, func(o *identity.Options) { o.PasswordLogin = false })
	a := h.do(h.client(), "POST", "/auth/login", loginBody(adminEmail, adminPass))
	if a.status != http.StatusForbidden || a.errCode(t) != "password_login_disabled" || a.header.Get("Set-Cookie") != "" {
		t.Fatalf("PASSWORD_LOGIN=0: %d %s", a.status, a.body)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.client()
	h.login(admin, adminEmail, adminPass)
	target := "/api/users/" + h.userID(userEmail)
	for _, tt := range []struct {
		name          string
		client        *http.Client
		method, path  string
		body          string
		hdr           []string
		wantForbidden bool
	}{
		{"login from another site", h.client(), "POST", "/auth/login", loginBody(adminEmail, adminPass), []string{"Sec-Fetch-Site", "cross-site"}, true},
		{"login with a foreign Origin", h.client(), "POST", "/auth/login", loginBody(adminEmail, adminPass), []string{"Origin", "https://evil.example"}, true},
		{"patch from another site", admin, "PATCH", target, `{"disabled":true}`, []string{"Sec-Fetch-Site", "cross-site"}, true},
		{"logout from another site", admin, "POST", "/auth/logout", "", []string{"Sec-Fetch-Site", "same-site"}, true},
		{"setup from another site", h.client(), "POST", "/setup", `{}`, []string{"Origin", "https://evil.example"}, true},
		{"read from another site", admin, "GET", "/api/me", "", []string{"Sec-Fetch-Site", "cross-site"}, false},
		{"same-origin patch", admin, "PATCH", target, `{"role":"user"}`, []string{"Sec-Fetch-Site", "same-origin"}, false},
	} {
		a := h.do(tt.client, tt.method, tt.path, tt.body, tt.hdr...)
		if got := a.status == http.StatusForbidden; got != tt.wantForbidden {
			t.Errorf("%s: %d %s", tt.name, a.status, a.body)
		}
		if tt.wantForbidden && a.header.Get("Set-Cookie") != "" {
			t.Errorf("%s: refused request set a cookie", tt.name)
		}
	}
	if u, _ := h.st.FindUserByEmail(t.Context(), userEmail); u.Disabled {
		t.Fatal("a cross-site PATCH disabled the user")
	}
	if a := h.do(admin, "GET", "/api/me", ""); a.status != 200 {
		t.Fatalf("a cross-site logout ended the session: %d", a.status)
	}
}

func TestSessionSlidingExpiry(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client()
	h.login(c, userEmail, userPass)
	// Used every 6 days, the session lives on past its first 7 days ...
	for day := 6; day <= 24; day += 6 {
		h.clock.Advance(6 * 24 * time.Hour)
		if a := h.do(c, "GET", "/api/me", ""); a.status != 200 {
			t.Fatalf("day %d: %d", day, a.status)
		}
	}
	// ... but not beyond SessionMaxAge (30 days) after sign-in.
	h.clock.Advance(6*24*time.Hour + time.Minute)
	if a := h.do(c, "GET", "/api/me", ""); a.status != http.StatusUnauthorized {
		t.Fatalf("after 30 days: %d", a.status)
	}

	// Idle for 7 days: expired.
	h.login(c, userEmail, userPass)
	h.clock.Advance(7*24*time.Hour - time.Second)
	if a := h.do(c, "GET", "/api/me", ""); a.status != 200 {
		t.Fatalf("just before 7 idle days: %d", a.status)
	}
	h.clock.Advance(7 * 24 * time.Hour)
	if a := h.do(c, "GET", "/api/me", ""); a.status != http.StatusUnauthorized {
		t.Fatalf("after 7 idle days: %d", a.status)
	}
	// The next sign-in drops the dead session from the store.
	dead := sessionCookie(t, h, c)
	if _, err := h.st.FindSession(t.Context(), identity.HashToken(dead)); err != nil {
		t.Fatalf("expired session before the next sign-in: %v", err)
	}
	h.clock.Advance(time.Minute)
	h.login(c, userEmail, userPass)
	if _, err := h.st.FindSession(t.Context(), identity.HashToken(dead)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session after the next sign-in: %v", err)
	}
}

// sessionCookie is c's session cookie value.
func sessionCookie(t *testing.T, h *harness, c *http.Client) string {
	t.Helper()
	for _, ck := range c.Jar.Cookies(mustURL(t, h.url)) {
		if ck.Name == identity.CookieName {
			return ck.Value
		}
	}
	t.Fatal("no session cookie in the jar")
	return ""
}

func TestDisableUserRevokesSessionsAndAudits(t *testing.T) {
	h := newHarness(t, nil)
	admin, user := h.client(), h.client()
	h.login(admin, adminEmail, adminPass)
	h.login(user, userEmail, userPass)
	uid := h.userID(userEmail)
	a := h.do(admin, "PATCH", "/api/users/"+uid, `{"disabled":true}`)
	if a.status != 200 || a.json(t)["disabled"] != true {
		t.Fatalf("disable: %d %s", a.status, a.body)
	}
	if a := h.do(user, "GET", "/api/me", ""); a.status != http.StatusUnauthorized {
		t.Fatalf("disabled user's session still works: %d", a.status)
	}
	if a := h.do(admin, "PATCH", "/api/users/"+uid, `{"disabled":false,"role":"admin"}`); a.status != 200 || a.json(t)["role"] != "admin" {
		t.Fatalf("enable and promote: %d %s", a.status, a.body)
	}
	if a := h.do(user, "GET", "/api/me", ""); a.status != http.StatusUnauthorized {
		t.Fatalf("re-enabling brought a revoked session back: %d", a.status)
	}
	h.login(user, userEmail, userPass)
	if a := h.do(user, "GET", "/api/users", ""); a.status != 200 {
		t.Fatalf("promoted user on /api/users: %d", a.status)
	}
	for _, tt := range []struct{ path, body, code string }{
		{"/api/users/usr_missing", `{"disabled":true}`, "user_not_found"},
		{"/api/users/" + uid, `{"role":"root"}`, "invalid_role"},
		{"/api/users/" + uid, `{"role":`, "invalid_json"},
		{"/api/users/" + uid, `{}`, "nothing_to_change"},
		{"/api/users/" + uid, `{"name":"x"}`, "unknown_field"}, // a misspelt field is not silently dropped
	} {
		if a := h.do(admin, "PATCH", tt.path, tt.body); a.errCode(t) != tt.code {
			t.Errorf("PATCH %s %s: %d %s", tt.path, tt.body, a.status, a.body)
		}
	}
	audit := h.do(admin, "GET", "/api/audit", "").json(t)["data"].([]any)
	var updates int
	for _, row := range audit {
		r := row.(map[string]any)
		if r["action"] == "user.update" {
			updates++
			if r["actor_email"] != adminEmail || r["target_type"] != "user" || r["target_id"] != uid || r["ip"] != "127.0.0.1" {
				t.Errorf("user.update row %v", r)
			}
		}
	}
	if updates != 2 {
		t.Fatalf("%d user.update rows, want 2: %v", updates, audit)
	}
}

func TestLastAdminCannotBeDemoted(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.client()
	h.login(admin, adminEmail, adminPass)
	id := h.userID(adminEmail)
	for _, body := range []string{`{"role":"user"}`, `{"disabled":true}`} {
		if a := h.do(admin, "PATCH", "/api/users/"+id, body); a.status != http.StatusConflict || a.errCode(t) != "last_admin" {
			t.Errorf("%s on the last admin: %d %s", body, a.status, a.body)
		}
	}
	if a := h.do(admin, "GET", "/api/me", ""); a.status != 200 || a.json(t)["role"] != "admin" {
		t.Fatalf("last admin after refused changes: %d %s", a.status, a.body)
	}
}

func TestUsersList(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.client()
	h.login(admin, adminEmail, adminPass)
	a := h.do(admin, "GET", "/api/users", "")
	data := a.json(t)["data"].([]any)
	if a.status != 200 || len(data) != 2 || strings.Contains(a.body, "argon2") {
		t.Fatalf("/api/users: %d %s", a.status, a.body)
	}
	first := data[0].(map[string]any)
	if first["email"] != adminEmail || first["role"] != "admin" || first["builtin"] != true || first["last_login_at"] == nil {
		t.Fatalf("admin row %v", first)
	}
	if second := data[1].(map[string]any); second["last_login_at"] != nil || second["role"] != "user" {
		t.Fatalf("user row %v", second)
	}
}

func TestAuditPaging(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.client()
	for range 3 {
		h.login(admin, adminEmail, adminPass)
	}
	page := h.do(admin, "GET", "/api/audit?limit=2", "").json(t)
	rows := page["data"].([]any)
	cursor, _ := page["next_cursor"].(string)
	if len(rows) != 2 || cursor == "" {
		t.Fatalf("first page %v", page)
	}
	for _, r := range rows {
		if r.(map[string]any)["action"] != "login" || r.(map[string]any)["actor_email"] != adminEmail {
			t.Fatalf("row %v", r)
		}
	}
	rest := h.do(admin, "GET", "/api/audit?limit=2&cursor="+cursor, "").json(t)
	if len(rest["data"].([]any)) != 1 || rest["next_cursor"] != nil {
		t.Fatalf("second page %v", rest)
	}
	for _, q := range []string{"limit=0", "limit=x", "cursor=-1", "cursor=abc"} {
		if a := h.do(admin, "GET", "/api/audit?"+q, ""); a.status != http.StatusBadRequest {
			t.Errorf("?%s: %d", q, a.status)
		}
	}
}
