package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/secret"
)

// The helpers below implement the parts of the AccountStore contract that
// do not depend on the engine, so every engine applies the same rules.

// WithCookie returns a with cookie (normalized) as its cookie, following
// the UpdateCookie contract (normalised by r): the fingerprint is recomputed and a disabled
// account becomes active with no rest, reason or failures. changed is false
// when the cookie is the same. Errors wrap ErrInvalid.
func WithCookie(s *secret.Sealer, r Rules, a Account, cookie string, now time.Time) (next Account, changed bool, err error) {
	cookie, err = r.Normalize(a.Provider, cookie)
	if err != nil {
		return a, false, err
	}
	fp, err := Fingerprint(s, r, a.Provider, cookie)
	if err != nil {
		return a, false, err
	}
	if cookie == a.Cookie {
		return a, false, nil
	}
	a.Cookie, a.CookieFingerprint = cookie, fp
	if a.State == StateDisabled {
		a.State, a.RestUntil, a.DisabledReason, a.Failures = StateActive, time.Time{}, "", 0
	}
	a.UpdatedAt = now
	return a, true, nil
}

// MergeImport returns cur updated with an imported record of the same
// login, following the ImportAccount contract: a different cookie replaces
// the old one (with WithCookie's effects) unless it is the very string
// imported last time (same ImportHash: the stored cookie was rotated since
// and is fresher), non-empty Label and Proxy
// replace differing ones. in must be normalized (same fingerprint); its
// empty Label means "not given".
func MergeImport(cur, in Account, now time.Time) (next Account, changed bool) {
	next = cur
	sameImport := in.ImportHash != "" && in.ImportHash == cur.ImportHash
	if in.Cookie != cur.Cookie && !sameImport {
		next.Cookie, next.CookieFingerprint, next.ImportHash = in.Cookie, in.CookieFingerprint, in.ImportHash
		if next.State == StateDisabled {
			next.State, next.RestUntil, next.DisabledReason, next.Failures = StateActive, time.Time{}, "", 0
		}
		changed = true
	}
	if in.Label != "" && in.Label != cur.Label {
		next.Label, changed = in.Label, true
	}
	if in.Proxy != "" && in.Proxy != cur.Proxy {
		next.Proxy, changed = in.Proxy, true
	}
	if changed {
		next.UpdatedAt = now
	}
	return next, changed
}

// NormTime is how every engine keeps times: UTC, microsecond precision (the
// SQL engines store unix microseconds), the zero time unchanged.
func NormTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// PrepareAccount validates and completes a new account record following the
// CreateAccount contract: provider required, cookie normalized and
// fingerprinted, id and label defaulted, state defaulted to active and
// checked, times stamped with now. Errors wrap ErrInvalid.
func PrepareAccount(s *secret.Sealer, r Rules, a Account, now time.Time) (Account, error) {
	a.Provider = strings.TrimSpace(a.Provider)
	if a.Provider == "" {
		return a, fmt.Errorf("%w: account provider is empty", ErrInvalid)
	}
	c, err := r.Normalize(a.Provider, a.Cookie)
	if err != nil {
		return a, err
	}
	a.Cookie = c
	fp, err := Fingerprint(s, r, a.Provider, a.Cookie)
	if err != nil {
		return a, err
	}
	a.CookieFingerprint = fp
	if a.ID == "" {
		a.ID = NewID("acct_")
	}
	if a.Label = strings.TrimSpace(a.Label); a.Label == "" {
		a.Label = DefaultLabel(a.Provider, fp)
	}
	if a.State == "" {
		a.State = StateActive
	}
	if !a.State.Valid() {
		return a, fmt.Errorf("%w: account state %q", ErrInvalid, a.State)
	}
	now = NormTime(now)
	a.CreatedAt, a.UpdatedAt = now, now
	a.RestUntil, a.LastError.At = NormTime(a.RestUntil), NormTime(a.LastError.At)
	return a, nil
}

// PatchAccount returns a with p applied and UpdatedAt set to now, for
// [AccountStore.UpdateAccountInfo]. Returns ErrInvalid for an empty label.
func PatchAccount(a Account, p AccountPatch, now time.Time) (Account, error) {
	if p.Label != nil {
		l := strings.TrimSpace(*p.Label)
		if l == "" {
			return a, fmt.Errorf("%w: account label is empty", ErrInvalid)
		}
		a.Label = l
	}
	if p.Proxy != nil {
		a.Proxy = strings.TrimSpace(*p.Proxy)
	}
	if p.Shared != nil {
		a.Shared = *p.Shared
	}
	a.UpdatedAt = NormTime(now)
	return a, nil
}
