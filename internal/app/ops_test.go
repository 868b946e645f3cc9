package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/metrics/metricstest"
	"github.com/sparkgw/spark/internal/store"
)

// liveServer serves the harness's gateway on a loopback listener of an
// http.Server the test shuts down itself; started is closed when a
// shutdown begins (its listener is closed by then).
func liveServer(t *testing.T, h *harness) (srv *http.Server, url string, started <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv = &http.Server{Handler: h.app.Handler()}
	ch := make(chan struct{})
	var once sync.Once
	srv.RegisterOnShutdown(func() { once.Do(func() { close(ch) }) })
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return srv, "http://" + ln.Addr().String(), ch
}

// sseStream reads a live event stream one event at a time.
type sseStream struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

// openStream sends a streaming request and checks it started (200).
func openStream(t *testing.T, url, path string, hdr map[string]string, body string) *sseStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: status %d: %s", path, resp.StatusCode, b)
	}
	return &sseStream{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event (comments skipped); ok is false at the end
// of the stream.
func (s *sseStream) next() (ev sseEvent, ok bool) {
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && data != nil:
			ev.data = strings.Join(data, "\n")
			return ev, true
		case strings.HasPrefix(line, "event:"):
			ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimSpace(strings.TrimPrefix(line, "data:")))
		}
		if err != nil {
			if data != nil {
				ev.data = strings.Join(data, "\n")
				return ev, true
			}
			return sseEvent{}, false
		}
	}
}

// until reads events until one whose data contains probe.
func (s *sseStream) until(probe string) {
	s.t.Helper()
	for {
		ev, ok := s.next()
		if !ok {
			s.t.Fatalf("stream ended before an event with %q", probe)
		}
		if strings.Contains(ev.data, probe) {
			return
		}
	}
}

// rest reads the stream to its end.
func (s *sseStream) rest() []sseEvent {
	var out []sseEvent
	for {
		ev, ok := s.next()
		if !ok {
			return out
		}
		out = append(out, ev)
	}
}

// The three streaming dialects, each asked for a slow answer whose first
// delta carries probe.
type dialectStream struct {
	name, path string
	hdr        map[string]string
	// delta is in the data of an event that carries answer text.
	delta string
	body  func(prompt string) string
	// endsWithError checks the last event is the dialect's error event.
	endsWithError func(last sseEvent) bool
	// complete checks the stream ended normally.
	complete func(last sseEvent) bool
}

var dialectStreams = []dialectStream{
	{
		name: "openai", path: "/v1/chat/completions", hdr: map[string]string{"Authorization": "Bearer " + testKey}, delta: `"content":"`,
		body: func(p string) string {
			return `{"model":"gpt-5.2","stream":true,"messages":[{"role":"user","content":` + jsonString(p) + `}]}`
		},
		endsWithError: func(last sseEvent) bool {
			var e struct {
				Error struct{ Message, Type string } `json:"error"`
			}
			return json.Unmarshal([]byte(last.data), &e) == nil && strings.Contains(e.Error.Message, "shutting down")
		},
		complete: func(last sseEvent) bool { return last.data == "[DONE]" },
	},
	{
		name: "anthropic", path: "/v1/messages", hdr: map[string]string{"X-Api-Key": testKey, "Anthropic-Version": "2023-06-01"}, delta: `"text_delta"`,
		body: func(p string) string {
			return `{"model":"gpt-5.2","max_tokens":100,"stream":true,"messages":[{"role":"user","content":` + jsonString(p) + `}]}`
		},
		endsWithError: func(last sseEvent) bool {
			var e struct {
				Type  string
				Error struct{ Type, Message string }
			}
			return last.name == "error" && json.Unmarshal([]byte(last.data), &e) == nil && e.Type == "error" &&
				strings.Contains(e.Error.Message, "shutting down")
		},
		complete: func(last sseEvent) bool { return last.name == "message_stop" },
	},
	{
		name: "gemini", path: "/v1beta/models/gpt-5.2:streamGenerateContent?alt=sse", hdr: map[string]string{"X-Goog-Api-Key": testKey}, delta: `"text":"`,
		body: func(p string) string {
			return `{"contents":[{"role":"user","parts":[{"text":` + jsonString(p) + `}]}]}`
		},
		endsWithError: func(last sseEvent) bool {
			var e struct {
				Error struct {
					Code    int
					Message string
					Status  string
				} `json:"error"`
			}
			return json.Unmarshal([]byte(last.data), &e) == nil && e.Error.Code == http.StatusServiceUnavailable &&
				strings.Contains(e.Error.Message, "shutting down")
		},
		complete: func(last sseEvent) bool { return strings.Contains(last.data, `"finishReason"`) },
	},
}

