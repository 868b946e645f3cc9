package responses_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/sparkgw/spark/internal/api/apitest"
	resp "github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/sqlite"
)

// The front-end doubles of every API package's tests (internal/api/apitest),
// under the short names these tests use.
type fakeBackend = apitest.FakeBackend

var (
	text      = apitest.Text
	reasoning = apitest.Reasoning
	finish    = apitest.Finish
	usage     = apitest.Usage
	toolDelta = apitest.ToolDelta
)

// done is the usual end of a stream.
func done(r llm.FinishReason) []llm.Event { return []llm.Event{finish(r), usage(11, 7, 0)} }

func events(evs ...any) []llm.Event {
	var out []llm.Event
	for _, e := range evs {
		switch v := e.(type) {
		case llm.Event:
			out = append(out, v)
		case []llm.Event:
			out = append(out, v...)
		}
	}
	return out
}

// testKeyHeader selects the client key id the test middleware puts in the
// request context, as the server's auth middleware would (default key-1).
const testKeyHeader = "X-Test-Key"

// env is a Handler over a fake backend and a SQLite store in a temp dir.
type env struct {
	b   *fakeBackend
	st  *sqlite.DB
	srv *httptest.Server
}

func newEnv(t *testing.T, b *fakeBackend, opts resp.Options) *env {
	t.Helper()
	db := openDB(t)
	return newEnvWithStore(t, b, db, db, opts)
}

// newEnvWithBackend is newEnv over any backend (env.b is nil).
func newEnvWithBackend(t *testing.T, b resp.Backend, opts resp.Options) *env {
	t.Helper()
	db := openDB(t)
	return serve(t, b, nil, db, db, opts)
}

// openDB opens a SQLite store in a temp dir.
func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	sealer, err := secret.NewSealer(bytes.Repeat([]byte{9}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), sqlite.FileName), sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newEnvWithStore(t *testing.T, b *fakeBackend, st store.ResponseStore, db *sqlite.DB, opts resp.Options) *env {
	t.Helper()
	return serve(t, b, b, st, db, opts)
}

// serve starts a Handler over backend and st; fake is the env's b.
func serve(t *testing.T, backend resp.Backend, fake *fakeBackend, st store.ResponseStore, db *sqlite.DB, opts resp.Options) *env {
	t.Helper()
	mux := http.NewServeMux()
	resp.New(backend, st, opts).Register(mux, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(testKeyHeader)
		if key == "" {
			key = "key-1"
		}
		ctx := reqctx.WithRequestID(reqctx.WithKeyID(r.Context(), key), "req-test")
		mux.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return &env{b: fake, st: db, srv: srv}
}

// client returns an official SDK client (no retries), optionally with
// extra request options (another key).
func (e *env) client(opts ...option.RequestOption) *oai.Client {
	c := oai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(e.srv.URL + "/v1/"),
		option.WithAPIKey("sk-test"),
		option.WithMaxRetries(0),
		option.WithHTTPClient(e.srv.Client()),
	}, opts...)...)
	return &c
}

// do sends a raw request with optional header pairs and returns the
// response with its body read.
func (e *env) do(t *testing.T, method, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
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

func (e *env) post(t *testing.T, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return e.do(t, http.MethodPost, path, body, hdr...)
}

// sseEvent is one frame of a Responses stream.
type sseEvent struct {
	Name string
	Data string
	Obj  map[string]any
}

// parseSSE splits a stream body into frames: apitest.EventFrames checks the
// framing (every frame "event: <name>" then one "data: <json>" line and a
// blank line, the JSON's type equal to the event name, no id:/retry:
// lines); on top, a Responses stream numbers its events 0, 1, 2, ..., never
// sends [DONE] and no top-level "error" key.
func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	frames := apitest.EventFrames(t, body)
	out := make([]sseEvent, 0, len(frames))
	for i, f := range frames {
		ev := sseEvent{Name: f.Event, Data: f.Data}
		if ev.Data == "[DONE]" {
			t.Fatalf("stream sends [DONE]")
		}
		if err := json.Unmarshal([]byte(ev.Data), &ev.Obj); err != nil {
			t.Fatalf("event %d data is not a JSON object: %v: %s", i, err, ev.Data)
		}
		if _, ok := ev.Obj["error"]; ok {
			t.Errorf("event %d (%s) has a top-level error key", i, ev.Name)
		}
		if seq, ok := ev.Obj["sequence_number"].(float64); !ok || int(seq) != i {
			t.Errorf("event %d (%s): sequence_number %v", i, ev.Name, ev.Obj["sequence_number"])
		}
		out = append(out, ev)
	}
	return out
}

