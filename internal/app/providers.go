package app

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/provider/genspark"
	"github.com/sparkgw/spark/internal/store"
)

// Plugins is the one list of the upstreams spark knows, in priority order:
// a model name goes to the first provider that serves it exactly. Adding
// an upstream means adding its plugin here.
func Plugins() []provider.Plugin {
	return []provider.Plugin{genspark.Plugin(), geminiweb.Plugin()}
}

// credentialRules are the plugins' credential rules, for the store.
func credentialRules(plugins []provider.Plugin) store.Rules {
	r := store.Rules{}
	for _, pl := range plugins {
		if pl.Credential != nil {
			r[pl.Name] = pl.Credential
		}
	}
	return r
}

// mediaUpstreams are the plugins' media rules, for the image proxy.
func mediaUpstreams(plugins []provider.Plugin) map[string]imageproxy.Upstream {
	m := map[string]imageproxy.Upstream{}
	for _, pl := range plugins {
		m[pl.Name] = pl.Images
	}
	return m
}

// imageChatProviders are the providers whose chat models draw.
func imageChatProviders(plugins []provider.Plugin) []string {
	out := []string{}
	for _, pl := range plugins {
		if pl.ImageChat {
			out = append(out, pl.Name)
		}
	}
	return out
}

// describer returns a provider's display name and accounts variable.
func describer(plugins []provider.Plugin) func(string) (string, string) {
	return func(name string) (string, string) {
		for _, pl := range plugins {
			if pl.Name == name {
				return pl.DisplayName, pl.AccountsEnv
			}
		}
		return "", ""
	}
}

// importAccounts imports every plugin's accounts variable. A malformed
// entry is an error naming the variable, the entry's position and what is
// missing, never its content.
func (a *App) importAccounts(ctx context.Context) error {
	for _, pl := range a.plugins {
		raw, _ := a.cfg.Lookup(pl.AccountsEnv)
		entries := config.Cookies(raw)
		if len(entries) == 0 {
			continue
		}
		sum, err := store.ImportCredentials(ctx, a.db, pl.Name, pl.AccountsEnv, entries)
		if err != nil {
			return err // "GS_COOKIE entry 2: the cookie has no session_id= value"
		}
		a.log.Info("accounts imported", "provider", pl.Name, "created", sum.Created, "updated", sum.Updated, "unchanged", sum.Unchanged)
	}
	return nil
}

// providers builds the upstreams that have accounts (and the plugins marked
// Always when no upstream has any, so a first start explains which
// variable to set).
func (a *App) providers(ctx context.Context, clients *httpx.Clients) ([]provider.Provider, error) {
	accounts, err := a.db.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	has := map[string]bool{}
	for _, acc := range accounts {
		has[acc.Provider] = true
	}
	a.clients = clients
	var out []provider.Provider
	for _, pl := range a.plugins {
		if !has[pl.Name] && !(pl.Always && len(has) == 0) {
			continue
		}
		p, err := a.buildProvider(ctx, pl)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// buildProvider builds pl's provider with the app's dependencies and
// keeps what the app needs of it (its Close, its per-account models).
// Callers hold provMu or run before the gateway serves.
func (a *App) buildProvider(ctx context.Context, pl provider.Plugin) (provider.Provider, error) {
	deps := provider.Deps{Config: a.cfg, Clients: a.clients, Logger: a.log,
		Bindings: a.bindings(), Credentials: cookieSaver{p: a.pool, secrets: a.secrets}, Now: a.now}
	if a.redis != nil {
		deps.WatchBindings = a.watchBindings
		deps.Claim = a.claim
	}
	p, err := newProvider(ctx, a.plugins, pl, deps)
	if err != nil {
		return nil, err
	}
	if c, ok := p.(io.Closer); ok {
		a.closers = append(a.closers, c)
	}
	if m, ok := p.(provider.AccountModels); ok {
		next := map[string]provider.AccountModels{pl.Name: m}
		if cur := a.accountModels.Load(); cur != nil {
			for k, v := range *cur {
				if k != pl.Name {
					next[k] = v
				}
			}
		}
		a.accountModels.Store(&next)
	}
	return p, nil
}

// newProvider builds pl's provider over deps, with its catalog (built-in
// defaults, DATA_DIR's models.json or SPARK_MODELS_FILE, which may have a
// section for each of plugins).
func newProvider(ctx context.Context, plugins []provider.Plugin, pl provider.Plugin, deps provider.Deps) (provider.Provider, error) {
	defaults := catalog.Defaults{}
	for _, p := range plugins {
		defaults[p.Name] = p.Catalog
	}
	cat, err := defaults.Load(pl.Name, deps.Config.DataDir, deps.Config.ModelsFile)
	if err != nil {
		return nil, err
	}
	deps.Catalog = cat
	p, err := pl.New(ctx, deps)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pl.Name, err)
	}
	return p, nil
}

