package cluster_test

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
)

// BenchmarkAdmit measures one admission (IP window, key window, key
// concurrency, then the release) in process and through Redis (and, as
// key_only, the same without the IP limit, which may use borrowed
// credit: see credit.go): the
// difference is what a replica pays per request for limits that hold
// across replicas. c1 is one client at a time (the latency of a lone
// request: one round trip for the admission, one for the release); c16
// is 16 clients at once whatever -cpu says (the throughput when commands
// of concurrent requests share pipelines).
func BenchmarkAdmit(b *testing.B) {
	ipLimit := 100_000
	admission := func(i int) limit.Admission {
		return limit.Admission{IP: "192.0.2.1", IPPerMinute: ipLimit,
			KeyID: "key_" + strconv.Itoa(i%8), KeyPerMinute: 100_000, KeyMaxConcurrent: 1000}
	}
	once := func(b *testing.B, adm limit.Admitter, i int) {
		tk, err := adm.Admit(b.Context(), admission(i))
		if err == nil {
			tk.Release()
		} else if !isRefusal(err, limit.LimitIPRate) && !isRefusal(err, limit.LimitKeyRate) {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, adm limit.Admitter) {
		b.Run("c1", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				once(b, adm, i)
			}
		})
		b.Run("c16", func(b *testing.B) {
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((16 + procs - 1) / procs)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					once(b, adm, i)
				}
			})
		})
	}
	redisRun := func(b *testing.B) {
		url := os.Getenv("SPARK_TEST_REDIS_URL")
		if url == "" {
			b.Skip("SPARK_TEST_REDIS_URL is unset")
		}
		r, err := cluster.Open(b.Context(), url, cluster.Options{Prefix: "{spark-bench-" + time.Now().Format("150405.000000000") + "}:"})
		if err != nil {
			b.Skip(err)
		}
		defer r.Close()
		run(b, r.Admitter())
	}
	b.Run("memory", func(b *testing.B) { run(b, limit.NewMemoryAdmitter(nil, 0)) })
	b.Run("redis", redisRun)
	b.Run("key_only", func(b *testing.B) {
		ipLimit = 0
		defer func() { ipLimit = 100_000 }()
		b.Run("memory", func(b *testing.B) { run(b, limit.NewMemoryAdmitter(nil, 0)) })
		b.Run("redis", redisRun)
	})
}
