package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/provider/googleai"

	"github.com/sparkgw/spark/internal/apikey"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/keys"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
)

// WithAdmitter replaces the in-process admitter of the per-key limits
// (requests per minute, concurrency) with a (shared) one.
func WithAdmitter(ad limit.Admitter) Option { return func(a *App) { a.admitter = ad } }

// clientKeys sets up client API keys on the server: the verifier (API_SECRET
// and the stored keys, each with its owner and policies), the key's limits
// (KEY_RATE_LIMIT for keys without their own), the token meter of the
// token quotas, and the initial key when none exists.
func (a *App) clientKeys(ctx context.Context, srvOpts *server.Options) error {
	var err error
	a.MintedKey, err = apikey.EnsureInitial(ctx, a.db, a.cfg.APISecret)
	if err != nil {
		return fmt.Errorf("api key: %w", err)
	}
	a.meter = apikey.NewMeter(a.db, apikey.MeterOptions{Logger: a.log})
	a.closers = append(a.closers, a.meter)
	v := apikey.NewVerifier(a.db, a.cfg.APISecret, apikey.Options{Clock: clockFunc(a.now), Meter: a.meter, CacheFor: keyCacheFor, Owners: a.db})
	a.keys = &keyVerifier{v: v, owners: a.owners}
	srvOpts.Keys = a.keys
	if a.admitter == nil {
		a.admitter = a.sharedAdmitter() // REDIS_URL: limits across replicas
	}
	if a.admitter == nil {
		a.admitter = limit.NewMemoryAdmitter(clockFunc(a.now), 0)
	}
	srvOpts.KeyAdmitter = keyAdmitter{a.admitter}
	srvOpts.KeyPerMinute = a.cfg.KeyRateLimit
	srvOpts.Tokens = a.meter
	return nil
}

// keyRoutes are the dashboard's key routes (/api/keys).
func (a *App) keyRoutes() ([]route.Route, error) {
	opts := keys.Options{Store: a.db, Models: modelResolver{a}, Logger: a.log, TrustProxy: a.cfg.TrustProxy, Now: a.now}
	if a.meter != nil {
		opts.Pending = a.meter.Pending
	}
	h, err := keys.New(opts)
	if err != nil {
		return nil, err
	}
	return h.Routes(), nil
}

// clockFunc adapts a time function to the Clock interfaces.
type clockFunc func() time.Time

func (c clockFunc) Now() time.Time { return c() }

// owners are the users whose accounts serve a key owned by ownerID: the
// owner, and for the built-in admin both "" (the environment's accounts)
// and their user id.
func (a *App) owners(ctx context.Context, ownerID string) ([]string, error) {
	id, err := a.builtinAdminID(ctx)
	if err != nil {
		return nil, err
	}
	if ownerID == "" || ownerID == id {
		if id == "" {
			return []string{""}, nil
		}
		return []string{"", id}, nil
	}
	return []string{ownerID}, nil
}

// builtinAdminID is the built-in admin's user id ("" before one exists),
// read from the store until found (it never changes afterwards). While
// there is none, the answer is kept for a second (the setup link or
// another replica may create one at any time), so that API_SECRET
// requests do not each read the store.
func (a *App) builtinAdminID(ctx context.Context) (string, error) {
	if id := a.builtinID.Load(); id != nil {
		return *id, nil
	}
	now := a.now()
	if until := a.noBuiltinUntil.Load(); until != nil && now.Before(*until) {
		return "", nil
	}
	u, err := a.db.BuiltinAdmin(ctx)
	if errors.Is(err, store.ErrNotFound) {
		until := now.Add(time.Second)
		a.noBuiltinUntil.Store(&until)
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("built-in admin: %w", err)
	}
	a.builtinID.Store(&u.ID)
	return u.ID, nil
}

