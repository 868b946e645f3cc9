// Package credential holds the generic shapes of upstream credentials (a
// browser cookie string, an API key): how an entry is checked and
// normalised, and which part of it identifies a login. Each provider picks
// a shape and fills in its own names; the store applies the rule it is
// given without knowing any upstream.
package credential

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Rule checks, normalises and identifies one provider's credentials. Its
// errors say what is missing and never contain the credential.
type Rule interface {
	// Kind names the credential for messages ("cookie", "API key").
	Kind() string
	// Normalize returns the credential in the form it is stored and sent,
	// or an error saying what is wrong with its shape.
	Normalize(raw string) (string, error)
	// Identity returns the part of a normalised credential that identifies
	// the login: two credentials with the same identity are one account.
	Identity(normalized string) (string, error)
}

// ErrEmpty is returned for an empty credential.
var ErrEmpty = errors.New("the credential is empty")

// Cookie is a browser cookie string ("a=1; b=2") identified by the value of
// one of its cookies.
type Cookie struct {
	// Name is the cookie whose value identifies the login.
	Name string
	// Bare accepts an entry without any "=" as the value of Name alone
	// (it becomes "Name=value").
	Bare bool
}

var _ Rule = Cookie{}

// Kind returns "cookie".
func (Cookie) Kind() string { return "cookie" }

// Normalize trims raw, expands a bare value when Bare is set, and checks
// that every part is name=value and that the identifying cookie is there
// with a value.
func (c Cookie) Normalize(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", ErrEmpty
	}
	if !strings.Contains(s, "=") {
		if c.Bare && !strings.ContainsFunc(s, func(r rune) bool { return r == ';' || unicode.IsSpace(r) }) {
			return c.Name + "=" + s, nil
		}
		if c.Bare {
			return "", fmt.Errorf("the cookie has no '=': give %s=<value> (or the bare value alone), or name=value pairs separated by ';'", c.Name)
		}
		return "", fmt.Errorf("the cookie has no '=': give name=value pairs separated by ';' including %s", c.Name)
	}
	n := 0
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n++
		name, _, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return "", fmt.Errorf("part %d of the cookie is not name=value", n)
		}
	}
	if _, err := c.Identity(s); err != nil {
		return "", err
	}
	return s, nil
}

// Identity returns the value of the identifying cookie.
func (c Cookie) Identity(normalized string) (string, error) {
	v, ok := Value(normalized, c.Name)
	if !ok || v == "" {
		return "", fmt.Errorf("the cookie has no %s= value", c.Name)
	}
	return v, nil
}

// APIKey is an opaque key identified by itself.
type APIKey struct{}

var _ Rule = APIKey{}

// Kind returns "API key".
func (APIKey) Kind() string { return "API key" }

// Normalize trims the key and refuses one with spaces or separators inside.
func (APIKey) Normalize(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", ErrEmpty
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == ';' || r == ',' || r < 0x20 }) {
		return "", errors.New("the API key contains spaces or separators")
	}
	return s, nil
}

// Identity returns the key itself.
func (APIKey) Identity(normalized string) (string, error) {
	if normalized == "" {
		return "", ErrEmpty
	}
	return normalized, nil
}

// Value returns the value of the named cookie in a Cookie header string
// ("a=1; b=2").
func Value(header, name string) (string, bool) {
	for part := range strings.SplitSeq(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// Keep returns the parts of a cookie string whose names are in names, in
// their order, joined as a Cookie header.
func Keep(header string, names []string) string {
	var keep []string
	for part := range strings.SplitSeq(header, ";") {
		part = strings.TrimSpace(part)
		name, _, ok := strings.Cut(part, "=")
		if ok && contains(names, strings.TrimSpace(name)) {
			keep = append(keep, part)
		}
	}
	return strings.Join(keep, "; ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
