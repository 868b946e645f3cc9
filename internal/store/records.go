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
