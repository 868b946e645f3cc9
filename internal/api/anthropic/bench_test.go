package anthropic_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/llm"
)

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
	body := `{"model":"test-model","max_tokens":1024,"system":` + strconv.Quote(strings.Repeat(line, 40)) + `,"messages":[` + strings.Join(msgs, ",") + `]}`
	events := []llm.Event{text("Please say this line back."), finish(llm.FinishStop), usage(1, 1)}
	mux := http.NewServeMux()
	anthropic.New(&fakeBackend{Events: events}, anthropic.Options{}).Register(mux, "")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(body))
		r.Header.Set("anthropic-version", "2023-06-01")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
