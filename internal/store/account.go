package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sparkgw/spark/internal/gw"
)

// AccountState is the lifecycle state of an account in the pool.
type AccountState string

// Account states.
const (
	// StateActive accounts may be chosen for requests.
	StateActive AccountState = "active"
	// StateResting accounts are skipped until RestUntil, then active again
	// on their own.
	StateResting AccountState = "resting"
	// StateDisabled accounts are skipped until their cookie is updated
	// (the upstream logged them out).
	StateDisabled AccountState = "disabled"
)

// Valid reports whether s is a known state.
func (s AccountState) Valid() bool {
	switch s {
	case StateActive, StateResting, StateDisabled:
		return true
	}
	return false
}

// Account is one upstream login as stored. Cookie and Proxy are secrets:
// the value's String and LogValue methods never reveal them, and engines
// encrypt them at rest.
type Account struct {
	ID       string
	Provider string // provider name (its plugin's Name)
	Label    string // human label, unique per provider, safe to show
	Cookie   string // cookie header value (secret)
	Proxy    string // per-account egress proxy URL (may hold credentials); empty = global PROXY_URL

	// OwnerID is the dashboard user the account belongs to; "" is the
	// built-in admin (the environment's accounts, imported at start).
	OwnerID string
	// Shared accounts serve every user's keys, not only their owner's; only
	// an admin sets it.
	Shared bool

	State          AccountState
	RestUntil      time.Time // end of the current rest; zero unless resting
	DisabledReason string    // why the account is disabled, safe to show
	LastError      ErrorInfo // the last failure counted against the account
	Failures       int       // consecutive failures since the last success

	// CookieFingerprint is a keyed hash (HMAC-SHA-256, hex) of the
	// provider and the cookie's identifying value (CookieIdentity); it
	// makes imports idempotent without storing the cookie in the clear.
	CookieFingerprint string
	// ImportHash is a keyed hash of the cookie string as last imported from
	// GS_COOKIE / GEMINI_COOKIE. A re-import of the same string leaves the
	// stored cookie alone (it may have been rotated since: a restart keeps
	// the fresh cookie); a different string means the operator changed it.
	ImportHash string

	CreatedAt time.Time
	UpdatedAt time.Time
}

// ErrorInfo is a failure as shown to operators: a code and a short message
// that never holds secrets.
type ErrorInfo struct {
	Code    gw.Code
	Message string
	At      time.Time
}

// IsZero reports whether no error is recorded.
func (e ErrorInfo) IsZero() bool { return e.Code == "" && e.Message == "" }

// String returns what may be printed about the account: never the cookie
// or proxy.
func (a Account) String() string {
	return fmt.Sprintf("%s/%s (%s, %s)", a.Provider, a.Label, a.ID, a.State)
}

// GoString is like String, so %#v does not reveal the cookie either.
func (a Account) GoString() string { return "store.Account{" + a.String() + "}" }

// LogValue implements slog.LogValuer with the loggable fields only.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", a.ID),
		slog.String("provider", a.Provider),
		slog.String("label", a.Label),
		slog.String("state", string(a.State)),
	)
}

// EffectiveState is the account's state at now: a rest that has ended
// counts as active even before anything wrote that down.
func (a Account) EffectiveState(now time.Time) AccountState {
	if a.State == StateResting && !now.Before(a.RestUntil) {
		return StateActive
	}
	return a.State
}

// GW returns the account as the gateway and providers see it.
func (a Account) GW() *gw.Account {
	return &gw.Account{ID: a.ID, Provider: a.Provider, Label: a.Label, Cookie: a.Cookie, Proxy: a.Proxy}
}

// StateUpdate is the state part of an account, written as a whole by
// [AccountStore.UpdateAccountState].
type StateUpdate struct {
	State          AccountState
	RestUntil      time.Time
	DisabledReason string
	LastError      ErrorInfo
	Failures       int
}

// AccountFilter selects accounts; zero fields match everything.
type AccountFilter struct {
	Provider string
}

// AccountPatch is a partial update of an account's descriptive fields (as
// its owner edits them); nil fields are kept. State is changed through
// [AccountStore.UpdateAccountState], the cookie through UpdateCookie.
type AccountPatch struct {
	Label  *string
	Proxy  *string // "" removes the account's own proxy
	Shared *bool
}

// OwnedBy reports whether the account belongs to one of owners, where ""
// stands for the built-in admin.
func (a Account) OwnedBy(owners []string) bool {
	for _, o := range owners {
		if a.OwnerID == o {
			return true
		}
	}
	return false
}

// ImportResult says what [AccountStore.ImportAccount] did.
type ImportResult string

// Import results.
const (
	ImportCreated   ImportResult = "created"
	ImportUpdated   ImportResult = "updated"
	ImportUnchanged ImportResult = "unchanged"
)

// EventKind classifies an account event.
type EventKind string

// Event kinds.
const (
	// EventFailure is a failure counted against the account.
	EventFailure EventKind = "failure"
	// EventState is a change of state (From → To).
	EventState EventKind = "state"
	// EventCookie is a cookie replacement (rotation or update).
	EventCookie EventKind = "cookie"
)

// AccountEvent is one entry of an account's recent history. Message never
// holds secrets.
type AccountEvent struct {
	ID        int64 // assigned by the store, increasing
	AccountID string
	At        time.Time
	Kind      EventKind
	Code      gw.Code      // failure code, or the code that caused a state change
	From, To  AccountState // for EventState
	Until     time.Time    // rest end for EventState into resting
	Message   string
}
