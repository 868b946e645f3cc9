package cluster_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/testutil"
)

// The tests of the batcher: the commands of concurrent requests share
// pipelines (the hot path's admissions, slots and releases), and each
// caller still gets its own answer, as if it had been alone.

// batchSizes records the largest pipeline r sent.
func batchSizes(r *cluster.Redis) *atomic.Int64 {
	var largest atomic.Int64
	cluster.OnPipeline(r, func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
		for n := int64(len(cmds)); n > largest.Load(); {
			if largest.CompareAndSwap(largest.Load(), n) {
				break
			}
		}
		return next(ctx, cmds)
	})
	return &largest
}

// waitQueued returns once n commands wait for r's next batch.
func waitQueued(t *testing.T, r *cluster.Redis, n int) {
	t.Helper()
	for cluster.Queued(r) < n {
		if t.Context().Err() != nil {
			t.Fatalf("%d commands never queued", n)
		}
		runtime.Gosched()
	}
}

// TestBatchedMaxConcurrency: many requests of one key at once, on two
// replicas, never hold more than its max_concurrency, and every one is
// admitted in the end, as earlier ones release.
func TestBatchedMaxConcurrency(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	o := cluster.Options{LeaseTTL: testTTL, RefreshEvery: -1}
	a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
	largest := batchSizes(a)
	const max, clients, each = 4, 48, 5
	adm := limit.Admission{KeyID: "key_c", KeyMaxConcurrent: max}
	var held, most, admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		admitter := a.Admitter()
		if i%2 == 1 {
			admitter = b.Admitter()
		}
		wg.Go(func() {
			for n := 0; n < each; {
				tk, err := admitter.Admit(t.Context(), adm)
				if isRefusal(err, limit.LimitKeyConcurrency) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				now := held.Add(1)
				for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
				}
				runtime.Gosched()
				held.Add(-1)
				tk.Release()
				admitted.Add(1)
				n++
			}
		})
	}
	wg.Wait()
	if got := most.Load(); got > max {
		t.Errorf("%d requests held at once with max_concurrency %d", got, max)
	}
	if got := admitted.Load(); got != clients*each {
		t.Errorf("%d admissions, want %d", got, clients*each)
	}
	if largest.Load() < 2 {
		t.Errorf("no pipeline carried more than one command: the test did not batch")
	}
}

