package pool

import (
	"context"
	"log/slog"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// Shared is the state the pools of several replicas agree on
// (Options.Shared): per-account concurrency slots, the passive-health
// window and rests. A failing Shared never fails a request: the pool then
// decides as if it were alone (the implementation counts and logs the
// failure). Implementations are safe for concurrent use.
type Shared interface {
	// TakeSlot takes one of max concurrency slots of an account, counting
	// every replica's; ok is false when all are held. release gives it
	// back.
	TakeSlot(ctx context.Context, accountID string, max int) (release func(), ok bool, err error)
	// TripFailure records a transient failure and reports whether
	// threshold of them, from any replica, fall within window (the
	// window then starts afresh).
	TripFailure(ctx context.Context, accountID string, at time.Time, window time.Duration, threshold int) (bool, error)
	// PublishRest tells every replica that the account rests until until
	// (the other pools learn it through [Local.ApplyRest]).
	PublishRest(ctx context.Context, accountID string, until time.Time) error
	// Rests returns the published rests not ended at now.
	Rests(ctx context.Context, now time.Time) (map[string]time.Time, error)
	// ClearRest removes the account's published rest (its owner cleared
	// it or disabled the account).
	ClearRest(ctx context.Context, accountID string) error
	// AccountsChanged tells every replica that accounts changed in the
	// store (a cookie, a logout, an edit): the other pools Reload.
	AccountsChanged(ctx context.Context, accountID string) error
}

// sharedCtx bounds a call to Options.Shared made off a request.
func (p *Local) sharedCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), p.opts.StoreTimeout)
}

// ApplyRest makes the account rest until until, as another replica
// decided (Shared.PublishRest); that replica wrote the store. A longer rest
// stays, and a disabled account stays disabled.
func (p *Local) ApplyRest(accountID string, until time.Time) {
	now := p.opts.Clock.Now()
	p.mu.Lock()
	e := p.entries[accountID]
	if e == nil || !until.After(now) || e.rec.State == store.StateDisabled ||
		(e.rec.State == store.StateResting && !e.rec.RestUntil.Before(until)) {
		p.mu.Unlock()
		return
	}
	from := e.rec.EffectiveState(now)
	e.rec.State, e.rec.RestUntil = store.StateResting, until
	e.fails = e.fails[:0]
	c := change{rec: e.rec, from: from, to: store.StateResting, reason: "rested by another replica", extended: from == store.StateResting}
	p.mu.Unlock()
	p.logChange(c)
}

// AccountsChanged reloads the accounts from the store and tells the other
// replicas to do the same (the management API calls it after changing
// accounts).
func (p *Local) AccountsChanged(ctx context.Context) error {
	if err := p.Reload(ctx); err != nil {
		return err
	}
	p.publishChange("")
	return nil
}

// publishChange tells the other replicas that an account changed in the
// store.
func (p *Local) publishChange(accountID string) {
	if p.opts.Shared == nil {
		return
	}
	ctx, cancel := p.sharedCtx()
	defer cancel()
	if err := p.opts.Shared.AccountsChanged(ctx, accountID); err != nil {
		p.log.LogAttrs(ctx, slog.LevelDebug, "account change not published", slog.String("account_id", accountID),
			slog.String("error", err.Error()))
	}
}

// publishRest tells the other replicas about a rest this pool decided.
func (p *Local) publishRest(accountID string, until time.Time) {
	if p.opts.Shared == nil {
		return
	}
	ctx, cancel := p.sharedCtx()
	defer cancel()
	if err := p.opts.Shared.PublishRest(ctx, accountID, until); err != nil {
		p.log.LogAttrs(ctx, slog.LevelDebug, "rest not published", slog.String("account_id", accountID),
			slog.String("error", err.Error()))
	}
}

// sharedRests returns the rests other replicas published (nil without
// Shared or when it fails).
func (p *Local) sharedRests(ctx context.Context) map[string]time.Time {
	if p.opts.Shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.StoreTimeout)
	defer cancel()
	rests, err := p.opts.Shared.Rests(ctx, p.opts.Clock.Now())
	if err != nil {
		return nil
	}
	return rests
}
