package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// CredentialRule checks, normalises and identifies one provider's
// credentials (credential.Rule satisfies it). Its errors never contain the
// credential.
type CredentialRule interface {
	// Normalize returns the credential as stored, or what is wrong with it.
	Normalize(raw string) (string, error)
	// Identity returns the part of a normalised credential that identifies
	// the login.
	Identity(normalized string) (string, error)
}

// Rules maps provider names to their credential rules. A provider without
// a rule keeps its credential trimmed, identified by the whole string.
type Rules map[string]CredentialRule

// Normalize returns the provider's credential as stored. Errors wrap
// ErrInvalid and say what is missing, without echoing the credential.
func (r Rules) Normalize(provider, credential string) (string, error) {
	rule := r[provider]
	if rule == nil {
		c := strings.TrimSpace(credential)
		if c == "" {
			return "", fmt.Errorf("%w: empty credential", ErrInvalid)
		}
		return c, nil
	}
	c, err := rule.Normalize(credential)
	if err != nil {
		return "", &CredentialError{Provider: provider, Err: err}
	}
	return c, nil
}

// CredentialError is a credential without the shape of its provider's
// rule. It matches ErrInvalid; its message is the rule's, which says what
// is missing without the credential.
type CredentialError struct {
	Provider string
	Err      error
}

func (e *CredentialError) Error() string { return e.Err.Error() }

// Unwrap returns ErrInvalid and the rule's error.
func (e *CredentialError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Identity returns the value that identifies the login behind a
// normalised credential. Errors wrap ErrInvalid.
func (r Rules) Identity(provider, credential string) (string, error) {
	rule := r[provider]
	if rule == nil {
		if credential == "" {
			return "", fmt.Errorf("%w: empty credential", ErrInvalid)
		}
		return credential, nil
	}
	id, err := rule.Identity(credential)
	if err != nil || id == "" {
		if err == nil {
			err = errors.New("the credential has no identity")
		}
		return "", &CredentialError{Provider: provider, Err: err}
	}
	return id, nil
}

// Option configures an engine (see [Settings]).
type Option func(*Settings)

// Settings are what every engine is configured with.
type Settings struct {
	// Rules check and identify each provider's credentials.
	Rules Rules
}

// WithRules gives an engine the providers' credential rules.
func WithRules(r Rules) Option { return func(s *Settings) { s.Rules = r } }

// Apply returns the settings opts describe.
func Apply(opts ...Option) Settings {
	var s Settings
	for _, o := range opts {
		o(&s)
	}
	return s
}

// Fingerprint returns the CookieFingerprint of a normalized credential:
// hex(HMAC-SHA-256(provider NUL identity)) under the sealer's identity
// subkey, the identity as r finds it.
func Fingerprint(s *secret.Sealer, r Rules, provider, cookie string) (string, error) {
	id, err := r.Identity(provider, cookie)
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
