package openai_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/llm"
)

func TestStreamCoalescesBufferedEvents(t *testing.T) {
	const n = 40
	var evs []llm.Event
	for i := range n {
		evs = append(evs, text(fmt.Sprintf("d%d ", i)))
	}
	evs = append(evs, finish(llm.FinishStop), usage(3, n, 0))
	b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
		return &apitest.BurstStream{Ctx: ctx, Events: evs}, nil
	}}
	mux := http.NewServeMux()
	openai.New(b, openai.Options{}).Register(mux, "")
	rec := httptest.NewRecorder()
	fc := &apitest.FlushCounter{ResponseWriter: rec}
	body := `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}`
	mux.ServeHTTP(fc, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))

	if fc.Flushes == 0 || fc.Flushes >= n {
		t.Errorf("%d flushes for %d buffered events, want fewer than the events", fc.Flushes, n)
	}
	if fc.Dirty {
		t.Error("the handler returned with unflushed bytes")
	}
	data := sseData(t, rec.Body.String())
	if len(data) != n+4 { // role, n deltas, finish, usage, [DONE]
		t.Fatalf("%d events, want %d:\n%s", len(data), n+4, rec.Body.String())
	}
	for i := range n {
		if want := fmt.Sprintf(`"content":"d%d "`, i); !strings.Contains(data[i+1], want) {
			t.Errorf("event %d = %s, want %s", i+1, data[i+1], want)
		}
	}
	if !strings.Contains(data[n+1], `"finish_reason":"stop"`) || !strings.Contains(data[n+2], `"usage":{`) || data[n+3] != "[DONE]" {
		t.Errorf("last events: %q", data[n+1:])
	}
}

func TestStreamFlushesBeforeWaiting(t *testing.T) {
	for _, tc := range []struct {
		name string
		evs  []llm.Event
	}{
		{"after an event", []llm.Event{text("first "), text("second "), text("third "), finish(llm.FinishStop)}},
		// usage writes nothing: the event before it must not wait for the
		// upstream either.
		{"after an event that writes nothing", []llm.Event{text("first "), text("second "), usage(1, 2, 0), text("third "), finish(llm.FinishStop)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			hold := len(tc.evs) - 2 // text("third ") waits for release
			b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
				return &apitest.BurstStream{Ctx: ctx, Events: tc.evs, Hold: hold, Release: release}, nil
			}}
			srv := newServer(t, b, "", openai.Options{})
			// Nothing flushed means no response headers either: bound the
			// whole exchange so that a regression fails instead of hanging.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(streamBody))
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("no response while the stream waits (nothing flushed): %v", err)
			}
			defer res.Body.Close()
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(res.Body)
				for sc.Scan() {
					select {
					case lines <- sc.Text():
					case <-ctx.Done():
						return
					}
				}
			}()
			waitLine(t, lines, `"content":"second "`)
			close(release)
			waitLine(t, lines, `"content":"third "`)
			waitLine(t, lines, "data: [DONE]")
		})
	}
}

// waitLine reads lines until one contains want.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before %s", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("%s did not arrive: not flushed while the stream waits", want)
		}
	}
}