// TestShutdownLetsStreamsFinish: a stream in flight when the shutdown
// starts completes normally while the gateway drains: /readyz answers 503
// at once, the listener refuses new connections, and Shutdown returns
// once the stream has ended.
func TestShutdownLetsStreamsFinish(t *testing.T) {
	h := start(t, nil)
	srv, url, started := liveServer(t, h)
	d := dialectStreams[0]
	st := openStream(t, url, d.path, d.hdr, d.body("drain-probe sim:long 6 sim:slow 20"))
	st.until(d.delta)

	done := make(chan error, 1)
	go func() { done <- h.app.Shutdown(context.Background(), srv) }()
	<-started
	w := httptest.NewRecorder()
	h.app.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "draining") {
		t.Errorf("/readyz while draining: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	h.app.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != http.StatusOK {
		t.Errorf("/healthz while draining: %d", w.Code)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err == nil {
		c.Close()
		t.Error("the listener still accepts connections while draining")
	}
	events := st.rest()
	if len(events) == 0 || !d.complete(events[len(events)-1]) {
		t.Fatalf("the stream did not complete during the drain: %+v", events)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestShutdownDeadlineEndsStreams: streams still running at the shutdown
// deadline end with their dialect's error event (OpenAI, Anthropic,
// Gemini), their leases are released, and their usage records say why.
func TestShutdownDeadlineEndsStreams(t *testing.T) {
	var dataDir string
	h := start(t, func(c *config.Config) { dataDir = c.DataDir })
	srv, url, started := liveServer(t, h)
	var streams []*sseStream
	for _, d := range dialectStreams {
		// 200 deltas a second apart: the deadline comes first. (The
		// simulator pauses before the first delta too, so the pause
		// cannot be longer without slowing the test.)
		st := openStream(t, url, d.path, d.hdr, d.body(d.name+"-cut-probe sim:long 200 sim:slow 1000"))
		st.until(d.delta)
		streams = append(streams, st)
	}
	busy := 0
	for _, a := range h.app.Pool().Snapshot() {
		busy += a.InFlight
	}
	if busy != len(dialectStreams) {
		t.Fatalf("%d leases in flight, want %d", busy, len(dialectStreams))
	}

	deadline, reached := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.app.Shutdown(deadline, srv) }()
	<-started
	reached() // SHUTDOWN_TIMEOUT has passed
	for i, st := range streams {
		d := dialectStreams[i]
		events := st.rest()
		if len(events) == 0 || !d.endsWithError(events[len(events)-1]) {
			t.Errorf("%s: the stream did not end with its error event: %+v", d.name, events)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	for _, a := range h.app.Pool().Snapshot() {
		if a.InFlight != 0 || a.Failures != 0 {
			t.Errorf("account %s after the shutdown: %d in flight, %d failures (want the leases released, not counted against it)", a.Label, a.InFlight, a.Failures)
		}
	}
	h.stop() // flushes the usage records
	recs, err := openStore(t, dataDir).ListUsage(t.Context(), store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	cut := 0
	for _, r := range recs {
		if r.ErrorClass == "shutting_down" {
			cut++
		}
	}
	if cut != len(dialectStreams) {
		t.Errorf("%d usage records say shutting_down, want %d: %+v", cut, len(dialectStreams), recs)
	}
}

// TestMetricsEndToEnd: with METRICS_TOKEN, /metrics on the main port
// answers the token's bearer with the requests served (route, model,
// provider, status), tokens, time to first token, the upstream errors a
// failover hid from the client, and the accounts by state.
func TestMetricsEndToEnd(t *testing.T) {
	h := start(t, func(c *config.Config) { c.MetricsToken = "metrics-token-0123456789" })
	if resp, body := h.post("/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"hello"}]}`); resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	// One account is rate-limited, the other answers: the client sees 200.
	if resp, body := h.post("/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"sim:ratelimit"}]}`); resp.StatusCode == 0 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	w := httptest.NewRecorder()
	h.app.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", w.Code)
	}
	f := metricstest.Scrape(t, h.app.Handler(), "/metrics", "Authorization", "Bearer metrics-token-0123456789")
	check := func(what string, ok bool, v, min float64) {
		t.Helper()
		if !ok || v < min {
			t.Errorf("%s = %v (found %v), want >= %v", what, v, ok, min)
		}
	}
	v, ok := f.Value("gen_ai_server_request_duration_seconds", "http_route", "POST /v1/chat/completions",
		"gen_ai_request_model", "gpt-5.2", "gen_ai_provider_name", "genspark", "http_response_status_code", "200")
	check("successful chat requests", ok, v, 1)
	v, ok = f.Sum("gen_ai_client_token_usage", "gen_ai_token_type", "output", "gen_ai_provider_name", "genspark")
	check("output tokens", ok, v, 1)
	v, ok = f.Value("gen_ai_server_time_to_first_token_seconds", "gen_ai_provider_name", "genspark")
	check("time to first token observations", ok, v, 1)
	v, ok = f.Value("spark_upstream_errors_total", "gen_ai_provider_name", "genspark", "error_type", "rate_limited")
	check("rate-limited upstream attempts", ok, v, 1)
	v, ok = f.Value("spark_accounts", "gen_ai_provider_name", "genspark", "state", "resting")
	check("resting accounts", ok, v, 1)
	v, ok = f.Value("spark_accounts", "gen_ai_provider_name", "genspark")
	check("accounts", ok, v, 2)
}

// TestMetricsNotServedByDefault: without METRICS_TOKEN the main port has
// no /metrics at all.
func TestMetricsNotServedByDefault(t *testing.T) {
	h := start(t, nil)
	if h.app.MetricsHandler() != nil {
		t.Error("metrics handler built with metrics off")
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Authorization", "Bearer "+testKey)
	h.app.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusNotFound {
		t.Errorf("/metrics: %d, want 404", w.Code)
	}
}
