package store

import "time"

// APIKey is a client key as stored: its SHA-256 hash and a short display
// prefix, never the key itself.
type APIKey struct {
	ID         string
	Name       string // operator's name for the key
	Prefix     string // first characters of the key, for display ("sk-spark-AbCd")
	Hash       []byte // SHA-256 of the full key (32 bytes)
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first use
	Disabled   bool
	RateLimit  int // requests per minute for this key; 0 = the default (KEY_RATE_LIMIT)
}

// Binding ties a provider-defined key to a value, e.g. the upstream chat id
// an (account, model) pair continues.
type Binding struct {
	Key       string
	AccountID string // optional: the binding is deleted with this account
	Value     string
	UpdatedAt time.Time
}
