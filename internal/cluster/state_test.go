package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/testutil"
)

// replicas returns two replicas' views of one fresh shared state that
// tell time by clock; refresh(i) refreshes replica i's leases now.
type replicas func(t *testing.T, clock cluster.Clock) (a, b cluster.State, refresh func(t *testing.T, s cluster.State))

// refresher is what both implementations offer tests.
type refresher interface{ Refresh(context.Context) error }

func refreshOf(t *testing.T, s cluster.State) {
	t.Helper()
	if err := s.(refresher).Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryState(t *testing.T) {
	runState(t, func(t *testing.T, clock cluster.Clock) (cluster.State, cluster.State, func(*testing.T, cluster.State)) {
		hub := cluster.NewMemoryHub()
		o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
		a, err := hub.Replica(o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := hub.Replica(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b, refreshOf
	})
}

func TestRedisState(t *testing.T) {
	url := redisURL(t)
	runState(t, func(t *testing.T, clock cluster.Clock) (cluster.State, cluster.State, func(*testing.T, cluster.State)) {
		pfx := prefix(t)
		o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
		return openRedis(t, url, pfx, o), openRedis(t, url, pfx, o), refreshOf
	})
}

// runState is the suite both State implementations pass.
func runState(t *testing.T, newReplicas replicas) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newReplicas replicas)
	}{
		{"SlotsAcrossReplicas", testSlots},
		{"DeadReplicaSlotExpires", testSlotExpiry},
		{"CloseReleasesSlots", testCloseReleases},
		{"PassiveHealthWindowAcrossReplicas", testTripFailure},
		{"Rests", testRests},
		{"ClaimOncePerPeriod", testClaim},
		{"Feed", testFeed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newReplicas) })
	}
}

var start = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func take(t *testing.T, s cluster.State, name string, max int) (func(), bool) {
	t.Helper()
	release, ok, err := s.TakeSlot(t.Context(), name, max)
	if err != nil {
		t.Fatal(err)
	}
	return release, ok
}

func testSlots(t *testing.T, newReplicas replicas) {
	a, b, _ := newReplicas(t, testutil.NewClock(start))
	r1, ok1 := take(t, a, "acct_1", 2)
	r2, ok2 := take(t, b, "acct_1", 2)
	if !ok1 || !ok2 {
		t.Fatal("two slots of two not taken")
	}
	if _, ok := take(t, a, "acct_1", 2); ok {
		t.Fatal("a third slot taken with both held, one by each replica")
	}
	if r, ok := take(t, b, "acct_2", 1); !ok {
		t.Fatal("another account's slot refused")
	} else {
		r()
	}
	r1()
	r1() // a second release gives nothing back
	r3, ok := take(t, b, "acct_1", 2)
	if !ok {
		t.Fatal("slot released by A not taken by B")
	}
	if _, ok := take(t, a, "acct_1", 2); ok {
		t.Fatal("a double release freed a slot")
	}
	r2()
	r3()
}

func testSlotExpiry(t *testing.T, newReplicas replicas) {
	clock := testutil.NewClock(start)
	a, b, refresh := newReplicas(t, clock)
	if _, ok := take(t, a, "acct_x", 1); !ok { // A keeps refreshing, then dies
		t.Fatal("slot not taken")
	}
	for range 3 {
		clock.Advance(testTTL / 2)
		refresh(t, a)
	}
	if _, ok := take(t, b, "acct_x", 1); ok {
		t.Fatal("a refreshed slot expired")
	}
	clock.Advance(testTTL)
	release, ok := take(t, b, "acct_x", 1)
	if !ok {
		t.Fatal("a dead replica's slot did not expire after its TTL")
	}
	release()
}

