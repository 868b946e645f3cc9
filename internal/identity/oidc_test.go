package identity_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/identity"
	"github.com/sparkgw/spark/internal/identity/idptest"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
)

const (
	oidcClientID     = "spark-client"
	oidcClientSecret = "client-secret-do-not-log"
)

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type oidcHarness struct {
	*harness
	prov *idptest.Provider
	oidc *identity.OIDC
	logs *syncBuffer
}

// newOIDCHarness serves the identity and OIDC routes through spark's
// server, signing in at a loopback provider; mod adjusts the options.
func newOIDCHarness(t *testing.T, mod func(*identity.OIDCOptions)) *oidcHarness {
	t.Helper()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	prov := idptest.New(t, oidcClientID, oidcClientSecret, c.Now)
	logs := &syncBuffer{}
	st := memstore.New(nil)
	st.Now = c.Now
	svc, err := identity.New(identity.Options{Store: st, PasswordLogin: true, Now: c.Now, Clock: c,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	o := identity.OIDCOptions{Issuer: prov.URL, ClientID: oidcClientID, ClientSecret: oidcClientSecret, ProviderName: "Test"}
	if mod != nil {
		mod(&o)
	}
	x, err := svc.NewOIDC(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Session: identity.SessionAuthenticator{S: svc}, Admin: identity.AdminAuthenticator{S: svc}})
	if err := srv.Handle(append(svc.Routes(), x.Routes()...)...); err != nil {
		t.Fatal(err)
	}
	srv.SetReady(true)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	if _, err := svc.EnsureAdmin(t.Context(), adminEmail, adminPass); err != nil {
		t.Fatal(err)
	}
	return &oidcHarness{harness: &harness{t: t, st: st, svc: svc, clock: c, url: ts.URL}, prov: prov, oidc: x, logs: logs}
}

// get fetches an absolute URL without following redirects.
func (h *oidcHarness) get(c *http.Client, u string, hdr ...string) answer {
	h.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = h.url + u
	}
	return h.do(c, "GET", strings.TrimPrefix(u, h.url), "", hdr...)
}

// startLogin runs GET /auth/login and the provider's authorization, and
// returns the callback URL the provider sends the browser to.
func (h *oidcHarness) startLogin(c *http.Client, who idptest.Identity, path string) string {
	h.t.Helper()
	h.prov.SignInAs(who)
	a := h.get(c, path)
	loc := a.header.Get("Location")
	if a.status != http.StatusFound || !strings.HasPrefix(loc, h.prov.URL+"/auth?") {
		h.t.Fatalf("GET %s: %d Location %q %s", path, a.status, loc, a.body)
	}
	resp, err := c.Get(loc)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(cb, h.url+"/auth/callback?") {
		h.t.Fatalf("provider authorization: %d Location %q", resp.StatusCode, cb)
	}
	return cb
}

// signIn runs a whole sign-in as who and returns the callback's answer.
func (h *oidcHarness) signIn(c *http.Client, who idptest.Identity, hdr ...string) answer {
	h.t.Helper()
	return h.get(c, h.startLogin(c, who, "/auth/login"), hdr...)
}

func (h *oidcHarness) me(c *http.Client) answer {
	h.t.Helper()
	return h.get(c, "/api/me")
}

func (h *oidcHarness) auditActions() []string {
	h.t.Helper()
	entries, err := h.st.ListAudit(h.t.Context(), store.AuditQuery{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Action+" "+e.ActorEmail)
	}
	return out
}

