package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"
)

// MemoryHub is the state several in-process replicas share (tests of
// several gateways in one process); each [MemoryHub.Replica] is one
// replica's view. A single replica uses [NewMemory].
type MemoryHub struct {
	mu     sync.Mutex
	slots  map[string]map[string]time.Time // name -> token -> expiry
	fails  map[string][]time.Time          // account id -> failures in the window
	rests  map[string]time.Time            // account id -> end of its rest
	claims map[string]time.Time            // job -> end of the claim
	subs   map[*dispatcher]string          // subscriber -> its replica
}

// NewMemoryHub returns an empty hub.
func NewMemoryHub() *MemoryHub {
	return &MemoryHub{slots: map[string]map[string]time.Time{}, fails: map[string][]time.Time{},
		rests: map[string]time.Time{}, claims: map[string]time.Time{}, subs: map[*dispatcher]string{}}
}

// Memory is the in-process [State]: one replica's view of a [MemoryHub].
type Memory struct {
	hub    *MemoryHub
	opts   Options
	origin string
	leases *leaseSet
}

var _ State = (*Memory)(nil)

// NewMemory returns the state of a single replica.
func NewMemory(opts Options) (*Memory, error) { return NewMemoryHub().Replica(opts) }

// Replica returns one more replica's view of the hub.
func (h *MemoryHub) Replica(opts Options) (*Memory, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Memory{hub: h, opts: o, origin: newToken()}
	m.leases = newLeaseSet(o.RefreshEvery, m.refresh)
	return m, nil
}

// TakeSlot implements [State].
func (m *Memory) TakeSlot(ctx context.Context, name string, max int) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if m.leases.isClosed() {
		return nil, false, errClosed
	}
	now := m.opts.Clock.Now()
	h := m.hub
	h.mu.Lock()
	held := h.slots[name]
	for tok, exp := range held {
		if !exp.After(now) {
			delete(held, tok)
		}
	}
	if len(held) >= max {
		h.mu.Unlock()
		return nil, false, nil
	}
	if held == nil {
		held = map[string]time.Time{}
		h.slots[name] = held
	}
	tok := newToken()
	held[tok] = now.Add(m.opts.LeaseTTL)
	h.mu.Unlock()
	l := lease{key: name, token: tok}
	m.leases.add(l)
	return m.leases.releaser(l, func(l lease) { m.drop(l) }), true, nil
}

func (m *Memory) drop(l lease) {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if held := h.slots[l.key]; held != nil {
		delete(held, l.token)
		if len(held) == 0 {
			delete(h.slots, l.key)
		}
	}
}

// refresh extends the leases this replica holds.
func (m *Memory) refresh(_ context.Context, ls []lease) error {
	until := m.opts.Clock.Now().Add(m.opts.LeaseTTL)
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range ls {
		if held := h.slots[l.key]; held != nil {
			if _, ok := held[l.token]; ok {
				held[l.token] = until
			}
		}
	}
	return nil
}

// Refresh extends every lease this replica holds now (the background
// refresh does it every Options.RefreshEvery).
func (m *Memory) Refresh(ctx context.Context) error { return m.leases.refreshNow(ctx) }

// TripFailure implements [State].
func (m *Memory) TripFailure(ctx context.Context, id string, at time.Time, window time.Duration, threshold int) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	cut := at.Add(-window)
	fs := slices.DeleteFunc(h.fails[id], func(t time.Time) bool { return !t.After(cut) })
	fs = append(fs, at)
	if len(fs) >= threshold {
		delete(h.fails, id)
		return true, nil
	}
	h.fails[id] = fs
	return false, nil
}

// PublishRest implements [State].
func (m *Memory) PublishRest(ctx context.Context, id string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h := m.hub
	h.mu.Lock()
	if cur, ok := h.rests[id]; ok && cur.After(until) {
		until = cur
	}
	h.rests[id] = until
	h.mu.Unlock()
	return m.Publish(ctx, Event{Kind: EventRest, ID: id, Until: until})
}

// Rests implements [State].
func (m *Memory) Rests(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]time.Time{}
	for id, until := range h.rests {
		if until.After(now) {
			out[id] = until
		} else {
			delete(h.rests, id)
		}
	}
	return out, nil
}

// ClearRest implements [State].
func (m *Memory) ClearRest(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.hub.mu.Lock()
	delete(m.hub.rests, id)
	m.hub.mu.Unlock()
	return nil
}

// Claim implements [State].
func (m *Memory) Claim(ctx context.Context, job string, period time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.opts.Clock.Now()
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if until, ok := h.claims[job]; ok && until.After(now) {
		return false, nil
	}
	h.claims[job] = now.Add(claimPeriod(period))
	return true, nil
}

// AccountsChanged implements [State].
func (m *Memory) AccountsChanged(ctx context.Context, id string) error {
	return m.Publish(ctx, Event{Kind: EventAccounts, ID: id})
}

// Publish implements [State].
func (m *Memory) Publish(ctx context.Context, ev Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ev.Origin = m.origin
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for d, origin := range h.subs {
		if origin != m.origin {
			d.push(ev)
		}
	}
	return nil
}

// Subscribe implements [State].
func (m *Memory) Subscribe(fn func(Event)) func() {
	d := newDispatcher(fn)
	h := m.hub
	h.mu.Lock()
	h.subs[d] = m.origin
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.subs, d)
		h.mu.Unlock()
		d.stop()
	}
}

// Close implements [State].
func (m *Memory) Close() error {
	for _, l := range m.leases.close() {
		m.drop(l)
	}
	return nil
}

// claimPeriod is how long a claim of a job run every period holds: a
// little less than the period, so the next tick of the replica that won
// (whose ticker fires a period later) finds the claim ended.
func claimPeriod(period time.Duration) time.Duration {
	return max(period-period/10, time.Millisecond)
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
