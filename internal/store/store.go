// Package store defines spark's persistent records (upstream accounts with
// their state and recent events, client API keys, conversation bindings,
// stored Responses API responses, the files of the Files API) and the small
// interfaces an engine implements to keep them.
//
// Engines live in sub-packages (sqlite, postgres, memstore) and must
// all pass the shared suite in package storetest. Callers depend on the
// narrowest interface they need ([IdentityStore], [AccountStore],
// [APIKeyStore], [BindingStore], [ResponseStore], [FileStore],
// [UsageStore]); [Store] bundles them for
// wiring.
//
// Secrets: [Account.Cookie] and [Account.Proxy] are plaintext in memory and
// must be encrypted at rest by every engine that writes to disk (see package
// secret). API keys are never stored, only their SHA-256 hashes. No error
// returned by a store contains a cookie, proxy URL or key.
//
// Times are returned in UTC and round-trip with microsecond precision.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors. Engines wrap them (test with errors.Is); their messages
// never contain secrets.
var (
	// ErrNotFound means the addressed record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique property is already taken: an account
	// with the same provider and cookie identity or label, or an API key
	// with the same hash.
	ErrConflict = errors.New("store: conflict")
	// ErrInvalid means a required field is missing or malformed.
	ErrInvalid = errors.New("store: invalid record")
)

// EventsPerAccount is how many events a store keeps per account at least;
// older ones are dropped as new ones are recorded.
const EventsPerAccount = 50

// AccountStore keeps upstream accounts, their state and their recent events.
// Implementations are safe for concurrent use.
type AccountStore interface {
	// CreateAccount adds a new account and returns it as stored. The store
	// sets CreatedAt, UpdatedAt and CookieFingerprint, and ID when empty;
	// State defaults to active and Label to DefaultLabel.
	// Returns ErrInvalid when Provider or Cookie is empty or the cookie
	// lacks the provider's identifying value (see CookieIdentity), and
	// ErrConflict when the provider already has an account with the same
	// cookie identity, label or id.
	CreateAccount(ctx context.Context, a Account) (Account, error)

	// ImportAccount adds a.Cookie for a.Provider unless an account with
	// the same cookie identity exists (an env entry imported at every
	// start). An existing account gets a.Cookie when it differs (with the
	// effects of UpdateCookie), and a.Label and a.Proxy when they are
	// non-empty and differ; its state is otherwise kept. Errors as for
	// CreateAccount.
	ImportAccount(ctx context.Context, a Account) (Account, ImportResult, error)

	// GetAccount returns the account with id, or ErrNotFound.
	GetAccount(ctx context.Context, id string) (Account, error)

	// ListAccounts returns the accounts matching f, ordered by provider
	// and then creation order.
	ListAccounts(ctx context.Context, f AccountFilter) ([]Account, error)

	// UpdateCookie replaces the account's cookie (a rotated Gemini cookie,
	// a fresh login) and returns the account as stored. A new cookie ends
	// a disabled state: the account becomes active with no rest, no
	// disabled reason and no failures; a resting account keeps resting.
	// Returns ErrNotFound, ErrInvalid (empty cookie or no identity) or
	// ErrConflict (the new cookie is another account's identity).
	UpdateCookie(ctx context.Context, id, cookie string) (Account, error)

	// UpdateAccountState overwrites the account's state fields with u and
	// stamps UpdatedAt. Returns ErrNotFound or ErrInvalid (unknown state).
	UpdateAccountState(ctx context.Context, id string, u StateUpdate) error

	// RecordEvent appends ev to the account's history (ID is assigned; At
	// defaults to now) and drops events beyond the newest
	// EventsPerAccount. Returns ErrNotFound when the account does not
	// exist.
	RecordEvent(ctx context.Context, ev AccountEvent) error

	// ListEvents returns up to limit of the account's events, newest
	// first (limit <= 0: all kept). An unknown account has no events.
	ListEvents(ctx context.Context, accountID string, limit int) ([]AccountEvent, error)

	// UpdateAccountInfo applies p and returns the account as stored.
	// Returns ErrNotFound, ErrConflict (the label is taken by another
	// account of the provider) or ErrInvalid (an empty label).
	UpdateAccountInfo(ctx context.Context, id string, p AccountPatch) (Account, error)

	// DeleteAccount removes the account with its events and bindings, or
	// returns ErrNotFound.
	DeleteAccount(ctx context.Context, id string) error
}

