package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/logging"
	"github.com/sparkgw/spark/internal/metrics"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
)

// WithSecrets gives the app the log's secret set (logging.Secrets): it
// registers every credential it loads there (account cookies and proxy
// passwords, client keys, the admin password, OIDC and metrics secrets),
// so the log never prints one.
func WithSecrets(s *logging.Secrets) Option { return func(a *App) { a.secrets = s } }

// registerSecrets adds the configured credentials and those of the stored
// accounts to the log's secret set.
func (a *App) registerSecrets(ctx context.Context) error {
	if a.secrets == nil {
		return nil
	}
	cfg := a.cfg
	a.secrets.Add(apiSecretKeys(cfg.APISecret)...)
	a.secrets.Add(cfg.AdminPassword, cfg.OIDCClientSecret, cfg.SecretKey, cfg.MetricsToken, cfg.GoogleAIAPIKey)
	a.secrets.AddURL(cfg.ProxyURL)
	a.secrets.AddURL(cfg.RecaptchaProxyURL)
	a.secrets.AddURL(cfg.DatabaseURL)
	a.secrets.AddURL(cfg.RedisURL)
	return a.registerAccountSecrets(ctx)
}

// registerAccountSecrets adds the stored accounts' cookies and proxy
// passwords to the log's secret set: at start, and again whenever accounts
// change (the management API, another replica), before the pool uses them.
func (a *App) registerAccountSecrets(ctx context.Context) error {
	if a.secrets == nil {
		return nil
	}
	accts, err := a.db.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return err
	}
	for _, acct := range accts {
		a.secrets.AddCookie(acct.Cookie)
		a.secrets.AddURL(acct.Proxy)
	}
	return nil
}

// apiSecretKeys splits API_SECRET (comma-separated keys).
func apiSecretKeys(list string) []string {
	var out []string
	for k := range strings.SplitSeq(list, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// setupMetrics builds the instruments when /metrics is served (METRICS_ADDR
// or METRICS_TOKEN) and hands them to the server options.
func (a *App) setupMetrics(srvOpts *server.Options) {
	if a.cfg.MetricsAddr == "" && a.cfg.MetricsToken == "" {
		return
	}
	a.metrics = metrics.New()
	a.closers = append(a.closers, a.metrics)
	srvOpts.Instruments = a.metrics
	if a.cfg.MetricsToken != "" {
		srvOpts.Metrics = metrics.NewTokenAuthenticator(strings.TrimSpace(a.cfg.MetricsToken))
	}
}

// metricsRoutes serves /metrics on the main port when METRICS_TOKEN is set
// (the metrics class: the token's bearer only), and points the accounts
// gauge at the pool.
func (a *App) metricsRoutes() []route.Route {
	if a.metrics == nil {
		return nil
	}
	a.metrics.WatchAccounts(func() []metrics.AccountState {
		snap := a.pool.Snapshot()
		out := make([]metrics.AccountState, len(snap))
		for i, s := range snap {
			out[i] = metrics.AccountState{Provider: s.Provider, State: string(s.State)}
		}
		return out
	})
	if a.cfg.MetricsToken == "" {
		return nil
	}
	return []route.Route{{Pattern: "GET /metrics", Class: route.Metrics, Handler: a.metrics.Handler()}}
}

// MetricsHandler serves /metrics without a token, for the METRICS_ADDR
// listener; nil when metrics are off.
func (a *App) MetricsHandler() http.Handler {
	if a.metrics == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	return mux
}

// Metrics returns the instruments (nil when metrics are off), for the
// shared-state and store engines to count their errors through
// (metrics.ErrorCounter).
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// notingPool is the pool as the gateway sees it: each lease notes its
// provider in the request's usage note, and each failed attempt is
// counted by provider and error class (failed-over attempts included,
// which the request's own error class does not show).
type notingPool struct {
	pool.Pool
	m *metrics.Metrics
}

func (p notingPool) Acquire(ctx context.Context, req pool.Request) (pool.Lease, error) {
	l, err := p.Pool.Acquire(ctx, req)
	if err != nil {
		return nil, err
	}
	reqctx.UsageOf(ctx).SetProvider(req.Provider)
	if p.m == nil {
		return l, nil
	}
	return &notingLease{Lease: l, m: p.m, provider: req.Provider}, nil
}

type notingLease struct {
	pool.Lease
	m        *metrics.Metrics
	provider string
}

func (l *notingLease) Release(outcome error) {
	if outcome != nil {
		if code := gw.ErrorCode(outcome); code != gw.CodeCanceled {
			l.m.UpstreamError(l.provider, string(code))
		}
	}
	l.Lease.Release(outcome)
}

// storeCheck is /readyz's store check; a failed ping counts as a database
// error.
func (a *App) storeCheck() server.ReadinessCheck {
	return server.ReadinessCheck{Name: "store", Check: func(ctx context.Context) error {
		p, ok := a.db.(interface{ Ping(context.Context) error })
		if !ok {
			return nil // an engine without a connection to lose
		}
		err := p.Ping(ctx)
		if err != nil {
			a.metrics.DatabaseError("ping")
		}
		return err
	}}
}

// AddReadinessCheck adds a dependency /readyz checks (Redis, when
// configured).
func (a *App) AddReadinessCheck(name string, check func(ctx context.Context) error) {
	a.server.AddReadinessCheck(server.ReadinessCheck{Name: name, Check: check})
}

// errShuttingDown is the cause given to the contexts of the chats still
// running when the shutdown deadline passes.
var errShuttingDown = errors.New("spark is shutting down")

// shutdownError is what a client whose answer was cut at the shutdown
// deadline sees, in its API's error event or envelope.
func shutdownError() *gw.Error {
	return &gw.Error{Code: gw.CodeUnavailable, RetryAfter: time.Second,
		Message: "spark is shutting down: this answer was cut at the shutdown deadline (SHUTDOWN_TIMEOUT); retry the request"}
}

// drainer tracks the chats in flight, so a shutdown can end those still
// running at its deadline.
type drainer struct {
	mu    sync.Mutex
	live  map[*context.CancelCauseFunc]struct{}
	ended bool
}

// track returns ctx for one chat, cancelled with errShuttingDown by
// endAll, and the function that stops tracking it.
func (d *drainer) track(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancelCause(ctx)
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		cancel(errShuttingDown)
		return c, func() {}
	}
	if d.live == nil {
		d.live = map[*context.CancelCauseFunc]struct{}{}
	}
	d.live[&cancel] = struct{}{}
	d.mu.Unlock()
	return c, func() {
		d.mu.Lock()
		delete(d.live, &cancel)
		d.mu.Unlock()
		cancel(nil)
	}
}

// endAll cancels every tracked chat, and any started later, with
// errShuttingDown; it returns how many were running.
func (d *drainer) endAll() int {
	d.mu.Lock()
	d.ended = true
	live := d.live
	d.live = nil
	d.mu.Unlock()
	for cancel := range live {
		(*cancel)(errShuttingDown)
	}
	return len(live)
}

// chat runs open (a chat of the gateway) under a context the drainer ends
// at the shutdown deadline, and reports the shutdown's error instead of
// the cancellation it causes. A nil drainer runs open as it is.
func (d *drainer) chat(ctx context.Context, open func(context.Context) (llm.Stream, error)) (llm.Stream, error) {
	if d == nil {
		return open(ctx)
	}
	ctx, untrack := d.track(ctx)
	st, err := open(ctx)
	if err != nil {
		err = asShutdown(ctx, err)
		untrack()
		return nil, err
	}
	return &drainingStream{Stream: st, ctx: ctx, untrack: untrack}, nil
}

// drainingGateway is the gateway as the media and extras front-ends see
// it: their chats, too, end with the shutdown's error at its deadline.
type drainingGateway struct {
	*gateway.Service
	drain *drainer
}

func (g drainingGateway) Chat(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return g.drain.chat(ctx, func(ctx context.Context) (llm.Stream, error) { return g.Service.Chat(ctx, req) })
}

// asShutdown turns the error of a chat cut by the shutdown into the error
// its client sees.
func asShutdown(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), errShuttingDown) {
		reqctx.UsageOf(ctx).SetErrorClass("shutting_down")
		return shutdownError()
	}
	return err
}

