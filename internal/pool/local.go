package pool

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/store"
)

// Local is the in-process [Pool]: account state lives in memory, so
// choosing an account costs no store round trip, and every state change is
// written through to the store, so `spark accounts` and a restart see it.
// A shared implementation for several replicas (Redis) can replace it
// behind the Pool interface. Local is safe for concurrent use.
type Local struct {
	opts Options
	log  *slog.Logger

	// writeMu serializes state changes with their write-through and with
	// Reload, so the store never ends up behind memory. Lock order:
	// writeMu, then mu.
	writeMu sync.Mutex

	mu         sync.Mutex
	entries    map[string]*entry
	byProvider map[string][]*entry // creation order
	cursor     map[string]int      // round-robin position per provider
	// nextWake is, per provider, no later than the earliest end of a rest
	// of its accounts (the zero time when none rests); a provider missing
	// here is unknown. While it lies ahead, no rest has ended, so Acquire
	// may choose without visiting every account (see quickPick).
	nextWake map[string]time.Time
}

var (
	_ Pool          = (*Local)(nil)
	_ CookieUpdater = (*Local)(nil)
	_ Snapshotter   = (*Local)(nil)
)

// entry is one account's in-memory state; guarded by Local.mu.
type entry struct {
	rec      store.Account        // as stored (with the cookie)
	acct     *gw.Account          // immutable view handed to leases; replaced on change
	inFlight int                  // leases not yet released
	fails    []time.Time          // transient failures within the window
	recent   []store.AccountEvent // recent failures, newest first
}

// change is a state transition to log and record.
type change struct {
	rec      store.Account // after the change
	from, to store.AccountState
	code     gw.Code
	reason   string
	extended bool // a rest got longer without a state change
}

