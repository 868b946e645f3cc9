package app_test

// The fault matrix (issue 11, item 9): every way an upstream can fail,
// through the simulators, for both web upstreams and three client
// dialects. Faults the simulators speak natively are `sim:` directives;
// the others are injected by faultProxy, a small HTTP proxy in front of
// the simulator that breaks the chat call (and only it) in one way.
//
// Each row asserts what a user notices: the status of a plain request, or
// how a stream ends (an HTTP error before the first byte, an in-band error
// event in the dialect's envelope after it, or a clean finish), that spark
// ends the request on its own (hangs are cut by the configured upstream
// timeouts, never by the test), the account's recorded failure and state
// afterwards, and that no goroutine outlives the request.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/simulator"
	"github.com/sparkgw/spark/internal/store"
)

// faultKind is one fault injected by faultProxy into the chat call.
type faultKind int

const (
	faultNone             faultKind = iota
	faultStatus5xx                  // 502 with a generic error page
	faultStatus429                  // a bare HTTP 429
	faultRefused                    // nothing listens at the upstream's address
	faultReset                      // half the answer, then a TCP reset
	faultHangHeaders                // the request is read; no response ever comes
	faultHangMidStream              // half the answer, then silence on an open connection
	faultGarbage                    // 200 and a body of malformed JSON
	faultHugeLine                   // 200 and one line that never ends
	faultTrickle                    // the whole answer, a few bytes per tick
	faultEmpty                      // 200 and an empty body
	faultGarbageMidStream           // half the answer, then malformed JSON and the end
)

// Short upstream timeouts of the rows that are ended by them. The other
// rows keep the defaults, so a slow machine cannot turn them into timeouts.
const (
	faultHeaderTimeout = 800 * time.Millisecond
	faultIdleTimeout   = 800 * time.Millisecond
)

// faultCeiling bounds every request of the matrix: reaching it means spark
// did not end the request by itself. It is a failure bound, not a timing
// assertion.
const faultCeiling = 20 * time.Second

// hugeLineCap is where faultProxy gives up writing its endless line: far
// above every line or frame bound of spark (16 MB Genspark, 32 MB Gemini),
// so reaching it means the bound did not hold.
const hugeLineCap = 96 << 20

// faultUpstream is one web upstream of the matrix.
type faultUpstream struct {
	name        string
	mutate      func(c *config.Config) // one account of this upstream only
	model       string
	isChat      func(r *http.Request) bool // the call faults are injected into
	contentType string                     // of a 200 chat answer
	garbage     string                     // a malformed 200 chat body
	hugePrefix  string                     // what precedes the endless line
}

var faultUpstreams = []faultUpstream{
	{
		name: "genspark",
		mutate: func(c *config.Config) {
			c.GSCookie = "session_id=fault-account"
			c.GeminiCookie = ""
		},
		model:       "gpt-5.2",
		isChat:      func(r *http.Request) bool { return r.URL.Path == "/api/copilot/ask" },
		contentType: "text/event-stream; charset=utf-8",
		garbage: "data: {\"type\":\"project_start\",\"id\":\n" +
			"data: {\"type\":\"message_field_delta\",\"field_name\":\"session_state.answer\",\"delta\":\"unterminated\n" +
			"{{{{ ]]]] \x00\xff\xfe not json at all\n" +
			"data: [1,2,\n",
		hugePrefix: "data: {\"type\":\"message_field_delta\",\"field_name\":\"session_state.answer\",\"delta\":\"",
	},
	{
		name:        "geminiweb",
		mutate:      geminiOnly,
		model:       "gemini-3-flash",
		isChat:      func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/StreamGenerate") },
		contentType: "application/json; charset=utf-8",
		garbage:     ")]}'\n\n" + lengthFrame(`[["wrb.fr",null,"[[\"unterminated`) + "{{{{ \x00\xff\xfe not json\n",
		// A frame announcing 40 MB (Gemini frames are length-prefixed),
		// then its endless content.
		hugePrefix: ")]}'\n\n40000000\n[[\"wrb.fr\",null,\"",
	},
}

