package app

import (
	"context"
	"fmt"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/store"
)

// Jobs that run once across replicas, and how often.
const (
	jobCookieRotation = "cookie-rotation"
	jobFilesSweep     = "files-sweep"
	jobUsagePrune     = "usage-prune"
	// reloadTimeout bounds a pool reload another replica asked for.
	reloadTimeout = 30 * time.Second
)

// openShared sets up what replicas agree on: the Redis at REDIS_URL, or
// without it the in-process state (and a WARN when DATABASE_URL suggests
// several replicas).
func (a *App) openShared(ctx context.Context) error {
	cfg := a.cfg
	o := cluster.Options{Clock: nowClock(a.now), LeaseTTL: cfg.LeaseTTL, FailureMode: cluster.FailureMode(cfg.RedisFailureMode),
		Logger: a.log, OnFailure: a.countRedisFailure, Prefix: a.redisPrefix}
	if cfg.RedisURL == "" {
		if w := cfg.SharedStateWarning(); w != "" {
			a.log.Warn(w)
		}
		m, err := cluster.NewMemory(o)
		if err != nil {
			return fmt.Errorf("shared state: %w", err)
		}
		a.shared = m
		a.closers = append(a.closers, m)
		return nil
	}
	r, err := cluster.Open(ctx, cfg.RedisURL, o)
	if err != nil {
		return err
	}
	a.shared, a.redis = r, r
	a.closers = append(a.closers, r)
	a.log.Info("shared state in Redis: limits, account rests and concurrency hold across replicas",
		"failure_mode", string(o.FailureMode), "lease_ttl", cfg.LeaseTTL.String())
	return nil
}

// nowClock adapts the app's clock function.
type nowClock func() time.Time

func (c nowClock) Now() time.Time { return c() }

// countRedisFailure counts a failed Redis operation (Options.OnFailure).
func (a *App) countRedisFailure(op string) {
	a.redisFailures.Add(1)
	a.metrics.RedisError(op) // nil metrics count nothing
	if f := a.onRedisFailure; f != nil {
		f(op)
	}
}

// WithRedisFailureHook calls f with the operation's name every time a
// Redis operation fails (a metric counter).
func WithRedisFailureHook(f func(op string)) Option { return func(a *App) { a.onRedisFailure = f } }

// RedisFailures is how many Redis operations failed since the start.
func (a *App) RedisFailures() int64 { return a.redisFailures.Load() }

// SharedReady reports whether the shared state answers (nil without
// REDIS_URL), for /readyz.
func (a *App) SharedReady(ctx context.Context) error {
	if a.redis == nil {
		return nil
	}
	return a.redis.Ready(ctx)
}

// poolShared is the pool's view of the shared state: Redis, or nil (the
// pool keeps its in-process behaviour).
func (a *App) poolShared() pool.Shared {
	if a.redis == nil {
		return nil
	}
	return a.redis
}

// sharedAdmitter is the client admission whose limits hold across every
// replica (Redis), or nil without REDIS_URL; the key policies' wiring
// (clientKeys) uses it when no admitter was given.
func (a *App) sharedAdmitter() limit.Admitter {
	if a.redis == nil {
		return nil
	}
	return a.redis.Admitter()
}

// claim reports whether this replica does job in the coming period (a
// provider's per-account work, such as a cookie rotation); when the shared
// state fails it answers false: work that must not run twice waits.
func (a *App) claim(ctx context.Context, job string, period time.Duration) bool {
	return a.claimer(job, period, false)(ctx)
}

// once reports whether key is seen for the first time within ttl by any
// replica (a claim in the shared state); when the shared state fails it
// answers true (what once guards is also refused elsewhere: an OIDC
// sign-in's code is single-use at the provider).
func (a *App) once(ctx context.Context, key string, ttl time.Duration) bool {
	ok, err := a.shared.Claim(ctx, key, ttl)
	return ok || err != nil
}

// claimer returns the function that asks whether this replica runs job
// now, for a job run every period. When the shared state fails, the job
// runs if runIfUnsure (work that is harmless twice), else it is skipped.
func (a *App) claimer(job string, period time.Duration, runIfUnsure bool) func(context.Context) bool {
	return func(ctx context.Context) bool {
		ok, err := a.shared.Claim(ctx, job, period)
		if err != nil {
			return runIfUnsure
		}
		if !ok {
			a.log.Debug("background job left to another replica", "job", job)
		}
		return ok
	}
}

