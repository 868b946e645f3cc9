package gensparksim_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/simulator/gensparksim"
	"github.com/sparkgw/spark/internal/simulator/simcore"
	"github.com/sparkgw/spark/internal/testutil"
)

func TestChatStreamFramingEchoAndFacts(t *testing.T) {
	s := newSim(t, 0)
	text := "Héllo wörld, 你好世界 🎉🚀 \"quoted\" \\ back <tag> & done"
	tok := "03AFcW-token"
	body := chatBody(t, "type=COPILOT_MOA_CHAT", []string{"claude-sonnet-4-5"}, true, &tok,
		msg{"system", "be brief"},
		msg{"user", "earlier question sim:ratelimit"}, // directives only count in the LAST user message
		msg{"assistant", "earlier answer"},
		msg{"user", text},
	)
	status, hdr, raw := s.ask(t, okCookie, body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type %q", ct)
	}
	evs := parseStream(t, raw, false)
	if evs[0].str("type") != "project_start" {
		t.Fatalf("first event %s", evs[0].raw)
	}
	projectID := evs[0].str("id")
	if projectID == "" {
		t.Fatal("project_start without id")
	}

	known := map[string]bool{"project_start": true, "message_field": true, "message_field_delta": true, "message_result": true}
	sawUnknown, sawUpdatetime := false, false
	for _, e := range evs {
		typ := e.str("type")
		switch typ {
		case "project_start", "message_result":
			if !strings.HasPrefix(e.raw, `{"id": "`) {
				t.Errorf("%s does not start with the id key: %s", typ, e.raw)
			}
		case "message_field", "message_field_delta":
			if !strings.HasPrefix(e.raw, `{"message_id": "`) {
				t.Errorf("%s does not start with the message_id key: %s", typ, e.raw)
			}
			if e.str("field_name") == "_updatetime" {
				sawUpdatetime = true
			}
		}
		if !known[typ] {
			sawUnknown = true
		}
	}
	if !sawUnknown || !sawUpdatetime {
		t.Errorf("want an unknown event type (%v) and an _updatetime field (%v) for tolerant parsers", sawUnknown, sawUpdatetime)
	}

	deltas, result := answerDeltas(t, evs)
	if len(deltas) < 3 {
		t.Errorf("want several answer deltas, got %d", len(deltas))
	}
	for _, d := range deltas {
		if !utf8.ValidString(d) || d == "" {
			t.Errorf("delta %q is empty or splits a rune", d)
		}
	}
	answer := strings.Join(deltas, "")
	if answer != result.str("content") {
		t.Errorf("deltas %q != message_result content %q", answer, result.str("content"))
	}
	if !strings.Contains(answer, text) {
		t.Errorf("answer %q does not contain the last user text %q", answer, text)
	}
	if result.str("id") == "" || result.str("id") != evs[len(evs)-1].str("id") {
		t.Errorf("message_result id %q", result.str("id"))
	}
	if evs[len(evs)-1].str("type") != "message_result" {
		t.Errorf("last event is %s", evs[len(evs)-1].raw)
	}

	e := s.last(t, "/api/copilot/ask")
	want := map[string]any{
		"type": "COPILOT_MOA_CHAT", "search": true, "chat_id": "", "project_id": projectID,
		"recaptcha_token": tok, "messages": 4, "last_user": text, "moa": false,
	}
	for k, v := range want {
		if e.Facts[k] != v {
			t.Errorf("fact %s = %#v, want %#v", k, e.Facts[k], v)
		}
	}
	if m, _ := e.Facts["models"].([]string); !slices.Equal(m, []string{"claude-sonnet-4-5"}) {
		t.Errorf("fact models = %#v", e.Facts["models"])
	}
	if e.Outcome != simcore.OutcomeCompleted || e.Upstream != "genspark" || e.Body != string(body) {
		t.Errorf("entry outcome %q upstream %q, body kept %v", e.Outcome, e.Upstream, e.Body == string(body))
	}
}

