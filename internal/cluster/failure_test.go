package cluster_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/testutil"
)

// TestRedisFailureMode checks what admission does while Redis is away:
// with REDIS_FAILURE_MODE=open it admits against local limits, with
// closed it refuses with a Retry-After; never an error (a 5xx); every
// failure is counted; shared limits return with Redis.
func TestRedisFailureMode(t *testing.T) {
	base := redisURL(t)
	for _, mode := range []cluster.FailureMode{cluster.FailOpen, cluster.FailClosed} {
		for _, outage := range []testutil.ProxyMode{testutil.ProxyDrop, testutil.ProxySwallow} {
			t.Run(string(mode)+"/"+string(outage), func(t *testing.T) {
				p, url := testutil.NewFaultProxy(t, base)
				var failures atomic.Int64
				r := openRedis(t, url, prefix(t), cluster.Options{FailureMode: mode, LeaseTTL: testTTL, RefreshEvery: -1,
					OnFailure: func(op string) { failures.Add(1) }})
				adm := r.Admitter()
				key := limit.Admission{KeyID: "key_f", KeyPerMinute: 2}
				held, err := adm.Admit(t.Context(), key)
				if err != nil {
					t.Fatal(err)
				}
				held.Release()

				p.Set(outage)
				for range 3 {
					tk, err := adm.Admit(t.Context(), key)
					var ref *limit.Refusal
					switch {
					case mode == cluster.FailOpen && err == nil:
						tk.Release()
					case mode == cluster.FailOpen && errors.As(err, &ref) && ref.Limit == limit.LimitKeyRate:
						// the local window has its own two per minute
					case mode == cluster.FailClosed && errors.As(err, &ref) && ref.Limit == cluster.LimitUnavailable:
					default:
						t.Fatalf("Redis %s, mode %s: Admit = %v, %v", outage, mode, tk, err)
					}
				}
				// One failure is counted; for a second after it Redis is
				// not asked again, so a Redis that stopped answering costs
				// one timeout, not one per request.
				if n := failures.Load(); n != 1 {
					t.Fatalf("%d failures counted for three requests in the outage, want 1", n)
				}
				if _, ok, err := r.TakeSlot(t.Context(), "acct", 1); ok || err == nil {
					t.Fatalf("TakeSlot without Redis = %v, %v; want an error the pool falls back on", ok, err)
				}

				p.Set(testutil.ProxyForward)
				// Redis is back: the shared window (one attempt so far)
				// applies again.
				for i := 0; r.Ready(t.Context()) != nil; i++ { // connections broken by the outage are dropped
					if i == 20 {
						t.Fatal("Redis not reachable again")
					}
				}
				before := failures.Load()
				tk, err := adm.Admit(t.Context(), key)
				if err != nil {
					t.Fatalf("second request of the minute once Redis is back: %v", err)
				}
				tk.Release()
				if failures.Load() != before {
					t.Fatal("admitted locally: Redis still failing")
				}
				if _, err := adm.Admit(t.Context(), key); !isRefusal(err, limit.LimitKeyRate) {
					t.Fatalf("third request of the minute once Redis is back: %v, want the shared key rate refusal", err)
				}
			})
		}
	}
}

func isRefusal(err error, name string) bool {
	var ref *limit.Refusal
	return errors.As(err, &ref) && ref.Limit == name
}

// TestFeedResyncAfterOutage: events published while a replica's feed was
// cut are lost; once it is back the replica is told to re-read accounts
// (and so rests).
func TestFeedResyncAfterOutage(t *testing.T) {
	base := redisURL(t)
	pfx := prefix(t)
	p, url := testutil.NewFaultProxy(t, base)
	o := cluster.Options{LeaseTTL: testTTL, RefreshEvery: -1}
	cut := openRedis(t, url, pfx, o)
	other := openRedis(t, base, pfx, o)
	events := make(chan cluster.Event, 10)
	defer cut.Subscribe(func(ev cluster.Event) { events <- ev })()
	if err := other.Publish(t.Context(), cluster.Event{Kind: cluster.EventBinding, ID: "before"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.ID != "before" {
		t.Fatalf("got %+v", ev)
	}
	p.Set(testutil.ProxyDrop)
	if err := other.Publish(t.Context(), cluster.Event{Kind: cluster.EventBinding, ID: "lost"}); err != nil {
		t.Fatal(err)
	}
	p.Set(testutil.ProxyForward)
	if ev := next(t, events); ev.Kind != cluster.EventAccounts || ev.Origin != "" {
		t.Fatalf("after the outage: %+v, want a resync (accounts event)", ev)
	}
}