// follow applies what the other replicas publish: their rests at once,
// account changes by reloading the pool (coalesced), binding changes by
// dropping the providers' cached copies, key and user changes by dropping
// the verified keys cached (also after the feed reconnected: events may
// have been lost). Dashboard sessions need nothing: they are read from the
// store on every request, so a session ended on one replica is refused by
// every replica at once.
func (a *App) follow() {
	reload := make(chan struct{}, 1)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
				rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
				// An account added through another replica may be the
				// first of its provider: start that provider here too.
				if err := a.registerAccountSecrets(rctx); err != nil && ctx.Err() == nil {
					a.log.Warn("could not register the accounts' secrets with the log", "error", err)
				}
				if err := a.ensureProviders(rctx); err != nil && ctx.Err() == nil {
					a.log.Warn("could not build a provider", "error", err)
				}
				if err := a.pool.Reload(rctx); err != nil && ctx.Err() == nil {
					a.log.Warn("reloading accounts changed by another replica failed", "error", err)
				}
				cancel()
				a.applied(cluster.Event{Kind: cluster.EventAccounts})
			}
		}
	}()
	unsubscribe := a.shared.Subscribe(func(ev cluster.Event) {
		switch ev.Kind {
		case cluster.EventRest:
			a.pool.ApplyRest(ev.ID, ev.Until)
		case cluster.EventKeys:
			if a.keys != nil {
				a.keys.forget()
			}
		case cluster.EventAccounts:
			if ev.Origin == "" && a.keys != nil {
				a.keys.forget() // the feed reconnected: a key event may be lost
			}
			select {
			case reload <- struct{}{}:
			default: // a reload is already due
			}
		case cluster.EventBinding:
			for _, forget := range a.bindingWatchers {
				forget(ev.ID)
			}
		}
		if ev.Kind != cluster.EventAccounts {
			a.applied(ev)
		}
	})
	a.closers = append(a.closers, closerFunc(func() error {
		unsubscribe()
		stop()
		<-done
		return nil
	}))
}

// WithRedisPrefix starts every Redis key and channel of this gateway with
// prefix instead of the default, so tests share one Redis.
func WithRedisPrefix(prefix string) Option { return func(a *App) { a.redisPrefix = prefix } }

// WithSharedEventHook calls f with each event of another replica once it
// is applied (an accounts event once the pool reloaded), for tests that
// wait for one.
func WithSharedEventHook(f func(cluster.Event)) Option { return func(a *App) { a.onSharedEvent = f } }

func (a *App) applied(ev cluster.Event) {
	if f := a.onSharedEvent; f != nil {
		f(ev)
	}
}

// watchBindings registers a provider's binding cache (provider.Deps).
func (a *App) watchBindings(forget func(key string)) {
	a.bindingWatchers = append(a.bindingWatchers, forget)
}

// bindings is the binding store handed to the providers: with Redis,
// every write is announced so the other replicas drop their cached copy.
func (a *App) bindings() store.BindingStore {
	if a.redis == nil {
		return a.db
	}
	return announcedBindings{BindingStore: a.db, shared: a.shared}
}

// announcedBindings publishes the key of every binding it writes.
type announcedBindings struct {
	store.BindingStore
	shared cluster.State
}

func (b announcedBindings) PutBinding(ctx context.Context, bd store.Binding) (store.Binding, error) {
	out, err := b.BindingStore.PutBinding(ctx, bd)
	if err == nil {
		_ = b.shared.Publish(ctx, cluster.Event{Kind: cluster.EventBinding, ID: bd.Key}) // a failure is counted and logged
	}
	return out, err
}

func (b announcedBindings) DeleteBinding(ctx context.Context, key string) error {
	err := b.BindingStore.DeleteBinding(ctx, key)
	if err == nil {
		_ = b.shared.Publish(ctx, cluster.Event{Kind: cluster.EventBinding, ID: key})
	}
	return err
}

// closerFunc adapts a function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }
