// Package keys is the dashboard's API for client API keys: a signed-in
// user lists, mints and revokes their own keys (GET, POST /api/keys,
// DELETE /api/keys/{id}) with the policies the server enforces on every
// request made with them (models, IP allowlist, expiry, requests per
// minute, concurrency, token quota).
//
// Ownership: a key belongs to the user who minted it. Every route answers
// only the caller's own keys; another user's key id is 404, never 403. An
// admin's list shows their own keys too (one list per person, as the
// dashboard shows it), but an admin may revoke any key by id (a leaked key
// of another user, found in /api/usage), and that is audited. The built-in
// admin also owns the keys of the environment (API_SECRET, which are not
// stored, and the key minted at first start, stored with owner "").
//
// A key never has more rights than its creator: the models it is limited
// to must be models the creator's accounts (their own and the shared ones)
// serve, which the [ModelResolver] checks, and the gateway serves it only
// with those accounts.
package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/dashapi"

	"github.com/sparkgw/spark/internal/apikey"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// Audit actions this package writes.
const (
	ActionKeyCreate = "key.create"
	ActionKeyRevoke = "key.revoke"
)

// Bounds of a new key's fields.
const (
	MaxNameRunes      = 100
	MaxModels         = store.MaxKeyModels
	MaxIPAllow        = store.MaxKeyIPAllow
	MaxModelNameBytes = 256
	MaxRPM            = 1_000_000
	MaxConcurrency    = 10_000
	MaxTokenQuota     = int64(1) << 50
	// MaxKeysPerUser bounds the live keys one user holds.
	MaxKeysPerUser = 1000
)

// ModelResolver checks the models a new key is limited to against what its
// creator may use.
type ModelResolver interface {
	// ResolveModels returns the catalog id each name resolves to (as the
	// gateway resolves a request's model: exact id, undated name, alias),
	// in order, for a creator whose accounts are those of owners and the
	// shared ones. A name none of those accounts serves, or that only a
	// catch-all would take, is an error with gw.CodeInvalidRequest naming
	// it.
	ResolveModels(ctx context.Context, owners []string, names []string) ([]string, error)
}

// Store is what the handler reads and writes.
type Store interface {
	store.APIKeyStore
	GetUser(ctx context.Context, id string) (store.User, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
}

// Options configure a [Handler].
type Options struct {
	Store  Store         // required
	Models ModelResolver // required
	Logger *slog.Logger
	// Pending, when set, returns the tokens a key used that are not yet in
	// the store (apikey.Meter.Pending), for tokens_used.
	Pending    func(id string) int64
	TrustProxy bool             // the audit trail's IP from X-Forwarded-For
	Now        func() time.Time // default time.Now
}

// Handler serves the key routes.
type Handler struct {
	o Options
}

// New returns the key routes' handler.
func New(o Options) (*Handler, error) {
	if o.Store == nil || o.Models == nil {
		return nil, errors.New("keys: a store and a model resolver are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{o: o}, nil
}

// Routes are GET and POST /api/keys and DELETE /api/keys/{id}, all of the
// session class (any signed-in user; the server refuses cross-origin
// POST and DELETE).
func (h *Handler) Routes() []route.Route {
	return []route.Route{
		{Pattern: "GET /api/keys", Class: route.Session, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.list)},
		{Pattern: "POST /api/keys", Class: route.Session, Dialect: route.OpenAI, MaxBody: 64 << 10, Handler: http.HandlerFunc(h.create)},
		{Pattern: "DELETE /api/keys/{id}", Class: route.Session, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.revoke)},
	}
}

// Owners are the owner ids whose keys and accounts are u's
// (store.User.OwnerIDs).
func Owners(u store.User) []string { return u.OwnerIDs() }

// KeyJSON is a key as the dashboard API shows it (never its hash).
type KeyJSON struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Prefix         string   `json:"prefix"`
	CreatedAt      string   `json:"created_at"`
	LastUsedAt     *string  `json:"last_used_at"`
	ExpiresAt      *string  `json:"expires_at"`
	Models         []string `json:"models"`
	IPAllow        []string `json:"ip_allow"`
	RPM            int      `json:"rpm"`
	MaxConcurrency int      `json:"max_concurrency"`
	TokenQuota     int64    `json:"token_quota"`
	TokensUsed     int64    `json:"tokens_used"`
	Revoked        bool     `json:"revoked"`
}

// createdJSON is POST /api/keys's answer: the key's fields and the key,
// shown this once.
type createdJSON struct {
	KeyJSON
	Key string `json:"key"`
}

func rfc3339(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.UTC().Format(time.RFC3339)
	return &v
}

