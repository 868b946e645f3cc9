// Package cluster holds what several spark replicas must agree on: client
// admission in one atomic step ([Redis.Admitter]), per-account
// concurrency slots, account rests and the passive-health window, a change
// feed so every replica sees a rotated cookie, an account changed through
// the API or a rest within a second, and claims that make a periodic job
// run once across replicas. [State] is implemented in process by [Memory]
// (one replica, or several replicas of one test sharing a [MemoryHub]) and
// across processes by [Redis]; both pass one test suite.
//
// Concurrency slots and admission tickets are leases with a TTL
// (LEASE_TTL) that the holder refreshes while the request lives, so the
// slots of a replica that died expire on their own. Time is taken from the
// Clock given in Options and sent to Redis as a script argument, so a test
// clock controls every expiry.
//
// When Redis fails at run time, the failure mode decides
// ([FailOpen], the default: local limits and a WARN; [FailClosed]:
// admission is refused with a 429, never a 5xx), and Options.OnFailure
// counts the failure (a metric).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// FailureMode says what admission does while Redis is unreachable
// (REDIS_FAILURE_MODE).
type FailureMode string

// Failure modes.
const (
	// FailOpen admits against per-process limits (the default).
	FailOpen FailureMode = "open"
	// FailClosed refuses admission with a 429 and a one-second
	// Retry-After until Redis answers again.
	FailClosed FailureMode = "closed"
)

// ParseFailureMode returns the mode named s ("" = FailOpen).
func ParseFailureMode(s string) (FailureMode, error) {
	switch m := FailureMode(s); m {
	case "":
		return FailOpen, nil
	case FailOpen, FailClosed:
		return m, nil
	}
	return "", fmt.Errorf("cluster: unknown failure mode %q (open, closed)", s)
}

// DefaultLeaseTTL is LEASE_TTL's default: how long a slot outlives the
// last refresh of its holder.
const DefaultLeaseTTL = 30 * time.Second

// MinLeaseTTL is the shortest lease TTL accepted: leases are refreshed
// every third of it.
const MinLeaseTTL = 3 * time.Second

// Clock tells the time (pool.SystemClock and the test clocks satisfy it).
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options configure [NewMemory], [MemoryHub.Replica] and [Open].
type Options struct {
	// Clock tells the time of every window, lease and claim; default the
	// system clock.
	Clock Clock
	// LeaseTTL is how long a slot or admission ticket lives past its
	// holder's last refresh (LEASE_TTL); default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// RefreshEvery is how often held leases are refreshed; default a
	// third of LeaseTTL. Negative: never on its own (tests call
	// Refresh, or let a "crashed" replica's leases lapse).
	RefreshEvery time.Duration
	// FailureMode is what admission does while Redis fails; default
	// FailOpen.
	FailureMode FailureMode
	// OnFailure is called once per failed Redis operation with the
	// operation's name (a metric counter); nil: not counted.
	OnFailure func(op string)
	// Logger receives the WARN lines of Redis failures (at most one per
	// operation every 10 seconds); default: discard.
	Logger *slog.Logger
	// Prefix starts every Redis key and the feed's channel, so several
	// deployments (or tests) share one Redis; default "{spark}:" (a hash
	// tag: the keys of one script share a Redis Cluster slot).
	Prefix string
}

func (o Options) withDefaults() (Options, error) {
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.LeaseTTL < MinLeaseTTL {
		return o, fmt.Errorf("cluster: lease TTL %s is below %s", o.LeaseTTL, MinLeaseTTL)
	}
	if o.RefreshEvery == 0 {
		o.RefreshEvery = o.LeaseTTL / 3
	}
	mode, err := ParseFailureMode(string(o.FailureMode))
	if err != nil {
		return o, err
	}
	o.FailureMode = mode
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Prefix == "" {
		o.Prefix = "{spark}:"
	}
	return o, nil
}

// Event is one change the replicas tell each other through the feed.
type Event struct {
	Kind EventKind `json:"kind"`
	// ID is what changed: an account id or a binding key.
	ID string `json:"id,omitempty"`
	// Until is the end of a rest (EventRest).
	Until time.Time `json:"until,omitzero"`
	// Origin is the replica that published the event; a replica is not
	// told its own events.
	Origin string `json:"origin,omitempty"`
}

// EventKind says what an Event is about.
type EventKind string

// Event kinds.
const (
	// EventAccounts: accounts changed in the store (a rotated or updated
	// cookie, an account added, edited or deleted through the API, an
	// account disabled): reload them. Also sent (with no Origin) when the
	// feed reconnected after an outage, during which events were lost.
	EventAccounts EventKind = "accounts"
	// EventRest: account ID rests until Until.
	EventRest EventKind = "rest"
	// EventBinding: the conversation binding under ID changed.
	EventBinding EventKind = "binding"
	// EventKeys: an API key was disabled or a user changed (disabled,
	// role): drop the verified keys cached.
	EventKeys EventKind = "keys"
)

// Dashboard sessions have no event: every replica reads them from the
// shared store on each request, so a session ended on one replica is
// refused by all at once.

// State is what the replicas agree on besides admission. Implementations
// are safe for concurrent use.
type State interface {
	// TakeSlot takes one of max concurrency slots under name (an
	// account id) unless max are held, by any replica. release gives it
	// back (once; later calls do nothing). ok false: all are held.
	TakeSlot(ctx context.Context, name string, max int) (release func(), ok bool, err error)
	// TripFailure records a failure of account id at at and reports
	// whether threshold failures now fall within window, counting every
	// replica's; when it does, the window starts afresh.
	TripFailure(ctx context.Context, id string, at time.Time, window time.Duration, threshold int) (bool, error)
	// PublishRest makes account id rest until until on every replica (a
	// longer rest already published stays) and tells them (EventRest).
	PublishRest(ctx context.Context, id string, until time.Time) error
	// Rests returns the published rests that have not ended at now.
	Rests(ctx context.Context, now time.Time) (map[string]time.Time, error)
	// ClearRest removes account id's published rest (its owner cleared
	// it); the caller then announces the change (AccountsChanged) so the
	// other replicas reload the account.
	ClearRest(ctx context.Context, id string) error
	// Claim reports whether this replica is the one to run job now: the
	// first claim of a job wins it for period (a lease that is not
	// released, so a replica whose ticker fires later in the period does
	// not run the job again).
	Claim(ctx context.Context, job string, period time.Duration) (bool, error)
	// AccountsChanged tells the other replicas that accounts changed in
	// the store (EventAccounts; id may be empty).
	AccountsChanged(ctx context.Context, id string) error
	// Publish tells the other replicas about ev (Origin is set here).
	Publish(ctx context.Context, ev Event) error
	// Subscribe calls fn, on one goroutine in order, with every event
	// another replica publishes from now on, until stop is called.
	Subscribe(fn func(Event)) (stop func())
	// Close stops the refreshes and subscriptions and releases the slots
	// still held.
	Close() error
}

// errClosed is returned by a closed State.
var errClosed = errors.New("cluster: closed")
