package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/sqlite"
)

// BenchmarkAddUsage measures the writer's cost per usage record, in
// batches of 500 as the recorder writes them.
func BenchmarkAddUsage(b *testing.B) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), sqlite.FileName), sealer(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	batch := make([]store.UsageRecord, 500)
	now := time.Now()
	for i := range batch {
		batch[i] = store.UsageRecord{Time: now, RequestID: fmt.Sprintf("req_%024d", i), KeyID: "key_abcdef", AccountID: fmt.Sprintf("acct_%d", i%8),
			Route: "POST /v1/chat/completions", Model: "gpt-5.1", ServedModel: "gpt-5.1", Status: 200,
			InputTokens: 100, OutputTokens: 200, LatencyMS: 5, TTFTMS: 2}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := db.AddUsage(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}
