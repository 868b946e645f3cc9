package limit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Window is the span of a per-key requests-per-minute limit: a sliding 60
// seconds.
const Window = time.Minute

// Admission is what one client request takes from the limits before it
// runs: a place in its API key's sliding window and a slot among the key's
// requests in flight, and, when IPPerMinute is set, a place in its client
// address's window. An [Admitter] takes all of them or none.
type Admission struct {
	IP          string // client address
	IPPerMinute int    // requests per sliding minute from IP; 0: no limit
	KeyID       string // the client API key's id
	// KeyPerMinute bounds the key's requests in any sliding 60 seconds,
	// counting every request made with the key, refused ones included;
	// 0: no limit.
	KeyPerMinute int
	// KeyMaxConcurrent bounds the key's requests in flight; 0: no limit.
	KeyMaxConcurrent int
}

// Limit names, as a Refusal reports them.
const (
	LimitIPRate         = "ip_rate"
	LimitKeyRate        = "key_rate"
	LimitKeyConcurrency = "key_concurrency"
)

// Refusal is the error Admit returns when a limit refuses a request.
type Refusal struct {
	Limit      string        // LimitIPRate, LimitKeyRate or LimitKeyConcurrency
	RetryAfter time.Duration // when to retry (whole seconds, at least one)
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("limit %s reached; retry after %s", r.Limit, r.RetryAfter)
}

// Ticket is an admitted request's hold on its concurrency slot. Release
// must be called exactly once, when the request has ended (a stream
// included); further calls do nothing.
type Ticket interface{ Release() }

// Admitter admits client requests against the limits of an [Admission] in
// one atomic step. Admit returns a *Refusal when a limit refuses (nothing
// is then held, though the attempt still counts in the key's window), and
// another error when its backend fails. Implementations are safe for
// concurrent use; a shared one (Redis) makes the limits hold across
// replicas.
type Admitter interface {
	Admit(ctx context.Context, a Admission) (Ticket, error)
}

// MemoryAdmitter is the in-process [Admitter]: limits hold within one
// process.
type MemoryAdmitter struct {
	clock   Clock
	maxKeys int

	mu       sync.Mutex
	windows  map[string]*window // "k:" + key id, "i:" + address
	inFlight map[string]int     // key id -> requests in flight
}

// window keeps the times of the newest attempts under one name, at most
// as many as its limit: enough to tell whether the limit is reached.
type window struct {
	times []time.Time // ring, oldest at next once full
	next  int
	last  time.Time
}

// NewMemoryAdmitter returns an in-process admitter; clock nil means the
// system clock, maxKeys <= 0 means DefaultMaxKeys (windows idle for a
// minute are forgotten first; past that an arbitrary one is).
func NewMemoryAdmitter(clock Clock, maxKeys int) *MemoryAdmitter {
	if clock == nil {
		clock = systemClock{}
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &MemoryAdmitter{clock: clock, maxKeys: maxKeys, windows: map[string]*window{}, inFlight: map[string]int{}}
}

// Admit implements [Admitter].
func (m *MemoryAdmitter) Admit(ctx context.Context, a Admission) (Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.windows) >= m.maxKeys {
		m.sweep(now)
	}
	// Every limit is checked before any is taken; the key's window counts
	// the attempt whatever the outcome.
	var refusal *Refusal
	var ipw, kw *window
	if a.IPPerMinute > 0 && a.IP != "" {
		ipw = m.window("i:"+a.IP, a.IPPerMinute)
		if wait := ipw.wait(now, a.IPPerMinute); wait > 0 {
			refusal = &Refusal{Limit: LimitIPRate, RetryAfter: roundUp(wait)}
		}
	}
	if a.KeyPerMinute > 0 && a.KeyID != "" {
		kw = m.window("k:"+a.KeyID, a.KeyPerMinute)
		if wait := kw.wait(now, a.KeyPerMinute); wait > 0 && refusal == nil {
			refusal = &Refusal{Limit: LimitKeyRate, RetryAfter: roundUp(wait)}
		}
		kw.add(now, a.KeyPerMinute)
		if refusal != nil && refusal.Limit == LimitKeyRate {
			// The refused attempt counts: the wait runs from the
			// newest attempts kept.
			refusal.RetryAfter = roundUp(kw.wait(now, a.KeyPerMinute))
		}
	}
	if refusal == nil && a.KeyMaxConcurrent > 0 && a.KeyID != "" && m.inFlight[a.KeyID] >= a.KeyMaxConcurrent {
		refusal = &Refusal{Limit: LimitKeyConcurrency, RetryAfter: time.Second}
	}
	if refusal != nil {
		return nil, refusal
	}
	if ipw != nil {
		ipw.add(now, a.IPPerMinute)
	}
	if a.KeyID == "" || a.KeyMaxConcurrent <= 0 {
		return noTicket{}, nil
	}
	m.inFlight[a.KeyID]++
	return &memoryTicket{m: m, key: a.KeyID}, nil
}

// InFlight returns how many admitted requests of key id hold a slot.
func (m *MemoryAdmitter) InFlight(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inFlight[id]
}

func (m *MemoryAdmitter) window(name string, limit int) *window {
	w := m.windows[name]
	if w == nil {
		w = &window{}
		m.windows[name] = w
	}
	if cap(w.times) != limit {
		// The limit changed: start afresh.
		w.times, w.next = make([]time.Time, 0, limit), 0
	}
	return w
}

// wait is how long until one more attempt fits under limit: zero when
// fewer than limit attempts fall in the last Window.
func (w *window) wait(now time.Time, limit int) time.Duration {
	if len(w.times) < limit {
		return 0
	}
	oldest := w.times[w.next] // the limit-th newest attempt
	if d := oldest.Add(Window).Sub(now); d > 0 {
		return d
	}
	return 0
}

func (w *window) add(now time.Time, limit int) {
	w.last = now
	if len(w.times) < limit {
		w.times = append(w.times, now)
		return
	}
	w.times[w.next] = now
	w.next = (w.next + 1) % limit
}

// sweep forgets windows idle for a whole Window, then arbitrary ones
// until a tenth of the table is free, so that a table full of active
// windows is swept once per maxKeys/10 new names, not on every admission.
func (m *MemoryAdmitter) sweep(now time.Time) {
	for name, w := range m.windows {
		if now.Sub(w.last) >= Window {
			delete(m.windows, name)
		}
	}
	for name := range m.windows {
		if len(m.windows) <= m.maxKeys-max(m.maxKeys/10, 1) {
			break
		}
		delete(m.windows, name)
	}
}

type memoryTicket struct {
	m    *MemoryAdmitter
	key  string
	once sync.Once
}

func (t *memoryTicket) Release() {
	t.once.Do(func() {
		t.m.mu.Lock()
		if t.m.inFlight[t.key]--; t.m.inFlight[t.key] <= 0 {
			delete(t.m.inFlight, t.key)
		}
		t.m.mu.Unlock()
	})
}

type noTicket struct{}

func (noTicket) Release() {}

// Windows returns how many windows m keeps (for tests of its bound).
func (m *MemoryAdmitter) Windows() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.windows)
}
