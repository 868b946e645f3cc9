package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/identity/idptest"
)

// TestOIDCLoginWiring: with OIDC_CLIENT_ID and OIDC_CLIENT_SECRET, GET
// /auth/login redirects to the issuer's authorization endpoint with the
// callback under PUBLIC_URL and ROUTE_PREFIX; without them it is a 404.
// (The whole sign-in is tested in internal/identity.)
func TestOIDCLoginWiring(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k", Algorithm: oidc.ES256}}}
	idpSrv := httptest.NewServer(idp)
	t.Cleanup(idpSrv.Close)
	idp.SetIssuer(idpSrv.URL)

	h := start(t, func(c *config.Config) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = idpSrv.URL, "spark-app", "app-secret-not-logged"
		c.PublicURL, c.RoutePrefix = "https://spark.example.com", "/hf"
	})
	st, hdr, body := call(t, browser(t), "GET", h.url+"/auth/login", "")
	loc, err := url.Parse(hdr.Get("Location"))
	if st != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), idpSrv.URL+"/auth?") {
		t.Fatalf("GET /auth/login: %d Location %q %s", st, hdr.Get("Location"), body)
	}
	q := loc.Query()
	if q.Get("redirect_uri") != "https://spark.example.com/hf/auth/callback" || q.Get("client_id") != "spark-app" ||
		q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request %v", q)
	}
	ck := hdr.Get("Set-Cookie")
	for _, want := range []string{"spark_oidc_state=" + q.Get("state"), "Path=/hf/auth/callback", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=600"} {
		if !strings.Contains(ck, want) {
			t.Errorf("state cookie %q lacks %q", ck, want)
		}
	}
	if strings.Contains(h.logs.String(), "app-secret-not-logged") {
		t.Fatal("the client secret is in the logs")
	}

	off := start(t, nil)
	if st, _, body := call(t, browser(t), "GET", off.url+"/auth/login", "", "Accept", "application/json"); st != http.StatusNotFound || !strings.Contains(body, "oidc_disabled") {
		t.Fatalf("GET /auth/login without OIDC: %d %s", st, body)
	}
}

// TestOIDCSignInThroughApp: a whole OIDC sign-in against a loopback
// provider through the gateway (SQLite store, ROUTE_PREFIX, callback URL
// from the request): SPARK_ADMIN_EMAILS signs in as admin and /api/me
// accepts the session; OIDC_ALLOWED_DOMAINS refuses another domain.
func TestOIDCSignInThroughApp(t *testing.T) {
	idp := idptest.New(t, "spark-app", "app-secret-not-logged", time.Now)
	h := start(t, func(c *config.Config) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = idp.URL, "spark-app", "app-secret-not-logged"
		c.OIDCAllowedDomains, c.AdminEmails, c.RoutePrefix = "corp.example", "chief@elsewhere.example", "/hf"
	})
	signIn := func(who idptest.Identity) (*http.Client, int, string) {
		c := browser(t)
		idp.SignInAs(who)
		st, hdr, body := call(t, c, "GET", h.url+"/auth/login?next=/hf/keys", "")
		if st != http.StatusFound {
			t.Fatalf("GET /auth/login: %d %s", st, body)
		}
		resp, err := c.Get(hdr.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cb := resp.Header.Get("Location")
		if !strings.HasPrefix(cb, h.url+"/auth/callback?") {
			t.Fatalf("provider sent the browser to %q", cb)
		}
		st, hdr, body = call(t, c, "GET", cb, "", "Accept", "application/json")
		if st == http.StatusFound {
			body = hdr.Get("Location")
		}
		return c, st, body
	}
	c, st, loc := signIn(idptest.Verified("chief@elsewhere.example"))
	if st != http.StatusFound || loc != "/hf/keys" {
		t.Fatalf("callback: %d %s", st, loc)
	}
	st, _, body := call(t, c, "GET", h.url+"/api/me", "")
	if st != http.StatusOK || !strings.Contains(body, `"email":"chief@elsewhere.example"`) || !strings.Contains(body, `"role":"admin"`) {
		t.Fatalf("/api/me: %d %s", st, body)
	}
	if st, _, body := call(t, c, "GET", h.url+"/api/audit", ""); st != http.StatusOK || !strings.Contains(body, `"action":"login"`) {
		t.Fatalf("/api/audit: %d %s", st, body)
	}
	if _, st, body := signIn(idptest.Verified("dev@corp.example")); st != http.StatusFound {
		t.Fatalf("allowed domain: %d %s", st, body)
	}
	if _, st, body := signIn(idptest.Verified("someone@other.example")); st != http.StatusForbidden || !strings.Contains(body, "not_allowed") {
		t.Fatalf("other domain: %d %s", st, body)
	}
	logs := h.logs.String()
	for _, s := range append([]string{"app-secret-not-logged"}, idp.IDTokens()...) {
		if strings.Contains(logs, s) {
			t.Fatalf("a secret (%d bytes) is in the logs", len(s))
		}
	}
}
