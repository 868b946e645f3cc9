package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/postgres"
	"github.com/sparkgw/spark/internal/store/storetest"
)

// usageBatch is the batch of the SQLite engine's BenchmarkAddUsage: 500
// records as the recorder writes them, over 8 accounts (8 roll-up rows).
func usageBatch() []store.UsageRecord {
	batch := make([]store.UsageRecord, 500)
	now := time.Now()
	for i := range batch {
		batch[i] = store.UsageRecord{Time: now, RequestID: fmt.Sprintf("req_%024d", i), KeyID: "key_abcdef", AccountID: fmt.Sprintf("acct_%d", i%8),
			Route: "POST /v1/chat/completions", Model: "gpt-5.1", ServedModel: "gpt-5.1", Status: 200,
			InputTokens: 100, OutputTokens: 200, LatencyMS: 5, TTFTMS: 2}
	}
	return batch
}

// BenchmarkAddUsage measures the writer's cost per usage record, in
// batches of 500 as the recorder writes them (compare with the SQLite
// engine's BenchmarkAddUsage).
func BenchmarkAddUsage(b *testing.B) {
	db, err := postgres.Open(b.Context(), storetest.PostgresURL(b), sealer(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	batch := usageBatch()
	for b.Loop() {
		if err := db.AddUsage(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}

// BenchmarkAddUsageTwoReplicas is BenchmarkAddUsage with two stores over
// one database writing at once, each from GOMAXPROCS goroutines, into the
// same roll-up rows (their upserts queue on the row locks).
func BenchmarkAddUsageTwoReplicas(b *testing.B) {
	url := storetest.PostgresURL(b)
	var dbs [2]*postgres.DB
	for i := range dbs {
		db, err := postgres.Open(b.Context(), url, sealer(b, 1))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	batch := usageBatch()
	next := make(chan int, 1)
	next <- 0
	b.RunParallel(func(pb *testing.PB) {
		i := <-next
		next <- i + 1
		db := dbs[i%2]
		for pb.Next() {
			if err := db.AddUsage(b.Context(), batch); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}