func testCloseReleases(t *testing.T, newReplicas replicas) {
	a, b, _ := newReplicas(t, testutil.NewClock(start))
	if _, ok := take(t, a, "acct_c", 1); !ok {
		t.Fatal("slot not taken")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	release, ok := take(t, b, "acct_c", 1)
	if !ok {
		t.Fatal("a closed replica's slot still held")
	}
	release()
}

func testTripFailure(t *testing.T, newReplicas replicas) {
	a, b, _ := newReplicas(t, testutil.NewClock(start))
	trip := func(s cluster.State, at time.Duration) bool {
		t.Helper()
		ok, err := s.TripFailure(t.Context(), "acct_h", start.Add(at), time.Minute, 3)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if trip(a, 0) || trip(b, 30*time.Second) {
		t.Fatal("tripped before three failures")
	}
	if trip(a, 65*time.Second) { // the first failure left the window
		t.Fatal("a failure outside the window counted")
	}
	if !trip(b, 80*time.Second) {
		t.Fatal("three failures within a minute on two replicas did not trip")
	}
	if trip(a, 81*time.Second) {
		t.Fatal("the window did not start afresh after tripping")
	}
}

func testRests(t *testing.T, newReplicas replicas) {
	a, b, _ := newReplicas(t, testutil.NewClock(start))
	events := make(chan cluster.Event, 10)
	stop := b.Subscribe(func(ev cluster.Event) { events <- ev })
	defer stop()
	until := start.Add(10 * time.Minute)
	if err := a.PublishRest(t.Context(), "acct_r", until); err != nil {
		t.Fatal(err)
	}
	ev := next(t, events)
	if ev.Kind != cluster.EventRest || ev.ID != "acct_r" || !ev.Until.Equal(until) {
		t.Fatalf("event %+v, want the rest of acct_r until %s", ev, until)
	}
	// A shorter rest does not cut a longer one short.
	if err := b.PublishRest(t.Context(), "acct_r", start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	rests, err := b.Rests(t.Context(), start)
	if err != nil {
		t.Fatal(err)
	}
	if got := rests["acct_r"]; !got.Equal(until) || len(rests) != 1 {
		t.Fatalf("rests %v, want acct_r until %s", rests, until)
	}
	if rests, err := a.Rests(t.Context(), until); err != nil || len(rests) != 0 {
		t.Fatalf("rests at their end: %v, %v; want none", rests, err)
	}
}

func testClaim(t *testing.T, newReplicas replicas) {
	clock := testutil.NewClock(start)
	a, b, _ := newReplicas(t, clock)
	claim := func(s cluster.State, job string) bool {
		t.Helper()
		ok, err := s.Claim(t.Context(), job, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(a, "rotate") {
		t.Fatal("first claim refused")
	}
	clock.Advance(30 * time.Second)
	if claim(b, "rotate") || claim(a, "rotate") {
		t.Fatal("a job ran twice in one period")
	}
	if !claim(b, "sweep") {
		t.Fatal("another job's claim refused")
	}
	clock.Advance(30 * time.Second)
	if !claim(b, "rotate") {
		t.Fatal("the next period's claim refused")
	}
}

func testFeed(t *testing.T, newReplicas replicas) {
	a, b, _ := newReplicas(t, testutil.NewClock(start))
	atA, atB := make(chan cluster.Event, 10), make(chan cluster.Event, 10)
	defer a.Subscribe(func(ev cluster.Event) { atA <- ev })()
	defer b.Subscribe(func(ev cluster.Event) { atB <- ev })()
	sent := []cluster.Event{{Kind: cluster.EventAccounts, ID: "acct_9"}, {Kind: cluster.EventBinding, ID: "k1"}, {Kind: cluster.EventBinding, ID: "k2"}}
	if err := a.AccountsChanged(t.Context(), "acct_9"); err != nil {
		t.Fatal(err)
	}
	for _, ev := range sent[1:] {
		if err := a.Publish(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Publish(t.Context(), cluster.Event{Kind: cluster.EventRest, ID: "s1"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range sent {
		if got := next(t, atB); got.Kind != want.Kind || got.ID != want.ID {
			t.Fatalf("B got %+v, want %+v (in publication order)", got, want)
		}
	}
	// A hears B's event and not its own.
	if got := next(t, atA); got.Kind != cluster.EventRest || got.ID != "s1" {
		t.Fatalf("A got %+v, want B's event", got)
	}
	select {
	case ev := <-atA:
		t.Fatalf("A was told its own event %+v", ev)
	default:
	}
}

func next(t *testing.T, ch <-chan cluster.Event) cluster.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
		return cluster.Event{}
	}
}
