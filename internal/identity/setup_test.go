package identity_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/identity"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"

	"net/http/httptest"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newEmptyHarness is a harness with no user at all (first start without
// SPARK_ADMIN_EMAIL).
func newEmptyHarness(t *testing.T) *harness {
	t.Helper()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	st := memstore.New(nil)
	st.Now = c.Now
	svc, err := identity.New(identity.Options{Store: st, PasswordLogin: true, Now: c.Now, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Session: identity.SessionAuthenticator{S: svc}, Admin: identity.AdminAuthenticator{S: svc}})
	if err := srv.Handle(svc.Routes()...); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &harness{t: t, st: st, svc: svc, clock: c, url: ts.URL}
}

func setupBody(token, email, pw string) string {
	b, _ := json.Marshal(map[string]string{"token": token, "email": email, "password": pw, "name": "First"})
	return string(b)
}

func TestSetupLinkCreatesFirstAdminOnce(t *testing.T) {
	h := newEmptyHarness(t)
	tok, err := h.svc.NewSetupToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if link := h.svc.SetupLink("http://spark.local:7055/", tok); link != "http://spark.local:7055/setup?token="+tok {
		t.Fatalf("link %q", link)
	}
	page := h.do(h.client(), "GET", "/setup?token="+tok, "")
	if page.status != 200 || !strings.Contains(page.body, `<form method="post"`) || strings.Contains(page.body, "<script") ||
		!strings.Contains(page.header.Get("Content-Security-Policy"), "default-src 'none'") || page.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("setup page: %d %v %s", page.status, page.header, page.body)
	}
	if j := h.do(h.client(), "GET", "/setup?token="+tok, "", "Accept", "application/json"); j.status != 200 || j.json(t)["path"] != "/setup" {
		t.Fatalf("setup instructions: %d %s", j.status, j.body)
	}

	c := h.client()
	for _, tt := range []struct{ body, code string }{
		{setupBody("wrong-token", "first@example.com", "first-password"), "invalid_setup_token"},
		{setupBody(tok, "not-an-email", "first-password"), "invalid_email"},
		{setupBody(tok, "first@example.com", "short"), "weak_password"},
	} {
		if a := h.do(c, "POST", "/setup", tt.body); a.errCode(t) != tt.code {
			t.Errorf("%s: %d %s", tt.code, a.status, a.body)
		}
	}
	a := h.do(c, "POST", "/setup", setupBody(tok, "first@example.com", "first-password"))
	if a.status != http.StatusCreated || a.json(t)["role"] != "admin" || !strings.Contains(a.header.Get("Set-Cookie"), identity.CookieName+"=") {
		t.Fatalf("setup: %d %s", a.status, a.body)
	}
	if me := h.do(c, "GET", "/api/me", ""); me.status != 200 || me.json(t)["email"] != "first@example.com" {
		t.Fatalf("/api/me after setup: %d %s", me.status, me.body)
	}
	if b, err := h.st.BuiltinAdmin(t.Context()); err != nil || b.Email != "first@example.com" {
		t.Fatalf("built-in admin %+v, %v", b, err)
	}
	// The token is single-use, and setup is closed once an admin exists.
	if a := h.do(h.client(), "POST", "/setup", setupBody(tok, "second@example.com", "second-password")); a.status < 400 {
		t.Fatalf("setup link reused: %d %s", a.status, a.body)
	}
	if err := h.st.UseSetupToken(t.Context(), identity.HashToken(tok), h.clock.Now()); err == nil {
		t.Fatal("setup token still stored after use")
	}
	if a := h.do(h.client(), "GET", "/setup?token="+tok, ""); a.status != http.StatusNotFound {
		t.Fatalf("setup page after setup: %d", a.status)
	}
	audit, _ := h.st.ListAudit(t.Context(), store.AuditQuery{})
	if len(audit) != 2 || audit[1].Action != identity.ActionSetup || audit[0].Action != identity.ActionLogin {
		t.Fatalf("audit %+v", audit)
	}
}

func TestSetupLinkExpiresAfterAnHour(t *testing.T) {
	h := newEmptyHarness(t)
	tok, err := h.svc.NewSetupToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	a := h.do(h.client(), "POST", "/setup", setupBody(tok, "first@example.com", "first-password"))
	if a.status != http.StatusUnauthorized || a.errCode(t) != "invalid_setup_token" {
		t.Fatalf("expired setup link: %d %s", a.status, a.body)
	}
	if has, _ := h.svc.HasAdmin(t.Context()); has {
		t.Fatal("expired link created an admin")
	}
	fresh, _ := h.svc.NewSetupToken(t.Context())
	h.clock.Advance(time.Hour - time.Second)
	if a := h.do(h.client(), "POST", "/setup", setupBody(fresh, "first@example.com", "first-password")); a.status != http.StatusCreated {
		t.Fatalf("link within its hour: %d %s", a.status, a.body)
	}
}

func TestSetupByForm(t *testing.T) {
	h := newEmptyHarness(t)
	tok, _ := h.svc.NewSetupToken(t.Context())
	form := url.Values{"token": {tok}, "email": {"form@example.com"}, "password": {"form-password"}}.Encode()
	a := h.do(h.client(), "POST", "/setup", form, "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin")
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/" || !strings.Contains(a.header.Get("Set-Cookie"), identity.CookieName) {
		t.Fatalf("form setup: %d %v %s", a.status, a.header, a.body)
	}
}

func TestEnsureAdmin(t *testing.T) {
	h := newEmptyHarness(t)
	ctx := t.Context()
	created, err := h.svc.EnsureAdmin(ctx, "boss@example.com", "first-password")
	if err != nil || !created {
		t.Fatalf("EnsureAdmin = %v, %v", created, err)
	}
	if created, err = h.svc.EnsureAdmin(ctx, "BOSS@example.com", "first-password"); err != nil || created {
		t.Fatalf("second EnsureAdmin = %v, %v", created, err)
	}
	if _, err := h.svc.EnsureAdmin(ctx, "boss@example.com", "changed-password"); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	if a := h.do(c, "POST", "/auth/login", loginBody("boss@example.com", "first-password")); a.status != http.StatusUnauthorized {
		t.Fatalf("old password after a change: %d", a.status)
	}
	h.login(c, "boss@example.com", "changed-password")
	b, err := h.st.BuiltinAdmin(ctx)
	if err != nil || b.Email != "boss@example.com" {
		t.Fatalf("built-in admin %+v %v", b, err)
	}
	if _, err := h.svc.EnsureAdmin(ctx, "boss@example.com", "short"); err == nil {
		t.Fatal("a short SPARK_ADMIN_PASSWORD was accepted")
	}
}
