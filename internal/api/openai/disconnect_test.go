package openai_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/testutil"
)

const streamBody = `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`

// TestClientDisconnect checks that a client leaving mid-stream closes the
// backend stream (cancelling the upstream) and leaks no goroutines, both
// when the upstream is idle (the request context is cancelled) and when it
// keeps producing (the write fails).
func TestClientDisconnect(t *testing.T) {
	for _, mode := range []string{"IdleUpstream", "BusyUpstream"} {
		t.Run(mode, func(t *testing.T) {
			before := runtime.NumGoroutine()
			streams := make(chan *fakeStream, 1)
			b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
				s := newFakeStream(ctx, []llm.Event{text("first")}, nil)
				s.Block = mode == "IdleUpstream"
				s.Endless = mode == "BusyUpstream"
				streams <- s
				return s, nil
			}}
			mux := http.NewServeMux()
			openai.New(b, openai.Options{}).Register(mux, "")
			srv := httptest.NewServer(mux)

			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(streamBody))
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			// Read until the first content chunk, then hang up.
			rd := bufio.NewReader(res.Body)
			for {
				line, err := rd.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(line, `"content":"first"`) {
					break
				}
			}
			cancel()
			res.Body.Close()

			waitClosed(t, <-streams)
			srv.Client().CloseIdleConnections()
			srv.Close()
			testutil.SettleGoroutines(t, before)
		})
	}
}

// failingWriter is a ResponseWriter whose writes fail after n successes.
type failingWriter struct {
	h      http.Header
	n      int
	writes atomic.Int32
}

func (w *failingWriter) Header() http.Header { return w.h }
func (w *failingWriter) WriteHeader(int)     {}
func (w *failingWriter) Write(p []byte) (int, error) {
	if int(w.writes.Add(1)) > w.n {
		return 0, errors.New("broken pipe")
	}
	return len(p), nil
}
func (w *failingWriter) Flush() {}

func TestWriteFailureStopsReading(t *testing.T) {
	var cs *fakeStream
	b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
		cs = newFakeStream(ctx, nil, nil)
		cs.Endless = true
		return cs, nil
	}}
	mux := http.NewServeMux()
	openai.New(b, openai.Options{}).Register(mux, "")
	w := &failingWriter{h: http.Header{}, n: 3}
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(streamBody))

	done := make(chan struct{})
	go func() { mux.ServeHTTP(w, r); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler kept streaming after the write failed")
	}
	waitClosed(t, cs)
	// role chunk + 2 content chunks succeed, the 4th write fails.
	if got := cs.Recvs(); got != 3 {
		t.Errorf("Recv called %d times after the client was gone, want 3", got)
	}
	if got := w.writes.Load(); got != 4 {
		t.Errorf("writes = %d, want 4", got)
	}
}
