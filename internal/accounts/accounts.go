// Package accounts is the dashboard's management of upstream accounts:
// GET/POST /api/accounts, bulk import, the account doctor
// (POST /api/accounts/{id}/test), reset, edit, delete, and GET /api/models
// (the models the caller's accounts serve).
//
// Ownership: every account belongs to a user (store.Account.OwnerID; "" is
// the built-in admin, who owns the environment's accounts). A user sees
// and manages their own accounts; the accounts an admin marked shared are
// listed to every user too, read-only (editable=false): they serve the
// user's keys and playground, but only their owner or an admin may test,
// reset, edit or delete them. Admins see and manage every account. An
// account the caller may not manage answers 404 on every route, never 403,
// so ids of other users' accounts reveal nothing.
//
// The package knows the gateway only through the interfaces it declares
// (Pool, Doctor, Catalog); internal/app plugs in the account pool, the
// providers' doctors and catalogs.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/dashapi"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// Audit actions this package writes.
const (
	ActionCreate = "account.create"
	ActionUpdate = "account.update"
	ActionDelete = "account.delete"
	ActionReset  = "account.reset"
	ActionImport = "account.import"
)

// DisabledByOwner is the disabled reason of an account its owner turned
// off (PATCH {"enabled":false}).
const DisabledByOwner = "disabled by its owner"

// Bounds on what a client may send.
const (
	// MaxCookieBytes bounds one cookie string.
	MaxCookieBytes = 16 << 10
	// MaxImport bounds the cookies of one import.
	MaxImport = 200
	// MaxImportBytes bounds an import's body.
	MaxImportBytes = 1 << 20
	// MaxLabelBytes bounds a label.
	MaxLabelBytes = 200
	// MaxProxyBytes bounds a proxy URL.
	MaxProxyBytes = 2048
)

// Store is what the handler needs from the store: the accounts, and the
// users (the caller, the built-in admin) and the audit trail.
type Store interface {
	store.AccountStore
	GetUser(ctx context.Context, id string) (store.User, error)
	BuiltinAdmin(ctx context.Context) (store.User, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
}

// Pool is the account pool as this package changes it: Reload makes it
// (and the providers an account needs) see the store's accounts at once;
// UpdateCookie replaces an account's cookie; SetState overwrites an
// account's state in the store and the pool in one step.
type Pool interface {
	Reload(ctx context.Context) error
	UpdateCookie(ctx context.Context, accountID, cookie string) error
	SetState(ctx context.Context, accountID string, u store.StateUpdate, reason string) error
}

// Catalog tells which models an account serves.
type Catalog interface {
	// AccountModels lists the models acct serves (all kinds), or nil
	// when its provider is not running.
	AccountModels(ctx context.Context, acct store.Account) []llm.ModelInfo
}

// Provider is an upstream as the dashboard names it.
type Provider struct {
	Name        string // the plugin's name, an account's provider
	DisplayName string // the name shown to people
}

// Options configure a Handler.
type Options struct {
	Store     Store
	Pool      Pool
	Doctor    Doctor
	Catalog   Catalog
	Activity  *Activity   // requests and errors per account (nil: zeros)
	Rules     store.Rules // the providers' credential rules
	Providers []Provider  // the known providers, in the app's order
	Logger    *slog.Logger
	Now       func() time.Time // nil = time.Now
	// TrustProxy takes the audit trail's client address from
	// X-Forwarded-For.
	TrustProxy bool
}

// Handler serves the account routes.
type Handler struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
}

// NewHandler returns the account routes' handler.
func NewHandler(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{opts: o, log: o.Logger, now: o.Now}
}

// Routes are the account routes and GET /api/models, all for any
// signed-in user (route.Session); ownership is checked here.
func (h *Handler) Routes() []route.Route {
	r := func(pattern string, f http.HandlerFunc) route.Route {
		return route.Route{Pattern: pattern, Class: route.Session, Dialect: route.OpenAI, Handler: f}
	}
	imp := r("POST /api/accounts/import", h.importAccounts)
	imp.MaxBody = MaxImportBytes
	return []route.Route{
		r("GET /api/accounts", h.list),
		r("POST /api/accounts", h.create),
		imp,
		r("POST /api/accounts/{id}/test", h.test),
		r("POST /api/accounts/{id}/reset", h.reset),
		r("PATCH /api/accounts/{id}", h.patch),
		r("DELETE /api/accounts/{id}", h.remove),
		r("GET /api/models", h.models),
	}
}

