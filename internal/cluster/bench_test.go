package cluster_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
)

// BenchmarkAdmit measures one admission (IP window, key window, key
// concurrency, then the release) in process and through Redis: the
// difference is what a replica pays per request for limits that hold
// across replicas.
func BenchmarkAdmit(b *testing.B) {
	run := func(b *testing.B, adm limit.Admitter) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				tk, err := adm.Admit(b.Context(), limit.Admission{IP: "192.0.2.1", IPPerMinute: 100_000,
					KeyID: "key_" + strconv.Itoa(i%8), KeyPerMinute: 100_000, KeyMaxConcurrent: 1000})
				if err == nil {
					tk.Release()
				} else if !isRefusal(err, limit.LimitIPRate) && !isRefusal(err, limit.LimitKeyRate) {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("memory", func(b *testing.B) { run(b, limit.NewMemoryAdmitter(nil, 0)) })
	b.Run("redis", func(b *testing.B) {
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
	})
}
