package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// GoogleIssuer is OIDC_ISSUER's default.
const GoogleIssuer = "https://accounts.google.com"

// OIDCEnabled reports whether dashboard sign-in through an OpenID provider
// is on: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are both set.
func (c *Config) OIDCEnabled() bool {
	return strings.TrimSpace(c.OIDCClientID) != "" && c.OIDCClientSecret != ""
}

// OIDCIssuerURL is OIDC_ISSUER trimmed (its trailing slash kept: the
// issuer must match the provider's discovery document exactly).
func (c *Config) OIDCIssuerURL() string { return strings.TrimSpace(c.OIDCIssuer) }

// OIDCAllowedDomainList splits OIDC_ALLOWED_DOMAINS (comma-separated),
// lower-cased, a leading "@" dropped.
func (c *Config) OIDCAllowedDomainList() []string {
	var out []string
	for _, d := range Cookies(c.OIDCAllowedDomains) {
		if d = strings.ToLower(strings.TrimPrefix(d, "@")); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// OIDCAllowedEmailList splits OIDC_ALLOWED_EMAILS (comma-separated,
// trimmed).
func (c *Config) OIDCAllowedEmailList() []string { return Cookies(c.OIDCAllowedEmails) }

// OIDCProviderLabel is the provider's name a sign-in button shows:
// OIDC_PROVIDER_NAME, else "Google" for Google's issuer, else the
// issuer's host.
func (c *Config) OIDCProviderLabel() string {
	if n := strings.TrimSpace(c.OIDCProviderName); n != "" {
		return n
	}
	iss := c.OIDCIssuerURL()
	if strings.TrimRight(iss, "/") == GoogleIssuer {
		return "Google"
	}
	if u, err := url.Parse(iss); err == nil && u.Host != "" {
		return u.Host
	}
	return iss
}

func (c *Config) validateOIDC() []error {
	var errs []error
	id, secret := strings.TrimSpace(c.OIDCClientID), c.OIDCClientSecret
	switch {
	case id != "" && secret == "":
		errs = append(errs, errors.New("OIDC_CLIENT_ID is set without OIDC_CLIENT_SECRET: set both (OIDC sign-in) or neither"))
	case id == "" && secret != "":
		errs = append(errs, errors.New("OIDC_CLIENT_SECRET is set without OIDC_CLIENT_ID: set both (OIDC sign-in) or neither"))
	}
	if !c.OIDCEnabled() {
		return errs
	}
	u, err := url.Parse(c.OIDCIssuerURL())
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, errors.New("OIDC_ISSUER must be the provider's issuer URL, such as https://accounts.google.com"))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		errs = append(errs, errors.New("OIDC_ISSUER must be an https URL (plain http only on a loopback address)"))
	case u.Scheme != "https" && u.Scheme != "http":
		errs = append(errs, errors.New("OIDC_ISSUER must be an https URL"))
	}
	for _, d := range c.OIDCAllowedDomainList() {
		if strings.ContainsAny(d, "@/ :") || !strings.Contains(d, ".") {
			errs = append(errs, fmt.Errorf("OIDC_ALLOWED_DOMAINS: %q is not a domain such as example.com", shorten(d)))
		}
	}
	for _, e := range c.OIDCAllowedEmailList() {
		if !isEmail(e) {
			errs = append(errs, fmt.Errorf("OIDC_ALLOWED_EMAILS: %q is not an email address", shorten(e)))
		}
	}
	if p := strings.TrimSpace(c.PublicURL); p != "" {
		pu, err := url.Parse(p)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
			errs = append(errs, errors.New("PUBLIC_URL must be an http(s) origin such as https://spark.example.com (OIDC sign-in builds its redirect URL from it)"))
		}
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