// TestOIDCSignInEndToEnd: GET /auth/login sends the browser to the provider
// with an authorization-code request carrying state, nonce and a PKCE S256
// challenge; the callback exchanges the code with the verifier, opens a
// session that /api/me accepts for a new user with role user, redirects to
// /, audits the sign-in, and cannot be replayed; nothing secret is logged.
func TestOIDCSignInEndToEnd(t *testing.T) {
	h := newOIDCHarness(t, nil)
	c := h.client()
	cb := h.startLogin(c, idptest.Verified("new@example.com"), "/auth/login")
	auth := h.prov.LastAuthorization()
	if got := auth.Get("redirect_uri"); got != h.url+"/auth/callback" {
		t.Errorf("redirect_uri = %q, want %q", got, h.url+"/auth/callback")
	}
	if auth.Get("code_challenge_method") != "S256" || len(auth.Get("code_challenge")) != 43 {
		t.Errorf("PKCE challenge %q method %q", auth.Get("code_challenge"), auth.Get("code_challenge_method"))
	}
	var stateCookie *http.Cookie
	for _, ck := range c.Jar.Cookies(mustURL(t, h.url+"/auth/callback")) {
		if ck.Name == "spark_oidc_state" {
			stateCookie = ck
		}
	}
	if stateCookie == nil || !strings.HasPrefix(stateCookie.Value, auth.Get("state")+".") {
		t.Fatalf("state cookie %v does not carry the state %q", stateCookie, auth.Get("state"))
	}
	for _, secret := range []string{auth.Get("nonce"), auth.Get("code_challenge")} {
		if strings.Contains(stateCookie.Value, secret) {
			t.Fatalf("the state cookie shows the sign-in's %q in clear", secret)
		}
	}

	a := h.get(c, cb)
	if a.status != http.StatusFound || a.header.Get("Location") != "/" {
		t.Fatalf("callback: %d Location %q %s", a.status, a.header.Get("Location"), a.body)
	}
	if _, checked := h.prov.PKCE(); checked != 1 {
		t.Fatalf("the provider checked %d PKCE verifiers, want 1", checked)
	}
	me := h.me(c)
	if me.status != http.StatusOK {
		t.Fatalf("/api/me after OIDC sign-in: %d %s", me.status, me.body)
	}
	m := me.json(t)
	if m["email"] != "new@example.com" || m["role"] != "user" || m["name"] != "Name of new@example.com" {
		t.Fatalf("/api/me = %v", m)
	}
	if got := h.auditActions(); len(got) == 0 || got[0] != "login new@example.com" {
		t.Fatalf("audit trail %q, want a login of new@example.com first", got)
	}

	// The same callback again (a replayed URL): the sign-in was used.
	replay := h.get(h.client(), cb, "Accept", "application/json")
	if replay.status != http.StatusBadRequest || replay.errCode(t) != "invalid_state" {
		t.Fatalf("replayed callback in another browser: %d %s", replay.status, replay.body)
	}
	c2 := h.client()
	c2.Jar.SetCookies(mustURL(t, h.url+"/auth/callback"), []*http.Cookie{{Name: "spark_oidc_state", Value: stateCookie.Value}})
	if again := h.get(c2, cb, "Accept", "application/json"); again.status != http.StatusBadRequest || again.errCode(t) != "invalid_state" {
		t.Fatalf("replayed callback with its cookie: %d %s", again.status, again.body)
	}

	var session string
	for _, ck := range c.Jar.Cookies(mustURL(t, h.url)) {
		if ck.Name == identity.CookieName {
			session = ck.Value
		}
	}
	logs := h.logs.String()
	secrets := append([]string{oidcClientSecret, session, auth.Get("state"), auth.Get("nonce"), mustURL(t, cb).Query().Get("code")}, h.prov.IDTokens()...)
	for i, s := range secrets {
		if s == "" || strings.Contains(logs, s) {
			t.Fatalf("secret %d (%d bytes) is empty or in the logs", i, len(s))
		}
	}
	if !strings.Contains(logs, "method=oidc") {
		t.Errorf("no sign-in line with method=oidc in the logs:\n%s", logs)
	}
}

