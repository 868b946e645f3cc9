// Package limittest is the shared test suite of the [limit.Admitter]
// implementations: the in-process one and the shared (Redis) one must both
// pass it.
package limittest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/testutil"
)

// NewAdmitter returns a fresh admitter, with no state shared with any
// other, that tells time by clock.
type NewAdmitter func(t *testing.T, clock limit.Clock) limit.Admitter

// RunAdmitter runs the suite against the admitters newAdmitter returns.
func RunAdmitter(t *testing.T, newAdmitter NewAdmitter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newAdmitter NewAdmitter)
	}{
		{"KeyRateSlidingWindow", testKeyRate},
		{"RefusedAttemptsCount", testRefusedCount},
		{"KeyConcurrency", testKeyConcurrency},
		{"AllOrNothing", testAllOrNothing},
		{"IPRate", testIPRate},
		{"KeysAreIndependent", testIndependentKeys},
		{"Concurrent", testConcurrent},
		{"ZeroMeansNoLimit", testNoLimits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newAdmitter) })
	}
}

var start = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func admit(t *testing.T, a limit.Admitter, adm limit.Admission) limit.Ticket {
	t.Helper()
	tk, err := a.Admit(t.Context(), adm)
	if err != nil {
		t.Fatalf("Admit(%+v): %v, want admitted", adm, err)
	}
	return tk
}

func refused(t *testing.T, a limit.Admitter, adm limit.Admission, limitName string) *limit.Refusal {
	t.Helper()
	tk, err := a.Admit(t.Context(), adm)
	var r *limit.Refusal
	if !errors.As(err, &r) {
		if tk != nil {
			tk.Release()
		}
		t.Fatalf("Admit(%+v) = %v, want a refusal by %s", adm, err, limitName)
	}
	if r.Limit != limitName || r.RetryAfter < time.Second || r.RetryAfter%time.Second != 0 {
		t.Fatalf("refusal %+v, want limit %s and a whole-second Retry-After", r, limitName)
	}
	return r
}

func testKeyRate(t *testing.T, newAdmitter NewAdmitter) {
	clock := testutil.NewClock(start)
	a := newAdmitter(t, clock)
	adm := limit.Admission{KeyID: "key_a", KeyPerMinute: 2}
	admit(t, a, adm).Release()
	clock.Advance(10 * time.Second)
	admit(t, a, adm).Release()
	clock.Advance(10 * time.Second)
	r := refused(t, a, adm, limit.LimitKeyRate)
	// The window holds attempts at 0 s, 10 s and 20 s (the refused one
	// counts): one more fits once the 10 s one is a minute old.
	if r.RetryAfter != 50*time.Second {
		t.Errorf("Retry-After %s, want 50s (the second-newest attempt leaves the window)", r.RetryAfter)
	}
	clock.Advance(50 * time.Second)
	admit(t, a, adm).Release()
}

func testRefusedCount(t *testing.T, newAdmitter NewAdmitter) {
	clock := testutil.NewClock(start)
	a := newAdmitter(t, clock)
	adm := limit.Admission{KeyID: "key_r", KeyPerMinute: 1}
	admit(t, a, adm).Release()
	// A client that keeps retrying every 30 s is never let in: each
	// refused attempt fills the window again.
	for range 4 {
		clock.Advance(30 * time.Second)
		refused(t, a, adm, limit.LimitKeyRate)
	}
	clock.Advance(time.Minute)
	admit(t, a, adm).Release()
}

func testKeyConcurrency(t *testing.T, newAdmitter NewAdmitter) {
	clock := testutil.NewClock(start)
	a := newAdmitter(t, clock)
	adm := limit.Admission{KeyID: "key_c", KeyMaxConcurrent: 2}
	t1 := admit(t, a, adm)
	t2 := admit(t, a, adm)
	refused(t, a, adm, limit.LimitKeyConcurrency)
	t1.Release()
	t1.Release() // a second release gives nothing back
	t3 := admit(t, a, adm)
	refused(t, a, adm, limit.LimitKeyConcurrency)
	t2.Release()
	t3.Release()
	admit(t, a, adm).Release()
}

func testAllOrNothing(t *testing.T, newAdmitter NewAdmitter) {
	clock := testutil.NewClock(start)
	a := newAdmitter(t, clock)
	// Concurrency refuses: the IP window takes nothing.
	hold := admit(t, a, limit.Admission{KeyID: "key_x", KeyMaxConcurrent: 1})
	adm := limit.Admission{IP: "192.0.2.1", IPPerMinute: 1, KeyID: "key_x", KeyMaxConcurrent: 1}
	refused(t, a, adm, limit.LimitKeyConcurrency)
	hold.Release()
	tk := admit(t, a, adm) // the IP's one request of the minute is still there
	// The IP refuses now: no concurrency slot is taken for key_y.
	refused(t, a, limit.Admission{IP: "192.0.2.1", IPPerMinute: 1, KeyID: "key_y", KeyMaxConcurrent: 1}, limit.LimitIPRate)
	admit(t, a, limit.Admission{KeyID: "key_y", KeyMaxConcurrent: 1}).Release()
	tk.Release()
}

func testIPRate(t *testing.T, newAdmitter NewAdmitter) {
	clock := testutil.NewClock(start)
	a := newAdmitter(t, clock)
	adm := limit.Admission{IP: "2001:db8::1", IPPerMinute: 3}
	for range 3 {
		admit(t, a, adm).Release()
	}
	refused(t, a, adm, limit.LimitIPRate)
	admit(t, a, limit.Admission{IP: "2001:db8::2", IPPerMinute: 3}).Release()
	clock.Advance(time.Minute)
	admit(t, a, adm).Release()
}