func names(evs []sseEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
	}
	return out
}

// accumulator replays a Responses event stream with the rules openai-node
// 7.5's ResponseStream enforces (docs/client-api-surface.md §2.3): response.created first, lifecycle
// events replace the snapshot, output items strictly appended, every
// delta/done addressed to the item at its output_index by id and type,
// unique ids, known event types only, nothing after the terminal event.
type accumulator struct {
	t        *testing.T
	seq      int64
	started  bool
	terminal string
	final    responses.Response
	items    []*accItem
	ids      map[string]bool
}

type accItem struct {
	typ, id, callID, name, args string
	content                     []string // output_text parts
	summary                     []string
	done                        bool
}

func newAccumulator(t *testing.T) *accumulator {
	return &accumulator{t: t, ids: map[string]bool{}}
}

func (a *accumulator) item(idx int64, id, typ string) *accItem {
	a.t.Helper()
	if idx < 0 || idx >= int64(len(a.items)) {
		a.t.Fatalf("event addresses output_index %d of %d items", idx, len(a.items))
	}
	it := a.items[idx]
	if it.id != id || it.typ != typ {
		a.t.Fatalf("event for %s %q at output_index %d, which holds %s %q", typ, id, idx, it.typ, it.id)
	}
	return it
}

func (a *accumulator) add(ev responses.ResponseStreamEventUnion) {
	t := a.t
	t.Helper()
	if ev.SequenceNumber != a.seq {
		t.Fatalf("%s: sequence_number %d, want %d", ev.Type, ev.SequenceNumber, a.seq)
	}
	a.seq++
	if a.terminal != "" {
		t.Fatalf("%s after %s", ev.Type, a.terminal)
	}
	if !a.started && ev.Type != "response.created" {
		t.Fatalf("first event is %s, want response.created", ev.Type)
	}
	switch ev.Type {
	case "response.created", "response.in_progress":
		a.started = true
		if ev.Response.Object != "response" || ev.Response.Status != "in_progress" || len(ev.Response.Output) != 0 {
			t.Fatalf("%s: response %s", ev.Type, ev.Response.RawJSON())
		}
	case "response.completed", "response.incomplete", "response.failed":
		a.terminal = ev.Type
		a.final = ev.Response
	case "response.output_item.added":
		it := ev.Item
		if ev.OutputIndex != int64(len(a.items)) {
			t.Fatalf("output_item.added at %d with %d items", ev.OutputIndex, len(a.items))
		}
		if it.ID == "" || a.ids[it.ID] || (it.Type == "function_call" && (it.CallID == "" || a.ids[it.CallID])) {
			t.Fatalf("output item with a missing or repeated id: %s", it.RawJSON())
		}
		a.ids[it.ID], a.ids[it.CallID] = true, it.CallID != ""
		ai := &accItem{typ: it.Type, id: it.ID, callID: it.CallID, name: it.Name}
		switch it.Type {
		case "message":
			if it.Status != "in_progress" || len(it.Content) != 0 || it.Role != "assistant" {
				t.Fatalf("message added: %s", it.RawJSON())
			}
		case "function_call":
			if it.Status != "in_progress" || it.Arguments.OfString != "" || !strings.Contains(it.RawJSON(), `"arguments":""`) {
				t.Fatalf("function_call added: %s", it.RawJSON())
			}
		case "reasoning":
			if len(it.Summary) != 0 {
				t.Fatalf("reasoning added: %s", it.RawJSON())
			}
		default:
			t.Fatalf("unexpected item type %q", it.Type)
		}
		a.items = append(a.items, ai)
	case "response.content_part.added":
		it := a.item(ev.OutputIndex, ev.ItemID, "message")
		if ev.ContentIndex != int64(len(it.content)) || ev.Part.Type != "output_text" || ev.Part.Text != "" {
			t.Fatalf("content_part.added %d on %d parts: %s", ev.ContentIndex, len(it.content), ev.RawJSON())
		}
		it.content = append(it.content, "")
	case "response.output_text.delta":
		it := a.item(ev.OutputIndex, ev.ItemID, "message")
		if ev.ContentIndex >= int64(len(it.content)) || !strings.Contains(ev.RawJSON(), `"logprobs":[]`) {
			t.Fatalf("output_text.delta: %s", ev.RawJSON())
		}
		it.content[ev.ContentIndex] += ev.Delta
	case "response.output_text.done":
		it := a.item(ev.OutputIndex, ev.ItemID, "message")
		if ev.Text != it.content[ev.ContentIndex] {
			t.Fatalf("output_text.done text %q, deltas gave %q", ev.Text, it.content[ev.ContentIndex])
		}
	case "response.content_part.done":
		it := a.item(ev.OutputIndex, ev.ItemID, "message")
		if ev.Part.Text != it.content[ev.ContentIndex] {
			t.Fatalf("content_part.done text %q, deltas gave %q", ev.Part.Text, it.content[ev.ContentIndex])
		}
	case "response.reasoning_summary_part.added":
		it := a.item(ev.OutputIndex, ev.ItemID, "reasoning")
		if ev.SummaryIndex != int64(len(it.summary)) {
			t.Fatalf("summary_part.added %d on %d parts", ev.SummaryIndex, len(it.summary))
		}
		it.summary = append(it.summary, "")
	case "response.reasoning_summary_text.delta":
		it := a.item(ev.OutputIndex, ev.ItemID, "reasoning")
		it.summary[ev.SummaryIndex] += ev.Delta
	case "response.reasoning_summary_text.done", "response.reasoning_summary_part.done":
		it := a.item(ev.OutputIndex, ev.ItemID, "reasoning")
		got := ev.Text
		if ev.Type == "response.reasoning_summary_part.done" {
			got = ev.Part.Text
		}
		if got != it.summary[ev.SummaryIndex] {
			t.Fatalf("%s text %q, deltas gave %q", ev.Type, got, it.summary[ev.SummaryIndex])
		}
	case "response.function_call_arguments.delta":
		it := a.item(ev.OutputIndex, ev.ItemID, "function_call")
		it.args += ev.Delta
	case "response.function_call_arguments.done":
		it := a.item(ev.OutputIndex, ev.ItemID, "function_call")
		if it.args == "" {
			it.args = "{}"
		}
		if ev.Arguments != it.args {
			t.Fatalf("arguments.done %q, deltas gave %q", ev.Arguments, it.args)
		}
	case "response.output_item.done":
		it := a.item(ev.OutputIndex, ev.Item.ID, ev.Item.Type)
		if it.done {
			t.Fatalf("item %s done twice", it.id)
		}
		it.done = true
		switch it.typ {
		case "message":
			if len(ev.Item.Content) != len(it.content) {
				t.Fatalf("message done with %d parts, %d streamed", len(ev.Item.Content), len(it.content))
			}
			for i, c := range ev.Item.Content {
				if c.Text != it.content[i] {
					t.Fatalf("message done text %q, streamed %q", c.Text, it.content[i])
				}
			}
		case "function_call":
			if ev.Item.Arguments.OfString != it.args || ev.Item.Name != it.name || ev.Item.CallID != it.callID || ev.Item.Status != "completed" {
				t.Fatalf("function_call done: %s (streamed %q)", ev.Item.RawJSON(), it.args)
			}
		}
	default:
		t.Fatalf("unexpected event type %q", ev.Type)
	}
}

