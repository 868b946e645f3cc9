package config_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/config"
)

// oidcEnv sets OIDC variables (and clears the rest) for one test.
func oidcEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	for _, k := range []string{"OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_ALLOWED_DOMAINS", "OIDC_ALLOWED_EMAILS", "OIDC_PROVIDER_NAME", "PUBLIC_URL"} {
		t.Setenv(k, kv[k])
	}
}

func TestOIDCDefaultsAndLists(t *testing.T) {
	oidcEnv(t, map[string]string{"OIDC_ISSUER": "https://accounts.google.com", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "secret",
		"OIDC_ALLOWED_DOMAINS": " @Corp.Example, example.org ,", "OIDC_ALLOWED_EMAILS": "a@b.example, c@d.example"})
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !c.OIDCEnabled() || c.OIDCProviderLabel() != "Google" {
		t.Fatalf("enabled %v label %q", c.OIDCEnabled(), c.OIDCProviderLabel())
	}
	if got := c.OIDCAllowedDomainList(); !slices.Equal(got, []string{"corp.example", "example.org"}) {
		t.Fatalf("domains %q", got)
	}
	if got := c.OIDCAllowedEmailList(); !slices.Equal(got, []string{"a@b.example", "c@d.example"}) {
		t.Fatalf("emails %q", got)
	}
}

func TestOIDCIssuerDefaultIsGoogle(t *testing.T) {
	oidcEnv(t, nil)
	os.Unsetenv("OIDC_ISSUER") // restored by t.Setenv's cleanup
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCIssuerURL() != config.GoogleIssuer || c.OIDCEnabled() {
		t.Fatalf("issuer %q, enabled %v without a client id and secret", c.OIDCIssuerURL(), c.OIDCEnabled())
	}
}

func TestOIDCProviderLabel(t *testing.T) {
	for _, tt := range []struct{ issuer, name, want string }{
		{"https://accounts.google.com", "", "Google"},
		{"https://accounts.google.com/", "", "Google"},
		{"https://login.example.com/realms/spark", "", "login.example.com"},
		{"https://login.example.com", "Example SSO", "Example SSO"},
	} {
		c := config.Config{OIDCIssuer: tt.issuer, OIDCProviderName: tt.name}
		if got := c.OIDCProviderLabel(); got != tt.want {
			t.Errorf("issuer %q name %q: label %q, want %q", tt.issuer, tt.name, got, tt.want)
		}
	}
}

func TestOIDCValidate(t *testing.T) {
	on := map[string]string{"OIDC_ISSUER": "https://login.example.com", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range on {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // "" = valid
	}{
		{"on", on, ""},
		{"loopback http issuer", with("OIDC_ISSUER", "http://127.0.0.1:5556"), ""},
		{"id without secret", with("OIDC_CLIENT_SECRET", ""), "OIDC_CLIENT_SECRET"},
		{"secret without id", with("OIDC_CLIENT_ID", ""), "OIDC_CLIENT_ID"},
		{"plain http issuer", with("OIDC_ISSUER", "http://login.example.com"), "OIDC_ISSUER must be an https URL"},
		{"issuer not a URL", with("OIDC_ISSUER", "login.example.com"), "OIDC_ISSUER"},
		{"bad domain", with("OIDC_ALLOWED_DOMAINS", "example.com, someone@example.com"), "OIDC_ALLOWED_DOMAINS"},
		{"bad email", with("OIDC_ALLOWED_EMAILS", "a@example.com, example.com"), "OIDC_ALLOWED_EMAILS"},
		{"bad public url", with("PUBLIC_URL", "spark.example.com"), "PUBLIC_URL"},
		{"off ignores the issuer", map[string]string{"OIDC_ISSUER": "nope"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oidcEnv(t, tt.env)
			_, err := config.Load()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("valid configuration refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}
