package cluster_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
)

// holdReleases makes every pipeline of r that carries a lease's release
// (a ZREM) call before(), then send.
func holdReleases(r *cluster.Redis, before func()) {
	cluster.OnPipeline(r, func(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
		for _, c := range cmds {
			if strings.EqualFold(c.Name(), "zrem") {
				before()
				break
			}
		}
		return next(ctx, cmds)
	})
}

// Far from the key's concurrency limit, a release is not waited for:
// Release returns while Redis has not yet been sent the lease's removal.
// The removal still comes before this replica's later commands: the
// limit's every slot is free for them at once.
func TestReleaseFarFromLimitNotWaited(t *testing.T) {
	url := redisURL(t)
	a := openRedis(t, url, prefix(t), cluster.Options{LeaseTTL: testTTL, RefreshEvery: -1})
	released := make(chan struct{})
	var waited atomic.Bool
	holdReleases(a, func() {
		select {
		case <-released:
		case <-time.After(10 * time.Second):
			waited.Store(true) // Release waited for this pipeline
		}
	})
	adm := limit.Admission{KeyID: "key_roomy", KeyMaxConcurrent: 8}
	tk, err := a.Admitter().Admit(t.Context(), adm)
	if err != nil {
		t.Fatal(err)
	}
	tk.Release() // 1 of 8 held: not waited for
	close(released)
	if waited.Load() {
		t.Fatal("a release with 1 of 8 leases held waited for Redis")
	}
	for i := range 8 {
		if _, err := a.Admitter().Admit(t.Context(), adm); err != nil {
			t.Fatalf("admission %d of 8 after the release: %v", i+1, err)
		}
	}
}

// Near the limit, a release is waited for: once Release returns, another
// replica finds the slot free. A limit of 1 is always near.
func TestReleaseNearLimitWaited(t *testing.T) {
	url := redisURL(t)
	pfx := prefix(t)
	o := cluster.Options{LeaseTTL: testTTL, RefreshEvery: -1}
	a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
	for _, max := range []int{1, 4} {
		var returned, early atomic.Bool
		holdReleases(a, func() { early.Store(early.Load() || returned.Load()) })
		adm := limit.Admission{KeyID: "key_tight_" + strconv.Itoa(max), KeyMaxConcurrent: max}
		var tickets []limit.Ticket
		for range max {
			tk, err := a.Admitter().Admit(t.Context(), adm)
			if err != nil {
				t.Fatal(err)
			}
			tickets = append(tickets, tk)
		}
		tickets[0].Release()
		returned.Store(true)
		if early.Load() {
			t.Errorf("max %d, all held: Release returned before its removal was sent", max)
		}
		if tk, err := b.Admitter().Admit(t.Context(), adm); err != nil {
			t.Errorf("max %d: another replica, right after the release: %v", max, err)
		} else {
			tk.Release()
		}
		for _, tk := range tickets[1:] {
			tk.Release()
		}
	}
}