func TestChatArrayContentAndMixtureOfAgents(t *testing.T) {
	s := newSim(t, 0)
	moa := []string{"gpt-5.1-low", "claude-sonnet-4-5", "gemini-3-pro-preview"}
	parts := []any{
		map[string]any{"type": "text", "text": "part one "},
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/jpeg;base64,AAAA"}},
		map[string]any{"type": "text", "text": "part two ✓"},
	}
	body := chatBody(t, "type=COPILOT_MOA_CHAT", moa, false, nil, msg{"user", parts})
	_, _, raw := s.ask(t, okCookie, body)
	_, result := answerDeltas(t, parseStream(t, raw, false))
	if !strings.Contains(result.str("content"), "part one part two ✓") {
		t.Errorf("content %q lacks the concatenated text parts", result.str("content"))
	}
	e := s.last(t, "/api/copilot/ask")
	if e.Facts["moa"] != true || e.Facts["search"] != false || e.Facts["attachments"] != 1 || e.Facts["recaptcha"] != false {
		t.Errorf("facts %v", e.Facts)
	}
}

func TestMessageResultKeyOrder(t *testing.T) {
	s := newSim(t, 0)
	_, _, raw := s.ask(t, okCookie, simpleChat(t, "key order"))
	_, result := answerDeltas(t, parseStream(t, raw, false))
	want := []string{"id", "role", "content", "action", "recommend_actions", "is_prompt", "render_template",
		"session_state", "message_type", "tool_calls", "tool_call_id", "thinking_blocks", "type"}
	if got := objectKeys(t, result.raw); !slices.Equal(got, want) {
		t.Errorf("message_result keys\n got  %v\n want %v", got, want)
	}
}

func TestLongGivesExactlyNDeltas(t *testing.T) {
	s := newSim(t, 0)
	for _, tc := range []struct {
		text string
		n    int
	}{
		{"short 日本 sim:long 5", 5},
		{"sim:long 40 x", 40},
		{"a much longer message that has plenty of words in it already so no padding is needed sim:long 3", 3},
	} {
		_, _, raw := s.ask(t, okCookie, simpleChat(t, tc.text))
		deltas, result := answerDeltas(t, parseStream(t, raw, false))
		if len(deltas) != tc.n {
			t.Errorf("%q: %d answer deltas, want %d", tc.text, len(deltas), tc.n)
		}
		for _, d := range deltas {
			if d == "" || !utf8.ValidString(d) {
				t.Errorf("%q: bad delta %q", tc.text, d)
			}
		}
		if got := strings.Join(deltas, ""); got != result.str("content") || !strings.Contains(got, tc.text) {
			t.Errorf("%q: answer %q / content %q", tc.text, got, result.str("content"))
		}
	}
}

func TestDeltasSplitOnRuneBoundaries(t *testing.T) {
	s := newSim(t, 0)
	text := strings.Repeat("你好世界🎉", 20) // no spaces: must still be cut, never inside a rune
	_, _, raw := s.ask(t, okCookie, simpleChat(t, text))
	deltas, _ := answerDeltas(t, parseStream(t, raw, false))
	if len(deltas) < 4 {
		t.Errorf("only %d deltas for a long unspaced text", len(deltas))
	}
	for _, d := range deltas {
		if !utf8.ValidString(d) {
			t.Errorf("delta %q splits a rune", d)
		}
	}
	if !strings.Contains(strings.Join(deltas, ""), text) {
		t.Error("echo lost")
	}
}