// TestOIDCStateMustMatchBrowser: a callback whose state differs from the
// one this browser's sign-in carries, or that arrives in a browser that
// did not start it (login CSRF), is refused and signs nobody in.
func TestOIDCStateMustMatchBrowser(t *testing.T) {
	h := newOIDCHarness(t, nil)
	tests := []struct {
		name   string
		tamper func(cb *url.URL, c *http.Client) *http.Client
	}{
		{"state changed", func(cb *url.URL, c *http.Client) *http.Client {
			q := cb.Query()
			q.Set("state", q.Get("state")+"x")
			cb.RawQuery = q.Encode()
			return c
		}},
		{"state missing", func(cb *url.URL, c *http.Client) *http.Client {
			q := cb.Query()
			q.Del("state")
			cb.RawQuery = q.Encode()
			return c
		}},
		{"another browser", func(_ *url.URL, _ *http.Client) *http.Client { return h.client() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.client()
			cb := mustURL(t, h.startLogin(c, idptest.Verified("csrf@example.com"), "/auth/login"))
			c = tt.tamper(cb, c)
			a := h.get(c, cb.String(), "Accept", "application/json")
			if a.status != http.StatusBadRequest || a.errCode(t) != "invalid_state" {
				t.Fatalf("callback: %d %s", a.status, a.body)
			}
			if me := h.me(c); me.status != http.StatusUnauthorized {
				t.Fatalf("/api/me after a refused callback: %d", me.status)
			}
		})
	}
	if _, checked := h.prov.PKCE(); checked != 0 {
		t.Fatalf("a code was exchanged despite the state mismatch")
	}
	if _, err := h.st.FindUserByEmail(t.Context(), "csrf@example.com"); err == nil {
		t.Fatal("a user was created by a refused callback")
	}
}

// TestOIDCWrongNonceRefused: an ID token whose nonce is not the one of this
// sign-in (a replayed or injected token) is refused.
func TestOIDCWrongNonceRefused(t *testing.T) {
	h := newOIDCHarness(t, nil)
	c := h.client()
	other := "a-nonce-of-another-sign-in"
	who := idptest.Verified("nonce@example.com")
	who.Nonce = &other
	a := h.signIn(c, who, "Accept", "application/json")
	if a.status != http.StatusUnauthorized || a.errCode(t) != "invalid_nonce" {
		t.Fatalf("callback with a foreign nonce: %d %s", a.status, a.body)
	}
	if me := h.me(c); me.status != http.StatusUnauthorized {
		t.Fatalf("/api/me: %d", me.status)
	}
	if got := h.auditActions(); len(got) == 0 || got[0] != "login.failed " {
		t.Fatalf("audit trail %q, want login.failed first", got)
	}
}

// TestOIDCPKCEVerifierChecked: a code intercepted from one browser's
// callback and carried into another browser's sign-in is exchanged with
// that other sign-in's verifier, which the provider refuses.
func TestOIDCPKCEVerifierChecked(t *testing.T) {
	h := newOIDCHarness(t, nil)
	victim, attacker := h.client(), h.client()
	stolen := mustURL(t, h.startLogin(victim, idptest.Verified("victim@example.com"), "/auth/login")).Query().Get("code")
	own := mustURL(t, h.startLogin(attacker, idptest.Verified("attacker@example.com"), "/auth/login"))
	q := own.Query()
	q.Set("code", stolen)
	own.RawQuery = q.Encode()
	a := h.get(attacker, own.String(), "Accept", "application/json")
	if a.status != http.StatusUnauthorized || a.errCode(t) != "code_exchange_failed" {
		t.Fatalf("callback with another sign-in's code: %d %s", a.status, a.body)
	}
	if refused, checked := h.prov.PKCE(); refused == 0 || checked != 0 {
		t.Fatalf("provider PKCE refusals %d, matches %d: want the wrong verifier refused", refused, checked)
	}
	if me := h.me(attacker); me.status != http.StatusUnauthorized {
		t.Fatalf("/api/me: %d", me.status)
	}
}

