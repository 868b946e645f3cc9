package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

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

	// OwnerID is the dashboard user who minted the key; "" is the built-in
	// admin. The key is served by its owner's accounts and shared ones.
	OwnerID string
	// Policies, each enforced on every request made with the key; zero
	// values mean no restriction.
	Models         []string  // model ids (as the catalog resolves them) the key may use
	IPAllow        []string  // CIDRs (or single addresses) the key may be used from
	ExpiresAt      time.Time // the key is refused from this instant on
	MaxConcurrency int       // requests in flight at once
	TokenQuota     int64     // input + output tokens over the key's life
	TokensUsed     int64     // input + output tokens used so far
}

// Expired reports whether the key has expired at now.
func (k APIKey) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// Binding ties a provider-defined key to a value, e.g. the upstream chat id
// an (account, model) pair continues.
type Binding struct {
	Key       string
	AccountID string // optional: the binding is deleted with this account
	Value     string
	UpdatedAt time.Time
}

// StoredResponse is one response of the OpenAI Responses API as kept for
// retrieval and continuation. The store treats Response and InputItems as
// opaque bytes; the Responses front-end defines their JSON.
type StoredResponse struct {
	ID    string // resp_...
	Owner string // id of the client API key that created it; "" when auth is off
	// Response is the JSON of the response object as the client got it.
	Response []byte
	// InputItems is the JSON array of the response's normalized input
	// items, including those inherited through previous_response_id.
	InputItems []byte
	CreatedAt  time.Time
}

// Sealer purposes of stored responses; the associated data is the response
// id and its owner ("id\x00owner"), so a sealed value copied to another row
// or owner fails to open.
const (
	PurposeResponse      = "response"       // StoredResponse.Response
	PurposeResponseInput = "response-input" // StoredResponse.InputItems
)

// ResponseAAD is the associated data engines bind a stored response's sealed
// values to.
func ResponseAAD(id, owner string) []byte { return []byte(id + "\x00" + owner) }

// Bounds of a key's policy lists.
const (
	MaxKeyModels  = 100
	MaxKeyIPAllow = 100
)

// PrepareAPIKey validates and completes a new key for
// [APIKeyStore.CreateAPIKey]: ID set when empty, CreatedAt to now, times
// normalised, lists copied.
func PrepareAPIKey(k APIKey, now time.Time) (APIKey, error) {
	switch {
	case len(k.Hash) != 32 || strings.TrimSpace(k.Prefix) == "":
		return k, fmt.Errorf("%w: an API key needs a 32-byte hash and a prefix", ErrInvalid)
	case k.RateLimit < 0 || k.MaxConcurrency < 0 || k.TokenQuota < 0 || k.TokensUsed < 0:
		return k, fmt.Errorf("%w: negative API key limit", ErrInvalid)
	case len(k.Models) > MaxKeyModels || len(k.IPAllow) > MaxKeyIPAllow:
		return k, fmt.Errorf("%w: too many API key policy entries", ErrInvalid)
	}
	if k.ID == "" {
		k.ID = NewID("key_")
	}
	k.Hash = append([]byte(nil), k.Hash...)
	k.Models = append([]string(nil), k.Models...)
	k.IPAllow = append([]string(nil), k.IPAllow...)
	k.CreatedAt = NormTime(now)
	k.LastUsedAt, k.ExpiresAt = NormTime(k.LastUsedAt), NormTime(k.ExpiresAt)
	return k, nil
}

// EncodeList is the stored form of a key's policy list: a JSON array.
func EncodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // strings always marshal
	return string(b)
}

// DecodeList reads EncodeList's form; an empty array reads as nil.
func DecodeList(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("stored list: %w", err)
	}
	return l, nil
}
