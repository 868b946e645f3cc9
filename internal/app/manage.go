package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/accounts"
	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/playground"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
)

// The dashboard's account management (internal/accounts) and playground
// (internal/playground), wired to the pool, the providers and the gateway.

// accountActivity returns the server's usage recorder: the per-account
// activity counts of the dashboard in front of the usage recorder (when
// USAGE_RECORDS is on), seeded with the last day's stored records.
func (a *App) accountActivity(ctx context.Context) server.UsageRecorder {
	var next accounts.Recorder
	if a.usage != nil {
		next = a.usage
	}
	a.activity = accounts.NewActivity(next)
	if err := a.activity.Seed(ctx, a.db, a.now()); err != nil {
		a.log.Warn("account activity not seeded from the usage records", "error", err)
	}
	return a.activity
}

// manageRoutes are /api/accounts..., /api/models and the playground.
func (a *App) manageRoutes(chat wire.ChatBackend) []route.Route {
	var provs []accounts.Provider
	for _, pl := range a.plugins {
		provs = append(provs, accounts.Provider{Name: pl.Name, DisplayName: pl.DisplayName})
	}
	h := accounts.NewHandler(accounts.Options{
		Store: a.db, Pool: appPool{a}, Doctor: doctor{get: a.runningProvider, model: helperModels(a.plugins)}, Catalog: appCatalog{a},
		Activity: a.activity, Rules: credentialRules(a.plugins), Providers: provs, Logger: a.log,
		Now: a.now, TrustProxy: a.cfg.TrustProxy,
	})
	pg := playground.New(playground.Options{Backend: chat, Users: a.db, Usage: a.activity, Logger: a.log})
	return append(h.Routes(), pg.Routes()...)
}

// runningProvider returns the built provider called name, building it
// first when its first account was added after start.
func (a *App) runningProvider(ctx context.Context, name string) (provider.Provider, bool) {
	if p, ok := a.registry.Get(name); ok {
		return p, true
	}
	if err := a.ensureProviders(ctx); err != nil {
		a.log.Warn("could not build a provider", "provider", name, "error", err)
	}
	return a.registry.Get(name)
}

// ensureProviders builds the provider of every plugin that has accounts
// and is not built yet (its first account was added from the dashboard),
// and puts it into the registry in the plugins' order.
func (a *App) ensureProviders(ctx context.Context) error {
	a.provMu.Lock()
	defer a.provMu.Unlock()
	recs, err := a.db.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	has := map[string]bool{}
	for _, r := range recs {
		has[r.Provider] = true
	}
	var list []provider.Provider
	added := false
	for _, pl := range a.plugins {
		if p, ok := a.registry.Get(pl.Name); ok {
			list = append(list, p)
			continue
		}
		if !has[pl.Name] {
			continue
		}
		p, err := a.buildProvider(ctx, pl)
		if err != nil {
			return err
		}
		a.log.Info("provider started for its first account", "provider", pl.Name)
		list = append(list, p)
		added = true
	}
	if added {
		a.registry.Set(list...)
	}
	return nil
}

// appPool is the pool as the account routes change it: a reload also
// starts the providers of new accounts, and tells the other replicas
// (REDIS_URL) to reload too.
type appPool struct{ a *App }

func (p appPool) Reload(ctx context.Context) error {
	if err := p.a.registerAccountSecrets(ctx); err != nil {
		p.a.log.Warn("could not register the accounts' secrets with the log", "error", err)
	}
	if err := p.a.ensureProviders(ctx); err != nil {
		p.a.log.Warn("could not build a provider", "error", err)
	}
	return p.a.pool.AccountsChanged(ctx)
}

func (p appPool) UpdateCookie(ctx context.Context, accountID, cookie string) error {
	return p.a.pool.UpdateCookie(ctx, accountID, cookie)
}

func (p appPool) SetState(ctx context.Context, accountID string, u store.StateUpdate, reason string) error {
	return p.a.pool.SetState(ctx, accountID, u, reason)
}

// appCatalog answers which models an account serves: its provider's
// models, less those a provider whose accounts differ says it lacks.
type appCatalog struct{ a *App }