// lengthFrame frames an ASCII payload as a Gemini `LEN\n<json>\n` chunk.
func lengthFrame(payload string) string {
	return fmt.Sprintf("%d\n%s\n", len(payload)+2, payload)
}

// faultWant is a row's outcome on one upstream.
type faultWant struct {
	status int     // of a plain request; 200: the answer arrives whole
	code   gw.Code // the account's recorded last error ("" = none)
	state  store.AccountState
}

// faultRow is one fault of the matrix.
type faultRow struct {
	name      string
	directive string // sim: directives added to the prompt
	fault     faultKind
	// midStream: the fault strikes after the answer began, so a stream
	// ends with an in-band error event rather than an HTTP error.
	midStream bool
	// timeouts: the row is ended by the upstream timeouts, set short.
	timeouts bool
	// deltas is the answer's length in upstream deltas (sim:long); 0 = 24.
	deltas int
	want   map[string]faultWant // by upstream name
}

func both(w faultWant) map[string]faultWant {
	return map[string]faultWant{"genspark": w, "geminiweb": w}
}

var (
	served    = faultWant{status: http.StatusOK, state: store.StateActive}
	transient = func(status int, code gw.Code) faultWant {
		// One transient failure is recorded; the account stays in service
		// (passive health rests it only after several).
		return faultWant{status: status, code: code, state: store.StateActive}
	}
)

var faultRows = []faultRow{
	{name: "no fault", want: both(served)},
	{name: "upstream 5xx", fault: faultStatus5xx, want: both(transient(http.StatusBadGateway, gw.CodeTransient))},
	{name: "upstream unavailable", directive: "sim:unavailable", want: map[string]faultWant{
		"genspark": transient(http.StatusServiceUnavailable, gw.CodeUnavailable),
		// Gemini's own signal is error code 1013, "retry".
		"geminiweb": transient(http.StatusBadGateway, gw.CodeTransient),
	}},
	{name: "HTTP 429", fault: faultStatus429, want: map[string]faultWant{
		"genspark": {status: http.StatusTooManyRequests, code: gw.CodeRateLimited, state: store.StateResting},
		// A 429 from the Gemini web app is its IP block (docs/gemini-web-upstream.md §4).
		"geminiweb": {status: http.StatusServiceUnavailable, code: gw.CodeIPBlocked, state: store.StateResting},
	}},
	{name: "rate limit signal", directive: "sim:ratelimit", want: both(faultWant{
		status: http.StatusTooManyRequests, code: gw.CodeRateLimited, state: store.StateResting,
	})},
	{name: "challenge", directive: "sim:cloudflare", want: map[string]faultWant{
		"genspark":  {status: http.StatusServiceUnavailable, code: gw.CodeChallenged, state: store.StateResting},
		"geminiweb": {status: http.StatusServiceUnavailable, code: gw.CodeIPBlocked, state: store.StateResting},
	}},
	{name: "connection refused", fault: faultRefused, want: map[string]faultWant{
		"genspark":  transient(http.StatusBadGateway, gw.CodeTransient),
		"geminiweb": transient(http.StatusServiceUnavailable, gw.CodeUnavailable),
	}},
	{name: "reset mid-stream", fault: faultReset, midStream: true, want: both(transient(http.StatusBadGateway, gw.CodeTransient))},
	{name: "dropped mid-stream", directive: "sim:drop", midStream: true, want: both(transient(http.StatusBadGateway, gw.CodeTransient))},
	{name: "hang before headers", fault: faultHangHeaders, timeouts: true, want: both(transient(http.StatusGatewayTimeout, gw.CodeUpstreamTimeout))},
	{name: "hang mid-stream", fault: faultHangMidStream, midStream: true, timeouts: true, want: both(transient(http.StatusGatewayTimeout, gw.CodeUpstreamTimeout))},
	{name: "malformed JSON", fault: faultGarbage, want: map[string]faultWant{
		"genspark":  transient(http.StatusBadGateway, gw.CodeTransient),
		"geminiweb": transient(http.StatusBadGateway, gw.CodeProtocolChanged),
	}},
	{name: "empty answer", fault: faultEmpty, want: map[string]faultWant{
		"genspark":  transient(http.StatusBadGateway, gw.CodeTransient),
		"geminiweb": transient(http.StatusBadGateway, gw.CodeUpstream),
	}},
	{name: "malformed JSON mid-stream", fault: faultGarbageMidStream, midStream: true, want: map[string]faultWant{
		"genspark":  transient(http.StatusBadGateway, gw.CodeTransient),
		"geminiweb": transient(http.StatusBadGateway, gw.CodeProtocolChanged),
	}},
	{name: "oversized line", fault: faultHugeLine, want: both(transient(http.StatusBadGateway, gw.CodeUpstream))},
	// A short answer (a Gemini answer of 24 deltas is 19 kB of snapshots):
	// every line, frame and UTF-8 sequence is still split.
	{name: "slow trickle", fault: faultTrickle, deltas: 3, want: both(served)},
	{name: "slow deltas", directive: "sim:slow 5", want: both(served)},
}

