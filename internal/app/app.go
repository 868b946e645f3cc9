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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/accounts"
	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/api/files"
	"github.com/sparkgw/spark/internal/api/gemini"
	"github.com/sparkgw/spark/internal/api/media"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/apikey"
	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/fetch"
	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/identity"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/logging"
	"github.com/sparkgw/spark/internal/metrics"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/provider/googleai"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/postgres"
	"github.com/sparkgw/spark/internal/store/sqlite"
	"github.com/sparkgw/spark/internal/structured"
	"github.com/sparkgw/spark/internal/tokens"
	"github.com/sparkgw/spark/internal/toolcall"
	"github.com/sparkgw/spark/internal/ui"
	"github.com/sparkgw/spark/internal/usage"
)

// openStore opens the store cfg names: PostgreSQL when DATABASE_URL is
// set (shared by every replica), else the SQLite file under DATA_DIR.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger, keySource secret.KeySource, sealer *secret.Sealer, opts ...store.Option) (store.Store, error) {
	if cfg.DatabaseURL == "" {
		return sqlite.Open(ctx, filepath.Join(cfg.DataDir, sqlite.FileName), sealer, opts...)
	}
	if keySource == secret.SourceFile {
		// Every replica must seal with the same key, or each reads
		// only what it wrote itself.
		log.Warn("DATABASE_URL is set but SPARK_SECRET_KEY is not: the secret key comes from " + secret.KeyFileName +
			" in DATA_DIR, so every replica sharing this database must have the same file; set SPARK_SECRET_KEY on every replica instead")
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, sealer, opts...)
	if err != nil {
		return nil, err
	}
	if u, err := url.Parse(cfg.DatabaseURL); err == nil { // never the password
		log.Info("store: PostgreSQL", "host", u.Host, "database", strings.TrimPrefix(u.Path, "/"))
	}
	return db, nil
}

// App is a fully wired gateway.
type App struct {
	// MintedKey is the API key minted at this first start (empty otherwise);
	// the caller shows it once.
	MintedKey string
	// SetupToken is the one-time setup token minted at this start when no
	// admin exists and SPARK_ADMIN_EMAIL is unset (empty otherwise); the
	// caller shows SetupLink once.
	SetupToken string

	cfg      *config.Config
	log      *slog.Logger
	db       store.Store // SQLite under DATA_DIR, or PostgreSQL with DATABASE_URL
	pool     *pool.Local
	registry *provider.Registry
	gateway  *gateway.Service
	server   *server.Server
	ident    *identity.Service
	oidc     *identity.OIDC
	ui       *ui.Handler
	fetcher  *fetch.Fetcher
	usage    *usage.Recorder // nil with USAGE_RECORDS=0
	plugins  []provider.Plugin
	// accountModels are the built providers whose accounts differ in the
	// models they serve (copied on write: a provider may be added while
	// serving, see ensureProviders).
	accountModels atomic.Pointer[map[string]provider.AccountModels]
	// provMu serializes building providers; clients are their HTTP clients.
	provMu  sync.Mutex
	clients *httpx.Clients
	// activity counts each account's recent requests (the dashboard).
	activity *accounts.Activity
	now      func() time.Time
	closers  []io.Closer
	stop     context.CancelFunc
	done     chan struct{}
	// files is the Files API; its sweeper runs until sweepStop.
	files     *files.Handler
	sweepStop context.CancelFunc
	sweepDone chan struct{}

	// Client keys (keys.go): the token meter (nil with ALLOW_NO_AUTH), the
	// per-key limits, the built-in admin's id once known.
	meter     *apikey.Meter
	keys      *keyVerifier // nil with ALLOW_NO_AUTH
	admitter  limit.Admitter
	builtinID atomic.Pointer[string]
	// noBuiltinUntil: no built-in admin existed when last asked, until then.
	noBuiltinUntil atomic.Pointer[time.Time]
	// sealer seals with SPARK_SECRET_KEY (shared by replicas).
	sealer *secret.Sealer
	// shared is what replicas agree on (shared.go): redis with REDIS_URL,
	// else the in-process state (redis nil).
	shared          cluster.State
	redis           *cluster.Redis
	redisFailures   atomic.Int64
	onRedisFailure  func(op string)
	onSharedEvent   func(cluster.Event)
	redisPrefix     string
	bindingWatchers []func(key string)
	// secrets is the log's secret set (WithSecrets; nil: none).
	secrets *logging.Secrets
	// metrics are the instruments (nil unless METRICS_ADDR or
	// METRICS_TOKEN is set).
	metrics *metrics.Metrics
	// drain tracks the chats in flight for Shutdown.
	drain drainer
}