func TestThinkOrder(t *testing.T) {
	s := newSim(t, 0)
	_, _, raw := s.ask(t, okCookie, simpleChat(t, "reason first sim:think"))
	evs := parseStream(t, raw, false)
	var seq []string
	for _, e := range evs {
		f := e.str("field_name")
		switch {
		case e.str("type") == "message_field" && f == "session_state.answerthink_is_started":
			if e.m["field_value"] != true {
				t.Errorf("answerthink_is_started field_value %v", e.m["field_value"])
			}
			seq = append(seq, "start")
		case e.str("type") == "message_field_delta" && f == "session_state.answerthink":
			seq = append(seq, "think")
		case e.str("type") == "message_field" && f == "session_state.answerthink_is_finished":
			seq = append(seq, "finish")
		case e.str("type") == "message_field_delta" && f == "session_state.answer":
			seq = append(seq, "answer")
		case e.str("type") == "message_result":
			seq = append(seq, "result")
		}
	}
	joined := strings.Join(slices.Compact(slices.Clone(seq)), ",")
	if joined != "start,think,finish,answer,result" {
		t.Errorf("event order %v", seq)
	}
	if strings.Count(strings.Join(seq, ","), "think") < 2 {
		t.Errorf("want several reasoning deltas: %v", seq)
	}
	deltas, result := answerDeltas(t, evs)
	if c := result.str("content"); c != strings.Join(deltas, "") || strings.Contains(c, "Let me think") {
		t.Errorf("content %q must be the answer only", c)
	}
}

func TestToolCallText(t *testing.T) {
	s := newSim(t, 0)
	_, _, raw := s.ask(t, okCookie, simpleChat(t, `use the tool sim:tool get_weather {"city": "Paris", "unit": "c"}`))
	deltas, result := answerDeltas(t, parseStream(t, raw, false))
	want := `<tool_call>{"name": "get_weather", "arguments": {"city":"Paris","unit":"c"}}</tool_call>`
	if got := strings.Join(deltas, ""); got != want || result.str("content") != want {
		t.Fatalf("tool text\n got  %q\n want %q\n content %q", got, want, result.str("content"))
	}
	// The cuts must fall inside the opening marker and inside the JSON.
	insideMarker, insideJSON := false, false
	off := 0
	for _, d := range deltas[:len(deltas)-1] {
		off += len(d)
		if off > 0 && off < len("<tool_call>") {
			insideMarker = true
		}
		if off > len("<tool_call>") && off < len(want)-len("</tool_call>") {
			insideJSON = true
		}
	}
	if !insideMarker || !insideJSON {
		t.Errorf("deltas %q are not cut inside the marker (%v) and the JSON (%v)", deltas, insideMarker, insideJSON)
	}

	_, _, raw = s.ask(t, okCookie, simpleChat(t, `sim:tool a {"x": 1} then sim:tool b`))
	deltas, _ = answerDeltas(t, parseStream(t, raw, false))
	want = `<tool_call>{"name": "a", "arguments": {"x":1}}</tool_call>` + "\n" +
		`<tool_call>{"name": "b", "arguments": {}}</tool_call>`
	if got := strings.Join(deltas, ""); got != want {
		t.Errorf("two tools\n got  %q\n want %q", got, want)
	}
}

func TestContinuingChatEchoesProjectID(t *testing.T) {
	s := newSim(t, 0)
	body := chatBody(t, "id=0f1e2d3c-aaaa-bbbb-cccc-123456789abc&type=COPILOT_MOA_CHAT",
		[]string{"gpt-5.2"}, false, nil, msg{"user", "hi"}, msg{"assistant", "hello"}, msg{"user", "again"})
	_, _, raw := s.ask(t, okCookie, body)
	evs := parseStream(t, raw, false)
	if evs[0].str("type") != "project_start" || evs[0].str("id") != "0f1e2d3c-aaaa-bbbb-cccc-123456789abc" {
		t.Errorf("project_start %s", evs[0].raw)
	}
	e := s.last(t, "/api/copilot/ask")
	if e.Facts["chat_id"] != "0f1e2d3c-aaaa-bbbb-cccc-123456789abc" || e.Facts["project_id"] != e.Facts["chat_id"] || e.Facts["messages"] != 3 {
		t.Errorf("facts %v", e.Facts)
	}

	// Two new chats get two different project ids.
	_, _, r1 := s.ask(t, okCookie, simpleChat(t, "one"))
	_, _, r2 := s.ask(t, okCookie, simpleChat(t, "two"))
	if a, b := parseStream(t, r1, false)[0].str("id"), parseStream(t, r2, false)[0].str("id"); a == b || a == "" {
		t.Errorf("new chats share project id %q/%q", a, b)
	}
}