// keyCacheFor is how long a replica keeps a verified key and its owner's
// state without reading the store again. A key revoked or an owner
// disabled through this replica is refused from the next request on (the
// store tells the verifier, see watchedStore), through another replica as
// soon as its change-feed event arrives (Redis), and in every case within
// keyCacheFor (another process without Redis, the CLI).
const keyCacheFor = time.Second

// keyVerifier adapts apikey.Verifier to the server's KeyVerifier: the key's
// grant (owners, models) and policies. A key whose owner was disabled (or
// is gone) is refused like an unknown key (apikey.Options.Owners).
type keyVerifier struct {
	v      *apikey.Verifier
	owners func(ctx context.Context, ownerID string) ([]string, error)
}

// forget drops the cached keys and owners: a key was revoked or a user
// changed, here or on another replica.
func (k *keyVerifier) forget() { k.v.Forget() }

func (k *keyVerifier) Verify(ctx context.Context, key string) (server.ClientKey, bool, error) {
	p, err := k.v.Verify(ctx, key)
	if err != nil {
		if errors.Is(err, apikey.ErrInvalidKey) || errors.Is(err, apikey.ErrMissingKey) {
			return server.ClientKey{}, false, nil
		}
		return server.ClientKey{}, false, err // expired: 401 with its message; the store: 500
	}
	owners, err := k.owners(ctx, p.OwnerID)
	if err != nil {
		return server.ClientKey{}, false, err
	}
	ck := server.ClientKey{
		ID:            p.KeyID,
		Grant:         &reqctx.Grant{KeyID: p.KeyID, OwnerID: p.OwnerID, Owners: owners, Models: p.Models},
		PerMinute:     p.RateLimit,
		MaxConcurrent: p.MaxConcurrency,
		TokenQuota:    p.TokenQuota,
		TokensUsed:    p.TokensUsed,
	}
	for _, s := range p.IPAllow {
		// An entry that no longer parses matches no address (the zero
		// prefix contains none), so the list still refuses the others.
		pfx, _ := keys.ParsePrefix(s)
		ck.IPAllow = append(ck.IPAllow, pfx)
	}
	return ck, true, nil
}

// keyAdmitter adapts limit.Admitter to the server's KeyAdmitter.
type keyAdmitter struct{ ad limit.Admitter }

func (k keyAdmitter) AdmitKey(ctx context.Context, keyID string, perMinute, maxConcurrent int) (func(), error) {
	t, err := k.ad.Admit(ctx, limit.Admission{KeyID: keyID, KeyPerMinute: perMinute, KeyMaxConcurrent: maxConcurrent})
	var ref *limit.Refusal
	if errors.As(err, &ref) {
		msg := "Too many requests for this API key: its limit is " + strconv.Itoa(perMinute) + " per minute"
		switch ref.Limit {
		case limit.LimitKeyConcurrency:
			msg = "Too many requests in flight for this API key: its limit is " + strconv.Itoa(maxConcurrent) + " at once"
		case cluster.LimitUnavailable:
			msg = "The shared request limits are unavailable for a moment (REDIS_FAILURE_MODE=closed)"
		}
		secs := max(int(ref.RetryAfter.Round(time.Second)/time.Second), 1)
		return nil, &gw.Error{Code: gw.CodeClientRateLimited, RetryAfter: ref.RetryAfter,
			Message: msg + "; retry in " + strconv.Itoa(secs) + "s"}
	}
	if err != nil {
		return nil, err
	}
	return t.Release, nil
}

// modelResolver answers which models a key may be limited to: names the
// registry resolves exactly (not only through a catch-all) to a model that
// one of the creator's accounts, or a shared one, serves.
type modelResolver struct{ a *App }

