package gensparksim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/simulator/gensparksim"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// sim is a running simulator on loopback.
type sim struct {
	srv *httptest.Server
	rec *simcore.Recorder
}

func newSim(t *testing.T, delay time.Duration) *sim {
	t.Helper()
	rec := simcore.NewRecorder(0)
	mux := http.NewServeMux()
	gensparksim.New(gensparksim.Options{Recorder: rec, DeltaDelay: delay}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &sim{srv: srv, rec: rec}
}

// do sends a request and returns status, headers and the whole body.
func (s *sim) do(t *testing.T, method, path, cookie string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = s.srv.URL + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, data
}

// ask posts an /api/copilot/ask body.
func (s *sim) ask(t *testing.T, cookie string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	return s.do(t, http.MethodPost, "/api/copilot/ask", cookie, body, map[string]string{"Accept": "text/event-stream"})
}

// last returns the newest log entry for path once it has finished.
func (s *sim) last(t *testing.T, path string) simcore.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var found simcore.Entry
	_, err := s.rec.Wait(ctx, func(es []simcore.Entry) bool {
		for i := len(es) - 1; i >= 0; i-- {
			if es[i].Path == path {
				found = es[i]
				return es[i].Outcome != simcore.OutcomePending
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no finished log entry for %s: %v", path, err)
	}
	return found
}

const okCookie = "session_id=okaccount123; other=1"

type msg struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

// chatBody builds a chat ask body as docs/genspark-upstream.md §1.3 describes it.
func chatBody(t *testing.T, query string, models []string, search bool, token *string, msgs ...msg) []byte {
	t.Helper()
	var ms []map[string]any
	for _, m := range msgs {
		ms = append(ms, map[string]any{"role": m.Role, "content": m.Content, "is_prompt": false, "session_state": nil})
	}
	b := map[string]any{
		"type":                 "COPILOT_MOA_CHAT",
		"current_query_string": query,
		"messages":             ms,
		"action_params":        map[string]any{},
		"extra_data": map[string]any{
			"models": models, "run_with_another_model": false,
			"writingContent": nil, "request_web_knowledge": search,
		},
	}
	if token != nil {
		b["g_recaptcha_token"] = *token
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// simpleChat is a new-chat ask with one user message.
func simpleChat(t *testing.T, text string) []byte {
	return chatBody(t, "type=COPILOT_MOA_CHAT", []string{"claude-sonnet-4-5"}, false, nil, msg{"user", text})
}

// genBody builds an image (docs/genspark-upstream.md §1.4) or video (§1.5) ask body.
func genBody(t *testing.T, typ, prompt string, cfg map[string]any) []byte {
	t.Helper()
	extra := map[string]any{"model_configs": []any{cfg}, "imageModelMap": map[string]any{}}
	if typ == "COPILOT_MOA_IMAGE" {
		extra["llm_model"] = "gpt-4o"
		extra["writingContent"] = nil
	}
	out, err := json.Marshal(map[string]any{
		"type":                 typ,
		"current_query_string": "type=" + typ,
		"messages":             []any{map[string]any{"role": "user", "content": prompt}},
		"user_s_input":         prompt,
		"action_params":        map[string]any{},
		"extra_data":           extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// event is one decoded stream event with its raw payload.
type event struct {
	raw string
	m   map[string]any
}

func (e event) str(k string) string { s, _ := e.m[k].(string); return s }

// parseStream checks the framing of docs/genspark-upstream.md §2.1 — every event one line
// `data: <json>` followed by a blank line, no [DONE] — and decodes the events.
// A truncated body (sim:drop) may end without the final blank line only when
// partial is set.
func parseStream(t *testing.T, body []byte, partial bool) []event {
	t.Helper()
	s := string(body)
	if strings.Contains(s, "[DONE]") {
		t.Errorf("stream contains [DONE]")
	}
	if !partial && !strings.HasSuffix(s, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", tail(s))
	}
	chunks := strings.Split(s, "\n\n")
	if chunks[len(chunks)-1] != "" {
		if !partial {
			t.Fatalf("trailing garbage %q", chunks[len(chunks)-1])
		}
	}
	chunks = chunks[:len(chunks)-1]
	var out []event
	for i, c := range chunks {
		payload, ok := strings.CutPrefix(c, "data: ")
		if !ok {
			t.Fatalf("event %d does not start with %q: %q", i, "data: ", c)
		}
		if strings.ContainsAny(payload, "\r\n") {
			t.Fatalf("event %d is not a single line: %q", i, payload)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(payload), &m); err != nil {
			t.Fatalf("event %d is not JSON: %v: %q", i, err, payload)
		}
		checkPythonJSON(t, payload)
		out = append(out, event{raw: payload, m: m})
	}
	return out
}

func tail(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}

// checkPythonJSON re-serialises payload from its token stream with Python's
// default json.dumps separators (", " and ": ") and key order kept, and
// requires the result to be identical to the payload.
func checkPythonJSON(t *testing.T, payload string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber()
	var b strings.Builder
	type frame struct {
		obj   bool
		count int
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			b.WriteRune(rune(d))
			if len(stack) > 0 {
				stack[len(stack)-1].count++
			}
			continue
		}
		if n := len(stack); n > 0 {
			f := &stack[n-1]
			switch {
			case f.obj && f.count%2 == 1:
				b.WriteString(": ")
			case f.count > 0:
				b.WriteString(", ")
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			b.WriteRune(rune(v))
			stack = append(stack, frame{obj: v == '{'})
			continue
		case string:
			var sb strings.Builder
			enc := json.NewEncoder(&sb)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(v)
			b.WriteString(strings.TrimSuffix(sb.String(), "\n"))
		case json.Number:
			b.WriteString(v.String())
		case bool:
			if v {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		case nil:
			b.WriteString("null")
		}
		if len(stack) > 0 {
			stack[len(stack)-1].count++
		}
	}
	if b.String() != payload {
		t.Errorf("payload is not Python-style JSON:\n got  %s\n want %s", payload, b.String())
	}
}

// objectKeys returns the top-level keys of a JSON object in wire order.
func objectKeys(t *testing.T, payload string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(payload))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// answerDeltas returns the session_state.answer deltas and the
// message_result of a chat stream.
func answerDeltas(t *testing.T, evs []event) ([]string, event) {
	t.Helper()
	var deltas []string
	var result event
	n := 0
	for _, e := range evs {
		switch e.str("type") {
		case "message_field_delta":
			if e.str("field_name") == "session_state.answer" {
				deltas = append(deltas, e.str("delta"))
			}
		case "message_result":
			result = e
			n++
		}
	}
	if n != 1 {
		t.Fatalf("want exactly one message_result, got %d", n)
	}
	return deltas, result
}

// fixture reads a real Genspark capture. The captures have one home in the
// repository, the adapter's testdata (SOURCES.md there gives each file's
// public source); the simulator is checked against the same bytes.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "provider", "genspark", "testdata", "fixtures", name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return data
}
