package anthropic_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/llm"
)

// pingModes are the two ways the handler reads a stream: directly, and
// through the keepalive pump goroutine (production).
var pingModes = []struct {
	name  string
	every time.Duration
}{{"direct", 0}, {"pump", time.Minute}}

func TestStreamCoalescesBufferedEvents(t *testing.T) {
	const n = 40
	var evs []llm.Event
	for i := range n {
		evs = append(evs, text(fmt.Sprintf("d%d ", i)))
	}
	evs = append(evs, finish(llm.FinishStop), usage(3, n))
	for _, mode := range pingModes {
		t.Run(mode.name, func(t *testing.T) {
			b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
				return &apitest.BurstStream{Ctx: ctx, Events: evs}, nil
			}}
			mux := http.NewServeMux()
			anthropic.New(b, anthropic.Options{PingInterval: mode.every}).Register(mux, "")
			rec := httptest.NewRecorder()
			fc := &apitest.FlushCounter{ResponseWriter: rec}
			req := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(disconnectBody))
			req.Header.Set("anthropic-version", "2023-06-01")
			mux.ServeHTTP(fc, req)

			if fc.Flushes == 0 || fc.Flushes >= n {
				t.Errorf("%d flushes for %d buffered events, want fewer than the events", fc.Flushes, n)
			}
			if fc.Dirty {
				t.Error("the handler returned with unflushed bytes")
			}
			frames := sseFrames(t, rec.Body.String())
			var got []string
			for _, f := range frames {
				got = append(got, f.Event)
			}
			if len(frames) != n+6 || got[0] != "message_start" || got[n+3] != "content_block_stop" || got[n+5] != "message_stop" {
				t.Fatalf("%d frames %v, want message_start, ping, a text block of %d deltas, message_delta, message_stop", len(frames), got, n)
			}
			for i := range n {
				if want := fmt.Sprintf(`"text":"d%d "`, i); !strings.Contains(frames[i+3].Data, want) {
					t.Errorf("frame %d = %s, want %s", i+3, frames[i+3].Data, want)
				}
			}
		})
	}
}

func TestStreamFlushesBeforeWaiting(t *testing.T) {
	const body = `{"model":"m","max_tokens":5,"stream":true,"stop_sequences":["STOP"],"messages":[{"role":"user","content":"x"}]}`
	for _, tc := range []struct {
		name string
		evs  []llm.Event
	}{
		{"after an event", []llm.Event{text("first "), text("second "), text("third "), finish(llm.FinishStop)}},
		// "ST" may start the stop sequence: held back, it writes nothing,
		// and the event before it must not wait for the upstream either.
		{"after an event that writes nothing", []llm.Event{text("first "), text("second "), text("ST"), text("third "), finish(llm.FinishStop)}},
	} {
		for _, mode := range pingModes {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				release := make(chan struct{})
				hold := len(tc.evs) - 2 // text("third ") waits for release
				b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
					return &apitest.BurstStream{Ctx: ctx, Events: tc.evs, Hold: hold, Release: release}, nil
				}}
				srv := newServer(t, b, anthropic.Options{PingInterval: mode.every})
				// Bounded, so that a regression (nothing flushed, not even
				// the headers) fails instead of hanging.
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("anthropic-version", "2023-06-01")
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
				waitLine(t, lines, `"text":"second "`)
				close(release)
				waitLine(t, lines, `third "`) // "STthird " where "ST" was held back
				waitLine(t, lines, "event: message_stop")
			})
		}
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