// caller is the signed-in user (the session authenticator put the id in
// the context).
type caller struct {
	store.User
	builtinID string // the built-in admin's id ("" before one exists)
}

func (c caller) admin() bool { return c.Role == store.RoleAdmin }

// owners are the owner ids that are the caller's own ("" too for the
// built-in admin).
func (c caller) owners() []string {
	if c.Builtin {
		return []string{"", c.ID}
	}
	return []string{c.ID}
}

// canManage reports whether the caller may test, change or delete a.
func (c caller) canManage(a store.Account) bool { return c.admin() || a.OwnedBy(c.owners()) }

// canSee reports whether a is listed to the caller.
func (c caller) canSee(a store.Account) bool { return c.canManage(a) || a.Shared }

// ownerID is a's owner as shown: the built-in admin's id for "".
func (c caller) ownerID(a store.Account) string {
	if a.OwnerID == "" {
		return c.builtinID
	}
	return a.OwnerID
}

func (h *Handler) caller(r *http.Request) (caller, error) {
	ctx := r.Context()
	u, err := h.opts.Store.GetUser(ctx, reqctx.KeyID(ctx))
	if errors.Is(err, store.ErrNotFound) {
		return caller{}, &dashapi.Error{Status: http.StatusUnauthorized, Type: gw.CodeUnauthorized, Code: "unauthorized",
			Message: "Sign in first: this route needs a valid dashboard session."}
	}
	if err != nil {
		return caller{}, fmt.Errorf("accounts: caller: %w", err)
	}
	c := caller{User: u}
	if u.Builtin {
		c.builtinID = u.ID
	} else if b, err := h.opts.Store.BuiltinAdmin(ctx); err == nil {
		c.builtinID = b.ID
	} else if !errors.Is(err, store.ErrNotFound) {
		return caller{}, fmt.Errorf("accounts: built-in admin: %w", err)
	}
	return c, nil
}

// callerAndAccount is the signed-in caller and the account the path's
// {id} names, which the caller may manage; on failure it has answered
// (401, or 404 for an account that is missing or another owner's).
func (h *Handler) callerAndAccount(w http.ResponseWriter, r *http.Request) (caller, store.Account, bool) {
	c, err := h.caller(r)
	if err != nil {
		h.fail(w, r, err)
		return caller{}, store.Account{}, false
	}
	a, err := h.managed(r, c)
	if err != nil {
		h.fail(w, r, err)
		return caller{}, store.Account{}, false
	}
	return c, a, true
}

// managed returns the account with the path's id when the caller may
// manage it, else a 404.
func (h *Handler) managed(r *http.Request, c caller) (store.Account, error) {
	id := r.PathValue("id")
	a, err := h.opts.Store.GetAccount(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.canManage(a)) {
		return store.Account{}, errNoAccount
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("accounts: get: %w", err)
	}
	return a, nil
}

var errNoAccount = &dashapi.Error{Status: http.StatusNotFound, Type: gw.CodeNotFound, Code: "account_not_found", Message: "No such account."}

// accountJSON is an account as the dashboard API shows it: never the
// cookie or the proxy URL.
type accountJSON struct {
	ID             string   `json:"id"`
	Provider       string   `json:"provider"`
	Label          string   `json:"label"`
	State          string   `json:"state"`
	RestUntil      *string  `json:"rest_until"`
	DisabledReason string   `json:"disabled_reason"`
	LastError      *string  `json:"last_error"`
	LastErrorCode  *string  `json:"last_error_code"`
	LastErrorAt    *string  `json:"last_error_at"`
	LastUsedAt     *string  `json:"last_used_at"`
	Requests24h    int64    `json:"requests_24h"`
	Errors24h      int64    `json:"errors_24h"`
	Models         []string `json:"models"`
	ProxySet       bool     `json:"proxy_set"`
	Shared         bool     `json:"shared"`
	OwnerID        string   `json:"owner_id"`
	Editable       bool     `json:"editable"`
	CreatedAt      string   `json:"created_at"`
}

