package genspark_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// recorded is one request the fake upstream received.
type recorded struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// JSON decodes the recorded body into a generic value.
func (r recorded) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("request body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// fake is a loopback Genspark: it records every request and dispatches
// by path to handlers a test sets.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []recorded
	handlers map[string]http.HandlerFunc
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{t: t, handlers: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	f.mu.Lock()
	f.requests = append(f.requests, recorded{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body,
	})
	h := f.handlers[r.URL.Path]
	f.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// handle sets the handler of path.
func (f *fake) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

// reqs returns the recorded requests to path.
func (f *fake) reqs(path string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.requests {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// lastAsk returns the last ask request.
func (f *fake) lastAsk(t *testing.T) recorded {
	t.Helper()
	asks := f.reqs("/api/copilot/ask")
	if len(asks) == 0 {
		t.Fatal("no ask request received")
	}
	return asks[len(asks)-1]
}

// respond answers with status and body.
func respond(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// sse joins JSON payloads into an ask stream: `data: X` and a blank line.
func sse(payloads ...string) string {
	var b strings.Builder
	for _, p := range payloads {
		b.WriteString("data: ")
		b.WriteString(p)
		b.WriteString("\n\n")
	}
	return b.String()
}

// okAnswer is a minimal complete stream answering text with project id.
func okAnswer(projectID, text string) string {
	return sse(
		`{"id": "`+projectID+`", "type": "project_start"}`,
		`{"message_id": "m1", "field_name": "session_state.answer", "delta": "`+text+`", "type": "message_field_delta"}`,
		`{"id": "m1", "role": "assistant", "content": "`+text+`", "type": "message_result"}`,
	)
}

// newProvider returns a provider against base with cfg adjusted by mod.
func newProvider(t *testing.T, base string, mod func(*genspark.Config)) *genspark.Provider {
	t.Helper()
	clients, err := httpx.NewClients("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := genspark.Config{BaseURL: base, Clients: clients}
	if mod != nil {
		mod(&cfg)
	}
	p, err := genspark.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Wait)
	return p
}

// account returns a test account.
func account(id, cookie string) *gw.Account {
	return &gw.Account{ID: id, Provider: "genspark", Label: id, Cookie: cookie}
}

// userReq returns a one-message request.
func userReq(model, text string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{llm.TextMessage(llm.RoleUser, text)}}
}

// chat runs one exchange and collects it; the error is the one of Chat or
// of the stream.
func chat(t *testing.T, p *genspark.Provider, acct *gw.Account, req *llm.Request) (*llm.Answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p.Chat(ctx, acct, req)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return llm.Collect(s)
}

// collectEvents drains s into its events and final error.
func collectEvents(s llm.Stream) ([]llm.Event, error) {
	var evs []llm.Event
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

// wantCode asserts err is a *gw.Error with code (and provider genspark).
func wantCode(t *testing.T, err error, code gw.Code) *gw.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	var ge *gw.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) is not a *gw.Error", err, err)
	}
	if ge.Code != code {
		t.Fatalf("code = %s (%q), want %s", ge.Code, ge.Message, code)
	}
	if ge.Provider != "genspark" {
		t.Errorf("Provider = %q, want genspark", ge.Provider)
	}
	return ge
}

// waitOrFail waits for ch with a generous bound: a liveness guard, not a
// timing assertion.
func waitOrFail(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