func TestFailureSignals(t *testing.T) {
	rateLimit := fixture(t, "error_rate_limit_cf1_body.txt")
	notLogin := fixture(t, "error_not_login_body.txt")
	quota := fixture(t, "ask_line_message_result_free_quota_exceeded.txt")
	overloaded := fixture(t, "ask_2025-05_image_server_overloaded.txt")
	s := newSim(t, 0)
	image := func(text string) []byte {
		return genBody(t, "COPILOT_MOA_IMAGE", text, map[string]any{"model": "nano-banana-pro", "aspect_ratio": "auto"})
	}
	for _, tc := range []struct {
		name   string
		cookie string
		body   []byte
		status int
		want   []byte
	}{
		{"limited account", "session_id=limited-1", simpleChat(t, "hi"), http.StatusTooManyRequests, rateLimit},
		{"limited account image", "session_id=limitedX", image("fox"), http.StatusTooManyRequests, rateLimit},
		{"sim:ratelimit", okCookie, simpleChat(t, "hi sim:ratelimit"), http.StatusTooManyRequests, rateLimit},
		{"expired account", "session_id=expired-7", simpleChat(t, "hi"), http.StatusOK, notLogin},
		{"no session cookie", "", simpleChat(t, "hi"), http.StatusOK, notLogin},
		{"sim:quota", okCookie, simpleChat(t, "hi sim:quota"), http.StatusOK, append(quota, "\n\n"...)},
		{"sim:unavailable image", okCookie, image("fox sim:unavailable"), http.StatusOK, overloaded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, raw := s.ask(t, tc.cookie, tc.body)
			if status != tc.status || string(raw) != string(tc.want) {
				t.Errorf("got %d %q\nwant %d %q", status, raw, tc.status, tc.want)
			}
			if e := s.last(t, "/api/copilot/ask"); e.Outcome != simcore.OutcomeRejected {
				t.Errorf("outcome %q", e.Outcome)
			}
		})
	}

	// Cloudflare challenge: the detector rule of docs/genspark-upstream.md §3.1.
	status, hdr, raw := s.ask(t, okCookie, simpleChat(t, "hi sim:cloudflare"))
	page := strings.TrimSpace(string(raw))
	cfShape := regexp.MustCompile(`^<!DOCTYPE html><html.*?><head>.*?</head><body.*?>.*?</body></html>$`)
	if status != http.StatusForbidden || !cfShape.MatchString(page) || strings.Contains(page, "\n") ||
		!strings.Contains(page, "<title>Just a moment...</title>") || !strings.Contains(page, "window._cf_chl_opt") ||
		!strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Errorf("cloudflare: %d %q", status, page)
	}
	if e := s.last(t, "/api/copilot/ask"); e.Outcome != simcore.OutcomeRejected {
		t.Errorf("cloudflare outcome %q", e.Outcome)
	}

	// Genspark "Service Unavailable" page: single line, >= 3 markers.
	status, _, raw = s.ask(t, okCookie, simpleChat(t, "hi sim:unavailable"))
	page = strings.TrimSpace(string(raw))
	suShape := regexp.MustCompile(`^<!doctype html><html.*?><head>.*?</head><body.*?>.*?</body></html>`)
	markers := 0
	for _, p := range []string{`<title>Genspark</title>`, `Service\s+Unavailable`, `class="bb".*?class="s1".*?class="s2".*?class="s3"`,
		`genspark_logo\.png`, `gensparkpublicblob-cdn.*?\.azurefd\.net`, `<div class="tt">Service Unavailable</div>`} {
		if regexp.MustCompile(p).MatchString(page) {
			markers++
		}
	}
	if status != http.StatusServiceUnavailable || !suShape.MatchString(page) || markers < 3 || strings.Contains(page, "\n") {
		t.Errorf("unavailable: %d, %d markers, %q", status, markers, page)
	}
	if e := s.last(t, "/api/copilot/ask"); e.Outcome != simcore.OutcomeRejected {
		t.Errorf("unavailable outcome %q", e.Outcome)
	}
}