func (h *Handler) toJSON(k store.APIKey) KeyJSON {
	used := k.TokensUsed
	if h.o.Pending != nil {
		used += h.o.Pending(k.ID)
	}
	created := ""
	if p := rfc3339(k.CreatedAt); p != nil {
		created = *p
	}
	return KeyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: created, LastUsedAt: rfc3339(k.LastUsedAt),
		ExpiresAt: rfc3339(k.ExpiresAt), Models: nonNil(k.Models), IPAllow: nonNil(k.IPAllow), RPM: k.RateLimit,
		MaxConcurrency: k.MaxConcurrency, TokenQuota: k.TokenQuota, TokensUsed: used, Revoked: k.Disabled}
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// caller is the signed-in user the server's session authenticator let
// through (its id is the request's credential id).
func (h *Handler) caller(r *http.Request) (store.User, error) {
	u, err := h.o.Store.GetUser(r.Context(), reqctx.KeyID(r.Context()))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, &dashapi.Error{Status: http.StatusUnauthorized, Type: gw.CodeUnauthorized, Code: "unauthorized",
			Message: "Sign in first: this route needs a valid dashboard session."}
	}
	if err != nil {
		return store.User{}, fmt.Errorf("keys: caller: %w", err)
	}
	return u, nil
}

// ownKeys are the stored keys of the owners, oldest first.
func (h *Handler) ownKeys(ctx context.Context, owners []string) ([]store.APIKey, error) {
	all, err := h.o.Store.ListAPIKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	out := all[:0]
	for _, k := range all {
		if slices.Contains(owners, k.OwnerID) {
			out = append(out, k)
		}
	}
	return out, nil
}

// list is GET /api/keys: the caller's keys, revoked ones included.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	u, err := h.caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ks, err := h.ownKeys(r.Context(), Owners(u))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]KeyJSON, len(ks))
	for i, k := range ks {
		out[i] = h.toJSON(k)
	}
	dashapi.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
}

// createRequest is POST /api/keys's body.
type createRequest struct {
	Name           *string  `json:"name"`
	Models         []string `json:"models"`
	IPAllow        []string `json:"ip_allow"`
	ExpiresAt      *string  `json:"expires_at"`
	RPM            *int64   `json:"rpm"`
	MaxConcurrency *int64   `json:"max_concurrency"`
	TokenQuota     *int64   `json:"token_quota"`
}

// create is POST /api/keys: mints a key owned by the caller with the
// policies asked for, after checking each against its bounds and the
// caller's rights; 201 with the key, shown this once.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	u, err := h.caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in createRequest
	if err := dashapi.DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	k, err := h.validate(r.Context(), u, in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	own, err := h.ownKeys(r.Context(), Owners(u))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	live := 0
	for _, o := range own {
		if !o.Disabled {
			live++
		}
	}
	if live >= MaxKeysPerUser {
		h.fail(w, r, dashapi.BadRequest("too_many_keys", fmt.Sprintf("You hold %d live keys, the limit; revoke one first.", live)))
		return
	}
	secret, rec, err := apikey.CreateWith(r.Context(), h.o.Store, k)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, u, ActionKeyCreate, rec.ID)
	dashapi.WriteJSON(w, http.StatusCreated, createdJSON{KeyJSON: h.toJSON(rec), Key: secret})
}

// validate turns a create request into the key to store, or a 400 naming
// the field at fault.
func (h *Handler) validate(ctx context.Context, u store.User, in createRequest) (store.APIKey, error) {
	k := store.APIKey{OwnerID: u.ID}
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" {
		return k, dashapi.BadRequest("missing_field", "name: give the key a name.")
	}
	k.Name = strings.TrimSpace(*in.Name)
	if !utf8.ValidString(k.Name) || utf8.RuneCountInString(k.Name) > MaxNameRunes {
		return k, dashapi.BadRequest("invalid_name", fmt.Sprintf("name: at most %d characters.", MaxNameRunes))
	}
	if strings.IndexFunc(k.Name, unicode.IsControl) >= 0 {
		return k, dashapi.BadRequest("invalid_name", "name: no control characters.")
	}
	var err error
	if k.Models, err = h.models(ctx, u, in.Models); err != nil {
		return k, err
	}
	if k.IPAllow, err = ipAllow(in.IPAllow); err != nil {
		return k, err
	}
	if in.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *in.ExpiresAt)
		if err != nil {
			return k, dashapi.BadRequest("invalid_expires_at", "expires_at: want an RFC 3339 time such as 2030-01-31T00:00:00Z.")
		}
		if !t.After(h.o.Now()) {
			return k, dashapi.BadRequest("invalid_expires_at", "expires_at is in the past: a key must expire in the future.")
		}
		k.ExpiresAt = t.UTC()
	}
	rpm, err := bounded("rpm", in.RPM, MaxRPM)
	if err != nil {
		return k, err
	}
	conc, err := bounded("max_concurrency", in.MaxConcurrency, MaxConcurrency)
	if err != nil {
		return k, err
	}
	quota, err := bounded("token_quota", in.TokenQuota, MaxTokenQuota)
	if err != nil {
		return k, err
	}
	k.RateLimit, k.MaxConcurrency, k.TokenQuota = int(rpm), int(conc), quota
	return k, nil
}