// APIKeyStore keeps client API keys by hash. Implementations are safe for
// concurrent use.
type APIKeyStore interface {
	// CreateAPIKey stores k and returns it as stored; the store sets ID
	// (when empty) and CreatedAt. Returns ErrInvalid when Hash is not 32
	// bytes, Prefix is empty or a limit is negative, ErrConflict when the
	// hash or id exists.
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)

	// FindAPIKeyByHash returns the key whose SHA-256 hash is hash,
	// disabled or not, or ErrNotFound.
	FindAPIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)

	// GetAPIKey returns the key with id, disabled or not, or ErrNotFound.
	GetAPIKey(ctx context.Context, id string) (APIKey, error)

	// AddAPIKeyTokens adds n (>= 0) to the key's TokensUsed and returns
	// the new total, or ErrNotFound.
	AddAPIKeyTokens(ctx context.Context, id string, n int64) (int64, error)

	// ListAPIKeys returns every key, oldest first.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)

	// TouchAPIKey sets the key's LastUsedAt to at, or returns ErrNotFound.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// DisableAPIKey disables the key for good, or returns ErrNotFound.
	DisableAPIKey(ctx context.Context, id string) error
}

// BindingStore keeps small provider bindings, such as the upstream chat a
// (account, model) pair continues. Implementations are safe for concurrent
// use.
type BindingStore interface {
	// GetBinding returns the binding stored under key, or ErrNotFound.
	GetBinding(ctx context.Context, key string) (Binding, error)

	// PutBinding creates or replaces the binding under b.Key, stamps
	// UpdatedAt and returns it as stored. A binding with an AccountID
	// is deleted with that account. Returns ErrInvalid for an empty key
	// and ErrNotFound when AccountID names no account.
	PutBinding(ctx context.Context, b Binding) (Binding, error)

	// DeleteBinding removes the binding under key; deleting a missing
	// binding is not an error.
	DeleteBinding(ctx context.Context, key string) error
}

// ResponseStore keeps responses of the OpenAI Responses API, so that
// clients can read them back (GET /v1/responses/{id}) and continue a
// conversation from them (previous_response_id). Every response belongs to
// the client API key that created it: the store enforces that scoping, a
// response of another owner is reported as ErrNotFound. Engines that write
// to disk seal Response and InputItems (they hold prompts and answers).
// Implementations are safe for concurrent use.
type ResponseStore interface {
	// PutResponse adds r. CreatedAt defaults to now. Returns ErrInvalid
	// when ID or Response is empty and ErrConflict when the id exists.
	PutResponse(ctx context.Context, r StoredResponse) error

	// GetResponse returns the response with id that owner created, or
	// ErrNotFound (also when it belongs to another owner).
	GetResponse(ctx context.Context, owner, id string) (StoredResponse, error)

	// DeleteResponse removes the response with id that owner created, or
	// returns ErrNotFound (also when it belongs to another owner).
	DeleteResponse(ctx context.Context, owner, id string) error

	// PruneResponses removes every response created before cutoff, of
	// any owner, and returns how many it removed.
	PruneResponses(ctx context.Context, cutoff time.Time) (int, error)
}

// Store is everything spark persists, as one engine provides it.
type Store interface {
	IdentityStore
	AccountStore
	APIKeyStore
	BindingStore
	ResponseStore
	FileStore
	UsageStore
	io.Closer
}
