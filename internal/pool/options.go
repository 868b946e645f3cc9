package pool

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/store"
)

// Strategy chooses among the available accounts of a provider.
type Strategy string

// Strategies (POOL_STRATEGY).
const (
	// Random picks uniformly, as the seed does.
	Random Strategy = "random"
	// RoundRobin cycles through the accounts in creation order.
	RoundRobin Strategy = "round-robin"
	// LeastBusy picks an account with the fewest requests in flight,
	// randomly among ties.
	LeastBusy Strategy = "least-busy"
)

// ParseStrategy returns the strategy named s ("" = Random).
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case "":
		return Random, nil
	case Random, RoundRobin, LeastBusy:
		return st, nil
	}
	return "", fmt.Errorf("pool: unknown strategy %q (random, round-robin, least-busy)", s)
}

// Default rest periods and passive-health parameters.
const (
	// DefaultRateLimitRest is RATE_LIMIT_COOKIE_LOCK_DURATION's default
	// (600 s, as the seed).
	DefaultRateLimitRest = 600 * time.Second
	// DefaultQuotaRest rests an account whose daily quota is used up.
	DefaultQuotaRest = 24 * time.Hour
	// DefaultBlockedRest rests an account hit by a Cloudflare challenge
	// or an IP block.
	DefaultBlockedRest = 5 * time.Minute
	// DefaultTransientRest rests an account that failed
	// DefaultFailureThreshold times within DefaultFailureWindow.
	DefaultTransientRest = time.Minute
	// DefaultFailureThreshold is N of "N transient failures within the
	// window".
	DefaultFailureThreshold = 3
	// DefaultFailureWindow is the passive-health window.
	DefaultFailureWindow = time.Minute
	// DefaultRecentErrors is how many recent failures a status shows.
	DefaultRecentErrors = 5
	// DefaultStoreTimeout bounds each write-through to the store.
	DefaultStoreTimeout = 5 * time.Second
)

// Options configure [New]. Zero values take the defaults above.
type Options struct {
	// Store holds the accounts; required. The pool loads them at start
	// and on Reload, and writes every state change through to it.
	Store store.AccountStore
	// Clock tells the time; default SystemClock.
	Clock Clock
	// Strategy chooses among available accounts; default Random.
	Strategy Strategy
	// MaxConcurrentPerAccount caps the requests in flight per account
	// (ACCOUNT_MAX_CONCURRENCY); 0 = no cap.
	MaxConcurrentPerAccount int

	// RateLimitRest is the rest after the upstream rate-limited an
	// account and gave no wait of its own
	// (RATE_LIMIT_COOKIE_LOCK_DURATION). QuotaRest, BlockedRest and
	// TransientRest are the same for an exhausted quota, a Cloudflare/IP
	// block, and a passive-health trip. A negative value means no rest:
	// the failure is recorded but the account stays available.
	RateLimitRest, QuotaRest, BlockedRest, TransientRest time.Duration

	// FailureThreshold transient failures (upstream errors, timeouts,
	// unknown answers) within FailureWindow rest the account for
	// TransientRest. Rate limits, quota, logouts and blocks act at once:
	// the upstream said so.
	FailureThreshold int
	FailureWindow    time.Duration

	// ServesModel reports whether an account serves a model; only those
	// that do are candidates. nil = every account serves every model. It
	// is called with the pool locked: it must be fast and must not call
	// the pool.
	ServesModel func(acct *gw.Account, model string) bool

	// Describe returns a provider's display name and the variable that
	// configures its accounts, for messages; nil (or empty answers) uses
	// the provider name.
	Describe func(provider string) (name, env string)

	// Logger receives one line per state change (never a cookie);
	// default: discard.
	Logger *slog.Logger

	// RecentErrors is how many recent failures each status keeps;
	// default DefaultRecentErrors.
	RecentErrors int
	// StoreTimeout bounds each write-through; default DefaultStoreTimeout.
	StoreTimeout time.Duration

	// Shared, when set, is what the pools of several replicas agree on:
	// concurrency slots per account (with MaxConcurrentPerAccount), the
	// passive-health window and rests, and the news that accounts
	// changed. nil keeps all of it in this process.
	Shared Shared
}

func (o Options) withDefaults() (Options, error) {
	if o.Store == nil {
		return o, errors.New("pool: Options.Store is required")
	}
	st, err := ParseStrategy(string(o.Strategy))
	if err != nil {
		return o, err
	}
	o.Strategy = st
	if o.MaxConcurrentPerAccount < 0 {
		return o, errors.New("pool: MaxConcurrentPerAccount must be >= 0")
	}
	if o.FailureThreshold < 0 || o.FailureWindow < 0 || o.RecentErrors < 0 || o.StoreTimeout < 0 {
		return o, errors.New("pool: FailureThreshold, FailureWindow, RecentErrors and StoreTimeout must be >= 0")
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.RateLimitRest, DefaultRateLimitRest)
	def(&o.QuotaRest, DefaultQuotaRest)
	def(&o.BlockedRest, DefaultBlockedRest)
	def(&o.TransientRest, DefaultTransientRest)
	def(&o.FailureWindow, DefaultFailureWindow)
	def(&o.StoreTimeout, DefaultStoreTimeout)
	if o.FailureThreshold == 0 {
		o.FailureThreshold = DefaultFailureThreshold
	}
	if o.RecentErrors == 0 {
		o.RecentErrors = DefaultRecentErrors
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
