package openai_test

import (
	"bufio"
	"context"
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

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/sparkgw/spark/internal/api/openai"
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
	List    []llm.ModelInfo

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

func (b *fakeBackend) Models(context.Context) []llm.ModelInfo { return b.List }

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

// fakeStream yields scripted events, then Err or io.EOF. With Block set it
// waits for ctx after the events; with Endless it yields text forever.
type fakeStream struct {
	ctx     context.Context
	events  []llm.Event
	err     error
	Block   bool
	Endless bool

	i      int
	closes atomic.Int32
	closed chan struct{}
}

func newFakeStream(ctx context.Context, events []llm.Event, err error) *fakeStream {
	return &fakeStream{ctx: ctx, events: events, err: err, closed: make(chan struct{})}
}

func (s *fakeStream) Recv() (llm.Event, error) {
	if s.closes.Load() > 0 {
		return llm.Event{}, errors.New("recv after close")
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

// Event constructors.
func text(s string) llm.Event      { return llm.Event{Type: llm.EventTextDelta, Text: s} }
func reasoning(s string) llm.Event { return llm.Event{Type: llm.EventReasoningDelta, Text: s} }
func finish(r llm.FinishReason) llm.Event {
	return llm.Event{Type: llm.EventFinish, FinishReason: r}
}
func usage(p, c, r int) llm.Event {
	return llm.Event{Type: llm.EventUsage, Usage: &llm.Usage{PromptTokens: p, CompletionTokens: c, ReasoningTokens: r}}
}
func toolDelta(i int, id, name, args string) llm.Event {
	return llm.Event{Type: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Index: i, ID: id, Name: name, Arguments: args}}
}

// newServer serves a Handler for b under prefix on a loopback test server.
// Requests carry the key id "key-1" as the server middleware would set it.
func newServer(t *testing.T, b openai.Backend, prefix string, opts openai.Options) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	openai.New(b, opts).Register(mux, prefix)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(reqctx.WithKeyID(r.Context(), "key-1")))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns an official SDK client for srv (no retries).
func newClient(srv *httptest.Server, prefix string) oai.Client {
	return oai.NewClient(
		option.WithBaseURL(srv.URL+prefix+"/v1/"),
		option.WithAPIKey("sk-test"),
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
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, srv, req)
}

// get sends a GET request with optional header pairs.
func get(t *testing.T, srv *httptest.Server, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, srv, req)
}

func do(t *testing.T, srv *httptest.Server, req *http.Request) (*http.Response, string) {
	t.Helper()
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

// sseData splits an SSE body into its data payloads, failing on any line
// that is not "data: ...", a blank separator, or on a frame of several lines.
func sseData(t *testing.T, body string) []string {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Errorf("body does not end with a blank line: %q", tail(body))
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	inFrame := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			inFrame = false
		case strings.HasPrefix(line, "data: "):
			if inFrame {
				t.Errorf("frame with more than one line at %q", line)
			}
			inFrame = true
			out = append(out, strings.TrimPrefix(line, "data: "))
		default:
			t.Errorf("unexpected SSE line %q", line)
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
