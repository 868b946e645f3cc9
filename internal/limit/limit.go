// Package limit throttles clients: the per-IP REQUEST_RATE_LIMIT and
// per-API-key limits. [Limiter] is engine-neutral so a shared (Redis)
// implementation can replace the in-process [Memory] for several replicas
// without touching callers.
package limit

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter decides whether one more request for key may proceed.
//
// Allow counts the request when ok is true. When ok is false, retryAfter is
// how long until the next request would be allowed (whole seconds, at least
// one), for a Retry-After header. err reports a failure of the limiter's
// own backend (never with ok true); callers choose whether to fail open.
// Implementations are safe for concurrent use.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// RateLimiter is a Limiter that also takes the rate per call, for limits
// stored with each API key.
type RateLimiter interface {
	Limiter
	// AllowRate is Allow with a limit of perMinute requests per minute
	// for key (<= 0: unlimited). A key's bucket starts afresh when its
	// rate changes.
	AllowRate(ctx context.Context, key string, perMinute int) (ok bool, retryAfter time.Duration, err error)
}

// Clock tells the limiter the time (pool.SystemClock or a test clock
// satisfy it).
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// DefaultMaxKeys bounds the keys a Memory limiter tracks.
const DefaultMaxKeys = 100_000

// Options configure [NewMemory].
type Options struct {
	// PerMinute is the rate Allow applies (REQUEST_RATE_LIMIT, the seed's
	// default is 60); 0 = unlimited.
	PerMinute int
	// Burst is how many requests may come at once; default PerMinute (a
	// fresh client may use a whole minute's allowance at once, then one
	// request per 60/PerMinute seconds).
	Burst int
	// Clock tells the time; default the system clock.
	Clock Clock
	// MaxKeys bounds memory; default DefaultMaxKeys. When the table is
	// full of recently active keys, an arbitrary one is forgotten (it
	// starts afresh), so a flood of spoofed keys cannot exhaust memory.
	MaxKeys int
}

// Memory is an in-process token-bucket [RateLimiter]. Keys idle long
// enough for their bucket to refill are forgotten, so memory follows the
// number of recently active keys.
type Memory struct {
	perMinute, burst, maxKeys int
	clock                     Clock

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim       *rate.Limiter
	perMinute int
	idle      time.Duration // after this long unused the bucket is full again
	last      time.Time
}

var _ RateLimiter = (*Memory)(nil)

// NewMemory returns an in-process limiter.
func NewMemory(o Options) (*Memory, error) {
	if o.PerMinute < 0 || o.Burst < 0 || o.MaxKeys < 0 {
		return nil, errors.New("limit: PerMinute, Burst and MaxKeys must be >= 0")
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	return &Memory{perMinute: o.PerMinute, burst: o.Burst, maxKeys: o.MaxKeys, clock: o.Clock,
		buckets: map[string]*bucket{}}, nil
}

// Allow implements [Limiter] with Options.PerMinute.
func (m *Memory) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	return m.allow(key, m.perMinute, m.burst)
}

// AllowRate implements [RateLimiter]; the burst is perMinute.
func (m *Memory) AllowRate(ctx context.Context, key string, perMinute int) (bool, time.Duration, error) {
	return m.allow(key, perMinute, 0)
}

func (m *Memory) allow(key string, perMinute, burst int) (bool, time.Duration, error) {
	if perMinute <= 0 {
		return true, 0, nil
	}
	if burst <= 0 {
		burst = perMinute
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now, false)
	b := m.buckets[key]
	if b == nil || b.perMinute != perMinute || b.lim.Burst() != burst {
		if b == nil && len(m.buckets) >= m.maxKeys {
			m.sweep(now, true)
		}
		every := time.Minute / time.Duration(perMinute)
		b = &bucket{lim: rate.NewLimiter(rate.Every(every), burst), perMinute: perMinute,
			idle: max(time.Minute, every*time.Duration(burst))}
		m.buckets[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute, nil
	}
	d := r.DelayFrom(now)
	if d == 0 {
		return true, 0, nil
	}
	r.CancelAt(now)
	return false, roundUp(d), nil
}

// sweep forgets buckets that have refilled; when full is set and the table
// is still at its bound, it also forgets arbitrary buckets until there is
// room. Callers hold mu.
func (m *Memory) sweep(now time.Time, full bool) {
	if !full && now.Sub(m.lastSweep) < time.Minute {
		return
	}
	m.lastSweep = now
	for k, b := range m.buckets {
		if now.Sub(b.last) >= b.idle {
			delete(m.buckets, k)
		}
	}
	if full {
		for k := range m.buckets {
			if len(m.buckets) < m.maxKeys {
				break
			}
			delete(m.buckets, k)
		}
	}
}

// Len returns how many keys the limiter tracks.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

func roundUp(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