func testIndependentKeys(t *testing.T, newAdmitter NewAdmitter) {
	clock := testutil.NewClock(start)
	a := newAdmitter(t, clock)
	admit(t, a, limit.Admission{KeyID: "key_1", KeyPerMinute: 1}).Release()
	refused(t, a, limit.Admission{KeyID: "key_1", KeyPerMinute: 1}, limit.LimitKeyRate)
	admit(t, a, limit.Admission{KeyID: "key_2", KeyPerMinute: 1}).Release()
	// A changed limit applies at once.
	admit(t, a, limit.Admission{KeyID: "key_1", KeyPerMinute: 10}).Release()
}

func testConcurrent(t *testing.T, newAdmitter NewAdmitter) {
	clock := testutil.NewClock(start)
	a := newAdmitter(t, clock)
	adm := limit.Admission{KeyID: "key_p", KeyPerMinute: 25}
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 10 {
				tk, err := a.Admit(t.Context(), adm)
				var r *limit.Refusal
				switch {
				case err == nil:
					tk.Release()
					mu.Lock()
					admitted++
					mu.Unlock()
				case !errors.As(err, &r):
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if admitted != 25 {
		t.Errorf("%d of 100 concurrent requests admitted under a limit of 25 per minute", admitted)
	}
}

func testNoLimits(t *testing.T, newAdmitter NewAdmitter) {
	clock := testutil.NewClock(start)
	a := newAdmitter(t, clock)
	var held []limit.Ticket
	for range 50 {
		held = append(held, admit(t, a, limit.Admission{IP: "192.0.2.9", KeyID: "key_free"}))
	}
	for _, tk := range held {
		tk.Release()
	}
}

// Replicas are two admitters sharing one state, as two replicas of one
// deployment do.
type Replicas struct {
	A, B limit.Admitter
	// TTL is how long a held slot outlives its holder's last refresh.
	TTL time.Duration
	// Refresh refreshes the slots a holds now. The admitters never
	// refresh on their own in this suite: a replica that is not refreshed
	// is one that died (kill -9) holding its slots.
	Refresh func(t *testing.T, a limit.Admitter)
}

// NewReplicas returns fresh replicas, sharing no state with any others,
// that tell time by clock.
type NewReplicas func(t *testing.T, clock limit.Clock) Replicas

// RunShared runs the suite of the admitters shared by several replicas:
// limits hold across replicas, and a dead replica's concurrency slots
// expire within their TTL.
func RunShared(t *testing.T, newReplicas NewReplicas) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newReplicas NewReplicas)
	}{
		{"KeyRateAcrossReplicas", testSharedRate},
		{"ConcurrencyAcrossReplicas", testSharedConcurrency},
		{"RefreshedSlotOutlivesTTL", testRefreshedSlot},
		{"DeadReplicaSlotExpires", testDeadReplica},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newReplicas) })
	}
}

func testSharedRate(t *testing.T, newReplicas NewReplicas) {
	clock := testutil.NewClock(start)
	r := newReplicas(t, clock)
	adm := limit.Admission{KeyID: "key_s", KeyPerMinute: 5, IP: "192.0.2.7", IPPerMinute: 100}
	for i := range 5 {
		a := r.A
		if i%2 == 1 {
			a = r.B
		}
		admit(t, a, adm).Release()
	}
	// The sixth request is refused whichever replica serves it.
	refused(t, r.A, adm, limit.LimitKeyRate)
	refused(t, r.B, adm, limit.LimitKeyRate)
	clock.Advance(time.Minute)
	admit(t, r.B, adm).Release()
}

func testSharedConcurrency(t *testing.T, newReplicas NewReplicas) {
	clock := testutil.NewClock(start)
	r := newReplicas(t, clock)
	adm := limit.Admission{KeyID: "key_m", KeyMaxConcurrent: 1}
	held := admit(t, r.A, adm)
	refused(t, r.B, adm, limit.LimitKeyConcurrency)
	refused(t, r.A, adm, limit.LimitKeyConcurrency)
	held.Release()
	admit(t, r.B, adm).Release()
}

func testRefreshedSlot(t *testing.T, newReplicas NewReplicas) {
	clock := testutil.NewClock(start)
	r := newReplicas(t, clock)
	adm := limit.Admission{KeyID: "key_l", KeyMaxConcurrent: 1}
	held := admit(t, r.A, adm)
	// A long stream: its replica refreshes the slot, so it holds past
	// the TTL counted from its start.
	for range 4 {
		clock.Advance(r.TTL / 2)
		r.Refresh(t, r.A)
	}
	refused(t, r.B, adm, limit.LimitKeyConcurrency)
	held.Release()
	admit(t, r.B, adm).Release()
}

func testDeadReplica(t *testing.T, newReplicas NewReplicas) {
	clock := testutil.NewClock(start)
	r := newReplicas(t, clock)
	adm := limit.Admission{KeyID: "key_d", KeyMaxConcurrent: 1}
	orphan := admit(t, r.A, adm) // A dies holding it: no refresh, no release
	clock.Advance(r.TTL - time.Second)
	refused(t, r.B, adm, limit.LimitKeyConcurrency)
	clock.Advance(time.Second)
	tk := admit(t, r.B, adm)
	// A release arriving after the expiry gives nothing back that B
	// holds now.
	orphan.Release()
	refused(t, r.B, adm, limit.LimitKeyConcurrency)
	tk.Release()
	admit(t, r.B, adm).Release()
}
