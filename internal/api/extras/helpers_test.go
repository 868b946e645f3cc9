package extras_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/api/extras"
	openaiapi "github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/googleai"
)

// fakeChat is a chat backend answering scripted text and recording requests.
type fakeChat struct {
	mu    sync.Mutex
	reqs  []*llm.Request
	reply func(req *llm.Request, call int) (string, error)
}

func (f *fakeChat) Chat(_ context.Context, req *llm.Request) (llm.Stream, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	call := len(f.reqs)
	f.mu.Unlock()
	text, err := f.reply(req, call)
	if err != nil {
		return nil, err
	}
	// Split the answer in two deltas, as a real stream would.
	var evs []llm.Event
	half := len(text) / 2
	for _, piece := range []string{text[:half], text[half:]} {
		if piece != "" {
			evs = append(evs, llm.Event{Type: llm.EventTextDelta, Text: piece})
		}
	}
	evs = append(evs, llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop},
		llm.Event{Type: llm.EventUsage, Usage: &llm.Usage{PromptTokens: 10, CompletionTokens: 5}})
	return &sliceStream{evs: evs}, nil
}

func (f *fakeChat) requests() []*llm.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*llm.Request(nil), f.reqs...)
}

type sliceStream struct {
	evs    []llm.Event
	i      int
	closed bool
}

func (s *sliceStream) Recv() (llm.Event, error) {
	if s.closed {
		return llm.Event{}, errors.New("closed")
	}
	if s.i >= len(s.evs) {
		return llm.Event{}, io.EOF
	}
	s.i++
	return s.evs[s.i-1], nil
}

func (s *sliceStream) Close() error { s.closed = true; return nil }

// serve mounts an extras handler and returns its URL and an SDK client.
func serve(t *testing.T, opts extras.Options) (string, openai.Client) {
	t.Helper()
	mux := http.NewServeMux()
	extras.New(opts).Register(mux, "")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	return srv.URL, client
}

// apiErr asserts err is an SDK API error with status and a message part.
func apiErr(t *testing.T, err error, status int, msgPart string) *openai.Error {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *openai.Error", err, err)
	}
	if e.StatusCode != status {
		t.Errorf("status %d, want %d (%s)", e.StatusCode, status, e.Message)
	}
	if !strings.Contains(e.Message, msgPart) {
		t.Errorf("message %q, want it to contain %q", e.Message, msgPart)
	}
	return e
}

// The app's pieces fit the handler's interfaces.
var (
	_ extras.Embedder    = (*googleai.Client)(nil)
	_ extras.ChatBackend = (*gateway.Service)(nil)
	_ extras.ChatBackend = openaiapi.Backend(nil)
)
