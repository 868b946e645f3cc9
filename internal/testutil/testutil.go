// Package testutil holds the test doubles and checks that tests of several
// packages share: a manually advanced clock, a goroutine-leak check and a
// TCP proxy that breaks a service's connections on demand. It
// is imported by tests only; production code never depends on it.
//
// Doubles of the API front-ends (backends, streams, SSE parsers) live in
// internal/api/apitest.
package testutil

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// Clock is a clock that moves only when told to. Its Now method satisfies
// every clock interface of the project (pool.Clock, limit.Clock, the
// func() time.Time options of imageproxy and the providers). It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// settleLimit bounds how long SettleGoroutines waits before it fails: a
// guard against a hung test, not a timing assertion (a correct program
// settles in microseconds).
var settleLimit = 10 * time.Second

// SettleGoroutines waits until at most max goroutines run, and fails the
// test with every goroutine's stack if that does not happen. Take max from
// runtime.NumGoroutine before the work under test: goroutines that the work
// started and that outlive it are leaks.
//
// Goroutines ending emit no event to wait for, so this polls the count,
// yielding the processor between looks.
func SettleGoroutines(t testing.TB, max int) {
	t.Helper()
	deadline := time.Now().Add(settleLimit)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		got := runtime.NumGoroutine()
		if got <= max {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, want <= %d\n%s", got, max, buf)
		}
		runtime.Gosched()
		<-tick.C
	}
}