// New returns a pool over opts.Store, loaded with its accounts.
func New(ctx context.Context, opts Options) (*Local, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Local{opts: o, log: o.Logger, entries: map[string]*entry{}, byProvider: map[string][]*entry{}, cursor: map[string]int{}, nextWake: map[string]time.Time{}}
	if err := p.Reload(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Acquire implements [Pool]. Candidates are the provider's accounts that
// req.Owners may use, serve req.Model, are not in req.Exclude, are neither resting nor
// disabled, and are under the concurrency cap; Options.Strategy picks one.
// Rests that have ended are lifted here. Errors:
//   - no account configured for the provider: CodeNoAccountsConfigured,
//     "No <name> accounts configured (set <variable>)" (Options.Describe);
//   - no account serves the model: CodeModelNotFound;
//   - every serving account logged out: CodeNoAccountsConfigured saying so
//     (only a new cookie brings one back, no retry does);
//   - otherwise (resting, busy, already tried): CodeNoAccounts, "All
//     cookies are temporarily unavailable." with RetryAfter = the earliest
//     end of a rest (at least 1 s, whole seconds).
func (p *Local) Acquire(ctx context.Context, req Request) (Lease, error) {
	max := p.opts.MaxConcurrentPerAccount
	if p.opts.Shared == nil || max <= 0 {
		return p.acquire(ctx, req, nil)
	}
	// The cap counts every replica's requests: the chosen account's slot
	// is taken in the shared state, and an account whose slots other
	// replicas hold is passed over.
	var busy map[string]bool
	for {
		l, err := p.acquire(ctx, req, busy)
		if err != nil {
			return nil, err
		}
		release, ok, err := p.opts.Shared.TakeSlot(ctx, l.acct.ID, max)
		if err != nil || ok { // err: the shared state failed; the local cap holds
			l.slot = release
			return l, nil
		}
		p.mu.Lock()
		l.e.inFlight--
		p.mu.Unlock()
		if busy == nil {
			busy = map[string]bool{}
		}
		busy[l.acct.ID] = true
	}
}

// acquire leases an account that is not in busy (held at its cap by other
// replicas).
func (p *Local) acquire(ctx context.Context, req Request, busy map[string]bool) (*lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, gw.AsError(err)
	}
	now := p.opts.Clock.Now()
	var woke []change

	p.mu.Lock()
	list := p.byProvider[req.Provider]
	if e := p.quickPick(req, list, now, busy); e != nil {
		e.inFlight++
		l := &lease{p: p, e: e, acct: e.acct}
		p.mu.Unlock()
		return l, nil
	}
	var buf [32]int
	cands := buf[:0]
	visible, serving, disabled := 0, 0, 0
	var earliest, otherRest time.Time // serving accounts' rests, the others'
	for i, e := range list {
		if req.Owners != nil && !e.rec.Shared && !e.rec.OwnedBy(req.Owners) {
			continue
		}
		visible++
		if p.opts.ServesModel != nil && !p.opts.ServesModel(e.acct, req.Model) {
			if e.rec.State == store.StateResting && (otherRest.IsZero() || e.rec.RestUntil.Before(otherRest)) {
				otherRest = e.rec.RestUntil
			}
			continue
		}
		serving++
		if e.rec.State == store.StateResting && !now.Before(e.rec.RestUntil) {
			woke = append(woke, p.wake(e))
		}
		switch e.rec.State {
		case store.StateDisabled:
			disabled++
			continue
		case store.StateResting:
			if earliest.IsZero() || e.rec.RestUntil.Before(earliest) {
				earliest = e.rec.RestUntil
			}
			continue
		}
		if req.Exclude[e.rec.ID] || busy[e.rec.ID] {
			continue
		}
		if c := p.opts.MaxConcurrentPerAccount; c > 0 && e.inFlight >= c {
			continue
		}
		cands = append(cands, i)
	}
	p.nextWake[req.Provider] = earliest
	if !otherRest.IsZero() && (earliest.IsZero() || otherRest.Before(earliest)) {
		p.nextWake[req.Provider] = otherRest
	}
	if len(cands) == 0 {
		p.mu.Unlock()
		p.commit(woke)
		return nil, p.unavailable(req, visible, serving, disabled, earliest, now)
	}
	e := list[p.pick(req.Provider, list, cands)]
	e.inFlight++
	l := &lease{p: p, e: e, acct: e.acct}
	p.mu.Unlock()
	p.commit(woke)
	return l, nil
}

// quickTries is how many accounts quickPick draws before it gives up.
const quickTries = 8

// quickPick chooses an account without visiting every account of the
// provider, when that gives the same result as the full scan: no rest of
// the provider's accounts has ended (so the scan would wake none), and the
// strategy is Random (an account drawn uniformly until one is a candidate:
// uniform over the candidates, as the scan's choice) or RoundRobin (the
// first candidate from the cursor on, wrapping: the scan's choice). It
// returns nil when the full scan must decide. Callers hold mu.
func (p *Local) quickPick(req Request, list []*entry, now time.Time, busy map[string]bool) *entry {
	if len(list) == 0 {
		return nil
	}
	wake, known := p.nextWake[req.Provider]
	if !known || (!wake.IsZero() && !now.Before(wake)) {
		return nil
	}
	switch p.opts.Strategy {
	case Random:
		for range quickTries {
			if e := list[rand.IntN(len(list))]; p.candidate(e, req, busy) {
				return e
			}
		}
	case RoundRobin:
		start := p.cursor[req.Provider]
		if start >= len(list) {
			start = 0
		}
		for k := range min(len(list), quickTries) {
			i := (start + k) % len(list)
			if e := list[i]; p.candidate(e, req, busy) {
				p.cursor[req.Provider] = i + 1
				return e
			}
		}
	}
	return nil
}

// candidate reports whether e may serve req now, given that no rest has
// ended: req.Owners may use it, it serves the model, is active, neither
// excluded nor held at its cap by other replicas (busy), and under the
// concurrency cap. Callers hold mu.
func (p *Local) candidate(e *entry, req Request, busy map[string]bool) bool {
	if e.rec.State != store.StateActive || req.Exclude[e.rec.ID] || busy[e.rec.ID] {
		return false
	}
	if req.Owners != nil && !e.rec.Shared && !e.rec.OwnedBy(req.Owners) {
		return false
	}
	if c := p.opts.MaxConcurrentPerAccount; c > 0 && e.inFlight >= c {
		return false
	}
	return p.opts.ServesModel == nil || p.opts.ServesModel(e.acct, req.Model)
}

// wake lifts an ended rest. Callers hold mu.
func (p *Local) wake(e *entry) change {
	e.rec.State, e.rec.RestUntil = store.StateActive, time.Time{}
	return change{rec: e.rec, from: store.StateResting, to: store.StateActive, reason: "rest ended"}
}

func (p *Local) unavailable(req Request, configured, serving, disabled int, earliest, now time.Time) error {
	name, env := p.providerInfo(req.Provider)
	switch {
	case configured == 0:
		return &gw.Error{Code: gw.CodeNoAccountsConfigured, Provider: req.Provider,
			Message: fmt.Sprintf("No %s accounts configured (set %s)", name, env)}
	case serving == 0:
		return &gw.Error{Code: gw.CodeModelNotFound, Provider: req.Provider, Param: "model",
			Message: fmt.Sprintf("No configured %s account serves the model %q.", name, req.Model)}
	case disabled == serving:
		return &gw.Error{Code: gw.CodeNoAccountsConfigured, Provider: req.Provider,
			Message: fmt.Sprintf("All %s cookies are logged out; update them (%s).", name, env)}
	}
	retry := time.Second
	if !earliest.IsZero() {
		if d := earliest.Sub(now); d > retry {
			retry = (d + time.Second - 1).Truncate(time.Second)
		}
	}
	return &gw.Error{Code: gw.CodeNoAccounts, Provider: req.Provider, RetryAfter: retry,
		Message: "All cookies are temporarily unavailable."}
}

// pick returns the index in list of the chosen candidate. Callers hold mu.
func (p *Local) pick(provider string, list []*entry, cands []int) int {
	switch p.opts.Strategy {
	case RoundRobin:
		start, best := p.cursor[provider], cands[0]
		for _, i := range cands {
			if i >= start {
				best = i
				break
			}
		}
		p.cursor[provider] = best + 1
		return best
	case LeastBusy:
		least, n, best := -1, 0, cands[0]
		for _, i := range cands {
			switch f := list[i].inFlight; {
			case least < 0 || f < least:
				least, n, best = f, 1, i
			case f == least:
				n++
				if rand.IntN(n) == 0 { // reservoir sampling among ties
					best = i
				}
			}
		}
		return best
	}
	return cands[rand.IntN(len(cands))]
}

// lease is one Acquire's account.
type lease struct {
	p        *Local
	e        *entry
	acct     *gw.Account
	slot     func() // the shared concurrency slot; nil: none
	released atomic.Bool
}

func (l *lease) Account() *gw.Account { return l.acct }

func (l *lease) Release(outcome error) {
	if l.released.Swap(true) {
		return
	}
	l.p.release(l.e, l.acct, outcome)
	if l.slot != nil {
		l.slot()
	}
}

func (p *Local) release(e *entry, acct *gw.Account, outcome error) {
	class := Classify(outcome)
	if class == ClassNone {
		p.mu.Lock()
		e.inFlight--
		reset := outcome == nil && e.rec.Failures > 0
		p.mu.Unlock()
		if reset {
			p.resetFailures(e)
		}
		return
	}
	ge := gw.AsError(outcome)
	// The shared passive-health window counts every replica's failures;
	// without it (or when it fails) this pool's own window decides.
	trip := localWindow
	if class == ClassTransient && p.opts.Shared != nil {
		ctx, cancel := p.sharedCtx()
		tripped, err := p.opts.Shared.TripFailure(ctx, acct.ID, p.opts.Clock.Now(), p.opts.FailureWindow, p.opts.FailureThreshold)
		cancel()
		if err == nil {
			trip = sharedNo
			if tripped {
				trip = sharedYes
			}
		}
	}
	rest, changed := p.fail(e, acct, ge, class, trip)
	switch {
	case !rest.IsZero():
		p.publishRest(acct.ID, rest)
	case changed:
		p.publishChange(acct.ID)
	}
}

// windowVerdict says who decides whether a transient failure trips the
// passive-health window.
type windowVerdict int

const (
	localWindow windowVerdict = iota // this pool's window
	sharedNo                         // the shared window: not tripped
	sharedYes                        // the shared window: tripped
)

// resetFailures clears the consecutive-failure count after a success.
func (p *Local) resetFailures(e *entry) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.Lock()
	if p.entries[e.rec.ID] != e || e.rec.Failures == 0 {
		p.mu.Unlock()
		return
	}
	e.rec.Failures = 0
	rec := e.rec
	p.mu.Unlock()
	p.saveState(rec)
}

