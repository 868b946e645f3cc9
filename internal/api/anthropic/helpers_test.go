package anthropic_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// fakeBackend answers with scripted streams and records the requests.
type fakeBackend struct {
	// ChatFn, when set, answers Chat; otherwise Events/Err/ChatErr are used.
	ChatFn  func(ctx context.Context, req *llm.Request) (llm.Stream, error)
	Events  []llm.Event
	Err     error // returned by Recv after Events instead of io.EOF
	ChatErr error // returned by Chat

	mu      sync.Mutex
	reqs    []*llm.Request
	streams []*fakeStream
}

func (b *fakeBackend) Chat(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	b.mu.Unlock()
	if b.ChatFn != nil {
		return b.ChatFn(ctx, req)
	}
	if b.ChatErr != nil {
		return nil, b.ChatErr
	}
	s := newFakeStream(ctx, b.Events, b.Err)
	b.mu.Lock()
	b.streams = append(b.streams, s)
	b.mu.Unlock()
	return s, nil
}

func (b *fakeBackend) Models(context.Context) []llm.ModelInfo { return nil }

// lastRequest returns the last request Chat received.
func (b *fakeBackend) lastRequest(t *testing.T) *llm.Request {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		t.Fatal("backend got no request")
	}
	return b.reqs[len(b.reqs)-1]
}

// calls returns how many requests Chat received.
func (b *fakeBackend) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

// lastStream returns the last stream handed out.
func (b *fakeBackend) lastStream(t *testing.T) *fakeStream {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.streams) == 0 {
		t.Fatal("backend made no stream")
	}
	return b.streams[len(b.streams)-1]
}

// fakeStream yields scripted events, then Err or io.EOF. With Block set it
// waits for ctx after the events; with Endless it yields text forever;
// Delay sleeps before every event.
type fakeStream struct {
	ctx     context.Context
	events  []llm.Event
	err     error
	Block   bool
	Endless bool
	Delay   time.Duration

	i      int
	recvs  atomic.Int32
	closes atomic.Int32
	closed chan struct{}
}

func newFakeStream(ctx context.Context, events []llm.Event, err error) *fakeStream {
	return &fakeStream{ctx: ctx, events: events, err: err, closed: make(chan struct{})}
}

func (s *fakeStream) Recv() (llm.Event, error) {
	s.recvs.Add(1)
	if s.closes.Load() > 0 {
		return llm.Event{}, errors.New("recv after close")
	}
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-s.ctx.Done():
			return llm.Event{}, s.ctx.Err()
		}
	}
	if s.i < len(s.events) {
		s.i++
		return s.events[s.i-1], nil
	}
	switch {
	case s.Endless:
		return llm.Event{Type: llm.EventTextDelta, Text: strings.Repeat("x", 512)}, nil
	case s.Block:
		<-s.ctx.Done()
		return llm.Event{}, s.ctx.Err()
	case s.err != nil:
		return llm.Event{}, s.err
	}
	return llm.Event{}, io.EOF
}

func (s *fakeStream) Close() error {
	if s.closes.Add(1) == 1 {
		close(s.closed)
	}
	return nil
}

// waitClosed waits for s to be closed exactly once.
func waitClosed(t *testing.T, s *fakeStream) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("backend stream was not closed")
	}
	time.Sleep(10 * time.Millisecond)
	if n := s.closes.Load(); n != 1 {
		t.Errorf("stream closed %d times", n)
	}
}

// Event constructors.
func text(s string) llm.Event      { return llm.Event{Type: llm.EventTextDelta, Text: s} }
func reasoning(s string) llm.Event { return llm.Event{Type: llm.EventReasoningDelta, Text: s} }
func finish(r llm.FinishReason) llm.Event {
	return llm.Event{Type: llm.EventFinish, FinishReason: r}
}
func usage(p, c int) llm.Event {
	return llm.Event{Type: llm.EventUsage, Usage: &llm.Usage{PromptTokens: p, CompletionTokens: c}}
}
func toolDelta(i int, id, name, args string) llm.Event {
	return llm.Event{Type: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Index: i, ID: id, Name: name, Arguments: args}}
}

// newServer serves a Handler for b on a loopback test server. Requests
// carry the key id "key-1" and the request id "req_test" as the server
// middleware would set them.
func newServer(t *testing.T, b anthropic.Backend, opts anthropic.Options) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	anthropic.New(b, opts).Register(mux, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := reqctx.WithRequestID(reqctx.WithKeyID(r.Context(), "key-1"), "req_test")
		mux.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns an official SDK client for srv (no retries).
func newClient(srv *httptest.Server) sdk.Client {
	return sdk.NewClient(
		option.WithBaseURL(srv.URL),
		option.WithAPIKey("sk-ant-test"),
		option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()),
	)
}

// post sends a raw JSON request and returns the response with its body read.
func post(t *testing.T, srv *httptest.Server, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// frame is one parsed SSE frame.
type frame struct {
	Event string
	Data  string
}

// sseFrames splits an Anthropic SSE body into frames, failing on anything
// but "event: " + "data: " line pairs separated by blank lines, and on a
// data type that differs from the event name.
func sseFrames(t *testing.T, body string) []frame {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Errorf("body does not end with a blank line: %q", tail(body))
	}
	var (
		out []frame
		cur frame
		n   int // lines in the current frame
	)
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if n != 2 {
				t.Errorf("frame with %d lines: %+v", n, cur)
			}
			out = append(out, cur)
			cur, n = frame{}, 0
		case strings.HasPrefix(line, "event: ") && n == 0:
			cur.Event = strings.TrimPrefix(line, "event: ")
			n++
		case strings.HasPrefix(line, "data: ") && n == 1:
			cur.Data = strings.TrimPrefix(line, "data: ")
			n++
		default:
			t.Errorf("unexpected SSE line %q (line %d of its frame)", line, n+1)
		}
	}
	for _, f := range out {
		var v struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(f.Data), &v); err != nil {
			t.Errorf("frame %q: data is not JSON: %v", f.Event, err)
			continue
		}
		if v.Type != f.Event {
			t.Errorf("frame event %q carries data type %q", f.Event, v.Type)
		}
	}
	return out
}

func tail(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}

// settleGoroutines waits until the goroutine count drops to at most n.
func settleGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, want <= %d\n%s", got, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// userMsg is a one-message conversation for SDK calls.
func userMsg(s string) []sdk.MessageParam {
	return []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock(s))}
}

// mustJSON decodes s into a generic value.
func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	return v
}