// drainingStream ends its chat's tracking when closed, and reports the
// shutdown's error instead of the cancellation it caused.
type drainingStream struct {
	llm.Stream
	ctx     context.Context
	untrack func()
	once    sync.Once
}

var _ llm.BufferedStream = (*drainingStream)(nil)

// Buffered implements llm.BufferedStream.
func (s *drainingStream) Buffered() bool { return llm.Buffered(s.Stream) }

// Model implements llm.ModelReporter.
func (s *drainingStream) Model() string { return llm.ModelOf(s.Stream, "") }

func (s *drainingStream) Recv() (llm.Event, error) {
	ev, err := s.Stream.Recv()
	return ev, asShutdown(s.ctx, err)
}

func (s *drainingStream) Close() error {
	err := s.Stream.Close()
	s.once.Do(s.untrack)
	return err
}

// DefaultShutdownGrace is how long the streams ended at the shutdown
// deadline get to write their error event and return.
const DefaultShutdownGrace = 5 * time.Second

// Shutdown drains srv, the server the gateway's handler runs on: /readyz
// answers 503 at once, srv stops accepting connections, requests in
// flight run on until ctx ends (SHUTDOWN_TIMEOUT in spark serve); the
// streams still running then are ended with an error event in their
// API's dialect, their leases released and their usage noted, and get
// DefaultShutdownGrace to finish before their connections are closed. Call
// Close afterwards to flush the usage records and close the store.
func (a *App) Shutdown(ctx context.Context, srv *http.Server) error {
	a.server.SetDraining()
	a.log.Info("draining: /readyz answers 503; requests in flight may finish", "in_flight_chats", a.drain.count())
	err := srv.Shutdown(ctx)
	if err == nil {
		a.log.Info("drained: every request finished")
		return nil
	}
	n := a.drain.endAll()
	a.log.Warn("shutdown deadline passed: ending the answers still streaming with an error event", "chats", n)
	grace, cancel := context.WithTimeout(context.Background(), DefaultShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(grace); err != nil {
		a.log.Warn("closing the connections still open after the grace period", "error", err.Error())
		return srv.Close()
	}
	return nil
}

func (d *drainer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.live)
}
