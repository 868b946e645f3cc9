// Package apikey mints, stores and verifies spark's client API keys.
//
// A key is "sk-spark-" followed by 32 random bytes in unpadded base64url
// (43 characters). Only its SHA-256 hash and a short display prefix are
// stored; the key itself is shown once, when it is minted. Keys listed in
// API_SECRET are accepted too; their hashes are held in memory only.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/store"
)

// Prefix starts every key spark mints.
const Prefix = "sk-spark-"

// keyBytes is the entropy of a minted key.
const keyBytes = 32

// displayChars is how many characters after Prefix DisplayPrefix keeps.
const displayChars = 4

// Errors wrapped by Verify's *gw.Error (CodeUnauthorized).
var (
	// ErrMissingKey means no key was presented.
	ErrMissingKey = errors.New("apikey: no API key")
	// ErrInvalidKey means the key is unknown or disabled (the client is
	// not told which).
	ErrInvalidKey = errors.New("apikey: invalid or disabled API key")
	// ErrExpiredKey means the key's ExpiresAt has passed.
	ErrExpiredKey = errors.New("apikey: expired API key")
)

// Mint returns a new random key. Show it once; store only [Hash].
func Mint() (string, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("apikey: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash returns the SHA-256 hash under which a key is stored.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// DisplayPrefix returns the start of a key that may be shown to identify
// it ("sk-spark-AbCd"): 4 characters of the random part reveal 24 of its
// 256 bits.
func DisplayPrefix(key string) string {
	n := displayChars
	if strings.HasPrefix(key, Prefix) {
		n += len(Prefix)
	}
	if len(key) < n {
		return key[:len(key)/2]
	}
	return key[:n]
}

// Create mints a key named name with a per-minute rate limit (0 = the
// default), stores its hash and returns the key, to be shown once, and the
// stored record.
func Create(ctx context.Context, st store.APIKeyStore, name string, rateLimit int) (string, store.APIKey, error) {
	return CreateWith(ctx, st, store.APIKey{Name: name, RateLimit: rateLimit})
}

// CreateWith mints a key with the name, owner and policies of tmpl (its
// ID, Prefix and Hash are set here), stores its hash and returns the key,
// to be shown once, and the stored record.
func CreateWith(ctx context.Context, st store.APIKeyStore, tmpl store.APIKey) (string, store.APIKey, error) {
	key, err := Mint()
	if err != nil {
		return "", store.APIKey{}, err
	}
	tmpl.ID, tmpl.Prefix, tmpl.Hash = "", DisplayPrefix(key), Hash(key)
	rec, err := st.CreateAPIKey(ctx, tmpl)
	if err != nil {
		return "", store.APIKey{}, fmt.Errorf("apikey: %w", err)
	}
	return key, rec, nil
}

// InitialKeyName names the key EnsureInitial mints.
const InitialKeyName = "initial"

// EnsureInitial mints the first key when API_SECRET (apiSecretEnv) is empty
// and the store holds no key yet, disabled or not. It returns the key so
// the caller prints it once; otherwise it returns "". Only the hash is
// stored.
func EnsureInitial(ctx context.Context, st store.APIKeyStore, apiSecretEnv string) (string, error) {
	if len(splitSecrets(apiSecretEnv)) > 0 {
		return "", nil
	}
	keys, err := st.ListAPIKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("apikey: %w", err)
	}
	if len(keys) > 0 {
		return "", nil
	}
	key, _, err := Create(ctx, st, InitialKeyName, 0)
	return key, err
}

func splitSecrets(env string) []string {
	var out []string
	for s := range strings.SplitSeq(env, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Principal is a verified key: whose it is and its policies.
type Principal struct {
	// KeyID is the stored key's id, or "env:N" for the Nth API_SECRET
	// entry (1-based). Safe to log.
	KeyID string
	// Name is the key's name ("API_SECRET" for env keys).
	Name string
	// OwnerID is the user who owns the key; "" is the built-in admin
	// (API_SECRET keys, the initial key).
	OwnerID string
	// RateLimit is the key's own limit per minute; 0 = the default.
	RateLimit int
	// FromEnv is true for API_SECRET keys.
	FromEnv bool
	// Models, IPAllow, MaxConcurrency and TokenQuota are the stored key's
	// policies (zero: no restriction). TokensUsed is its use so far,
	// including the tokens the verifier's Meter has counted but not yet
	// written.
	Models         []string
	IPAllow        []string
	MaxConcurrency int
	TokenQuota     int64
	TokensUsed     int64
}

// Clock tells the verifier the time (pool.SystemClock satisfies it).
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// DefaultTouchEvery is how often a key's LastUsedAt is written at most.
const DefaultTouchEvery = time.Minute

// Options configure [NewVerifier].
type Options struct {
	// Clock tells the time for LastUsedAt; default the system clock.
	Clock Clock
	// TouchEvery throttles LastUsedAt writes per key; default
	// DefaultTouchEvery.
	TouchEvery time.Duration
	// Meter, when set, holds the tokens counted since they were last
	// written; they count towards TokensUsed at once.
	Meter *Meter
	// CacheFor keeps a stored key read from the store for this long, so
	// that a client's requests do not each read it (0: every call reads
	// the store). A change made through this process is seen at once by
	// calling [Verifier.Forget]; one made elsewhere (another replica, the
	// CLI) within CacheFor.
	CacheFor time.Duration
	// CacheSize bounds the keys cached; default DefaultCacheSize.
	CacheSize int
	// Owners, when set, is where a stored key's owner is looked up: a key
	// whose owner is disabled or gone is refused like an unknown key. The
	// owner's state is kept like the key (CacheFor, Forget).
	Owners OwnerStore
}

// OwnerStore finds a key's owner (store.IdentityStore satisfies it).
type OwnerStore interface {
	GetUser(ctx context.Context, id string) (store.User, error)
}

// DefaultCacheSize is how many stored keys a Verifier caches at most.
const DefaultCacheSize = 10_000

// Verifier checks presented keys against API_SECRET and the store. It is
// safe for concurrent use.
type Verifier struct {
	st         store.APIKeyStore
	env        [][]byte // SHA-256 of each API_SECRET entry
	clock      Clock
	touchEvery time.Duration
	meter      *Meter

	mu      sync.Mutex
	touched map[string]time.Time

	owners     OwnerStore
	keys       *readCache[store.APIKey] // by hash
	ownerAlive *readCache[bool]         // by user id: exists and is enabled
}

// NewVerifier returns a verifier accepting the stored keys and the
// comma-separated apiSecretEnv (API_SECRET) entries; st may be nil to
// accept only the latter.
func NewVerifier(st store.APIKeyStore, apiSecretEnv string, o Options) *Verifier {
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.TouchEvery <= 0 {
		o.TouchEvery = DefaultTouchEvery
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	v := &Verifier{st: st, clock: o.Clock, touchEvery: o.TouchEvery, meter: o.Meter, touched: map[string]time.Time{},
		owners: o.Owners, keys: newReadCache[store.APIKey](o.CacheFor, o.CacheSize), ownerAlive: newReadCache[bool](o.CacheFor, o.CacheSize)}
	for _, s := range splitSecrets(apiSecretEnv) {
		v.env = append(v.env, Hash(s))
	}
	return v
}

// Verify returns the owner and policies of the presented key (the bearer
// token or x-api-key value). Unknown and disabled keys fail alike with a
// CodeUnauthorized *gw.Error wrapping ErrInvalidKey (ErrMissingKey when
// empty); an expired one with a CodeUnauthorized error wrapping
// ErrExpiredKey that says so; a store failure is CodeInternal. Hashes are
// compared in constant time. Without Options.CacheFor every call reads the
// store, so a key disabled a moment ago is refused at once; with it, a key
// is read at most once per CacheFor unless [Verifier.Forget] is called
// (and so is its owner, with Options.Owners). A stored key's LastUsedAt is
// updated at most once per TouchEvery.
func (v *Verifier) Verify(ctx context.Context, presented string) (Principal, error) {
	presented = strings.TrimSpace(presented)
	if presented == "" {
		return Principal{}, &gw.Error{Code: gw.CodeUnauthorized, Message: "Missing API key.", Cause: ErrMissingKey}
	}
	h := Hash(presented)
	match := 0
	for i, eh := range v.env {
		if subtle.ConstantTimeCompare(h, eh) == 1 && match == 0 {
			match = i + 1
		}
	}
	if match > 0 {
		return Principal{KeyID: fmt.Sprintf("env:%d", match), Name: "API_SECRET", FromEnv: true}, nil
	}
	if v.st == nil {
		return Principal{}, invalid()
	}
	now := v.clock.Now()
	rec, err := v.keys.get(string(h), now, func() (store.APIKey, error) { return v.st.FindAPIKeyByHash(ctx, h) })
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, invalid()
	}
	if err != nil {
		return Principal{}, &gw.Error{Code: gw.CodeInternal, Message: "internal error", Cause: err}
	}
	if subtle.ConstantTimeCompare(rec.Hash, h) != 1 || rec.Disabled {
		return Principal{}, invalid()
	}
	if rec.Expired(now) {
		return Principal{}, &gw.Error{Code: gw.CodeUnauthorized, Cause: ErrExpiredKey,
			Message: "This API key expired at " + rec.ExpiresAt.UTC().Format(time.RFC3339) + "."}
	}
	v.touch(ctx, rec.ID, now)
	if rec.OwnerID != "" && v.owners != nil {
		alive, err := v.ownerAlive.get(rec.OwnerID, now, func() (bool, error) {
			u, err := v.owners.GetUser(ctx, rec.OwnerID)
			if errors.Is(err, store.ErrNotFound) {
				return false, nil
			}
			return err == nil && !u.Disabled, err
		})
		if err != nil {
			return Principal{}, &gw.Error{Code: gw.CodeInternal, Message: "internal error", Cause: fmt.Errorf("key owner: %w", err)}
		}
		if !alive {
			return Principal{}, invalid()
		}
	}
	return Principal{KeyID: rec.ID, Name: rec.Name, OwnerID: rec.OwnerID, RateLimit: rec.RateLimit,
		Models: rec.Models, IPAllow: rec.IPAllow, MaxConcurrency: rec.MaxConcurrency,
		TokenQuota: rec.TokenQuota, TokensUsed: v.meter.Used(rec.ID, rec.TokensUsed)}, nil
}

// Forget drops every cached key and owner, so the next call of each
// reads the store: call it when a key was disabled or a user changed.
func (v *Verifier) Forget() {
	v.keys.forget()
	v.ownerAlive.forget()
}

func invalid() error {
	return &gw.Error{Code: gw.CodeUnauthorized, Message: "Invalid API key.", Cause: ErrInvalidKey}
}

// touch records the key's use, at most once per touchEvery; failures are
// ignored (bookkeeping must not fail a request).
func (v *Verifier) touch(ctx context.Context, id string, now time.Time) {
	v.mu.Lock()
	last, ok := v.touched[id]
	due := !ok || now.Sub(last) >= v.touchEvery
	if due {
		v.touched[id] = now
	}
	v.mu.Unlock()
	if due {
		_ = v.st.TouchAPIKey(ctx, id, now)
	}
}
