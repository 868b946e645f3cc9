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

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/sparkgw/spark/internal/config"
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
