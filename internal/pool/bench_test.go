package pool_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
)

// BenchmarkAcquireRelease measures the per-request cost of choosing an
// account (no store round trip on the success path).
func BenchmarkAcquireRelease(b *testing.B) {
	for _, n := range []int{1, 10, 100, 10000} {
		for _, strategy := range []pool.Strategy{pool.Random, pool.RoundRobin, pool.LeastBusy} {
			b.Run(fmt.Sprintf("%s/%d", strategy, n), func(b *testing.B) {
				st := memstore.New(nil)
				for i := range n {
					if _, err := st.CreateAccount(context.Background(), store.Account{Provider: "genspark", Cookie: fmt.Sprint("session_id=s", i)}); err != nil {
						b.Fatal(err)
					}
				}
				p, err := pool.New(context.Background(), pool.Options{Store: st, Strategy: strategy})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				req := pool.Request{Provider: "genspark", Model: "gpt-5.1"}
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						l, err := p.Acquire(ctx, req)
						if err != nil {
							b.Fatal(err)
						}
						l.Release(nil)
					}
				})
			})
		}
	}
}