// Option adjusts how New builds the gateway (tests).
type Option func(*App)

// WithClock replaces the wall clock of time-driven work (cookie rotation).
func WithClock(now func() time.Time) Option { return func(a *App) { a.now = now } }

// New builds the gateway described by cfg.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, now: time.Now, plugins: Plugins()}
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
	a.sealer = sealer
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	a.db, err = openStore(ctx, cfg, log, key.Source, sealer, store.WithRules(credentialRules(a.plugins)))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	a.closers = append(a.closers, a.db)
	if err := a.openShared(ctx); err != nil {
		return nil, err
	}
	a.db = watchedStore{Store: a.db, changed: a.keysChanged}
	if cfg.UsageRecords {
		// Closed before the store (closers run newest first): its Close
		// writes the records still queued.
		a.usage = usage.NewRecorder(usage.Options{Store: a.db, Logger: log, Retention: cfg.UsageRetention(),
			Claim: a.claimer(jobUsagePrune, usage.DefaultPruneInterval, true)})
		a.closers = append(a.closers, a.usage)
	}

	if err := a.importAccounts(ctx); err != nil {
		return nil, err
	}
	if err := a.registerSecrets(ctx); err != nil {
		return nil, fmt.Errorf("store: %w", err)
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
		// Only accounts whose model list has the model are candidates (a
		// free account lacks the paid ones).
		ServesModel: a.servesModel,
		Describe:    describer(a.plugins),
		Shared:      a.poolShared(),
	})
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}

	clients, err := httpx.NewClientsWithOptions(cfg.ProxyURL, httpx.Options{ResponseHeaderTimeout: cfg.UpstreamHeaderTimeout})
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
	srvOpts := server.Options{
		Logger:     log,
		Prefix:     cfg.Prefix(),
		PublicURL:  cfg.PublicURL,
		TrustProxy: cfg.TrustProxy,
		WriteError: writeError,
		Debug:      cfg.Debug,
		Readiness:  []server.ReadinessCheck{a.storeCheck()},
	}
	a.setupMetrics(&srvOpts)
	if a.redis != nil {
		srvOpts.Readiness = append(srvOpts.Readiness, server.ReadinessCheck{Name: "redis", Check: a.SharedReady})
	}
	gopts := gateway.Options{
		Registry:      a.registry,
		Pool:          notingPool{Pool: a.pool, m: a.metrics},
		Logger:        log,
		HideReasoning: cfg.ReasoningHide,
		Fetcher:       a.fetcher,
	}
	// Structured outputs wrap tool calling: a turn may call tools or
	// answer in the requested format.
	var tools gateway.StreamWrapper
	if cfg.ToolCallingEnabled {
		tools = toolcall.New(toolcall.Options{Logger: log})
	}
	gopts.Tools = gateway.Chain(structured.New(structured.Options{Logger: log}), tools)
	a.gateway = gateway.New(gopts)

	srvOpts.Usage = a.accountActivity(ctx)
	if cfg.AllowNoAuth {
		log.Warn("ALLOW_NO_AUTH=1: the API is open to anyone who can reach it")
	} else {
		if err := a.clientKeys(ctx, &srvOpts); err != nil {
			return nil, err
		}
	}
	if cfg.RequestRateLimit > 0 {
		if srvOpts.IPLimiter, err = limit.NewMemory(limit.Options{PerMinute: cfg.RequestRateLimit}); err != nil {
			return nil, err
		}
	}
	if err := a.signIn(ctx, &srvOpts); err != nil {
		return nil, err
	}
	a.server = server.New(srvOpts)
	if err := a.routes(sealer, clients); err != nil {
		return nil, err
	}

	a.follow()
	tokens.Warm()
	if cfg.AccountCheckOnStart {
		a.logAccountChecks(ctx)
	}
	if len(a.maintainers()) > 0 {
		bg, stop := context.WithCancel(context.Background())
		a.stop, a.done = stop, make(chan struct{})
		go a.maintainLoop(bg)
	}
	sweep, stopSweep := context.WithCancel(context.Background())
	a.sweepStop, a.sweepDone = stopSweep, make(chan struct{})
	go func() {
		defer close(a.sweepDone)
		a.files.Sweep(sweep, files.DefaultSweepInterval)
	}()
	a.server.SetReady(true)
	return a, nil
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
	fopts := imageproxy.FetcherOptions{Accounts: imageproxy.StoreAccounts(a.db), Clients: clients,
		Upstreams: mediaUpstreams(a.plugins), CookieHosts: config.Cookies(cfg.ImageProxyCookieHosts)}
	fetcher, err := imageproxy.NewFetcher(fopts)
	if err != nil {
		return fmt.Errorf("image proxy: %w", err)
	}
	var table []route.Route
	table = append(table, imageproxy.NewHandler(signer, fetcher, imageproxy.HandlerOptions{WriteError: openai.WriteError, Logger: log}).Routes()...)
	table = append(table, a.ident.Routes()...)
	table = append(table, a.oidc.Routes()...)
	table = append(table, a.ui.Routes()...)

	a.files = files.New(files.Options{Store: a.db, MaxFileBytes: int64(cfg.FilesMaxBytes), QuotaBytes: int64(cfg.FilesQuotaBytes),
		Logger: log, Now: a.now, Claim: a.claimer(jobFilesSweep, files.DefaultSweepInterval, true)})
	table = append(table, a.files.Routes()...)

	chat := chatBackend{gw: a.gateway, signer: signer, drain: &a.drain}
	table = append(table, openai.New(chat, openai.Options{Logger: log, KeepAlive: wire.DefaultKeepAlive, Files: a.files}).Routes()...)
	table = append(table, responses.New(chat, a.db, responses.Options{Logger: log, KeepAlive: wire.DefaultKeepAlive, Files: a.files}).Routes()...)
	table = append(table, anthropic.New(chat, anthropic.Options{PingInterval: anthropic.DefaultPingInterval, Logger: log, Files: a.files}).Routes()...)
	drained := drainingGateway{Service: a.gateway, drain: &a.drain}
	mh, err := media.New(drained, media.Options{Signer: signer, Fetcher: fetcher, MediaFetcher: a.fetcher, Logger: log,
		ImageChatProviders: imageChatProviders(a.plugins)})
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	table = append(table, mh.Routes()...)
	// The dashboard's usage routes (session class): readable with
	// USAGE_RECORDS=0 too, for the records kept before.
	table = append(table, usage.NewHandler(a.db, usage.HandlerOptions{Logger: log}).Routes()...)
	keyRoutes, err := a.keyRoutes()
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	table = append(table, keyRoutes...)
	table = append(table, a.manageRoutes(chat)...)
	table = append(table, a.metricsRoutes()...)

	googleAI, err := googleai.New(googleai.Config{
		BaseURL: cfg.GoogleAIBaseURL, APIKey: cfg.GoogleAIAPIKey, Clients: clients, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("google ai: %w", err)
	}
	embedder := keyEmbedder{googleAI} // a key's model list holds for embeddings too
	table = append(table, gemini.New(chat, gemini.Options{Embedder: embedder, EmbeddingModel: googleai.DefaultModel, Logger: log, Files: a.files}).Routes()...)
	table = append(table, extras.New(extras.Options{
		Chat: drained, Embedder: embedder,
		DefaultEmbeddingModel: googleai.DefaultModel, DefaultChatModel: a.helperModel(), Logger: log,
	}).Routes()...)
	if err := a.server.Handle(table...); err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	for _, rt := range a.server.Routes() {
		log.Debug("route", "pattern", rt.Pattern, "class", rt.Class.String(), "dialect", rt.Dialect.String())
	}
	return nil
}

