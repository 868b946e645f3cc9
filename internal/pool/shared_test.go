package pool_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/store"
)

// replica is one more pool over e's store sharing state with e's pool
// through hub, as a second replica is; events reach it as the app routes
// them (rests applied, account changes reloaded), and each one handled is
// signalled on handled.
type replica struct {
	p       *pool.Local
	handled chan cluster.Event
}

// sharedEnv returns e's pool and a second replica sharing one state.
func sharedEnv(t *testing.T, opts pool.Options, accounts ...store.Account) (*env, *replica) {
	t.Helper()
	hub := cluster.NewMemoryHub()
	stateA := replicaState(t, hub, opts)
	stateB := replicaState(t, hub, opts)
	opts.Shared = stateA
	e := newEnv(t, opts, accounts...)
	optsB := opts
	optsB.Shared, optsB.Store, optsB.Clock = stateB, e.st, e.clock
	optsB.Logger = slog.New(slog.DiscardHandler)
	pb, err := pool.New(t.Context(), optsB)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{p: pb, handled: make(chan cluster.Event, 100)}
	stop := stateB.Subscribe(func(ev cluster.Event) {
		switch ev.Kind {
		case cluster.EventRest:
			pb.ApplyRest(ev.ID, ev.Until)
		case cluster.EventAccounts:
			if err := pb.Reload(t.Context()); err != nil {
				t.Error(err)
			}
		}
		r.handled <- ev
	})
	t.Cleanup(stop)
	return e, r
}

func replicaState(t *testing.T, hub *cluster.MemoryHub, opts pool.Options) *cluster.Memory {
	t.Helper()
	s, err := hub.Replica(cluster.Options{LeaseTTL: 30 * time.Second, RefreshEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// await waits for the replica to handle an event of kind.
func (r *replica) await(t *testing.T, kind cluster.EventKind) {
	t.Helper()
	for {
		select {
		case ev := <-r.handled:
			if ev.Kind == kind {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event handled within 10 s", kind)
		}
	}
}

func (r *replica) acquireErr(t *testing.T) *gw.Error {
	t.Helper()
	l, err := r.p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
	if err == nil {
		t.Fatalf("replica B leased %s", l.Account().Label)
	}
	return gw.AsError(err)
}

func TestSharedRestSkippedByEveryReplica(t *testing.T) {
	e, b := sharedEnv(t, pool.Options{}, gsAccount("a"))
	e.acquire(t, pool.Request{}).Release(&gw.Error{Code: gw.CodeRateLimited, RetryAfter: 90 * time.Second})
	b.await(t, cluster.EventRest)
	ge := b.acquireErr(t)
	if ge.Code != gw.CodeNoAccounts || ge.RetryAfter != 90*time.Second {
		t.Fatalf("replica B: %v (retry %s), want no accounts for 90s", ge, ge.RetryAfter)
	}
	e.clock.Advance(90 * time.Second)
	l, err := b.p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
	if err != nil {
		t.Fatalf("after the rest, replica B: %v", err)
	}
	l.Release(nil)
}

func TestSharedRestOutlivesAStoreRace(t *testing.T) {
	e, b := sharedEnv(t, pool.Options{}, gsAccount("a"))
	e.acquire(t, pool.Request{}).Release(&gw.Error{Code: gw.CodeRateLimited, RetryAfter: time.Minute})
	b.await(t, cluster.EventRest)
	// Another replica wrote an older state over the rest in the store.
	if err := e.st.UpdateAccountState(t.Context(), e.ids[0], store.StateUpdate{State: store.StateActive}); err != nil {
		t.Fatal(err)
	}
	if err := b.p.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ge := b.acquireErr(t); ge.Code != gw.CodeNoAccounts {
		t.Fatalf("after a reload over a lost rest: %v, want the published rest kept", ge)
	}
}

func TestSharedPassiveHealthWindow(t *testing.T) {
	e, b := sharedEnv(t, pool.Options{FailureThreshold: 3, FailureWindow: time.Minute, TransientRest: 2 * time.Minute}, gsAccount("a"))
	unavailable := &gw.Error{Code: gw.CodeUnavailable, Message: "Service Unavailable"}
	e.acquire(t, pool.Request{}).Release(unavailable)
	lb, err := b.p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
	if err != nil {
		t.Fatal(err)
	}
	lb.Release(unavailable)
	if st := e.status(t, e.ids[0]); st.State != store.StateActive {
		t.Fatalf("after two failures: %s", st.State)
	}
	e.acquire(t, pool.Request{}).Release(unavailable) // the third, counting B's
	if st := e.status(t, e.ids[0]); st.State != store.StateResting {
		t.Fatalf("three failures within the window on two replicas: %s, want resting", st.State)
	}
	b.await(t, cluster.EventRest)
	if ge := b.acquireErr(t); ge.Code != gw.CodeNoAccounts {
		t.Fatalf("replica B: %v, want the account resting", ge)
	}
}

func TestSharedConcurrencyCap(t *testing.T) {
	e, b := sharedEnv(t, pool.Options{MaxConcurrentPerAccount: 1, Strategy: pool.RoundRobin}, gsAccount("a"), gsAccount("b"))
	la := e.acquire(t, pool.Request{})
	lb, err := b.p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
	if err != nil {
		t.Fatal(err)
	}
	if la.Account().ID == lb.Account().ID {
		t.Fatalf("both replicas leased %s past its cap of 1", la.Account().Label)
	}
	if ge := b.acquireErr(t); ge.Code != gw.CodeNoAccounts {
		t.Fatalf("both accounts at their cap: %v, want no accounts", ge)
	}
	if ge := e.acquireErr(t, pool.Request{}); ge.Code != gw.CodeNoAccounts {
		t.Fatalf("replica A, both at their cap: %v", ge)
	}
	la.Release(nil)
	l, err := b.p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
	if err != nil {
		t.Fatalf("a slot freed by replica A: %v", err)
	}
	if l.Account().ID != la.Account().ID {
		t.Fatalf("B leased %s, want the account A released", l.Account().Label)
	}
	l.Release(nil)
	lb.Release(nil)
}

func TestSharedCookieUpdateReachesEveryReplica(t *testing.T) {
	e, b := sharedEnv(t, pool.Options{}, gsAccount("a"))
	const fresh = "session_id=sess-rotated-9876543210"
	if err := e.p.UpdateCookie(t.Context(), e.ids[0], fresh); err != nil {
		t.Fatal(err)
	}
	b.await(t, cluster.EventAccounts)
	l, err := b.p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(nil)
	if l.Account().Cookie != fresh {
		t.Fatal("replica B still leases the old cookie")
	}
}

func TestSharedLogoutReachesEveryReplica(t *testing.T) {
	e, b := sharedEnv(t, pool.Options{}, gsAccount("a"))
	e.acquire(t, pool.Request{}).Release(&gw.Error{Code: gw.CodeLoggedOut, Message: "logged out"})
	b.await(t, cluster.EventAccounts)
	if ge := b.acquireErr(t); ge.Code != gw.CodeNoAccountsConfigured {
		t.Fatalf("replica B after A saw a logout: %v, want the account disabled", ge)
	}
}