// TestBatchedRateLimit: of many attempts at once on two replicas, a key
// with rpm K admits exactly K.
func TestBatchedRateLimit(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	clock := testutil.NewClock(start)
	o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
	a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
	largest := batchSizes(a)
	const rpm, attempts = 20, 96
	adm := limit.Admission{KeyID: "key_r", KeyPerMinute: rpm, IP: "192.0.2.5", IPPerMinute: 1000}
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range attempts {
		admitter := a.Admitter()
		if i%3 == 2 {
			admitter = b.Admitter()
		}
		wg.Go(func() {
			tk, err := admitter.Admit(t.Context(), adm)
			switch {
			case err == nil:
				admitted.Add(1)
				tk.Release()
			case isRefusal(err, limit.LimitKeyRate):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != rpm || refused.Load() != attempts-rpm {
		t.Errorf("%d admitted and %d refused of %d attempts under %d per minute", admitted.Load(), refused.Load(), attempts, rpm)
	}
	if largest.Load() < 2 {
		t.Errorf("no pipeline carried more than one command: the test did not batch")
	}
}

// TestBatchedReleaseThenAdmit: a client whose request ended sends the
// next one, to either replica, while other requests keep both replicas'
// batches busy: max_concurrency 1 never refuses it, because a release
// has reached Redis when it returns.
func TestBatchedReleaseThenAdmit(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	o := cluster.Options{LeaseTTL: testTTL, RefreshEvery: -1}
	replicas := []*cluster.Redis{openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)}
	largest := batchSizes(replicas[0])
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range 12 {
		admitter := replicas[i%2].Admitter()
		wg.Go(func() {
			for ctx.Err() == nil {
				if tk, err := admitter.Admit(ctx, limit.Admission{KeyID: "key_busy", KeyMaxConcurrent: 1000}); err == nil {
					tk.Release()
				}
			}
		})
	}
	adm := limit.Admission{KeyID: "key_1", KeyMaxConcurrent: 1}
	for i := range 300 {
		tk, err := replicas[i%2].Admitter().Admit(t.Context(), adm)
		if err != nil {
			stop()
			wg.Wait()
			t.Fatalf("request %d, sent after the previous one was released: %v", i, err)
		}
		tk.Release()
	}
	stop()
	wg.Wait()
	if largest.Load() < 2 {
		t.Errorf("no pipeline carried more than one command: the test did not batch")
	}
}

// TestBatchedCallerGone: a caller whose context ends while its command
// waits behind a batch in flight returns at once; its command still
// runs, and the lease it took is given back at once, or, if that fails
// too, lapses within its TTL. Both for an admission and an account slot.
func TestBatchedCallerGone(t *testing.T) {
	url := redisURL(t)
	type victim struct {
		take func(ctx context.Context, s *cluster.Redis) (release func(), err error)
	}
	victims := map[string]victim{
		"admission": {func(ctx context.Context, s *cluster.Redis) (func(), error) {
			tk, err := s.Admitter().Admit(ctx, limit.Admission{KeyID: "key_v", KeyMaxConcurrent: 1})
			if err != nil {
				return nil, err
			}
			return tk.Release, nil
		}},
		"slot": {func(ctx context.Context, s *cluster.Redis) (func(), error) {
			release, ok, err := s.TakeSlot(ctx, "acct_v", 1)
			if err == nil && !ok {
				err = &limit.Refusal{Limit: limit.LimitKeyConcurrency}
			}
			return release, err
		}},
	}
	for name, v := range victims {
		for _, releaseFails := range []bool{false, true} {
			sub := name + "/released"
			if releaseFails {
				sub = name + "/release_lost"
			}
			t.Run(sub, func(t *testing.T) {
				pfx := prefix(t)
				clock := testutil.NewClock(start)
				o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
				a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
				held, resume := make(chan struct{}), make(chan struct{})
				var first atomic.Bool
				var zrems atomic.Int64
				cluster.OnPipeline(a, func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
					if first.CompareAndSwap(false, true) {
						close(held)
						<-resume
					}
					for _, c := range cmds {
						if c.Name() == "zrem" {
							zrems.Add(1)
							if releaseFails {
								err := errors.New("test: Redis lost the release")
								for _, c := range cmds {
									c.SetErr(err)
								}
								return err
							}
						}
					}
					return next(ctx, cmds)
				})
				// A leader's batch is in flight (held by the hook).
				leaderDone := make(chan error)
				go func() {
					_, err := a.Admitter().Admit(t.Context(), limit.Admission{KeyID: "key_lead", KeyPerMinute: 100})
					leaderDone <- err
				}()
				<-held
				// The victim queues behind it, then its client goes.
				ctx, cancel := context.WithCancel(t.Context())
				victimDone := make(chan error)
				go func() {
					release, err := v.take(ctx, a)
					if release != nil {
						release()
					}
					victimDone <- err
				}()
				waitQueued(t, a, 1)
				cancel()
				if err := <-victimDone; !errors.Is(err, context.Canceled) {
					t.Fatalf("a caller gone while its command waited: %v, want context.Canceled", err)
				}
				close(resume)
				// The leader's flight goes on with the abandoned command
				// and its release before the leader returns.
				if err := <-leaderDone; err != nil {
					t.Fatal(err)
				}
				if zrems.Load() != 1 {
					t.Fatalf("%d releases sent for the abandoned command's lease, want 1 (did it run?)", zrems.Load())
				}
				if !releaseFails {
					release, err := v.take(t.Context(), b)
					if err != nil {
						t.Fatalf("the lease of a caller that went is still held: %v", err)
					}
					release()
					return
				}
				if _, err := v.take(t.Context(), b); !isRefusal(err, limit.LimitKeyConcurrency) {
					t.Fatalf("with its release lost, the lease should hold until its TTL: %v", err)
				}
				clock.Advance(testTTL - time.Second)
				if _, err := v.take(t.Context(), b); !isRefusal(err, limit.LimitKeyConcurrency) {
					t.Fatalf("with its release lost, the lease should hold until its TTL: %v", err)
				}
				clock.Advance(time.Second)
				release, err := v.take(t.Context(), b)
				if err != nil {
					t.Fatalf("the lease of a caller that went outlived its TTL: %v", err)
				}
				release()
			})
		}
	}
}

// TestBatchedFailure: Redis fails under a batch of admissions: every
// caller of the batch gets the failure mode's answer (open: admitted by
// the local limits; closed: refused with a Retry-After), none an error.
func TestBatchedFailure(t *testing.T) {
	base := redisURL(t)
	for _, mode := range []cluster.FailureMode{cluster.FailOpen, cluster.FailClosed} {
		t.Run(string(mode), func(t *testing.T) {
			p, url := testutil.NewFaultProxy(t, base)
			var failures atomic.Int64
			r := openRedis(t, url, prefix(t), cluster.Options{FailureMode: mode, LeaseTTL: testTTL, RefreshEvery: -1,
				OnFailure: func(string) { failures.Add(1) }})
			held, resume := make(chan struct{}), make(chan struct{})
			var first atomic.Bool
			var broken atomic.Int64 // commands of the batch Redis failed under
			cluster.OnPipeline(r, func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
				if first.CompareAndSwap(false, true) {
					close(held)
					<-resume
				} else if broken.CompareAndSwap(0, int64(len(cmds))) {
					p.Set(testutil.ProxyDrop)
				}
				return next(ctx, cmds)
			})
			leaderDone := make(chan error)
			go func() {
				_, err := r.Admitter().Admit(t.Context(), limit.Admission{KeyID: "key_lead", KeyPerMinute: 100})
				leaderDone <- err
			}()
			<-held
			const callers = 8
			answers := make(chan error, callers)
			for range callers {
				go func() {
					tk, err := r.Admitter().Admit(t.Context(), limit.Admission{KeyID: "key_b", KeyPerMinute: 100, KeyMaxConcurrent: 100})
					if err == nil {
						tk.Release()
					}
					answers <- err
				}()
			}
			waitQueued(t, r, callers)
			close(resume)
			if err := <-leaderDone; err != nil {
				t.Fatalf("the batch before the failure: %v", err)
			}
			for range callers {
				err := <-answers
				switch {
				case mode == cluster.FailOpen && err == nil:
				case mode == cluster.FailClosed && isRefusal(err, cluster.LimitUnavailable):
				default:
					t.Errorf("Redis failed under the batch, mode %s: Admit = %v", mode, err)
				}
			}
			if n := broken.Load(); n != callers {
				t.Errorf("Redis failed under a pipeline of %d commands, want the %d callers' batch", n, callers)
			}
			if failures.Load() == 0 {
				t.Error("the failure was not counted")
			}
		})
	}
}

// TestBatchedNoScript: Redis forgot the scripts (SCRIPT FLUSH, or a
// restart): the batch's admissions and slots are sent again in full
// (EVAL) and succeed.
func TestBatchedNoScript(t *testing.T) {
	url := redisURL(t)
	var failures atomic.Int64
	r := openRedis(t, url, prefix(t), cluster.Options{FailureMode: cluster.FailClosed, LeaseTTL: testTTL, RefreshEvery: -1,
		OnFailure: func(string) { failures.Add(1) }})
	ro, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(ro)
	defer admin.Close()
	if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	tk, err := r.Admitter().Admit(t.Context(), limit.Admission{KeyID: "key_n", KeyPerMinute: 10, KeyMaxConcurrent: 1})
	if err != nil {
		t.Fatalf("admission after SCRIPT FLUSH: %v", err)
	}
	tk.Release()
	release, ok, err := r.TakeSlot(t.Context(), "acct_n", 1)
	if err != nil || !ok {
		t.Fatalf("slot after SCRIPT FLUSH: %v, %v", ok, err)
	}
	release()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d Redis failures counted after SCRIPT FLUSH, want none", n)
	}
}