// fail applies a failure of class to the account. It returns the end of
// a rest it started or extended (zero otherwise), and whether it changed
// the account's state otherwise (a logout).
func (p *Local) fail(e *entry, acct *gw.Account, ge *gw.Error, class Class, trip windowVerdict) (time.Time, bool) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	now := p.opts.Clock.Now()

	p.mu.Lock()
	e.inFlight--
	if p.entries[e.rec.ID] != e {
		p.mu.Unlock() // removed by Reload meanwhile
		return time.Time{}, false
	}
	if class == ClassLoggedOut && acct.Cookie != e.rec.Cookie {
		// The lease used a cookie that has since been replaced; the new
		// one is not known to be logged out.
		class = ClassTransient
	}
	msg := p.safeMessage(ge.Message, acct.Cookie)
	from := e.rec.EffectiveState(now)
	e.rec.Failures++
	e.rec.LastError = store.ErrorInfo{Code: ge.Code, Message: msg, At: now}
	failure := store.AccountEvent{AccountID: e.rec.ID, At: now, Kind: store.EventFailure, Code: ge.Code, Message: msg}
	e.recent = append([]store.AccountEvent{failure}, e.recent...)
	if len(e.recent) > p.opts.RecentErrors {
		e.recent = e.recent[:p.opts.RecentErrors]
	}

	var rest time.Duration
	switch class {
	case ClassRateLimited:
		rest = restFor(ge.RetryAfter, p.opts.RateLimitRest)
	case ClassQuota:
		rest = restFor(ge.RetryAfter, p.opts.QuotaRest)
	case ClassBlocked:
		rest = restFor(ge.RetryAfter, p.opts.BlockedRest)
	case ClassTransient:
		cut := now.Add(-p.opts.FailureWindow)
		e.fails = slices.DeleteFunc(e.fails, func(t time.Time) bool { return !t.After(cut) })
		e.fails = append(e.fails, now)
		if trip == sharedYes || trip == localWindow && len(e.fails) >= p.opts.FailureThreshold {
			rest = restFor(ge.RetryAfter, p.opts.TransientRest)
			e.fails = e.fails[:0]
		}
	}

	var ch *change
	switch {
	case class == ClassLoggedOut && e.rec.State != store.StateDisabled:
		_, env := p.providerInfo(e.rec.Provider)
		e.rec.State, e.rec.RestUntil = store.StateDisabled, time.Time{}
		e.rec.DisabledReason = fmt.Sprintf("logged out: update this account's cookie (%s)", env)
		ch = &change{from: from, to: store.StateDisabled, code: ge.Code, reason: msg}
	case rest > 0 && e.rec.State != store.StateDisabled:
		until := now.Add(rest)
		if from == store.StateResting {
			if until.After(e.rec.RestUntil) {
				e.rec.RestUntil = until
				ch = &change{from: from, to: store.StateResting, code: ge.Code, reason: msg, extended: true}
			}
		} else {
			e.rec.State, e.rec.RestUntil = store.StateResting, until
			ch = &change{from: from, to: store.StateResting, code: ge.Code, reason: msg}
		}
		if wake, ok := p.nextWake[e.rec.Provider]; ok && (wake.IsZero() || until.Before(wake)) {
			p.nextWake[e.rec.Provider] = until
		}
	}
	rec := e.rec
	window := len(e.fails)
	p.mu.Unlock()

	p.log.LogAttrs(context.Background(), slog.LevelDebug, "account failure",
		slog.String("account_id", rec.ID), slog.String("provider", rec.Provider), slog.String("label", rec.Label),
		slog.String("code", string(ge.Code)), slog.String("class", class.String()), slog.String("error", msg),
		slog.Int("failures", rec.Failures), slog.Int("window_failures", window))
	p.saveState(rec)
	p.saveEvent(failure)
	if ch != nil {
		ch.rec = rec
		p.record(*ch)
		if ch.to == store.StateResting {
			return rec.RestUntil, false
		}
		return time.Time{}, true
	}
	return time.Time{}, false
}

