// Package app wires spark together from its configuration: secrets, the
// embedded store, the account pool, the providers, the gateway core, the
// client front-ends and the HTTP server. cmd/spark and the end-to-end tests
// build the whole gateway through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/api/media"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/apikey"
	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/fetch"
	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/provider/genspark"
	"github.com/sparkgw/spark/internal/provider/googleai"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/sqlite"
	"github.com/sparkgw/spark/internal/tokens"
	"github.com/sparkgw/spark/internal/toolcall"
)

// App is a fully wired gateway.
type App struct {
	// MintedKey is the API key minted at this first start (empty otherwise);
	// the caller shows it once.
	MintedKey string

	cfg      *config.Config
	log      *slog.Logger
	db       *sqlite.DB
	pool     *pool.Local
	registry *provider.Registry
	gateway  *gateway.Service
	server   *server.Server
	gemini   *geminiweb.Provider
	fetcher  *fetch.Fetcher
	now      func() time.Time
	closers  []io.Closer
	stop     context.CancelFunc
	done     chan struct{}
}

// Option adjusts how New builds the gateway (tests).
type Option func(*App)

// WithClock replaces the wall clock of time-driven work (cookie rotation).
func WithClock(now func() time.Time) Option { return func(a *App) { a.now = now } }

// New builds the gateway described by cfg.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	key, err := secret.LoadOrCreateKey(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	for _, w := range key.Warnings {
		log.Warn(w)
	}
	sealer, err := secret.NewSealer(key.Bytes)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	a.db, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, sqlite.FileName), sealer)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	a.closers = append(a.closers, a.db)

	for _, imp := range []struct{ provider, env, list string }{
		{genspark.Name, "GS_COOKIE", cfg.GSCookie},
		{"geminiweb", "GEMINI_COOKIE", cfg.GeminiCookie},
	} {
		cookies := config.Cookies(imp.list)
		if len(cookies) == 0 {
			continue
		}
		sum, err := store.ImportCookies(ctx, a.db, imp.provider, cookies)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", imp.env, err)
		}
		log.Info("accounts imported", "provider", imp.provider, "created", sum.Created, "updated", sum.Updated, "unchanged", sum.Unchanged)
	}

	rateRest := cfg.RateLimitLock()
	if rateRest == 0 {
		rateRest = -1 // RATE_LIMIT_COOKIE_LOCK_DURATION=0: do not lock
	}
	strategy, err := pool.ParseStrategy(cfg.PoolStrategy)
	if err != nil {
		return nil, err
	}
	a.pool, err = pool.New(ctx, pool.Options{
		Store:                   a.db,
		Strategy:                strategy,
		MaxConcurrentPerAccount: cfg.AccountMaxConcurrency,
		RateLimitRest:           rateRest,
		Logger:                  log,
		// Only accounts whose discovered model list has the model are
		// candidates (a free Gemini account lacks the paid ones).
		ServesModel: func(acct *gw.Account, model string) bool {
			if acct.Provider == geminiweb.Name && a.gemini != nil {
				return a.gemini.Serves(acct.ID, model)
			}
			return true
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}

	clients, err := httpx.NewClients(cfg.ProxyURL)
	if err != nil {
		return nil, fmt.Errorf("PROXY_URL: %w", err)
	}
	providers, err := a.providers(ctx, clients)
	if err != nil {
		return nil, err
	}
	a.registry = provider.NewRegistry(providers...)

	// Client-given media URLs are fetched directly (not through PROXY_URL),
	// so the address guard checks the very connection that is made.
	a.fetcher, err = fetch.New(fetch.Options{})
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	gopts := gateway.Options{
		Registry:      a.registry,
		Pool:          a.pool,
		Logger:        log,
		HideReasoning: cfg.ReasoningHide,
		Fetcher:       a.fetcher,
	}
	if cfg.ToolCallingEnabled {
		gopts.Tools = toolcall.New(toolcall.Options{Logger: log})
	}
	a.gateway = gateway.New(gopts)

	srvOpts := server.Options{
		Logger:     log,
		Prefix:     cfg.Prefix(),
		PublicURL:  cfg.PublicURL,
		TrustProxy: cfg.TrustProxy,
		WriteError: writeError,
		Debug:      cfg.Debug,
	}
	if cfg.AllowNoAuth {
		log.Warn("ALLOW_NO_AUTH=1: the API is open to anyone who can reach it")
	} else {
		a.MintedKey, err = apikey.EnsureInitial(ctx, a.db, cfg.APISecret)
		if err != nil {
			return nil, fmt.Errorf("api key: %w", err)
		}
		srvOpts.Keys = keyVerifier{apikey.NewVerifier(a.db, cfg.APISecret, apikey.Options{})}
	}
	if cfg.RequestRateLimit > 0 {
		if srvOpts.IPLimiter, err = limit.NewMemory(limit.Options{PerMinute: cfg.RequestRateLimit}); err != nil {
			return nil, err
		}
	}
	if cfg.KeyRateLimit > 0 {
		if srvOpts.KeyLimiter, err = limit.NewMemory(limit.Options{PerMinute: cfg.KeyRateLimit}); err != nil {
			return nil, err
		}
	}
	a.server = server.New(srvOpts)
	if err := a.routes(sealer, clients); err != nil {
		return nil, err
	}

	tokens.Warm()
	if a.gemini != nil {
		bg, stop := context.WithCancel(context.Background())
		a.stop, a.done = stop, make(chan struct{})
		go a.rotateLoop(bg)
	}
	a.server.SetReady(true)
	return a, nil
}

// rotateLoop refreshes due Gemini cookies every minute, so idle accounts
// stay signed in (busy ones also rotate lazily before a chat).
func (a *App) rotateLoop(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.RotateCookies(ctx)
		}
	}
}