func TestInvalidBodies(t *testing.T) {
	s := newSim(t, 0)
	for _, body := range []string{
		"null", "not json", "{}", "[]", `{"type":"COPILOT_MOA_CHAT"}`,
		`{"type":"SOMETHING","messages":[{"role":"user","content":"x"}],"extra_data":{"models":["m"]},"current_query_string":""}`,
		`{"type":"COPILOT_MOA_CHAT","messages":[{"role":"user","content":7}],"extra_data":{"models":["m"]},"current_query_string":""}`,
		`{"type":"COPILOT_MOA_CHAT","messages":[{"role":"user","content":"x"}],"extra_data":{"models":[]},"current_query_string":""}`,
		`{"type":"COPILOT_MOA_IMAGE","messages":[{"role":"user","content":"x"}],"extra_data":{}}`,
	} {
		status, _, raw := s.ask(t, okCookie, []byte(body))
		if status != http.StatusInternalServerError || string(raw) != "Internal Server Error" {
			t.Errorf("%s: %d %q", body, status, raw)
		}
		if e := s.last(t, "/api/copilot/ask"); e.Outcome != simcore.OutcomeRejected || e.Body != body {
			t.Errorf("%s: outcome %q body %q", body, e.Outcome, e.Body)
		}
	}
	status, _, _ := s.do(t, http.MethodGet, "/api/copilot/ask", okCookie, nil, nil)
	if status != http.StatusMethodNotAllowed {
		t.Errorf("GET ask: %d", status)
	}
}

func TestDropCutsTheConnection(t *testing.T) {
	s := newSim(t, 0)
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/api/copilot/ask",
		strings.NewReader(string(simpleChat(t, "one two three four five six seven eight nine ten sim:drop"))))
	req.Header.Set("Cookie", okCookie)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatal("body ended cleanly; want a cut connection")
	}
	evs := parseStream(t, raw, true)
	deltas := 0
	for _, e := range evs {
		if e.str("type") == "message_result" {
			t.Fatal("message_result sent before the drop")
		}
		if e.str("field_name") == "session_state.answer" {
			deltas++
		}
	}
	if len(evs) == 0 || evs[0].str("type") != "project_start" || deltas == 0 {
		t.Errorf("want project_start and some deltas before the drop, got %d events", len(evs))
	}
	if e := s.last(t, "/api/copilot/ask"); e.Outcome != simcore.OutcomeDropped {
		t.Errorf("outcome %q", e.Outcome)
	}
}

func TestClientCancelIsRecorded(t *testing.T) {
	s := newSim(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.srv.URL+"/api/copilot/ask",
		strings.NewReader(string(simpleChat(t, "slowly sim:slow 50 sim:long 200"))))
	req.Header.Set("Cookie", okCookie)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before the first answer delta: %v", err)
		}
		if strings.Contains(line, `"session_state.answer"`) {
			break
		}
	}
	cancel()
	resp.Body.Close()

	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	_, err = s.rec.Wait(wctx, func(es []simcore.Entry) bool {
		return len(es) == 1 && es[0].Outcome == simcore.OutcomeCancelled
	})
	if err != nil {
		t.Fatalf("cancellation not recorded: %v (%v)", err, s.rec.Entries())
	}
}

// TestSlowDirectivePaces runs the simulator in a synctest bubble (over
// pipes), so the pacing is measured exactly on the bubble's clock: sim:slow
// 20 waits 20 ms before each of the 6 answer deltas.
func TestSlowDirectivePaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mux := http.NewServeMux()
		gensparksim.New(gensparksim.Options{Recorder: simcore.NewRecorder(0)}).Register(mux)
		srv := testutil.NewPipeServer(t, mux, nil)
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/copilot/ask", bytes.NewReader(simpleChat(t, "sim:slow 20 sim:long 6")))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Cookie", okCookie)
		start := time.Now()
		resp, err := srv.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		deltas, _ := answerDeltas(t, parseStream(t, raw, false))
		if len(deltas) != 6 {
			t.Fatalf("%d deltas", len(deltas))
		}
		if want := 6 * 20 * time.Millisecond; el != want {
			t.Errorf("6 deltas with sim:slow 20 took %v, want %v", el, want)
		}
	})
}