func (c appCatalog) AccountModels(ctx context.Context, acct store.Account) []llm.ModelInfo {
	p, ok := c.a.registry.Get(acct.Provider)
	if !ok {
		return nil
	}
	ga := acct.GW()
	var out []llm.ModelInfo
	for _, m := range p.Models(ctx) {
		if c.a.servesModel(ga, m.ID) {
			out = append(out, m)
		}
	}
	return out
}

// doctorTimeout bounds one account test.
const doctorTimeout = 30 * time.Second

// doctor is the account doctor. It makes the round trips a request would
// make with the account's cookie and proxy, not through the pool (a
// failure rests nothing; the verdict is only reported): the provider's own
// check when it has one (provider.Doctor: the sign-in state and, where the
// upstream lists them, the account's models), then a one-line chat with
// the plugin's helper model (Plugin.HelperModel), which is what shows a
// rate limit, a used-up quota, a challenge page or a downgraded model.
type doctor struct {
	get func(ctx context.Context, provider string) (provider.Provider, bool)
	// model is the chat model to test a provider's accounts with ("":
	// the provider's check alone).
	model func(provider string) string
}

// doctorPrompt is the doctor's chat: short, so it costs little quota.
const doctorPrompt = "Reply with the single word OK."

// helperModels returns each plugin's helper model, by provider name.
func helperModels(plugins []provider.Plugin) func(string) string {
	return func(name string) string {
		for _, pl := range plugins {
			if pl.Name == name {
				return pl.HelperModel
			}
		}
		return ""
	}
}

// Test implements accounts.Doctor.
func (d doctor) Test(ctx context.Context, acct store.Account) accounts.Verdict {
	p, ok := d.get(ctx, acct.Provider)
	if !ok {
		return accounts.Verdict{Message: "the account's provider is not running"}
	}
	model := ""
	if d.model != nil {
		model = d.model(acct.Provider)
	}
	doc, isDoctor := p.(provider.Doctor)
	if !isDoctor && model == "" {
		return accounts.Verdict{Message: "this provider cannot test an account"}
	}
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	start := time.Now()
	v := accounts.Verdict{OK: true, Message: "signed in"}
	if isDoctor {
		v = checkVerdict(doc.Check(cctx, acct.GW()), 0)
	}
	if v.OK && model != "" {
		if err := chatProbe(cctx, p, acct, model); err != nil {
			models := v.Models
			v = accounts.VerdictFor(err, 0)
			v.Models = models
		} else {
			v.Message = "signed in; " + model + " answered"
		}
	}
	v.Latency = time.Since(start)
	if !v.OK && v.Problem == "" && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		v.Problem, v.Message = accounts.ProblemNetwork, "the upstream did not answer within "+doctorTimeout.String()
	}
	v.Message = redactSecrets(v.Message, acct)
	return v
}

// redactSecrets masks in msg the account's cookie string, each cookie
// value of 6 bytes or more, and its proxy URL and password: an upstream
// that echoed them into an error cannot leak them through the doctor.
func redactSecrets(msg string, acct store.Account) string {
	var secrets []string
	for _, s := range []string{acct.Cookie, acct.Proxy} {
		if s = strings.TrimSpace(s); len(s) >= 6 {
			secrets = append(secrets, s)
		}
	}
	for part := range strings.SplitSeq(acct.Cookie, ";") {
		if _, v, ok := strings.Cut(part, "="); ok && len(strings.TrimSpace(v)) >= 6 {
			secrets = append(secrets, strings.TrimSpace(v))
		}
	}
	if u, err := url.Parse(acct.Proxy); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && len(pw) >= 4 {
			secrets = append(secrets, pw)
		}
	}
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}