// TestOIDCUnverifiedEmailRefused: without email_verified true (false,
// absent, or the string "false") nobody is signed in or created; the
// string "true" some providers send counts as verified.
func TestOIDCUnverifiedEmailRefused(t *testing.T) {
	h := newOIDCHarness(t, nil)
	for _, v := range []any{false, nil, "false"} {
		c := h.client()
		a := h.signIn(c, idptest.Identity{Email: "unverified@example.com", EmailVerified: v}, "Accept", "application/json")
		if a.status != http.StatusForbidden || a.errCode(t) != "email_not_verified" {
			t.Fatalf("email_verified=%v: %d %s", v, a.status, a.body)
		}
	}
	if _, err := h.st.FindUserByEmail(t.Context(), "unverified@example.com"); err == nil {
		t.Fatal("an unverified email became a user")
	}
	c := h.client()
	if a := h.signIn(c, idptest.Identity{Email: "stringy@example.com", EmailVerified: "true"}); a.status != http.StatusFound {
		t.Fatalf(`email_verified="true": %d %s`, a.status, a.body)
	}
}

// TestOIDCAllowLists: with OIDC_ALLOWED_DOMAINS and OIDC_ALLOWED_EMAILS,
// only a verified email of a listed domain (exactly, not a subdomain) or a
// listed email signs in; SPARK_ADMIN_EMAILS are let in as admins; a
// refusal is audited with the email.
func TestOIDCAllowLists(t *testing.T) {
	h := newOIDCHarness(t, func(o *identity.OIDCOptions) {
		o.AllowedDomains = []string{"corp.example"}
		o.AllowedEmails = []string{"Guest@Other.org"}
		o.AdminEmails = []string{"boss@elsewhere.net"}
	})
	tests := []struct {
		email, wantRole string // "" = refused
	}{
		{"alice@corp.example", "user"},
		{"Bob@CORP.example", "user"},
		{"eve@sub.corp.example", ""},
		{"eve@corp.example.evil.net", ""},
		{"guest@other.org", "user"},
		{"nobody@other.org", ""},
		{"boss@elsewhere.net", "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			c := h.client()
			a := h.signIn(c, idptest.Verified(tt.email), "Accept", "application/json")
			if tt.wantRole == "" {
				if a.status != http.StatusForbidden || a.errCode(t) != "not_allowed" {
					t.Fatalf("callback: %d %s", a.status, a.body)
				}
				if got := h.auditActions(); got[0] != "login.failed "+tt.email {
					t.Fatalf("audit trail %q, want login.failed of %s first", got, tt.email)
				}
				return
			}
			if a.status != http.StatusFound {
				t.Fatalf("callback: %d %s", a.status, a.body)
			}
			if m := h.me(c).json(t); m["role"] != tt.wantRole || !strings.EqualFold(m["email"].(string), tt.email) {
				t.Fatalf("/api/me = %v, want role %s", m, tt.wantRole)
			}
		})
	}
}

// TestOIDCAdminEmails: SPARK_ADMIN_EMAILS makes a new user an admin and
// promotes an existing user at their next OIDC sign-in; others are users.
func TestOIDCAdminEmails(t *testing.T) {
	h := newOIDCHarness(t, func(o *identity.OIDCOptions) { o.AdminEmails = []string{"Chief@example.com", "promoted@example.com"} })
	if _, err := h.st.CreateUser(t.Context(), store.User{Email: "promoted@example.com", Role: store.RoleUser}); err != nil {
		t.Fatal(err)
	}
	for email, role := range map[string]string{"chief@example.com": "admin", "promoted@example.com": "admin", "plain@example.com": "user"} {
		c := h.client()
		if a := h.signIn(c, idptest.Verified(email)); a.status != http.StatusFound {
			t.Fatalf("%s: %d %s", email, a.status, a.body)
		}
		if m := h.me(c).json(t); m["role"] != role {
			t.Fatalf("%s: /api/me = %v, want role %s", email, m, role)
		}
		users := h.get(c, "/api/users")
		if want := map[string]int{"admin": 200, "user": 403}[role]; users.status != want {
			t.Fatalf("%s on /api/users: %d, want %d", email, users.status, want)
		}
	}
}

