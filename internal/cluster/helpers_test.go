package cluster_test

import (
	"os"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
)

// redisURL is the test Redis (scripts/services/redis.sh); the test is
// skipped without one unless SPARK_REQUIRE_SERVICES=1.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("SPARK_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("SPARK_REQUIRE_SERVICES") == "1" {
			t.Fatal("SPARK_TEST_REDIS_URL is unset (scripts/services/redis.sh sets it)")
		}
		t.Skip("SPARK_TEST_REDIS_URL is unset: no Redis to test against (scripts/services/redis.sh starts one)")
	}
	return u
}

// prefix is a key prefix no other test uses, so tests share one Redis
// and run in parallel.
func prefix(t *testing.T) string {
	return "{spark-test-" + t.Name() + "-" + time.Now().Format("150405.000000000") + "}:"
}

// openRedis opens one replica's view of the test Redis under pfx; it is
// closed when the test ends.
func openRedis(t *testing.T, url, pfx string, o cluster.Options) *cluster.Redis {
	t.Helper()
	o.Prefix = pfx
	r, err := cluster.Open(t.Context(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