// RotateCookies rotates the Gemini cookies that are due now.
func (a *App) RotateCookies(ctx context.Context) {
	if a.gemini == nil {
		return
	}
	recs, err := a.db.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		a.log.Warn("cookie rotation: list accounts", "error", err)
		return
	}
	var accts []*gw.Account
	for _, r := range recs {
		if r.Provider == geminiweb.Name {
			accts = append(accts, r.GW())
		}
	}
	a.gemini.RotateDue(ctx, accts)
}

// routes registers every front-end's routes on the server; a route the
// server refuses (no class, a conflict) stops the start.
func (a *App) routes(sealer *secret.Sealer, clients *httpx.Clients) error {
	cfg, log := a.cfg, a.log
	signer, err := imageproxy.NewSigner(imageproxy.KeyFromSealer(sealer), imageproxy.SignerOptions{
		Prefix: cfg.Prefix(), TTL: cfg.ImageProxyTTL, PublicURL: cfg.PublicURL,
	})
	if err != nil {
		return fmt.Errorf("image proxy: %w", err)
	}
	fopts := imageproxy.FetcherOptions{Accounts: imageproxy.StoreAccounts(a.db), Clients: clients}
	if hosts := config.Cookies(cfg.ImageProxyCookieHosts); len(hosts) > 0 {
		fopts.CookieAllowed = imageproxy.AllowHosts(hosts...)
	}
	fetcher, err := imageproxy.NewFetcher(fopts)
	if err != nil {
		return fmt.Errorf("image proxy: %w", err)
	}
	var table []route.Route
	table = append(table, imageproxy.NewHandler(signer, fetcher, imageproxy.HandlerOptions{WriteError: openai.WriteError, Logger: log}).Routes()...)

	chat := chatBackend{gw: a.gateway, signer: signer}
	table = append(table, openai.New(chat, openai.Options{HideReasoning: cfg.ReasoningHide, Logger: log}).Routes()...)
	table = append(table, responses.New(chat, a.db, responses.Options{HideReasoning: cfg.ReasoningHide, Logger: log}).Routes()...)
	table = append(table, anthropic.New(chat, anthropic.Options{PingInterval: anthropic.DefaultPingInterval, HideReasoning: cfg.ReasoningHide, Logger: log}).Routes()...)
	mh, err := media.New(a.gateway, media.Options{Signer: signer, Fetcher: fetcher, MediaFetcher: a.fetcher, Logger: log})
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	table = append(table, mh.Routes()...)

	embedder, err := googleai.New(googleai.Config{
		BaseURL: cfg.GoogleAIBaseURL, APIKey: cfg.GoogleAIAPIKey, Clients: clients, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("google ai: %w", err)
	}
	chatModel := "claude-sonnet-4-5"
	if a.gemini != nil {
		chatModel = "gemini-3-flash"
	}
	table = append(table, extras.New(extras.Options{
		Chat: a.gateway, Embedder: embedder,
		DefaultEmbeddingModel: googleai.DefaultModel, DefaultChatModel: chatModel, Logger: log,
	}).Routes()...)
	if err := a.server.Handle(table...); err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	for _, rt := range a.server.Routes() {
		log.Debug("route", "pattern", rt.Pattern, "class", rt.Class.String(), "dialect", rt.Dialect.String())
	}
	return nil
}

// providers builds the upstreams that have accounts (Genspark also when no
// upstream has any, so a first start explains which variable to set).
func (a *App) providers(ctx context.Context, clients *httpx.Clients) ([]provider.Provider, error) {
	accounts, err := a.db.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	has := map[string]bool{}
	for _, acc := range accounts {
		has[acc.Provider] = true
	}
	var out []provider.Provider
	if has[genspark.Name] || len(has) == 0 {
		cat, err := catalog.Load(genspark.Name, a.cfg.DataDir)
		if err != nil {
			return nil, err
		}
		chatMap, err := a.cfg.ChatMap()
		if err != nil {
			return nil, err
		}
		p, err := genspark.New(genspark.Config{
			BaseURL:      a.cfg.GensparkBaseURL,
			Clients:      clients,
			Logger:       a.log,
			Catalog:      cat,
			RecaptchaURL: strings.TrimSpace(a.cfg.RecaptchaProxyURL),
			ModelChatMap: chatMap,
			AutoBind:     a.cfg.AutoModelChatMapType == 1,
			AutoDelete:   a.cfg.AutoDelChat,
			Bindings:     newStoreBindings(a.db),
			Debug:        a.cfg.Debug,
		})
		if err != nil {
			return nil, fmt.Errorf("genspark: %w", err)
		}
		out = append(out, p)
		a.closers = append(a.closers, p)
	}
	if has[geminiweb.Name] {
		cat, err := catalog.Load(geminiweb.Name, a.cfg.DataDir)
		if err != nil {
			return nil, err
		}
		p, err := geminiweb.New(geminiweb.Config{
			BaseURL:     a.cfg.GeminiBaseURL,
			UploadURL:   a.cfg.GeminiUploadURL,
			AccountsURL: a.cfg.GoogleAccountsURL,
			Clients:     clients,
			Logger:      a.log,
			Catalog:     cat,
			Cookies:     cookieSaver{a.pool},
			AutoDelete:  a.cfg.AutoDelChat,
			Now:         a.now,
		})
		if err != nil {
			return nil, fmt.Errorf("geminiweb: %w", err)
		}
		a.gemini = p
		out = append(out, p)
		a.closers = append(a.closers, p)
	}
	return out, nil
}

// Handler is the gateway's root HTTP handler.
func (a *App) Handler() http.Handler { return a.server }

// Pool is the account pool (for status listings and tests).
func (a *App) Pool() *pool.Local { return a.pool }

// Close releases everything New opened, newest first.
func (a *App) Close() error {
	if a.stop != nil {
		a.stop()
		<-a.done
		a.stop = nil
	}
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i].Close())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// cookieSaver persists rotated cookies through the pool (which writes the
// store and keeps its in-memory copy current).
type cookieSaver struct{ p *pool.Local }

func (c cookieSaver) SaveCookie(ctx context.Context, accountID, cookie string) error {
	return c.p.UpdateCookie(ctx, accountID, cookie)
}

// keyVerifier adapts apikey.Verifier to the server's KeyVerifier.
type keyVerifier struct{ v *apikey.Verifier }

func (k keyVerifier) Verify(ctx context.Context, key string) (string, bool, error) {
	p, err := k.v.Verify(ctx, key)
	if err != nil {
		if gw.ErrorCode(err) == gw.CodeUnauthorized {
			return "", false, nil
		}
		return "", false, err
	}
	return p.KeyID, true, nil
}

// writeError renders the server's errors in dialect d, which the server
// resolved from the route table (route.Dialect.For): Anthropic's envelope
// or OpenAI's.
func writeError(w http.ResponseWriter, d route.Dialect, err error) {
	if d == route.Anthropic {
		anthropic.WriteError(w, err)
		return
	}
	openai.WriteError(w, err)
}
