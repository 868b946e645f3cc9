package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/sparkgw/spark/internal/secret"
)

// Sealer purposes used by every engine, so that any engine can read what
// another wrote with the same key.
const (
	PurposeCookie   = "account-cookie"   // Account.Cookie, associated data = account id
	PurposeProxy    = "account-proxy"    // Account.Proxy, associated data = account id
	PurposeIdentity = "account-identity" // CookieFingerprint MAC
	PurposeImport   = "account-import"   // ImportHash MAC
)

// identityCookies names, per provider, the cookie that identifies a login:
// two cookie strings with the same value of it are the same account.
var identityCookies = map[string]string{
	"genspark":  "session_id",
	"geminiweb": "__Secure-1PSID",
}

// IdentityCookieName returns the cookie that identifies a login of provider
// ("session_id" for genspark, "__Secure-1PSID" for geminiweb), or "" when
// the whole cookie string is the identity.
func IdentityCookieName(provider string) string { return identityCookies[provider] }

// NormalizeCookie trims c and applies the provider's conventions: a
// Genspark entry without "session_id=" is the bare session id (the seed's
// GS_COOKIE rule), so it gets the "session_id=" prefix.
func NormalizeCookie(provider, c string) string {
	c = strings.TrimSpace(c)
	if provider == "genspark" && c != "" && !strings.Contains(c, "session_id=") {
		c = "session_id=" + c
	}
	return c
}

// CookieValue returns the value of the named cookie in a Cookie header
// string ("a=1; b=2").
func CookieValue(cookie, name string) (string, bool) {
	for part := range strings.SplitSeq(cookie, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// CookieIdentity returns the value that identifies the login behind a
// (normalized) cookie: the identifying cookie's value for known providers,
// the whole string otherwise. It returns ErrInvalid, without echoing the
// cookie, when the identifying cookie is missing or empty.
func CookieIdentity(provider, cookie string) (string, error) {
	name := IdentityCookieName(provider)
	if name == "" {
		if cookie == "" {
			return "", fmt.Errorf("%w: empty cookie", ErrInvalid)
		}
		return cookie, nil
	}
	v, ok := CookieValue(cookie, name)
	if !ok || v == "" {
		return "", fmt.Errorf("%w: %s cookie has no %s", ErrInvalid, provider, name)
	}
	return v, nil
}

// Fingerprint returns the CookieFingerprint of a normalized cookie:
// hex(HMAC-SHA-256(provider NUL identity)) under the sealer's identity
// subkey.
func Fingerprint(s *secret.Sealer, provider, cookie string) (string, error) {
	id, err := CookieIdentity(provider, cookie)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(s.MAC(PurposeIdentity, []byte(provider+"\x00"+id))), nil
}

// DefaultLabel is the label of an account created without one:
// "<provider>-<first 8 hex digits of its fingerprint>", stable across
// restarts and safe to show.
func DefaultLabel(provider, fingerprint string) string {
	if len(fingerprint) > 8 {
		fingerprint = fingerprint[:8]
	}
	return provider + "-" + fingerprint
}

// NewID returns a random record id with the given prefix ("acct_", "key_").
func NewID(prefix string) string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + hex.EncodeToString(b)
}

// ImportHash is the keyed hash of a cookie string as imported (see
// Account.ImportHash).
func ImportHash(s *secret.Sealer, cookie string) string {
	return hex.EncodeToString(s.MAC(PurposeImport, []byte(cookie)))
}