// servesModel reports whether an account serves a model (the pool's
// ServesModel): a provider whose accounts differ says, any other serves
// every model it resolves.
func (a *App) servesModel(acct *gw.Account, model string) bool {
	if ms := a.accountModels.Load(); ms != nil {
		if m := (*ms)[acct.Provider]; m != nil {
			return m.Serves(acct.ID, model)
		}
	}
	return true
}

// helperModel is the chat model the gateway uses for its own work
// (moderations, audio): the HelperModel of the first built provider that
// is not the catch-all built without accounts (Plugin.Always), else the
// catch-all's.
func (a *App) helperModel() string {
	model := ""
	for _, pl := range a.plugins {
		if _, ok := a.registry.Get(pl.Name); !ok || pl.HelperModel == "" {
			continue
		}
		if !pl.Always {
			return pl.HelperModel
		}
		if model == "" {
			model = pl.HelperModel
		}
	}
	return model
}

// maintainLoop runs the providers' periodic account work (cookie
// rotation) every minute, so idle accounts stay signed in.
func (a *App) maintainLoop(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// One replica rotates: a cookie rotated twice at once would
			// leave one replica with a dead value.
			if a.claimer(jobCookieRotation, time.Minute, false)(ctx) {
				a.RotateCookies(ctx)
			}
		}
	}
}

// maintainers are the built providers with periodic account work.
func (a *App) maintainers() map[string]provider.Maintainer {
	out := map[string]provider.Maintainer{}
	for _, p := range a.registry.Providers() {
		if m, ok := p.(provider.Maintainer); ok {
			out[p.Name()] = m
		}
	}
	return out
}

// RotateCookies runs the providers' account maintenance now (the rotation
// of the Gemini cookies that are due).
func (a *App) RotateCookies(ctx context.Context) {
	ms := a.maintainers()
	if len(ms) == 0 {
		return
	}
	recs, err := a.db.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		a.log.Warn("account maintenance: list accounts", "error", err)
		return
	}
	byProvider := map[string][]*gw.Account{}
	for _, r := range recs {
		if ms[r.Provider] != nil {
			byProvider[r.Provider] = append(byProvider[r.Provider], r.GW())
		}
	}
	for name, m := range ms {
		if accts := byProvider[name]; len(accts) > 0 {
			m.Maintain(ctx, accts)
		}
	}
}

// Account checks at start (ACCOUNT_CHECK_ON_START).
const (
	checkTimeout     = 30 * time.Second
	checkConcurrency = 4
)

// AccountCheck is the result of testing one account.
type AccountCheck struct {
	Provider, Label string
	provider.Checkup
}

// CheckAccounts tests every stored account through its provider's doctor
// (a few at a time, each bounded by checkTimeout) and returns the results
// in store order; accounts whose provider cannot test are reported as
// such.
func (a *App) CheckAccounts(ctx context.Context) ([]AccountCheck, error) {
	recs, err := a.db.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make([]AccountCheck, len(recs))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, r := range recs {
		out[i] = AccountCheck{Provider: r.Provider, Label: r.Label}
		p, ok := a.registry.Get(r.Provider)
		doc, isDoctor := p.(provider.Doctor)
		if !ok || !isDoctor {
			out[i].Checkup = provider.Checkup{State: provider.CheckError, Problem: "this provider cannot test an account"}
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			out[i].Checkup = doc.Check(cctx, r.GW())
		})
	}
	wg.Wait()
	return out, nil
}

// logAccountChecks logs one line per account check.
func (a *App) logAccountChecks(ctx context.Context) {
	checks, err := a.CheckAccounts(ctx)
	if err != nil {
		a.log.Warn("account check", "error", err)
		return
	}
	for _, c := range checks {
		attrs := []any{"provider", c.Provider, "label", c.Label, "state", c.State,
			"models", strings.Join(slices.Clip(c.Models), ","), "problem", c.Problem}
		if c.State == provider.CheckOK {
			a.log.Info("account check", attrs...)
		} else {
			a.log.Warn("account check", attrs...)
		}
	}
}