// faultMode is how the client asks: the dialect and whether it streams.
type faultMode struct {
	name  string
	path  string
	body  func(model, prompt string) string
	check func(t *testing.T, resp *http.Response, body []byte, want faultWant, midStream bool)
}

var faultModes = []faultMode{
	{name: "chat", path: "/v1/chat/completions",
		body: func(model, prompt string) string {
			return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, model, prompt)
		},
		check: checkChat},
	{name: "chat stream", path: "/v1/chat/completions",
		body: func(model, prompt string) string {
			return fmt.Sprintf(`{"model":%q,"stream":true,"messages":[{"role":"user","content":%q}]}`, model, prompt)
		},
		check: checkChatStream},
	{name: "messages stream", path: "/v1/messages",
		body: func(model, prompt string) string {
			return fmt.Sprintf(`{"model":%q,"max_tokens":512,"stream":true,"messages":[{"role":"user","content":%q}]}`, model, prompt)
		},
		check: checkMessagesStream},
}

// faultProbe is echoed by the simulators in every answer (multi-byte
// characters included, for the rows that split the answer anywhere).
const faultProbe = "fault matrix probe — Grüße 😀"

func TestFaultMatrix(t *testing.T) {
	// Warm up what starts once per process (pools, caches), so the
	// goroutine counts below compare like with like.
	for _, up := range faultUpstreams {
		runFault(t, up, faultRows[0], faultModes[0], false)
	}
	for _, row := range faultRows {
		t.Run(row.name, func(t *testing.T) {
			for _, up := range faultUpstreams {
				for _, mode := range faultModes {
					t.Run(up.name+"/"+mode.name, func(t *testing.T) {
						runFault(t, up, row, mode, true)
					})
				}
			}
		})
	}
}