func rfc3339(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.UTC().Format(time.RFC3339)
	return &v
}

func (h *Handler) toJSON(ctx context.Context, c caller, a store.Account, now time.Time) accountJSON {
	out := accountJSON{ID: a.ID, Provider: a.Provider, Label: a.Label, State: string(a.EffectiveState(now)),
		ProxySet: a.Proxy != "", Shared: a.Shared, OwnerID: c.ownerID(a), Editable: c.canManage(a),
		CreatedAt: *rfc3339(a.CreatedAt), Models: []string{}}
	if out.State == string(store.StateResting) {
		out.RestUntil = rfc3339(a.RestUntil)
	}
	if out.State == string(store.StateDisabled) {
		out.DisabledReason = a.DisabledReason
	}
	if !a.LastError.IsZero() {
		msg, code := a.LastError.Message, string(a.LastError.Code)
		out.LastError, out.LastErrorCode, out.LastErrorAt = &msg, &code, rfc3339(a.LastError.At)
	}
	if s := h.opts.Activity.Stats(a.ID, now); s != (Stats{}) {
		out.Requests24h, out.Errors24h, out.LastUsedAt = s.Requests, s.Errors, rfc3339(s.LastUsed)
	}
	if h.opts.Catalog != nil {
		for _, m := range h.opts.Catalog.AccountModels(ctx, a) {
			out.Models = append(out.Models, m.ID)
		}
	}
	return out
}

// list is GET /api/accounts: the caller's accounts and the shared ones
// (every account for an admin), by provider and creation order.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	c, err := h.caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	recs, err := h.opts.Store.ListAccounts(r.Context(), store.AccountFilter{})
	if err != nil {
		h.fail(w, r, fmt.Errorf("accounts: list: %w", err))
		return
	}
	now := h.now()
	out := []accountJSON{}
	for _, a := range recs {
		if c.canSee(a) {
			out = append(out, h.toJSON(r.Context(), c, a, now))
		}
	}
	dashapi.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
}

// knownProvider reports whether name is a known provider; the error lists
// them.
func (h *Handler) knownProvider(name string) error {
	names := make([]string, 0, len(h.opts.Providers))
	for _, p := range h.opts.Providers {
		if p.Name == name {
			return nil
		}
		names = append(names, `"`+p.Name+`"`)
	}
	return dashapi.BadRequest("invalid_provider", "provider must be one of "+strings.Join(names, ", ")+".")
}

// checkLabel bounds a label and refuses control characters.
func checkLabel(l string) error {
	if len(l) > MaxLabelBytes {
		return dashapi.BadRequest("invalid_label", fmt.Sprintf("label is longer than %d bytes.", MaxLabelBytes))
	}
	if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return dashapi.BadRequest("invalid_label", "label contains control characters.")
	}
	return nil
}

// checkProxy accepts "" or a proxy URL the HTTP transport can use: http,
// https, socks5 or socks5h with a host. Its errors never echo the URL (it
// may hold credentials).
func checkProxy(raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > MaxProxyBytes {
		return dashapi.BadRequest("invalid_proxy", "proxy is too long.")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return dashapi.BadRequest("invalid_proxy", "proxy must be a URL such as socks5://host:1080 or http://user:pass@host:3128.")
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return dashapi.BadRequest("invalid_proxy", "proxy scheme must be http, https, socks5 or socks5h.")
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return dashapi.BadRequest("invalid_proxy", "proxy port is not a number.")
		}
	}
	return nil
}

// credentialError is the 400 of a cookie without its provider's shape;
// the rule's message says what is missing, never the cookie.
func credentialError(err error) error {
	var ce *store.CredentialError
	if errors.As(err, &ce) {
		return dashapi.BadRequest("invalid_cookie", "The cookie is not valid: "+ce.Error()+".")
	}
	return dashapi.BadRequest("invalid_cookie", "The cookie is not valid.")
}

