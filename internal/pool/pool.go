// Package pool chooses which upstream account serves each request, rests
// accounts that the upstream limited or logged out, and brings them back on
// their own. Its state sits behind interfaces (store, clock) so a shared
// implementation for several replicas can replace the in-process one without
// touching callers.
package pool

import (
	"context"

	"github.com/sparkgw/spark/internal/gw"
)

// Request says what the caller needs an account for.
type Request struct {
	Provider string          // provider name (its plugin's Name)
	Model    string          // resolved model; only accounts serving it qualify
	Exclude  map[string]bool // account ids already tried by this request
	// Owners, when not nil, limits the candidates to the accounts these
	// users own ("" is the built-in admin) and the shared ones: a key is
	// served by its owner's accounts only. nil: every account.
	Owners []string
}

// Lease is an account handed to one request. Release must be called exactly
// once with the outcome: nil for success, the request's error otherwise
// (its gw.Code decides the account's rest; a client cancellation does not
// count against the account).
type Lease interface {
	Account() *gw.Account
	Release(outcome error)
}

// Pool hands out accounts.
//
// Acquire returns a lease on an available account, or a *gw.Error with
// CodeNoAccounts and RetryAfter set to the earliest recovery when every
// candidate is resting or busy, CodeNoAccountsConfigured when the provider
// has no usable account (none configured, or all logged out), or
// CodeModelNotFound when accounts exist but none serves req.Model.
// Implementations are safe for concurrent use.
type Pool interface {
	Acquire(ctx context.Context, req Request) (Lease, error)
}

// CookieUpdater persists a fresh cookie for an account and makes the pool
// use it from the next lease on (Gemini cookie rotation, an operator's
// update). A new cookie brings a logged-out (disabled) account back.
type CookieUpdater interface {
	UpdateCookie(ctx context.Context, accountID, cookie string) error
}

// Snapshotter reports the state of every account, for `spark accounts` and
// the dashboard. Statuses never hold cookies.
type Snapshotter interface {
	Snapshot() []AccountStatus
}
