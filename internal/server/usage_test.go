package server_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
)

// records collects the usage records a server hands over.
type records struct {
	mu   sync.Mutex
	list []store.UsageRecord
}

func (c *records) Record(r store.UsageRecord) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, r)
	return true
}

func (c *records) all() []store.UsageRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]store.UsageRecord(nil), c.list...)
}

// usageServer serves client-key routes that fill the usage note as the
// gateway does.
func usageServer(t *testing.T, rec server.UsageRecorder) *server.Server {
	t.Helper()
	s := server.New(server.Options{Keys: keys{"sk-good": "key_1"}, Usage: rec, WriteError: writeDialect})
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note := reqctx.UsageOf(r.Context())
		if note == nil {
			t.Error("no usage note in the handler's context")
			return
		}
		note.SetModels("gpt-5.1", "gpt-5.1-2025")
		note.SetAccount("acct_7")
		note.MarkFirstEvent(time.Now())
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: {}\n\n"))
		note.AddTokens(12, 34, 5)
	})
	fail := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqctx.UsageOf(r.Context()).SetModels("gemini-3-pro", "")
		openai.WriteError(w, &gw.Error{Code: gw.CodeNoAccounts, Message: "All cookies are temporarily unavailable."})
	})
	if err := s.Handle(
		route.Route{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Dialect: route.OpenAI, Handler: stream},
		route.Route{Pattern: "POST /v1/responses", Class: route.ClientKey, Dialect: route.OpenAI, Handler: fail},
		route.Route{Pattern: "GET /dashboard/api/me", Class: route.Session, Handler: echo("session")},
	); err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	return s
}

func TestUsageRecordPerClientRequest(t *testing.T) {
	rec := &records{}
	s := usageServer(t, rec)
	auth := map[string]string{"Authorization": "Bearer sk-good"}
	ok := request(t, s, "POST", "/v1/chat/completions", auth)
	failed := request(t, s, "POST", "/v1/responses", auth)
	refused := request(t, s, "POST", "/v1/chat/completions", map[string]string{"Authorization": "Bearer sk-bad"})
	// Not client-key routes: no record.
	request(t, s, "GET", "/healthz", nil)
	request(t, s, "GET", "/dashboard/api/me", nil)
	request(t, s, "GET", "/nowhere", auth)

	got := rec.all()
	if len(got) != 3 {
		t.Fatalf("%d records, want 3 (the client-key requests): %+v", len(got), got)
	}
	for i, w := range []*httptest.ResponseRecorder{ok, failed, refused} {
		if got[i].RequestID == "" || got[i].RequestID != w.Header().Get("X-Request-Id") {
			t.Errorf("record %d: request id %q, X-Request-Id %q", i, got[i].RequestID, w.Header().Get("X-Request-Id"))
		}
		if got[i].Status != w.Code {
			t.Errorf("record %d: status %d, answered %d", i, got[i].Status, w.Code)
		}
		if got[i].Time.IsZero() {
			t.Errorf("record %d has no time", i)
		}
	}
	r := got[0]
	if r.KeyID != "key_1" || r.AccountID != "acct_7" || r.Route != "POST /v1/chat/completions" ||
		r.Model != "gpt-5.1" || r.ServedModel != "gpt-5.1-2025" || r.ErrorClass != "" ||
		r.InputTokens != 12 || r.OutputTokens != 34 || r.ReasoningTokens != 5 || !r.Stream || r.TTFTMS < 1 {
		t.Errorf("streamed request's record: %+v", r)
	}
	if r := got[1]; r.Status != http.StatusTooManyRequests || r.ErrorClass != string(gw.CodeNoAccounts) ||
		r.Model != "gemini-3-pro" || r.Stream || r.TTFTMS != 0 || !r.Failed() {
		t.Errorf("failed request's record: %+v", r)
	}
	if r := got[2]; r.Status != http.StatusUnauthorized || r.ErrorClass != string(gw.CodeUnauthorized) || r.KeyID != "" {
		t.Errorf("refused request's record: %+v", r)
	}
}

func TestUsageOffPutsNoNote(t *testing.T) {
	s := server.New(server.Options{})
	var seen bool
	if err := s.Handle(route.Route{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = reqctx.UsageOf(r.Context()) != nil
	})}); err != nil {
		t.Fatal(err)
	}
	request(t, s, "POST", "/v1/chat/completions", nil)
	if seen {
		t.Error("a usage note is in the context with usage accounting off")
	}
}