// chatProbe sends the doctor's chat with acct and reads the answer to
// its end.
func chatProbe(ctx context.Context, p provider.Provider, acct store.Account, model string) error {
	st, err := p.Chat(ctx, acct.GW(), &llm.Request{Model: model, ClientKey: "spark-doctor", MaxTokens: 16,
		Messages: []llm.Message{llm.TextMessage(llm.RoleUser, doctorPrompt)}})
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		if _, err := st.Recv(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// checkVerdict turns a provider's checkup into the doctor's verdict.
func checkVerdict(c provider.Checkup, latency time.Duration) accounts.Verdict {
	if c.State == provider.CheckOK {
		return accounts.Verdict{OK: true, Message: "signed in", Models: c.Models, Latency: latency}
	}
	code := c.Code
	if code == "" {
		switch c.State {
		case provider.CheckLoggedOut:
			code = gw.CodeLoggedOut
		case provider.CheckRateLimited:
			code = gw.CodeRateLimited
		case provider.CheckBlocked:
			code = gw.CodeIPBlocked
		}
	}
	v := accounts.Verdict{Message: c.Problem, Models: c.Models, Latency: latency}
	v.Problem, _ = accounts.ProblemFor(code)
	return v
}

// CredentialRules are the credential rules of every plugin, for a store
// opened outside the gateway.
func CredentialRules() store.Rules { return credentialRules(Plugins()) }

// AccountTest is the doctor's verdict on one stored account.
type AccountTest struct {
	ID, Provider, Label string
	accounts.Verdict
}

// AccountDoctor tests stored accounts outside a running gateway (`spark
// accounts test`): it builds the providers of the store's accounts from
// the configuration, as `spark serve` would.
type AccountDoctor struct {
	st      store.Store
	plugins []provider.Plugin
	cfg     *config.Config
	log     *slog.Logger
	mu      sync.Mutex
	built   map[string]provider.Provider
	closers []io.Closer
	clients *httpx.Clients
}

// NewAccountDoctor returns a doctor over st's accounts, configured by cfg
// (upstream URLs, PROXY_URL, the models file).
func NewAccountDoctor(cfg *config.Config, st store.Store, log *slog.Logger) (*AccountDoctor, error) {
	clients, err := httpx.NewClientsWithOptions(cfg.ProxyURL, httpx.Options{ResponseHeaderTimeout: cfg.UpstreamHeaderTimeout})
	if err != nil {
		return nil, fmt.Errorf("PROXY_URL: %w", err)
	}
	return &AccountDoctor{st: st, plugins: Plugins(), cfg: cfg, log: log, built: map[string]provider.Provider{}, clients: clients}, nil
}

// storeSaver persists a rotated cookie straight to the store.
type storeSaver struct{ st store.AccountStore }

func (s storeSaver) SaveCookie(ctx context.Context, accountID, cookie string) error {
	_, err := s.st.UpdateCookie(ctx, accountID, cookie)
	return err
}

func (d *AccountDoctor) provider(ctx context.Context, name string) (provider.Provider, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.built[name]; ok {
		return p, p != nil
	}
	for _, pl := range d.plugins {
		if pl.Name != name {
			continue
		}
		p, err := newProvider(ctx, d.plugins, pl, provider.Deps{Config: d.cfg, Clients: d.clients, Logger: d.log,
			Bindings: d.st, Credentials: storeSaver{d.st}, Now: time.Now})
		if err != nil {
			d.log.Warn("could not build a provider", "provider", name, "error", err)
			d.built[name] = nil
			return nil, false
		}
		if c, ok := p.(io.Closer); ok {
			d.closers = append(d.closers, c)
		}
		d.built[name] = p
		return p, true
	}
	return nil, false
}

// Test tests the accounts with ids (every account when ids is empty), a
// few at a time, in store order. An unknown id is an error naming it.
func (d *AccountDoctor) Test(ctx context.Context, ids ...string) ([]AccountTest, error) {
	recs, err := d.st.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	if len(ids) > 0 {
		byID := map[string]store.Account{}
		for _, r := range recs {
			byID[r.ID] = r
		}
		recs = recs[:0:0]
		for _, id := range ids {
			r, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("no account with id %q", id)
			}
			recs = append(recs, r)
		}
	}
	doc := doctor{get: d.provider, model: helperModels(d.plugins)}
	out := make([]AccountTest, len(recs))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, r := range recs {
		out[i] = AccountTest{ID: r.ID, Provider: r.Provider, Label: r.Label}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i].Verdict = doc.Test(ctx, r)
		})
	}
	wg.Wait()
	return out, nil
}

// Close releases the providers the doctor built.
func (d *AccountDoctor) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, c := range d.closers {
		errs = append(errs, c.Close())
	}
	d.closers = nil
	return errors.Join(errs...)
}