// TestOIDCDisabledUserRefused: a disabled user's verified sign-in is
// refused (HTML for a browser), audited, and opens no session.
func TestOIDCDisabledUserRefused(t *testing.T) {
	h := newOIDCHarness(t, nil)
	u, err := h.st.CreateUser(t.Context(), store.User{Email: "gone@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.UpdateUser(t.Context(), u.ID, store.UserPatch{Disabled: ptrTo(true)}); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	a := h.signIn(c, idptest.Verified("gone@example.com"), "Accept", "text/html,application/xhtml+xml")
	if a.status != http.StatusForbidden || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(a.body, "disabled") || !strings.Contains(a.body, `href="/auth/login"`) {
		t.Fatalf("callback for a disabled user: %d %s %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	if strings.Contains(a.header.Get("Set-Cookie"), identity.CookieName+"=") {
		t.Fatal("a session cookie was set for a disabled user")
	}
	if me := h.me(c); me.status != http.StatusUnauthorized {
		t.Fatalf("/api/me: %d", me.status)
	}
	entries, _ := h.st.ListAudit(t.Context(), store.AuditQuery{})
	if len(entries) == 0 || entries[0].Action != identity.ActionLoginFailed || entries[0].ActorID != u.ID {
		t.Fatalf("audit trail %+v, want login.failed by %s first", entries, u.ID)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestOIDCSignInExpires: a sign-in left at the provider longer than
// OIDCLoginTTL cannot be finished.
func TestOIDCSignInExpires(t *testing.T) {
	h := newOIDCHarness(t, nil)
	c := h.client()
	cb := h.startLogin(c, idptest.Verified("slow@example.com"), "/auth/login")
	h.clock.Advance(identity.OIDCLoginTTL + time.Second)
	if a := h.get(c, cb, "Accept", "application/json"); a.status != http.StatusBadRequest || a.errCode(t) != "invalid_state" {
		t.Fatalf("late callback: %d %s", a.status, a.body)
	}
}

// TestOIDCNextIsLocal: ?next= is followed after sign-in only when it is a
// path of this site.
func TestOIDCNextIsLocal(t *testing.T) {
	h := newOIDCHarness(t, nil)
	for next, want := range map[string]string{
		"/dashboard/keys?tab=1": "/dashboard/keys?tab=1",
		"//evil.example/x":      "/",
		"https://evil.example/": "/",
		"/\\evil.example":       "/",
		"":                      "/",
	} {
		c := h.client()
		cb := h.startLogin(c, idptest.Verified("next@example.com"), "/auth/login?next="+url.QueryEscape(next))
		if a := h.get(c, cb); a.status != http.StatusFound || a.header.Get("Location") != want {
			t.Errorf("next %q: %d Location %q, want %q", next, a.status, a.header.Get("Location"), want)
		}
	}
}

// TestOIDCOffAnswers404: without a client id and secret the routes exist
// and say OIDC is not configured.
func TestOIDCOffAnswers404(t *testing.T) {
	h := newOIDCHarness(t, func(o *identity.OIDCOptions) { o.ClientSecret = "" })
	if h.oidc.Enabled() {
		t.Fatal("enabled without a client secret")
	}
	for _, p := range []string{"/auth/login", "/auth/callback?state=x&code=y"} {
		if a := h.get(h.client(), p, "Accept", "application/json"); a.status != http.StatusNotFound || a.errCode(t) != "oidc_disabled" {
			t.Fatalf("GET %s: %d %s", p, a.status, a.body)
		}
	}
}

// TestOIDCProviderDown: an issuer that cannot be reached is a 503 at
// /auth/login, not a failed start; discovery is retried later.
func TestOIDCProviderDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	h := newOIDCHarness(t, func(o *identity.OIDCOptions) { o.Issuer = deadURL })
	if a := h.get(h.client(), "/auth/login", "Accept", "application/json"); a.status != http.StatusServiceUnavailable || a.errCode(t) != "provider_unavailable" {
		t.Fatalf("GET /auth/login with the provider down: %d %s", a.status, a.body)
	}
}

// TestOIDCOpenIssuerWarns: with neither allow-list, the start logs a WARN
// that every verified email of the issuer is admitted.
func TestOIDCOpenIssuerWarns(t *testing.T) {
	h := newOIDCHarness(t, nil)
	if !strings.Contains(h.logs.String(), "level=WARN msg=\"OIDC sign-in admits every verified email") {
		t.Fatalf("no WARN about an open issuer in:\n%s", h.logs.String())
	}
	h2 := newOIDCHarness(t, func(o *identity.OIDCOptions) { o.AllowedDomains = []string{"example.com"} })
	if strings.Contains(h2.logs.String(), "admits every verified email") {
		t.Fatal("WARN about an open issuer although OIDC_ALLOWED_DOMAINS is set")
	}
}

// TestOIDCMethods: GET /auth/methods tells a sign-in page whether password
// sign-in is on and names the OIDC provider and its login URL.
func TestOIDCMethods(t *testing.T) {
	h := newOIDCHarness(t, nil)
	m := h.get(h.client(), "/auth/methods").json(t)
	o, _ := m["oidc"].(map[string]any)
	if m["password"] != true || o["enabled"] != true || o["name"] != "Test" || o["login_url"] != "/auth/login" {
		t.Fatalf("/auth/methods = %v", m)
	}
	off := newOIDCHarness(t, func(o *identity.OIDCOptions) { o.ClientID = "" })
	m = off.get(off.client(), "/auth/methods").json(t)
	if o, _ := m["oidc"].(map[string]any); o["enabled"] != false || o["name"] != nil {
		t.Fatalf("/auth/methods without OIDC = %v", m)
	}
}

// TestOIDCLoginThrottled: starting sign-ins is limited per client IP (the
// password sign-in's per-IP rate); the limit frees up with time.
func TestOIDCLoginThrottled(t *testing.T) {
	h := newOIDCHarness(t, nil)
	c := h.client()
	for i := range identity.DefaultLoginPerIP {
		if a := h.get(c, "/auth/login"); a.status != http.StatusFound {
			t.Fatalf("start %d: %d %s", i+1, a.status, a.body)
		}
	}
	a := h.get(c, "/auth/login", "Accept", "application/json")
	if a.status != http.StatusTooManyRequests || a.errCode(t) != "too_many_attempts" || a.header.Get("Retry-After") == "" {
		t.Fatalf("start over the limit: %d %v %s", a.status, a.header, a.body)
	}
	h.clock.Advance(time.Minute)
	if a := h.get(c, "/auth/login"); a.status != http.StatusFound {
		t.Fatalf("start a minute later: %d %s", a.status, a.body)
	}
}

// TestOIDCProviderAnswerBounded: a discovery document over 1 MiB is not
// read to its end; the sign-in answers 503.
func TestOIDCProviderAnswerBounded(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("x", 2<<20) + `"}`))
	}))
	t.Cleanup(huge.Close)
	h := newOIDCHarness(t, func(o *identity.OIDCOptions) { o.Issuer = huge.URL })
	if a := h.get(h.client(), "/auth/login", "Accept", "application/json"); a.status != http.StatusServiceUnavailable || a.errCode(t) != "provider_unavailable" {
		t.Fatalf("GET /auth/login: %d %s", a.status, a.body)
	}
	if !strings.Contains(h.logs.String(), "larger than 1 MiB") {
		t.Fatalf("the bound is not what refused the document:\n%s", h.logs.String())
	}
}
