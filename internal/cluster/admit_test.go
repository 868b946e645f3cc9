package cluster_test

import (
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/limit/limittest"
)

const testTTL = 10 * time.Second

func TestRedisAdmitter(t *testing.T) {
	url := redisURL(t)
	limittest.RunAdmitter(t, func(t *testing.T, clock limit.Clock) limit.Admitter {
		return openRedis(t, url, prefix(t), cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}).Admitter()
	})
}

func TestRedisAdmitterShared(t *testing.T) {
	url := redisURL(t)
	limittest.RunShared(t, func(t *testing.T, clock limit.Clock) limittest.Replicas {
		pfx := prefix(t)
		o := cluster.Options{Clock: clock, LeaseTTL: testTTL, RefreshEvery: -1}
		a, b := openRedis(t, url, pfx, o), openRedis(t, url, pfx, o)
		byAdmitter := map[limit.Admitter]*cluster.Redis{}
		ra, rb := a.Admitter(), b.Admitter()
		byAdmitter[ra], byAdmitter[rb] = a, b
		return limittest.Replicas{A: ra, B: rb, TTL: testTTL, Refresh: func(t *testing.T, adm limit.Admitter) {
			if err := byAdmitter[adm].Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
		}}
	})
}