// TestBatchedBound: more callers queue behind a batch in flight than one
// pipeline takes: they are sent in pipelines of at most 128 commands,
// and every one is answered.
func TestBatchedBound(t *testing.T) {
	url := redisURL(t)
	r := openRedis(t, url, prefix(t), cluster.Options{LeaseTTL: testTTL, RefreshEvery: -1})
	held, resume := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	var mu sync.Mutex
	var sizes []int
	cluster.OnPipeline(r, func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
		if first.CompareAndSwap(false, true) {
			close(held)
			<-resume
		}
		mu.Lock()
		sizes = append(sizes, len(cmds))
		mu.Unlock()
		return next(ctx, cmds)
	})
	adm := limit.Admission{KeyID: "key_many", KeyPerMinute: 1000}
	leaderDone := make(chan error)
	go func() {
		_, err := r.Admitter().Admit(t.Context(), adm)
		leaderDone <- err
	}()
	<-held
	const callers = 300
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for range callers {
		wg.Go(func() {
			if _, err := r.Admitter().Admit(t.Context(), adm); err != nil {
				t.Error(err)
				return
			}
			admitted.Add(1)
		})
	}
	waitQueued(t, r, callers)
	close(resume)
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if admitted.Load() != callers {
		t.Fatalf("%d of %d queued callers admitted", admitted.Load(), callers)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 128, 128, 44}; !slices.Equal(sizes, want) {
		t.Errorf("pipelines of %v commands, want %v", sizes, want)
	}
}