func restFor(upstream, def time.Duration) time.Duration {
	if upstream > 0 {
		return upstream
	}
	return max(def, 0)
}

// commit logs and writes through the given changes (rests lifted during
// Acquire).
func (p *Local) commit(changes []change) {
	if len(changes) == 0 {
		return
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	for _, c := range changes {
		p.mu.Lock()
		e := p.entries[c.rec.ID]
		var rec store.Account
		if e != nil {
			rec = e.rec
		}
		p.mu.Unlock()
		if e == nil {
			continue
		}
		p.saveState(rec)
		c.rec = rec
		p.record(c)
	}
}

// record logs a state change and stores its event. Callers hold writeMu.
func (p *Local) record(c change) {
	p.logChange(c)
	ev := store.AccountEvent{AccountID: c.rec.ID, At: p.opts.Clock.Now(), Kind: store.EventState, Code: c.code,
		From: c.from, To: c.to, Message: c.reason}
	if c.to == store.StateResting {
		ev.Until = c.rec.RestUntil
	}
	p.saveEvent(ev)
}

func (p *Local) logChange(c change) {
	level := slog.LevelWarn
	if c.to == store.StateActive {
		level = slog.LevelInfo
	}
	msg := "account state changed"
	if c.extended {
		msg = "account rest extended"
	}
	attrs := []slog.Attr{
		slog.String("account_id", c.rec.ID), slog.String("provider", c.rec.Provider), slog.String("label", c.rec.Label),
		slog.String("from", string(c.from)), slog.String("to", string(c.to)),
	}
	if c.to == store.StateResting {
		attrs = append(attrs, slog.Time("until", c.rec.RestUntil))
	}
	if c.code != "" {
		attrs = append(attrs, slog.String("code", string(c.code)))
	}
	if c.reason != "" {
		attrs = append(attrs, slog.String("reason", c.reason))
	}
	if h := hint(c.code, c.rec.Proxy != ""); h != "" {
		attrs = append(attrs, slog.String("hint", h))
	}
	p.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// hint is the operator advice for a failure code.
func hint(code gw.Code, hasProxy bool) string {
	switch code {
	case gw.CodeChallenged, gw.CodeIPBlocked:
		if hasProxy {
			return "the upstream challenged or blocked this account's egress IP; try another proxy for it"
		}
		return "the upstream challenged or blocked this egress IP; set PROXY_URL (or a per-account proxy) to route through another IP"
	case gw.CodeLoggedOut:
		return "log in again and update the cookie"
	}
	return ""
}

func (p *Local) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), p.opts.StoreTimeout)
}

