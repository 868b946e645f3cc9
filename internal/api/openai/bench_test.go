package openai_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/llm"
)

// BenchmarkStream1000 streams 1000 text deltas per op; divide allocs/op by
// 1000 for the per-chunk cost.
func BenchmarkStream1000(b *testing.B) {
	events := make([]llm.Event, 0, 1002)
	for range 1000 {
		events = append(events, text("hello "))
	}
	events = append(events, finish(llm.FinishStop), usage(1, 1000, 0))
	mux := http.NewServeMux()
	openai.New(&fakeBackend{Events: events}, openai.Options{}).Register(mux, "")
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(streamBody))
		mux.ServeHTTP(httptest.NewRecorder(), r)
	}
}
