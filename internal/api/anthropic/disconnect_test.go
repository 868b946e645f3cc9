package anthropic_test

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

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/testutil"
)

const disconnectBody = `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`

// TestClientDisconnect checks that a client leaving mid-stream closes the
// backend stream (cancelling the upstream) and leaks no goroutines, when
// the upstream is idle (the request context is cancelled) and when it keeps
// producing (the write fails), with and without keepalives.
func TestClientDisconnect(t *testing.T) {
	for _, ping := range []time.Duration{0, 5 * time.Millisecond} {
		for _, mode := range []string{"IdleUpstream", "BusyUpstream"} {
			t.Run(mode+"/ping="+ping.String(), func(t *testing.T) {
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
				anthropic.New(b, anthropic.Options{PingInterval: ping}).Register(mux, "")
				srv := httptest.NewServer(mux)

				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(disconnectBody))
				res, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				// Read until the first text delta, then hang up.
				rd := bufio.NewReader(res.Body)
				for {
					line, err := rd.ReadString('\n')
					if err != nil {
						t.Fatal(err)
					}
					if strings.Contains(line, `"text":"first"`) {
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
}

// TestStopSequenceStopsPump checks that a stop sequence ends the stream
// and its keepalive pump while the upstream still has more to say.
func TestStopSequenceStopsPump(t *testing.T) {
	before := runtime.NumGoroutine()
	streams := make(chan *fakeStream, 1)
	b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
		s := newFakeStream(ctx, []llm.Event{text("one STOP two")}, nil)
		s.Block = true // would never end by itself
		streams <- s
		return s, nil
	}}
	mux := http.NewServeMux()
	anthropic.New(b, anthropic.Options{PingInterval: time.Hour}).Register(mux, "")
	srv := httptest.NewServer(mux)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages",
		strings.NewReader(`{"model":"m","max_tokens":5,"stream":true,"stop_sequences":["STOP"],"messages":[{"role":"user","content":"x"}]}`))
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&body)
	res.Body.Close()
	if !strings.Contains(body.String(), `"stop_sequence":"STOP"`) || !strings.HasSuffix(body.String(), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
		t.Errorf("transcript:\n%s", body.String())
	}
	waitClosed(t, <-streams)
	srv.Client().CloseIdleConnections()
	srv.Close()
	testutil.SettleGoroutines(t, before)
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

// TestWriteFailureStopsReading checks that the handler stops reading the
// upstream as soon as a write fails.
func TestWriteFailureStopsReading(t *testing.T) {
	var s *fakeStream
	b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
		s = newFakeStream(ctx, nil, nil)
		s.Endless = true
		return s, nil
	}}
	mux := http.NewServeMux()
	anthropic.New(b, anthropic.Options{}).Register(mux, "")
	// message_start, ping, content_block_start, 2 deltas succeed.
	w := &failingWriter{h: http.Header{}, n: 5}
	r := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(disconnectBody))

	done := make(chan struct{})
	go func() { mux.ServeHTTP(w, r); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler kept streaming after the write failed")
	}
	waitClosed(t, s)
	if got := s.Recvs(); got != 3 {
		t.Errorf("Recv called %d times, want 3", got)
	}
	if got := w.writes.Load(); got != 6 {
		t.Errorf("writes = %d, want 6", got)
	}
}

// TestDisconnectDuringChat checks a client leaving while Chat is still
// waiting for the upstream (after the stream started with keepalives):
// Chat is cancelled, a stream it returns anyway is closed, nothing leaks.
func TestDisconnectDuringChat(t *testing.T) {
	for _, mode := range []string{"ChatFails", "ChatReturnsStream"} {
		t.Run(mode, func(t *testing.T) {
			before := runtime.NumGoroutine()
			streams := make(chan *fakeStream, 1)
			returned := make(chan struct{})
			b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
				defer close(returned)
				<-ctx.Done()
				if mode == "ChatFails" {
					return nil, ctx.Err()
				}
				s := newFakeStream(ctx, nil, nil)
				streams <- s
				return s, nil
			}}
			mux := http.NewServeMux()
			anthropic.New(b, anthropic.Options{PingInterval: 5 * time.Millisecond}).Register(mux, "")
			srv := httptest.NewServer(mux)

			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(disconnectBody))
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			rd := bufio.NewReader(res.Body)
			for pings := 0; pings < 3; {
				line, err := rd.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if line == "event: ping\n" {
					pings++
				}
			}
			cancel()
			res.Body.Close()
			select {
			case <-returned:
			case <-time.After(5 * time.Second):
				t.Fatal("Chat was not cancelled")
			}
			if mode == "ChatReturnsStream" {
				waitClosed(t, <-streams)
			}
			srv.Client().CloseIdleConnections()
			srv.Close()
			testutil.SettleGoroutines(t, before)
		})
	}
}