// saveState writes the account's state fields. Callers hold writeMu.
func (p *Local) saveState(rec store.Account) {
	ctx, cancel := p.storeCtx()
	defer cancel()
	err := p.opts.Store.UpdateAccountState(ctx, rec.ID, store.StateUpdate{State: rec.State, RestUntil: rec.RestUntil,
		DisabledReason: rec.DisabledReason, LastError: rec.LastError, Failures: rec.Failures})
	if err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "account state not saved", slog.String("account_id", rec.ID),
			slog.String("error", err.Error()))
	}
}

func (p *Local) saveEvent(ev store.AccountEvent) {
	ctx, cancel := p.storeCtx()
	defer cancel()
	if err := p.opts.Store.RecordEvent(ctx, ev); err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "account event not saved", slog.String("account_id", ev.AccountID),
			slog.String("error", err.Error()))
	}
}

// Reload re-reads the accounts from the store: new accounts join, deleted
// ones leave (their outstanding leases still release harmlessly), and
// changed cookies, labels, proxies and states (a logged-out account whose
// cookie was updated) take effect. In-flight counts and passive-health
// windows survive a reload unless the cookie changed.
func (p *Local) Reload(ctx context.Context) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	recs, err := p.opts.Store.ListAccounts(ctx, store.AccountFilter{})
	if err != nil {
		return fmt.Errorf("pool: load accounts: %w", err)
	}
	p.mu.Lock()
	known := make(map[string]bool, len(p.entries))
	for id := range p.entries {
		known[id] = true
	}
	p.mu.Unlock()
	history := map[string][]store.AccountEvent{}
	for _, rec := range recs {
		if !known[rec.ID] {
			evs, err := p.opts.Store.ListEvents(ctx, rec.ID, store.EventsPerAccount)
			if err != nil {
				return fmt.Errorf("pool: load account events: %w", err)
			}
			history[rec.ID] = p.failuresOf(evs)
		}
	}

	// Another replica's rest may be newer than the store's copy (two
	// replicas writing one account's state race); the later end wins.
	rests := p.sharedRests(ctx)
	now := p.opts.Clock.Now()
	var changes []change
	counts := map[string]int{}
	p.mu.Lock()
	entries := make(map[string]*entry, len(recs))
	byProvider := map[string][]*entry{}
	for _, rec := range recs {
		if until, ok := rests[rec.ID]; ok && rec.State != store.StateDisabled && until.After(now) && until.After(rec.RestUntil) {
			rec.State, rec.RestUntil = store.StateResting, until
		}
		e := p.entries[rec.ID]
		if e == nil {
			e = &entry{rec: rec, acct: rec.GW(), recent: history[rec.ID]}
		} else {
			from, to := e.rec.EffectiveState(now), rec.EffectiveState(now)
			if rec.Cookie != e.rec.Cookie {
				e.fails = nil
			}
			if rec.Cookie != e.rec.Cookie || rec.Label != e.rec.Label || rec.Proxy != e.rec.Proxy {
				e.acct = rec.GW()
			}
			e.rec = rec
			if from != to {
				changes = append(changes, change{rec: rec, from: from, to: to, reason: "reloaded from the store"})
			}
		}
		entries[rec.ID] = e
		byProvider[rec.Provider] = append(byProvider[rec.Provider], e)
		counts[rec.Provider]++
	}
	p.entries, p.byProvider = entries, byProvider
	clear(p.nextWake) // the next Acquire of each provider scans
	p.mu.Unlock()

	for _, c := range changes {
		p.logChange(c)
	}
	attrs := []slog.Attr{slog.Int("accounts", len(recs))}
	for prov, n := range counts {
		attrs = append(attrs, slog.Int(prov, n))
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "accounts loaded", attrs...)
	return nil
}