// runFault runs one cell of the matrix: a fresh simulator, fault proxy and
// gateway, one request, the checks, then everything stopped and the
// goroutines counted.
func runFault(t *testing.T, up faultUpstream, row faultRow, mode faultMode, checkLeaks bool) {
	want, ok := row.want[up.name]
	if !ok {
		t.Fatalf("row %q has no outcome for %s", row.name, up.name)
	}
	before := runtime.NumGoroutine()

	sim := simulator.New(simulator.Options{})
	simSrv := httptest.NewServer(sim)
	proxy := newFaultProxy(t, simSrv.URL, up, row.fault)
	proxySrv := httptest.NewServer(proxy)
	base := proxySrv.URL
	if row.fault == faultRefused {
		base = refusedURL(t)
	}
	h := startWith(t, sim, base, func(c *config.Config) {
		up.mutate(c)
		if row.timeouts {
			c.UpstreamHeaderTimeout = faultHeaderTimeout
			c.UpstreamIdleTimeout = faultIdleTimeout
		}
	})
	client := &http.Client{Transport: &http.Transport{}}
	teardown := func() {
		h.stop()
		proxy.stop()
		proxySrv.Close()
		simSrv.Close()
		client.CloseIdleConnections()
	}
	defer teardown()
	defer func() {
		if t.Failed() {
			for _, e := range sim.Requests.Entries() {
				t.Logf("simulator: %s %s %s outcome %q", e.Upstream, e.Method, e.Path, e.Outcome)
			}
			t.Logf("gateway log:\n%s", h.logs.String())
		}
	}()

	deltas := row.deltas
	if deltas == 0 {
		deltas = 24
	}
	prompt := fmt.Sprintf("%s sim:long %d %s", faultProbe, deltas, row.directive)
	ctx, cancel := context.WithTimeout(context.Background(), faultCeiling)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+mode.path, strings.NewReader(mode.body(up.model, prompt)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	if strings.HasPrefix(mode.path, "/v1/messages") {
		req.Header.Set("anthropic-version", "2023-06-01")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("request: %v (spark did not answer on its own)", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v (spark did not end it on its own); got so far:\n%s", err, clip(body))
	}
	if row.fault != faultNone && row.fault != faultRefused && proxy.hits.Load() == 0 {
		t.Fatal("the fault was never injected: the chat call did not reach the proxy")
	}
	mode.check(t, resp, body, want, row.midStream)
	if row.fault == faultHugeLine {
		if n := proxy.hugeSent.Load(); n >= hugeLineCap {
			t.Fatalf("spark read %d bytes of one line without giving up", n)
		}
	}

	snaps := h.app.Pool().Snapshot()
	if len(snaps) != 1 {
		t.Fatalf("%d accounts, want the one of %s", len(snaps), up.name)
	}
	st := snaps[0]
	if st.LastError.Code != want.code || st.State != want.state {
		t.Fatalf("account afterwards: state %s, last error %q (%s); want state %s, last error %q",
			st.State, st.LastError.Code, st.LastError.Message, want.state, want.code)
	}
	if want.state == store.StateResting && !st.RestUntil.After(st.AsOf) {
		t.Fatalf("resting account has no rest ahead: until %v", st.RestUntil)
	}

	teardown()
	if checkLeaks {
		settleFaultGoroutines(t, before)
	}
}

// checkChat: a plain Chat Completions request gets the answer or an error
// with the row's status in the OpenAI envelope.
func checkChat(t *testing.T, resp *http.Response, body []byte, want faultWant, _ bool) {
	t.Helper()
	if want.status == http.StatusOK {
		var cc struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &cc) != nil || len(cc.Choices) != 1 ||
			!strings.Contains(cc.Choices[0].Message.Content, faultProbe) || cc.Choices[0].FinishReason != "stop" {
			t.Fatalf("want the whole answer, got %d: %s", resp.StatusCode, clip(body))
		}
		return
	}
	checkOpenAIError(t, resp.StatusCode, body, want.status)
}

func checkOpenAIError(t *testing.T, status int, body []byte, want int) {
	t.Helper()
	var env struct {
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if status != want || json.Unmarshal(body, &env) != nil || env.Error == nil || env.Error.Message == "" || env.Error.Type == "" {
		t.Fatalf("want %d with an OpenAI error envelope, got %d: %s", want, status, clip(body))
	}
}

func checkAnthropicError(t *testing.T, status int, body []byte, want int) {
	t.Helper()
	var env struct {
		Type  string `json:"type"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if status != want || json.Unmarshal(body, &env) != nil || env.Type != "error" || env.Error == nil ||
		env.Error.Message == "" || env.Error.Type == "" {
		t.Fatalf("want %d with an Anthropic error envelope, got %d: %s", want, status, clip(body))
	}
}

// eventStream returns the events of a streamed answer, failing t unless
// it is a 200 event stream with at least one event.
func eventStream(t *testing.T, resp *http.Response, body []byte) []sseEvent {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("want an event stream, got %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), clip(body))
	}
	events := parseSSE(body)
	if len(events) == 0 {
		t.Fatal("empty event stream")
	}
	return events
}

// checkChatStream: a Chat Completions stream ends with [DONE] after the
// whole answer, with an in-band OpenAI error event (no [DONE]) when the
// fault struck mid-stream, or is an HTTP error when it struck first.
func checkChatStream(t *testing.T, resp *http.Response, body []byte, want faultWant, midStream bool) {
	t.Helper()
	if want.status != http.StatusOK && !midStream && resp.StatusCode != http.StatusOK {
		checkOpenAIError(t, resp.StatusCode, body, want.status)
		return
	}
	// A fault before the first byte may still meet a stream already
	// started by a keepalive: it then ends with the error event.
	textBeforeError := midStream
	events := eventStream(t, resp, body)
	var text strings.Builder
	for _, ev := range events[:len(events)-1] {
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(ev.data), &chunk); err != nil || chunk.Error != nil {
			t.Fatalf("event %q before the last one: %v", ev.data, err)
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	last := events[len(events)-1].data
	if want.status == http.StatusOK {
		if last != "[DONE]" || !strings.Contains(text.String(), faultProbe) {
			t.Fatalf("want the whole answer and [DONE], got %q ending in %q", text.String(), last)
		}
		return
	}
	if textBeforeError && text.Len() == 0 {
		t.Fatalf("no text before the mid-stream fault: %s", clip(body))
	}
	checkOpenAIError(t, http.StatusOK, []byte(last), http.StatusOK)
}

// checkMessagesStream: an Anthropic stream ends with message_stop after the
// whole answer, with an `error` event in the Anthropic envelope when the
// fault struck mid-stream, or is an HTTP error when it struck first.
func checkMessagesStream(t *testing.T, resp *http.Response, body []byte, want faultWant, midStream bool) {
	t.Helper()
	if want.status != http.StatusOK && !midStream && resp.StatusCode != http.StatusOK {
		checkAnthropicError(t, resp.StatusCode, body, want.status)
		return
	}
	// A fault before the first byte meets a stream already started when
	// the answer took longer than the ping interval: it then ends with the
	// error event.
	textBeforeError := midStream
	events := eventStream(t, resp, body)
	var text strings.Builder
	for _, ev := range events[:len(events)-1] {
		if ev.name == "error" {
			t.Fatalf("error event before the end: %s", ev.data)
		}
		var delta struct {
			Delta struct {
				Text string `json:"text"`
			} `json:"delta"`
		}
		if ev.name == "content_block_delta" && json.Unmarshal([]byte(ev.data), &delta) == nil {
			text.WriteString(delta.Delta.Text)
		}
	}
	last := events[len(events)-1]
	if want.status == http.StatusOK {
		if last.name != "message_stop" || !strings.Contains(text.String(), faultProbe) {
			t.Fatalf("want the whole answer and message_stop, got %q ending in %s", text.String(), last.name)
		}
		return
	}
	if textBeforeError && text.Len() == 0 {
		t.Fatalf("no text before the mid-stream fault: %s", clip(body))
	}
	if last.name != "error" {
		t.Fatalf("stream ended with %q, want an error event: %s", last.name, clip(body))
	}
	checkAnthropicError(t, http.StatusOK, []byte(last.data), http.StatusOK)
}

type sseEvent struct{ name, data string }

// parseSSE splits an event stream into its events (comments skipped).
func parseSSE(body []byte) []sseEvent {
	var out []sseEvent
	var cur sseEvent
	var data []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				cur.data = strings.Join(data, "\n")
				out = append(out, cur)
			}
			cur, data = sseEvent{}, nil
		case strings.HasPrefix(line, "event:"):
			cur.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if data != nil {
		cur.data = strings.Join(data, "\n")
		out = append(out, cur)
	}
	return out
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:1000]) + " … " + string(b[len(b)-1000:])
	}
	return string(b)
}

// refusedURL returns the URL of a loopback port nobody listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// settleFaultGoroutines fails unless the goroutine count drops back to at
// most n: whatever the request started (upstream readers, idle timers,
// stream pumps) must have ended once the gateway and servers are closed.
func settleFaultGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("leaked goroutines: %d before, %d after\n%s", n, got, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// faultProxy forwards everything to the simulator except the chat calls,
// which it breaks as its fault says.
type faultProxy struct {
	t       *testing.T
	up      faultUpstream
	kind    faultKind
	target  *url.URL
	forward *httputil.ReverseProxy
	fetch   *http.Client // fetches real answers to break
	release chan struct{}
	stopped atomic.Bool

	hits     atomic.Int32 // chat calls broken
	hugeSent atomic.Int64 // bytes of the endless line written
}

func newFaultProxy(t *testing.T, simURL string, up faultUpstream, kind faultKind) *faultProxy {
	target, err := url.Parse(simURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	fp := &faultProxy{
		t: t, up: up, kind: kind, target: target,
		fetch: &http.Client{Transport: tr}, release: make(chan struct{}),
	}
	fp.forward = &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0), // a gateway that gives up is expected
	}
	return fp
}

// stop releases hung handlers and the connections to the simulator.
func (p *faultProxy) stop() {
	if p.stopped.Swap(true) {
		return
	}
	close(p.release)
	p.fetch.CloseIdleConnections()
}

// hang blocks until the client gives up or the test ends.
func (p *faultProxy) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-p.release:
	}
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The request body is read whole before anything is forwarded: the
	// server discards an unread body when the response starts, which
	// would race the transport still copying it to the simulator (and
	// close that connection under a slow answer).
	reqBody, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "fault proxy: reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.ContentLength = int64(len(reqBody))
	if p.kind == faultNone || !p.up.isChat(r) {
		p.forward.ServeHTTP(w, r)
		return
	}
	p.hits.Add(1)
	flush := func() { _ = http.NewResponseController(w).Flush() }
	switch p.kind {
	case faultStatus5xx:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n")
		return
	case faultStatus429:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case faultHangHeaders:
		p.hang(r)
		return
	case faultGarbage:
		w.Header().Set("Content-Type", p.up.contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, p.up.garbage)
		return
	case faultEmpty:
		w.Header().Set("Content-Type", p.up.contentType)
		w.WriteHeader(http.StatusOK)
		return
	case faultHugeLine:
		w.Header().Set("Content-Type", p.up.contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, p.up.hugePrefix)
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for p.hugeSent.Load() < hugeLineCap {
			n, err := w.Write(chunk)
			p.hugeSent.Add(int64(n))
			if err != nil {
				return
			}
		}
		return
	}

	// The other faults break a real answer.
	status, header, answer := p.realAnswer(r)
	for k, v := range header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(status)
	half := answer[:len(answer)/2]
	switch p.kind {
	case faultReset:
		_, _ = w.Write(half)
		flush()
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			p.t.Errorf("hijack: %v", err)
			return
		}
		_ = buf.Flush()
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // close with RST
		}
		_ = conn.Close()
	case faultHangMidStream:
		_, _ = w.Write(half)
		flush()
		p.hang(r)
	case faultGarbageMidStream:
		_, _ = w.Write(half)
		flush()
		// Longer than any frame, so that it also completes a Gemini
		// frame cut in the middle.
		_, _ = io.WriteString(w, "\n"+strings.Repeat(p.up.garbage, (64<<10)/len(p.up.garbage)+1))
	case faultTrickle:
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		const step = 7 // splits lines, frames and UTF-8 sequences anywhere
		for len(answer) > 0 {
			n := min(step, len(answer))
			if _, err := w.Write(answer[:n]); err != nil {
				return
			}
			flush()
			answer = answer[n:]
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			case <-p.release:
				return
			}
		}
	default:
		p.t.Errorf("fault %d not handled", p.kind)
	}
}

// realAnswer asks the simulator and returns its whole answer.
func (p *faultProxy) realAnswer(r *http.Request) (int, http.Header, []byte) {
	out := r.Clone(r.Context()) // r.Body was read whole by ServeHTTP
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.target.Scheme, p.target.Host
	out.Host = p.target.Host
	resp, err := p.fetch.Do(out)
	if err != nil {
		p.t.Errorf("fault proxy: asking the simulator: %v", err)
		return http.StatusBadGateway, http.Header{}, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		p.t.Errorf("fault proxy: reading the simulator: %v", err)
	}
	return resp.StatusCode, resp.Header, body
}