// create is POST /api/accounts {"provider","cookie","label"?,"proxy"?}:
// 201 with the account, owned by the caller.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	c, err := h.caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Provider string `json:"provider"`
		Cookie   string `json:"cookie"`
		Label    string `json:"label"`
		Proxy    string `json:"proxy"`
	}
	if err := dashapi.DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	in.Label, in.Proxy = strings.TrimSpace(in.Label), strings.TrimSpace(in.Proxy)
	switch {
	case h.knownProvider(in.Provider) != nil:
		err = h.knownProvider(in.Provider)
	case strings.TrimSpace(in.Cookie) == "":
		err = dashapi.BadRequest("missing_cookie", "cookie is required.")
	case len(in.Cookie) > MaxCookieBytes:
		err = dashapi.BadRequest("invalid_cookie", fmt.Sprintf("cookie is longer than %d bytes.", MaxCookieBytes))
	default:
		if err = checkLabel(in.Label); err == nil {
			err = checkProxy(in.Proxy)
		}
	}
	if err == nil {
		if _, nerr := h.opts.Rules.Normalize(in.Provider, in.Cookie); nerr != nil {
			err = credentialError(nerr)
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.opts.Store.CreateAccount(r.Context(), store.Account{Provider: in.Provider, Cookie: in.Cookie,
		Label: in.Label, Proxy: in.Proxy, OwnerID: c.ID})
	switch {
	case errors.Is(err, store.ErrConflict):
		h.fail(w, r, &dashapi.Error{Status: http.StatusConflict, Type: gw.CodeInvalidRequest, Code: "account_exists",
			Message: "An account with this login or label already exists."})
		return
	case errors.Is(err, store.ErrInvalid):
		h.fail(w, r, credentialError(err))
		return
	case err != nil:
		h.fail(w, r, fmt.Errorf("accounts: create: %w", err))
		return
	}
	h.audit(r, c, ActionCreate, a.ID)
	h.reload(r.Context())
	dashapi.WriteJSON(w, http.StatusCreated, h.toJSON(r.Context(), c, a, h.now()))
}

// reload makes the pool see the store's accounts now; a failure is logged
// (the change is stored, and the next reload or restart picks it up).
func (h *Handler) reload(ctx context.Context) {
	if h.opts.Pool == nil {
		return
	}
	if err := h.opts.Pool.Reload(ctx); err != nil {
		h.log.Error("account pool reload failed", "error", err)
	}
}

// patch is PATCH /api/accounts/{id} {"label","proxy","enabled","shared"}
// (each optional; "shared" only for admins, 403 for a user).
func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	c, a, ok := h.callerAndAccount(w, r)
	if !ok {
		return
	}
	var in struct {
		Label   *string `json:"label"`
		Proxy   *string `json:"proxy"`
		Enabled *bool   `json:"enabled"`
		Shared  *bool   `json:"shared"`
	}
	if err := dashapi.DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Label == nil && in.Proxy == nil && in.Enabled == nil && in.Shared == nil {
		h.fail(w, r, dashapi.BadRequest("nothing_to_change", `Send "label", "proxy", "enabled" and/or "shared".`))
		return
	}
	if in.Shared != nil && !c.admin() {
		h.fail(w, r, &dashapi.Error{Status: http.StatusForbidden, Type: gw.CodeForbidden, Code: "admin_only",
			Message: "Only an admin may share an account."})
		return
	}
	if in.Label != nil {
		l := strings.TrimSpace(*in.Label)
		if l == "" {
			h.fail(w, r, dashapi.BadRequest("invalid_label", "label must not be empty."))
			return
		}
		if err := checkLabel(l); err != nil {
			h.fail(w, r, err)
			return
		}
		in.Label = &l
	}
	if in.Proxy != nil {
		p := strings.TrimSpace(*in.Proxy)
		if err := checkProxy(p); err != nil {
			h.fail(w, r, err)
			return
		}
		in.Proxy = &p
	}
	ctx := r.Context()
	var err error
	if in.Label != nil || in.Proxy != nil || in.Shared != nil {
		a, err = h.opts.Store.UpdateAccountInfo(ctx, a.ID, store.AccountPatch{Label: in.Label, Proxy: in.Proxy, Shared: in.Shared})
		switch {
		case errors.Is(err, store.ErrConflict):
			h.fail(w, r, &dashapi.Error{Status: http.StatusConflict, Type: gw.CodeInvalidRequest, Code: "label_taken",
				Message: "Another account of this provider has this label."})
			return
		case errors.Is(err, store.ErrNotFound):
			h.fail(w, r, errNoAccount)
			return
		case err != nil:
			h.fail(w, r, fmt.Errorf("accounts: update: %w", err))
			return
		}
	}
	if in.Enabled != nil {
		if a, err = h.setEnabled(ctx, a, *in.Enabled); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.audit(r, c, ActionUpdate, a.ID)
	h.reload(ctx)
	dashapi.WriteJSON(w, http.StatusOK, h.toJSON(ctx, c, a, h.now()))
}

// setEnabled disables a (state disabled, DisabledByOwner) or makes it
// active (no rest, reason or failures), keeping its last error.
func (h *Handler) setEnabled(ctx context.Context, a store.Account, enabled bool) (store.Account, error) {
	u := store.StateUpdate{State: store.StateActive, LastError: a.LastError}
	if !enabled {
		u = store.StateUpdate{State: store.StateDisabled, DisabledReason: DisabledByOwner, LastError: a.LastError, Failures: a.Failures}
	}
	reason := "enabled by its owner"
	if !enabled {
		reason = DisabledByOwner
	}
	if err := h.opts.Pool.SetState(ctx, a.ID, u, reason); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return a, errNoAccount
		}
		return a, fmt.Errorf("accounts: set state: %w", err)
	}
	a.State, a.RestUntil, a.DisabledReason, a.Failures = u.State, u.RestUntil, u.DisabledReason, u.Failures
	return a, nil
}