func (p *Local) failuresOf(evs []store.AccountEvent) []store.AccountEvent {
	var out []store.AccountEvent
	for _, ev := range evs {
		if ev.Kind == store.EventFailure && len(out) < p.opts.RecentErrors {
			out = append(out, ev)
		}
	}
	return out
}

// UpdateCookie implements [CookieUpdater]: it stores the cookie (see
// store.AccountStore.UpdateCookie for the re-enable rule), records a
// cookie event and hands the new cookie to later leases.
func (p *Local) UpdateCookie(ctx context.Context, accountID, cookie string) error {
	changed, err := p.updateCookie(ctx, accountID, cookie)
	if changed {
		// Every replica uses the newest cookie (a rotated one too).
		p.publishChange(accountID)
	}
	return err
}

func (p *Local) updateCookie(ctx context.Context, accountID, cookie string) (changed bool, err error) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	before, err := p.opts.Store.GetAccount(ctx, accountID)
	if err != nil {
		return false, fmt.Errorf("pool: update cookie: %w", err)
	}
	rec, err := p.opts.Store.UpdateCookie(ctx, accountID, cookie)
	if err != nil {
		return false, fmt.Errorf("pool: update cookie: %w", err)
	}
	if rec.Cookie == before.Cookie {
		return false, nil
	}
	now := p.opts.Clock.Now()
	p.mu.Lock()
	e := p.entries[accountID]
	var from store.AccountState
	if e == nil {
		e = &entry{}
		p.entries[accountID] = e
		p.byProvider[rec.Provider] = append(p.byProvider[rec.Provider], e)
		from = rec.EffectiveState(now)
	} else {
		from = e.rec.EffectiveState(now)
	}
	if rec.State == store.StateActive && from == store.StateDisabled {
		e.fails = nil
	}
	e.rec, e.acct = rec, rec.GW()
	delete(p.nextWake, rec.Provider) // the next Acquire scans
	p.mu.Unlock()

	p.saveEvent(store.AccountEvent{AccountID: accountID, At: now, Kind: store.EventCookie, Message: "cookie updated"})
	if to := rec.EffectiveState(now); to != from {
		p.record(change{rec: rec, from: from, to: to, reason: "cookie updated"})
	}
	return true, nil
}