func (m modelResolver) ResolveModels(ctx context.Context, owners []string, names []string) ([]string, error) {
	accts, err := m.a.db.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	var usable []store.Account
	for _, acct := range accts {
		if acct.Shared || slices.Contains(owners, acct.OwnerID) {
			usable = append(usable, acct)
		}
	}
	out := make([]string, 0, len(names))
	for _, name := range names {
		if m.a.cfg.GoogleAIAPIKey != "" && isEmbeddingModel(name) {
			out = append(out, googleai.ModelName(name)) // served by the Google AI API, not an account
			continue
		}
		p, match, err := m.a.registry.Resolve(ctx, name)
		if err != nil || match.Fallback {
			return nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "models", Message: "models: unknown model `" + clipName(name) + "`."}
		}
		served := false
		for _, acct := range usable {
			if acct.Provider == p.Name() && m.a.servesModel(acct.GW(), match.Model.ID) {
				served = true
				break
			}
		}
		if !served {
			return nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "models",
				Message: "models: none of your accounts (nor a shared one) serves `" + match.Model.ID + "`."}
		}
		out = append(out, match.Model.ID)
	}
	return out, nil
}

// clipName bounds a client-given model name echoed in an error.
func clipName(s string) string {
	if len(s) <= 64 {
		return s
	}
	return store.ClipUTF8(s, 64) + "..."
}

var _ server.KeyVerifier = (*keyVerifier)(nil)

// keysChanged is called once a key was disabled or a user changed through
// this process: its cached keys and owners are dropped at once, and the
// other replicas are told (cluster.EventKeys) to drop theirs.
func (a *App) keysChanged(ctx context.Context) {
	if a.keys != nil {
		a.keys.forget()
	}
	if a.shared != nil {
		if err := a.shared.Publish(context.WithoutCancel(ctx), cluster.Event{Kind: cluster.EventKeys}); err != nil {
			a.log.Warn("could not tell the other replicas about a key or user change; they see it within a second", "error", err)
		}
	}
}

// watchedStore is the store as the gateway's own handlers (dashboard
// keys, users, sign-in) write to it: a disabled key or a changed user is
// reported to changed, which drops the verified keys cached from before.
type watchedStore struct {
	store.Store
	changed func(ctx context.Context)
}

func (w watchedStore) DisableAPIKey(ctx context.Context, id string) error {
	err := w.Store.DisableAPIKey(ctx, id)
	if err == nil {
		w.changed(ctx)
	}
	return err
}

func (w watchedStore) UpdateUser(ctx context.Context, id string, p store.UserPatch) (store.User, error) {
	u, err := w.Store.UpdateUser(ctx, id, p)
	if err == nil {
		w.changed(ctx)
	}
	return u, err
}

// Ping reaches the engine's Ping (/readyz).
func (w watchedStore) Ping(ctx context.Context) error {
	if p, ok := w.Store.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

// keyEmbedder holds embeddings to a key's model list, as the gateway holds
// chats to it: a key limited to models embeds only with an embedding model
// it lists (POST /api/keys accepts the Google AI embedding models when
// GOOGLE_AI_API_KEY is set).
type keyEmbedder struct{ *googleai.Client }

func (e keyEmbedder) Embed(ctx context.Context, model string, inputs []string, dimensions int) ([][]float32, error) {
	name := googleai.ModelName(model)
	if g := reqctx.GrantOf(ctx); !g.AllowsModel(name) {
		return nil, &gw.Error{Code: gw.CodeForbidden, Param: "model",
			Message: "This API key may not use the model `" + clipName(name) + "`. Allowed models: " + strings.Join(g.Models, ", ") + "."}
	}
	return e.Client.Embed(ctx, model, inputs, dimensions)
}

// isEmbeddingModel reports whether name is a Google AI embedding model's
// name, gemini-embedding-* (the API's own check runs when it is used). An
// OpenAI name (text-embedding-3-small) is not one: the embeddings route
// resolves it to a Google model, and that resolved model is what a key's
// list must hold.
func isEmbeddingModel(name string) bool {
	n := googleai.ModelName(name)
	return strings.HasPrefix(n, "gemini-embedding") && len(n) <= 128 && !strings.ContainsAny(n, " /\t\n")
}