// signIn sets up dashboard sign-in: the identity service over the store,
// OIDC sign-in when OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are set,
// the first admin from SPARK_ADMIN_EMAIL / SPARK_ADMIN_PASSWORD or else,
// while no admin exists, a one-time setup token, and the session and admin
// authenticators of the server.
func (a *App) signIn(ctx context.Context, srvOpts *server.Options) error {
	cfg := a.cfg
	svc, err := identity.New(identity.Options{Store: a.db, Logger: a.log, PasswordLogin: cfg.PasswordLogin,
		PublicURL: cfg.PublicURL, Prefix: cfg.Prefix(), TrustProxy: cfg.TrustProxy, Now: a.now, Shared: a.sharedAdmitter()})
	if err != nil {
		return err
	}
	a.ident = svc
	a.oidc, err = svc.NewOIDC(identity.OIDCOptions{Issuer: cfg.OIDCIssuerURL(), ClientID: cfg.OIDCClientID,
		ClientSecret: cfg.OIDCClientSecret, ProviderName: cfg.OIDCProviderLabel(), AllowedDomains: cfg.OIDCAllowedDomainList(),
		AllowedEmails: cfg.OIDCAllowedEmailList(), AdminEmails: cfg.AdminEmailList(),
		Sealer: a.sealer, Once: a.once})
	if err != nil {
		return fmt.Errorf("OIDC sign-in: %w", err)
	}
	if cfg.AdminEmail != "" {
		if _, err := svc.EnsureAdmin(ctx, strings.TrimSpace(cfg.AdminEmail), cfg.AdminPassword); err != nil {
			return fmt.Errorf("SPARK_ADMIN_EMAIL: %w", err)
		}
	} else if has, err := svc.HasAdmin(ctx); err != nil {
		return err
	} else if !has {
		if a.SetupToken, err = svc.NewSetupToken(ctx); err != nil {
			return err
		}
	}
	srvOpts.Session = identity.SessionAuthenticator{S: svc}
	srvOpts.Admin = identity.AdminAuthenticator{S: svc}
	return a.dashboardUI(srvOpts)
}