// check verifies the terminal response against the accumulated items.
func (a *accumulator) check() {
	t := a.t
	t.Helper()
	if a.terminal == "" {
		t.Fatal("stream ended without a terminal event")
	}
	if a.terminal == "response.failed" {
		return
	}
	if len(a.final.Output) != len(a.items) {
		t.Fatalf("terminal response has %d output items, %d streamed", len(a.final.Output), len(a.items))
	}
	for i, it := range a.items {
		if !it.done {
			t.Errorf("item %d (%s) never done", i, it.id)
		}
		out := a.final.Output[i]
		if out.ID != it.id || out.Type != it.typ {
			t.Errorf("terminal output[%d] = %s %s, streamed %s %s", i, out.Type, out.ID, it.typ, it.id)
		}
	}
}

// streamedText is the text of all streamed output_text parts.
func (a *accumulator) streamedText() string {
	var b strings.Builder
	for _, it := range a.items {
		for _, c := range it.content {
			b.WriteString(c)
		}
	}
	return b.String()
}

// jsonObj decodes a JSON object body.
func jsonObj(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, body)
	}
	return m
}

// errorOf returns the OpenAI error envelope's error object of body.
func errorOf(t *testing.T, body string) map[string]any {
	t.Helper()
	m := jsonObj(t, body)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Errorf("error object lacks %q: %s", k, body)
		}
	}
	return e
}