// SetState overwrites an account's state with u (an operator ends a rest,
// disables or enables the account) in the store and in memory in one
// step, so that no state change in flight writes the old state back.
// Clearing the state (active) also forgets the account's recent
// transient failures. The change is logged and recorded as an event
// (reason says why). Returns the store's error (store.ErrNotFound).
func (p *Local) SetState(ctx context.Context, accountID string, u store.StateUpdate, reason string) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if err := p.opts.Store.UpdateAccountState(ctx, accountID, u); err != nil {
		return fmt.Errorf("pool: set state: %w", err)
	}
	now := p.opts.Clock.Now()
	p.mu.Lock()
	e := p.entries[accountID]
	if e == nil {
		p.mu.Unlock()
		return nil // not loaded yet: the next Reload reads the store
	}
	from := e.rec.EffectiveState(now)
	e.rec.State, e.rec.RestUntil, e.rec.DisabledReason = u.State, u.RestUntil, u.DisabledReason
	e.rec.LastError, e.rec.Failures = u.LastError, u.Failures
	if u.State == store.StateActive {
		e.fails = nil
	}
	rec := e.rec
	p.mu.Unlock()
	if to := rec.EffectiveState(now); to != from {
		p.record(change{rec: rec, from: from, to: to, reason: reason})
	}
	if p.opts.Shared != nil {
		// The other replicas reload the account; a rest published
		// before must not outlive the owner's decision.
		if u.State != store.StateResting {
			if err := p.opts.Shared.ClearRest(ctx, accountID); err != nil {
				p.log.Warn("clearing the shared rest failed", "account_id", accountID, "error", err)
			}
		}
		p.publishChange(accountID)
	}
	return nil
}

// providerInfo returns a provider's display name and the variable that
// configures its accounts, as Options.Describe says.
func (p *Local) providerInfo(provider string) (name, env string) {
	if p.opts.Describe != nil {
		if name, env = p.opts.Describe(provider); name != "" && env != "" {
			return name, env
		}
	}
	return provider, "its account setting"
}

// maxMessage bounds stored error messages.
const maxMessage = 200

// safeMessage returns msg shortened, with every cookie value of every
// account (and of extra, the lease's possibly replaced cookie) masked: a
// provider that echoed a cookie into a message cannot leak it to logs or
// the store. Callers hold mu; this runs only on the failure path.
func (p *Local) safeMessage(msg, extra string) string {
	msg = redact(msg, extra)
	for _, e := range p.entries {
		msg = redact(msg, e.rec.Cookie)
	}
	return truncate(msg)
}

// redact masks the whole cookie string and each of its values of 6 bytes
// or more in msg.
func redact(msg, cookie string) string {
	if msg == "" {
		return msg
	}
	if c := strings.TrimSpace(cookie); len(c) >= 6 {
		msg = strings.ReplaceAll(msg, c, "[redacted]")
	}
	for part := range strings.SplitSeq(cookie, ";") {
		_, v, ok := strings.Cut(part, "=")
		if v = strings.TrimSpace(v); ok && len(v) >= 6 {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return msg
}

func truncate(msg string) string {
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