// models checks the model list against its bounds and the caller's
// rights, and returns the catalog ids, without duplicates, in the order
// given (nil: no restriction).
func (h *Handler) models(ctx context.Context, u store.User, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if len(names) > MaxModels {
		return nil, dashapi.BadRequest("too_many_models", fmt.Sprintf("models: at most %d.", MaxModels))
	}
	for _, n := range names {
		if strings.TrimSpace(n) == "" || len(n) > MaxModelNameBytes {
			return nil, dashapi.BadRequest("invalid_model", fmt.Sprintf("models: each must be a model id of 1 to %d bytes.", MaxModelNameBytes))
		}
	}
	ids, err := h.o.Models.ResolveModels(ctx, Owners(u), names)
	if err != nil {
		if ge := gw.AsError(err); ge.Code == gw.CodeInvalidRequest {
			return nil, dashapi.BadRequest("unknown_model", ge.Message)
		}
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// ipAllow parses the allowlist: CIDRs or single addresses (IPv4 or IPv6),
// stored as canonical prefixes ("203.0.113.7/32", "10.0.0.0/8").
func ipAllow(list []string) ([]string, error) {
	if len(list) > MaxIPAllow {
		return nil, dashapi.BadRequest("too_many_entries", fmt.Sprintf("ip_allow: at most %d entries.", MaxIPAllow))
	}
	var out []string
	for _, s := range list {
		p, err := ParsePrefix(s)
		if err != nil {
			shown := s
			if len(shown) > 64 {
				shown = shown[:64] + "..."
			}
			return nil, dashapi.BadRequest("invalid_cidr", fmt.Sprintf("ip_allow: %q is neither a CIDR (10.0.0.0/8) nor an IP address.", shown))
		}
		if v := p.String(); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// ParsePrefix reads an allowlist entry: a CIDR (masked to its network) or
// a single address (a /32 or /128); an IPv4 address mapped into IPv6 reads
// as IPv4.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("keys: an address with a zone")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// bounded reads an optional non-negative integer field (absent: 0).
func bounded(field string, v *int64, limit int64) (int64, error) {
	if v == nil {
		return 0, nil
	}
	if *v < 0 || *v > limit {
		return 0, dashapi.BadRequest("invalid_"+field, fmt.Sprintf("%s: want a whole number from 0 (no limit) to %d.", field, limit))
	}
	return *v, nil
}

// revoke is DELETE /api/keys/{id}: the key is refused from the next
// request on (the verifier reads the store on every request). 404 for a
// key that is not the caller's, unless the caller is an admin.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	u, err := h.caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	k, err := h.o.Store.GetAPIKey(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !slices.Contains(Owners(u), k.OwnerID) && u.Role != store.RoleAdmin) {
		h.fail(w, r, &dashapi.Error{Status: http.StatusNotFound, Type: gw.CodeNotFound, Code: "not_found", Message: "No such key."})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !k.Disabled {
		if err := h.o.Store.DisableAPIKey(r.Context(), k.ID); err != nil {
			h.fail(w, r, err)
			return
		}
		h.audit(r, u, ActionKeyRevoke, k.ID)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// audit appends an entry acted by u; a failure is logged, not returned
// (the action itself succeeded).
func (h *Handler) audit(r *http.Request, u store.User, action, keyID string) {
	_, err := h.o.Store.AppendAudit(r.Context(), store.AuditEntry{Time: h.o.Now(), ActorID: u.ID, ActorEmail: u.Email,
		Action: action, TargetType: "key", TargetID: keyID, IP: dashapi.ClientIP(r, h.o.TrustProxy)})
	if err != nil {
		h.o.Logger.Error("could not write the audit trail", "action", action, "error", err)
	}
}

// fail writes err as the dashboard API's error envelope; errors that are
// not an *dashapi.Error are internal (their text is not shown, only logged).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	dashapi.Fail(h.o.Logger, w, r, err)
}
