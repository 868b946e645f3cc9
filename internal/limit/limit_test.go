package limit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/testutil"
)

func newMemory(t *testing.T, o limit.Options) (*limit.Memory, *testutil.Clock) {
	t.Helper()
	c := testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	o.Clock = c
	m, err := limit.NewMemory(o)
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

// step is one request (after advancing the clock) and its expected verdict.
type step struct {
	advance time.Duration
	key     string
	ok      bool
	retry   time.Duration
}

func TestMemoryAllow(t *testing.T) {
	tests := []struct {
		name  string
		opts  limit.Options
		warm  int // requests for "a" allowed before the steps
		steps []step
	}{
		{"Off", limit.Options{PerMinute: 0}, 1000, []step{{0, "a", true, 0}}},
		{"SeedDefault60", limit.Options{PerMinute: 60}, 60, []step{
			{0, "a", false, time.Second},
			{0, "b", true, 0}, // keys are independent
			{time.Second, "a", true, 0},
			{0, "a", false, time.Second},
			{59 * time.Second, "a", true, 0},
		}},
		{"TwoPerMinute", limit.Options{PerMinute: 2}, 2, []step{
			{0, "a", false, 30 * time.Second},
			{29 * time.Second, "a", false, time.Second},
			{time.Second, "a", true, 0},
			{0, "a", false, 30 * time.Second},
		}},
		{"BurstOne", limit.Options{PerMinute: 6, Burst: 1}, 1, []step{
			{0, "a", false, 10 * time.Second},
			{10 * time.Second, "a", true, 0},
		}},
		{"DeniedRequestsDoNotCount", limit.Options{PerMinute: 1}, 1, []step{
			{0, "a", false, time.Minute},
			{30 * time.Second, "a", false, 30 * time.Second},
			{30 * time.Second, "a", true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, c := newMemory(t, tt.opts)
			for i := range tt.warm {
				if ok, _, err := m.Allow(t.Context(), "a"); !ok || err != nil {
					t.Fatalf("warm-up request %d denied (%v)", i+1, err)
				}
			}
			for i, s := range tt.steps {
				c.Advance(s.advance)
				ok, retry, err := m.Allow(t.Context(), s.key)
				if err != nil || ok != s.ok || retry != s.retry {
					t.Fatalf("step %d: ok=%v retry=%v err=%v, want ok=%v retry=%v", i, ok, retry, err, s.ok, s.retry)
				}
			}
		})
	}
}

func TestMemoryAllowRate(t *testing.T) {
	m, c := newMemory(t, limit.Options{PerMinute: 1})
	ctx := t.Context()
	for i := range 3 {
		if ok, _, _ := m.AllowRate(ctx, "key:1", 3); !ok {
			t.Fatalf("request %d of 3/min denied", i+1)
		}
	}
	if ok, retry, _ := m.AllowRate(ctx, "key:1", 3); ok || retry != 20*time.Second {
		t.Fatalf("4th of 3/min: ok=%v retry=%v", ok, retry)
	}
	// A changed rate starts afresh.
	if ok, _, _ := m.AllowRate(ctx, "key:1", 10); !ok {
		t.Fatal("new rate did not reset the bucket")
	}
	if ok, _, _ := m.AllowRate(ctx, "key:2", 0); !ok {
		t.Fatal("rate 0 is not unlimited")
	}
	c.Advance(time.Minute)
	if ok, _, _ := m.AllowRate(ctx, "key:1", 10); !ok {
		t.Fatal("bucket did not refill")
	}
}

func TestMemoryForgetsIdleKeys(t *testing.T) {
	m, c := newMemory(t, limit.Options{PerMinute: 60})
	for i := range 1000 {
		m.Allow(t.Context(), fmt.Sprint("10.0.0.", i))
	}
	if m.Len() != 1000 {
		t.Fatalf("Len = %d", m.Len())
	}
	c.Advance(time.Minute)
	m.Allow(t.Context(), "10.0.0.1")
	if m.Len() != 1 {
		t.Fatalf("after a minute idle: Len = %d, want 1", m.Len())
	}
	// A forgotten key starts with a full bucket, which is what it had.
	for i := range 59 {
		if ok, _, _ := m.Allow(t.Context(), "10.0.0.2"); !ok {
			t.Fatalf("request %d of a forgotten key denied", i+1)
		}
	}
}

func TestMemoryBoundedKeys(t *testing.T) {
	m, _ := newMemory(t, limit.Options{PerMinute: 60, MaxKeys: 10})
	for i := range 500 {
		if ok, _, _ := m.Allow(t.Context(), fmt.Sprint("spoofed-", i)); !ok {
			t.Fatal("new key denied")
		}
		if m.Len() > 10 {
			t.Fatalf("Len = %d above MaxKeys", m.Len())
		}
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m, _ := newMemory(t, limit.Options{PerMinute: 100})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 50 {
				if ok, _, _ := m.Allow(context.Background(), "ip"); ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 100 {
		t.Fatalf("%d allowed, want exactly 100", allowed.Load())
	}
}

func TestMemorySystemClockSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := limit.NewMemory(limit.Options{PerMinute: 1})
		if err != nil {
			t.Fatal(err)
		}
		m.Allow(t.Context(), "k")
		if ok, retry, _ := m.Allow(t.Context(), "k"); ok || retry != time.Minute {
			t.Fatalf("ok=%v retry=%v", ok, retry)
		}
		time.Sleep(time.Minute)
		if ok, _, _ := m.Allow(t.Context(), "k"); !ok {
			t.Fatal("not allowed after a minute")
		}
	})
}

func TestNewMemoryRejectsNegative(t *testing.T) {
	for _, o := range []limit.Options{{PerMinute: -1}, {Burst: -1}, {MaxKeys: -1}} {
		if _, err := limit.NewMemory(o); err == nil {
			t.Errorf("NewMemory(%+v) accepted", o)
		}
	}
}
