package cluster_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/testutil"
)

var creditStart = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// rawRedis is a plain client on the test Redis, to look at what the
// replicas left there.
func rawRedis(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

func zcard(t *testing.T, c *redis.Client, key string) int64 {
	t.Helper()
	n, err := c.ZCard(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countScripts counts the admission scripts r runs.
func countScripts(r *cluster.Redis) *atomic.Int64 {
	var n atomic.Int64
	cluster.OnPipeline(r, func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
		for _, c := range cmds {
			if name := strings.ToLower(c.Name()); name == "evalsha" || name == "eval" {
				n.Add(1)
			}
		}
		return next(ctx, cmds)
	})
	return &n
}

// Two replicas on a key with max_concurrency 32 (large enough to borrow
// spare leases), 64 clients admitting, holding and releasing: never more
// than 32 requests in flight at once, nor more than 32 leases in Redis.
func TestCreditConcurrencyHoldsAcrossReplicas(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	o := cluster.Options{LeaseTTL: testTTL, RefreshEvery: -1}
	a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
	scriptsA, scriptsB := countScripts(a), countScripts(b)
	raw := rawRedis(t, url)
	leaseKey := pfx + "lease:key:key_wide"
	adm := limit.Admission{KeyID: "key_wide", KeyMaxConcurrent: 32}

	var inFlight, peak, admitted, peakZ atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // Redis's lease count, while the clients run
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := raw.ZCard(context.Background(), leaseKey).Result()
			if err == nil && n > peakZ.Load() {
				peakZ.Store(n)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 64 {
		admitter := a.Admitter()
		if g%2 == 1 {
			admitter = b.Admitter()
		}
		wg.Go(func() {
			for range 60 {
				tk, err := admitter.Admit(t.Context(), adm)
				if err != nil {
					if !isRefusal(err, limit.LimitKeyConcurrency) {
						t.Error(err)
						return
					}
					continue
				}
				admitted.Add(1)
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				runtime.Gosched() // hold it a little
				inFlight.Add(-1)
				tk.Release()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	cluster.Settle(a)
	cluster.Settle(b)
	if p := peak.Load(); p > 32 {
		t.Errorf("%d requests in flight at once, limit 32", p)
	}
	if p := peakZ.Load(); p > 32 {
		t.Errorf("Redis held %d leases at once, limit 32", p)
	}
	if n := zcard(t, raw, leaseKey); n > 32 {
		t.Errorf("Redis holds %d leases after the run, limit 32", n)
	}
	runs := scriptsA.Load() + scriptsB.Load()
	t.Logf("%d admitted, %d script runs, peak %d in flight, %d leases in Redis", admitted.Load(), runs, peak.Load(), peakZ.Load())
	if runs >= admitted.Load() {
		t.Errorf("%d script runs for %d admissions: nothing was admitted on borrowed credit", runs, admitted.Load())
	}
}

// A key with rpm 100 on two replicas, 300 attempts at once (by 300
// clients, or 30 making 10 each), borrowing while the key is roomy:
// exactly 100 admitted, the next refused for a minute, and admitted again
// once the minute has passed.
func TestCreditRateExactAcrossReplicas(t *testing.T) {
	url := redisURL(t)
	for _, clients := range []int{300, 30} {
		t.Run(strconv.Itoa(clients), func(t *testing.T) {
			pfx := prefix(t)
			clock := testutil.NewClock(creditStart)
			o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
			a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
			scriptsA, scriptsB := countScripts(a), countScripts(b)
			adm := limit.Admission{KeyID: "key_rate", KeyPerMinute: 100}
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for g := range clients {
				admitter := a.Admitter()
				if g%2 == 1 {
					admitter = b.Admitter()
				}
				wg.Go(func() {
					for range 300 / clients {
						tk, err := admitter.Admit(t.Context(), adm)
						switch {
						case err == nil:
							admitted.Add(1)
							tk.Release()
						case !isRefusal(err, limit.LimitKeyRate):
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if n := admitted.Load(); n != 100 {
				t.Fatalf("%d of 300 attempts admitted, want exactly 100 (rpm 100)", n)
			}
			t.Logf("%d scripts for 300 attempts", scriptsA.Load()+scriptsB.Load())
			if n := scriptsA.Load() + scriptsB.Load(); clients == 30 && n >= 300 {
				t.Fatalf("%d scripts for 300 attempts: nothing borrowed", n)
			}
			for _, r := range []*cluster.Redis{a, b} {
				tk, err := r.Admitter().Admit(t.Context(), adm)
				var ref *limit.Refusal
				if !errors.As(err, &ref) || ref.Limit != limit.LimitKeyRate || ref.RetryAfter != time.Minute {
					t.Fatalf("attempt 301: %v, %v; want a key rate refusal retrying after 60s", tk, err)
				}
			}
			clock.Advance(time.Minute + time.Second)
			for _, r := range []*cluster.Redis{a, b} {
				if _, err := r.Admitter().Admit(t.Context(), adm); err != nil {
					t.Fatalf("a minute later: %v", err)
				}
			}
		})
	}
}

// Attempts made on borrowed window entries count in the window at least
// 60 s after they were made (their entries are scored at the end of their
// credit life, a second after they were borrowed), and leave it 60 s
// after that end.
func TestCreditRateEntriesOutliveAttempts(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	clock := testutil.NewClock(creditStart)
	o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
	a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
	scripts := countScripts(a)
	adm := limit.Admission{KeyID: "key_late", KeyPerMinute: 100}
	if _, err := a.Admitter().Admit(t.Context(), adm); err != nil { // borrows 8 entries
		t.Fatal(err)
	}
	clock.Advance(999 * time.Millisecond) // the last moment the credit lives
	for i := range 8 {
		if _, err := a.Admitter().Admit(t.Context(), adm); err != nil {
			t.Fatalf("attempt %d, just under a second later: %v", i+2, err)
		}
	}
	cluster.Settle(a)
	if n := scripts.Load(); n != 2 {
		t.Fatalf("%d scripts for 9 attempts, want 2 (8 on borrowed entries, and one early refill)", n)
	}
	fill := func(want int, when string) {
		t.Helper()
		n := 0
		for ; n < 200; n++ {
			if _, err := b.Admitter().Admit(t.Context(), adm); err != nil {
				if !isRefusal(err, limit.LimitKeyRate) {
					t.Fatal(err)
				}
				break
			}
		}
		if n != want {
			t.Fatalf("%s: %d admitted, want %d", when, n, want)
		}
	}
	// 59.999 s after the 8 attempts on credit (60.998 s after the first,
	// which has left): the 8 still count.
	clock.Advance(59999 * time.Millisecond)
	cluster.Sweep(a) // the refill, unused, goes back
	cluster.Settle(a)
	fill(92, "a minute after the first attempt, just under one after the 8 on credit")
	// Past a minute after their credit's end, the 8 have left too: the
	// 92 just admitted remain, and the refused attempt after them (a
	// window counts refused attempts too).
	clock.Advance(2 * time.Millisecond)
	fill(7, "a minute after the 8 entries' credit ended")
	if _, err := a.Admitter().Admit(t.Context(), adm); !isRefusal(err, limit.LimitKeyRate) {
		t.Fatalf("replica A, window full: %v", err)
	}
}

// Credit a replica does not use is given back after a second: Redis then
// holds exactly what was used.
func TestCreditRefund(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	clock := testutil.NewClock(creditStart)
	r := openRedis(t, url, pfx, cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1})
	raw := rawRedis(t, url)
	win, leases := pfx+"win:key:key_idle", pfx+"lease:key:key_idle"
	tk, err := r.Admitter().Admit(t.Context(), limit.Admission{KeyID: "key_idle", KeyPerMinute: 100, KeyMaxConcurrent: 32})
	if err != nil {
		t.Fatal(err)
	}
	tk.Release()
	cluster.Settle(r)
	if w, l := zcard(t, raw, win), zcard(t, raw, leases); w != 9 || l != 8 {
		t.Fatalf("after one admission: %d window entries and %d leases, want 9 and 8 (1 used, 8 borrowed)", w, l)
	}
	clock.Advance(500 * time.Millisecond)
	cluster.Sweep(r)
	if w, l := zcard(t, raw, win), zcard(t, raw, leases); w != 9 || l != 8 {
		t.Fatalf("half a second later: %d window entries and %d leases, want the credit kept", w, l)
	}
	clock.Advance(600 * time.Millisecond)
	cluster.Sweep(r)
	if w, l := zcard(t, raw, win), zcard(t, raw, leases); w != 1 || l != 0 {
		t.Fatalf("1.1 s later: %d window entries and %d leases, want 1 and 0", w, l)
	}
}

// Near the concurrency limit the exact path holds: past half the limit
// (not counting a replica's own idle spares, at most a quarter of the
// limit) nothing is lent, spares never take the set past the limit, and
// spares another replica kept idle are given back within a second.
func TestCreditNearLimit(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	clock := testutil.NewClock(creditStart)
	o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
	a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
	raw := rawRedis(t, url)
	leases := pfx + "lease:key:key_16"
	adm := limit.Admission{KeyID: "key_16", KeyMaxConcurrent: 16}
	hold := func(r *cluster.Redis, n int) {
		t.Helper()
		for i := range n {
			if _, err := r.Admitter().Admit(t.Context(), adm); err != nil {
				t.Fatalf("admission %d: %v", i+1, err)
			}
		}
	}
	hold(a, 9)
	cluster.Settle(a)
	if n := zcard(t, raw, leases); n < 9 || n > 9+4 {
		t.Fatalf("9 held: %d leases in Redis, want 9 and at most 4 spares", n)
	}
	for i := range 7 {
		hold([]*cluster.Redis{b, a}[i%2], 1)
	}
	for _, r := range []*cluster.Redis{a, b} {
		if _, err := r.Admitter().Admit(t.Context(), adm); !isRefusal(err, limit.LimitKeyConcurrency) {
			t.Fatalf("17th: %v, want a concurrency refusal", err)
		}
	}

	// A replica holding spares: A holds 5 (and keeps at most 4 spares),
	// B holds 8; the spares A does not use are B's after a second.
	adm.KeyID = "key_16b"
	leases = pfx + "lease:key:key_16b"
	hold(a, 5)
	hold(b, 8)
	cluster.Settle(a)
	if n := zcard(t, raw, leases); n < 13 || n > 16 {
		t.Fatalf("%d leases in Redis, want 13 held and at most 3 spares", n)
	}
	clock.Advance(1100 * time.Millisecond)
	cluster.Sweep(a)
	hold(b, 3)
	if _, err := b.Admitter().Admit(t.Context(), adm); !isRefusal(err, limit.LimitKeyConcurrency) {
		t.Fatalf("17th: %v, want a concurrency refusal", err)
	}
}

// Sequential admissions on a roomy key cost about one script run per 8
// (plus the one lending); keys with small limits or an IP limit never
// borrow: one script each.
func TestCreditScriptRuns(t *testing.T) {
	url := redisURL(t)
	for _, tt := range []struct {
		name string
		adm  limit.Admission
		max  int64
	}{
		{"roomy", limit.Admission{KeyID: "key_big", KeyPerMinute: 87_000, KeyMaxConcurrent: 64}, 200/8 + 2},
		{"rate only", limit.Admission{KeyID: "key_big", KeyPerMinute: 87_000}, 200/9 + 2},
		{"concurrency only", limit.Admission{KeyID: "key_big", KeyMaxConcurrent: 64}, 2},
		{"small rate", limit.Admission{KeyID: "key_small", KeyPerMinute: 63, KeyMaxConcurrent: 64}, 200},
		{"small concurrency", limit.Admission{KeyID: "key_small", KeyPerMinute: 87_000, KeyMaxConcurrent: 15}, 200},
		{"IP limit", limit.Admission{IP: "192.0.2.9", IPPerMinute: 100_000, KeyID: "key_ip", KeyPerMinute: 87_000, KeyMaxConcurrent: 64}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := testutil.NewClock(creditStart)
			r := openRedis(t, url, prefix(t), cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1})
			scripts := countScripts(r)
			admitted := 0
			for range 200 {
				tk, err := r.Admitter().Admit(t.Context(), tt.adm)
				if err != nil {
					if tt.max < 200 {
						t.Fatal(err)
					}
					continue // the small rate refuses past 63
				}
				admitted++
				tk.Release()
			}
			n := scripts.Load()
			if tt.max == 200 && n != 200 {
				t.Fatalf("%d script runs for 200 admissions, want 200 (no borrowing)", n)
			}
			if n > tt.max {
				t.Fatalf("%d script runs for %d admissions, want at most %d", n, admitted, tt.max)
			}
		})
	}
}

// Borrowed window entries left unused while the window filled up are not
// given back: the full window trimmed older attempts in their favour, so
// removing them would let more attempts in than the limit allows.
func TestCreditRefundAfterTrim(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	clock := testutil.NewClock(creditStart)
	o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
	a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
	exact := limit.Admission{IP: "192.0.2.1", IPPerMinute: 10_000, KeyID: "key_trim", KeyPerMinute: 100} // an IP limit: never borrows
	until := func(r *cluster.Redis, adm limit.Admission) int {
		t.Helper()
		for n := 0; ; n++ {
			if _, err := r.Admitter().Admit(t.Context(), adm); err != nil {
				if !isRefusal(err, limit.LimitKeyRate) {
					t.Fatal(err)
				}
				return n
			}
		}
	}
	for range 40 {
		if _, err := b.Admitter().Admit(t.Context(), exact); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(100 * time.Millisecond)
	if _, err := a.Admitter().Admit(t.Context(), limit.Admission{KeyID: "key_trim", KeyPerMinute: 100}); err != nil { // borrows 8
		t.Fatal(err)
	}
	clock.Advance(100 * time.Millisecond)
	if n := until(b, exact); n != 51 {
		t.Fatalf("%d admitted after 41 and 8 borrowed, want 51", n)
	}
	// 93 attempts in the window (92 admitted, 1 refused): 7 more at most,
	// once A's 8 unused entries are swept.
	clock.Advance(1100 * time.Millisecond)
	cluster.Sweep(a)
	if n := until(b, exact); n > 7 {
		t.Fatalf("%d admitted after the sweep with 93 attempts in the window, want at most 7", n)
	}
}

// While Redis is away, credit already borrowed still admits (it was
// counted in Redis when borrowed); once it is used up, the failure mode
// applies.
func TestCreditDuringOutage(t *testing.T) {
	base := redisURL(t)
	p, url := testutil.NewFaultProxy(t, base)
	clock := testutil.NewClock(creditStart)
	var failures atomic.Int64
	r := openRedis(t, url, prefix(t), cluster.Options{Clock: clock, FailureMode: cluster.FailClosed, LeaseTTL: testTTL, RefreshEvery: -1,
		OnFailure: func(string) { failures.Add(1) }})
	adm := limit.Admission{KeyID: "key_out", KeyPerMinute: 100, KeyMaxConcurrent: 32}
	tk, err := r.Admitter().Admit(t.Context(), adm) // borrows 8 entries and 8 leases
	if err != nil {
		t.Fatal(err)
	}
	tk.Release()
	cluster.Settle(r)
	p.Set(testutil.ProxyDrop)
	if _, _, err := r.TakeSlot(t.Context(), "acct", 1); err == nil { // Redis is now known to fail
		t.Fatal("TakeSlot with Redis away: no error")
	}
	for i := range 8 {
		tk, err := r.Admitter().Admit(t.Context(), adm)
		if err != nil {
			t.Fatalf("admission %d on borrowed credit, Redis away: %v", i+1, err)
		}
		defer tk.Release()
	}
	if _, err := r.Admitter().Admit(t.Context(), adm); !isRefusal(err, cluster.LimitUnavailable) {
		t.Fatalf("credit used up, Redis away, mode closed: %v, want the unavailable refusal", err)
	}
	if failures.Load() == 0 {
		t.Fatal("no Redis failure counted")
	}
}
