package openai_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
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

// BenchmarkLongConversation sends a 1 MB conversation (250 messages of
// 4,000 bytes of text with line breaks and quotes) for a short answer:
// what the front-end costs per kB of prompt.
func BenchmarkLongConversation(b *testing.B) {
	line := `He said "the gateway answers every request" and left.` + "\n"
	var msgs []string
	for i := range 250 {
		role := []string{"user", "assistant"}[i%2]
		msgs = append(msgs, `{"role":"`+role+`","content":`+strconv.Quote(strings.Repeat(line, 4000/len(line)))+`}`)
	}
	msgs = append(msgs, `{"role":"user","content":"Please say this line back."}`)
	body := `{"model":"test-model","messages":[` + strings.Join(msgs, ",") + `]}`
	events := []llm.Event{text("Please say this line back."), finish(llm.FinishStop), usage(1, 1, 0)}
	mux := http.NewServeMux()
	openai.New(&fakeBackend{Events: events}, openai.Options{}).Register(mux, "")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
