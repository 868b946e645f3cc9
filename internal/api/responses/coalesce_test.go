package responses_test

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
	resp "github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/llm"
)

// burstBackend answers every request with an apitest.BurstStream of its events.
type burstBackend struct {
	events  []llm.Event
	hold    int
	release chan struct{}
}

func (b *burstBackend) Chat(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
	return &apitest.BurstStream{Ctx: ctx, Events: b.events, Hold: b.hold, Release: b.release}, nil
}

func (b *burstBackend) Models(context.Context) []llm.ModelInfo { return nil }

const coalesceBody = `{"model":"m","input":"x","stream":true,"store":false}`

func TestStreamCoalescesBufferedEvents(t *testing.T) {
	const n = 40
	var evs []llm.Event
	for i := range n {
		evs = append(evs, text(fmt.Sprintf("d%d ", i)))
	}
	evs = append(evs, done(llm.FinishStop)...)
	mux := http.NewServeMux()
	resp.New(&burstBackend{events: evs}, nil, resp.Options{}).Register(mux, "")
	rec := httptest.NewRecorder()
	fc := &apitest.FlushCounter{ResponseWriter: rec}
	mux.ServeHTTP(fc, httptest.NewRequest(http.MethodPost, "/v1/responses", strings.NewReader(coalesceBody)))

	if fc.Flushes == 0 || fc.Flushes >= n {
		t.Errorf("%d flushes for %d buffered events, want fewer than the events", fc.Flushes, n)
	}
	if fc.Dirty {
		t.Error("the handler returned with unflushed bytes")
	}
	evts := parseSSE(t, rec.Body.String())
	var deltas []string
	for _, e := range evts {
		if e.Name == "response.output_text.delta" {
			deltas = append(deltas, e.Obj["delta"].(string))
		}
	}
	if len(deltas) != n {
		t.Fatalf("%d deltas, want %d: %v", len(deltas), n, names(evts))
	}
	for i, d := range deltas {
		if want := fmt.Sprintf("d%d ", i); d != want {
			t.Errorf("delta %d = %q, want %q", i, d, want)
		}
	}
	if last := evts[len(evts)-1].Name; last != "response.completed" {
		t.Errorf("last event %s, want response.completed", last)
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
			b := &burstBackend{events: tc.evs, hold: len(tc.evs) - 2, release: release} // text("third ") waits
			mux := http.NewServeMux()
			resp.New(b, nil, resp.Options{}).Register(mux, "")
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			// Bounded, so that a regression (nothing flushed, not even the
			// headers) fails instead of hanging.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/responses", strings.NewReader(coalesceBody))
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
			waitLine(t, lines, `"delta":"second "`)
			close(release)
			waitLine(t, lines, `"delta":"third "`)
			waitLine(t, lines, "event: response.completed")
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