// dashboardUI builds the dashboard's pages (internal/ui) over the identity
// service: the overview at "/" through the server's root, the other pages
// added with the routes.
func (a *App) dashboardUI(srvOpts *server.Options) error {
	var providers []ui.Provider
	for _, p := range a.plugins {
		providers = append(providers, ui.Provider{Name: p.Name, DisplayName: p.DisplayName})
	}
	oidcName := ""
	if a.oidc.Enabled() {
		oidcName = a.oidc.ProviderName()
	}
	d, err := ui.New(ui.Options{Sessions: a.ident, Prefix: a.cfg.Prefix(), PublicURL: a.cfg.PublicURL,
		PasswordLogin: a.cfg.PasswordLogin, OIDCName: oidcName, Providers: providers, Logger: a.log})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	a.ui = d
	srvOpts.Root = d.Root()
	return nil
}

// SetupLink is the one-time setup link for SetupToken under base (an
// origin such as PUBLIC_URL or the listening address), "" without a token.
func (a *App) SetupLink(base string) string {
	if a.SetupToken == "" {
		return ""
	}
	return a.ident.SetupLink(base, a.SetupToken)
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
	if a.sweepStop != nil {
		a.sweepStop()
		<-a.sweepDone
		a.sweepStop = nil
	}
	a.provMu.Lock() // a provider built for a new account appends to closers
	defer a.provMu.Unlock()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i].Close())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// cookieSaver persists rotated cookies through the pool (which writes the
// store and keeps its in-memory copy current).
type cookieSaver struct {
	p       *pool.Local
	secrets *logging.Secrets
}

func (c cookieSaver) SaveCookie(ctx context.Context, accountID, cookie string) error {
	c.secrets.AddCookie(cookie) // before anything may log it
	return c.p.UpdateCookie(ctx, accountID, cookie)
}

// writeError renders the server's errors in dialect d, which the server
// resolved from the route table (route.Dialect.For): Anthropic's, Google's
// or OpenAI's envelope.
func writeError(w http.ResponseWriter, d route.Dialect, err error) {
	switch d {
	case route.Anthropic:
		anthropic.WriteError(w, err)
	case route.Google:
		gemini.WriteError(w, err)
	default:
		openai.WriteError(w, err)
	}
}