// reset is POST /api/accounts/{id}/reset: a resting account is active
// again at once (a disabled one stays disabled: only a new cookie or
// "enabled":true brings it back).
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	c, a, ok := h.callerAndAccount(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if a.State == store.StateResting {
		if err := h.opts.Pool.SetState(ctx, a.ID, store.StateUpdate{State: store.StateActive, LastError: a.LastError}, "rest cleared by its owner"); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				h.fail(w, r, errNoAccount)
				return
			}
			h.fail(w, r, fmt.Errorf("accounts: reset: %w", err))
			return
		}
		a.State, a.RestUntil, a.Failures = store.StateActive, time.Time{}, 0
	}
	h.audit(r, c, ActionReset, a.ID)
	dashapi.WriteJSON(w, http.StatusOK, h.toJSON(ctx, c, a, h.now()))
}

// remove is DELETE /api/accounts/{id}: 204.
func (h *Handler) remove(w http.ResponseWriter, r *http.Request) {
	c, a, ok := h.callerAndAccount(w, r)
	if !ok {
		return
	}
	if err := h.opts.Store.DeleteAccount(r.Context(), a.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.fail(w, r, errNoAccount)
			return
		}
		h.fail(w, r, fmt.Errorf("accounts: delete: %w", err))
		return
	}
	h.audit(r, c, ActionDelete, a.ID)
	h.reload(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

// audit appends an entry acted by c; a failure is logged (the action
// itself succeeded).
func (h *Handler) audit(r *http.Request, c caller, action, targetID string) {
	_, err := h.opts.Store.AppendAudit(r.Context(), store.AuditEntry{Time: h.now(), ActorID: c.ID, ActorEmail: c.Email,
		Action: action, TargetType: "account", TargetID: targetID, IP: dashapi.ClientIP(r, h.opts.TrustProxy)})
	if err != nil {
		h.log.Error("could not write the audit trail", "action", action, "error", err)
	}
}

// fail writes err in the dashboard API's envelope; an error that is not an
// *dashapi.Error is internal, logged and not shown.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	dashapi.Fail(h.log, w, r, err)
}

// sortedIDs returns the keys of m, sorted.
func sortedIDs[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
