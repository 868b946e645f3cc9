package genspark_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// transcript of docs/genspark-upstream.md §2.7 (reasoning, then the answer), in Python spacing.
var transcriptPython = sse(
	`{"id": "6f1c-proj", "type": "project_start"}`,
	`{"message_id": "m1", "field_name": "session_state.answerthink_is_started", "field_value": true, "type": "message_field"}`,
	`{"message_id": "m1", "field_name": "session_state.answerthink", "delta": "Let me think", "type": "message_field_delta"}`,
	`{"message_id": "m1", "field_name": "session_state.answerthink_is_finished", "field_value": true, "type": "message_field"}`,
	`{"message_id": "m1", "field_name": "session_state.answer", "delta": "Hel", "type": "message_field_delta"}`,
	`{"message_id": "m1", "field_name": "session_state.answer", "delta": "lo", "type": "message_field_delta"}`,
	`{"id": "m1", "role": "assistant", "content": "Hello", "session_state": {}, "type": "message_result"}`,
)

// The same events compact, keys reordered, extra keys and unknown events
// and fields mixed in, fields of unexpected types, SSE noise.
var transcriptCompact = ": keep-alive comment\n" +
	"event: message\n" +
	"data:{\"type\":\"project_start\",\"id\":\"6f1c-proj\",\"extra\":{\"a\":[1,2]}}\n\n" +
	"data: {\"type\":\"agent_notification\",\"payload\":{\"x\":1}}\n\n" +
	"data: {\"field_name\":\"_updatetime\",\"type\":\"message_field\",\"field_value\":\"2025-05-05T14:33:48\"}\n\n" +
	"data: {\"type\":\"message_field\",\"field_name\":\"session_state.answerthink_is_started\",\"field_value\":true}\n" +
	"data: {\"type\":\"message_field_delta\",\"delta\":\"Let me think\",\"field_name\":\"session_state.answerthink\",\"_event_index\":3}\r\n" +
	"data: {\"type\":\"message_field_delta\",\"field_name\":\"session_state.layer_0\",\"delta\":\"layer text\"}\n" +
	"data: {\"type\":\"message_field_delta\",\"field_name\":\"session_state.answer\",\"delta\":{\"not\":\"a string\"}}\n" +
	"data: {\"type\":\"message_field\",\"field_name\":\"session_state.answerthink_is_finished\",\"field_value\":true}\n" +
	"data: {\"field_name\":\"session_state.answer\",\"type\":\"message_field_delta\",\"delta\":\"Hel\",\"message_id\":12}\n" +
	"data: [DONE-not-really]\n" +
	"data: {\"delta\":\"lo\",\"type\":\"message_field_delta\",\"field_name\":\"session_state.answer\"}\n" +
	"data: {\"type\":\"message_result\",\"content\":\"Hello\",\"id\":\"m1\",\"tool_calls\":null,\"thinking_blocks\":[]}\n"

func TestParseTranscripts(t *testing.T) {
	want := []llm.Event{
		{Type: llm.EventReasoningDelta, Text: "Let me think"},
		{Type: llm.EventTextDelta, Text: "Hel"},
		{Type: llm.EventTextDelta, Text: "lo"},
		{Type: llm.EventFinish, FinishReason: llm.FinishStop},
	}
	tests := []struct{ name, body string }{
		{"python spacing", transcriptPython},
		{"compact reordered extra keys", transcriptCompact},
		{"CRLF line ends", strings.ReplaceAll(transcriptPython, "\n", "\r\n")},
		{"no trailing newline", strings.TrimRight(transcriptPython, "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := genspark.ParseStream(strings.NewReader(tt.body), genspark.ParseOptions{})
			evs, err := collectEvents(s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(evs, want) {
				t.Errorf("events = %+v\nwant %+v", evs, want)
			}
			if s.ProjectID() != "6f1c-proj" {
				t.Errorf("ProjectID = %q", s.ProjectID())
			}
			if _, err := s.Recv(); !errors.Is(err, io.EOF) {
				t.Errorf("Recv after end = %v, want io.EOF", err)
			}
		})
	}
}

func TestParseTextSources(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantText string
		wantRsn  string
	}{
		{
			name: "content only in message_result",
			body: sse(`{"id": "p", "type": "project_start"}`,
				`{"id": "m", "role": "assistant", "content": "Whole answer", "type": "message_result"}`),
			wantText: "Whole answer",
		},
		{
			name: "deltas win over content",
			body: sse(`{"field_name": "session_state.answer", "delta": "A", "type": "message_field_delta"}`,
				`{"content": "B", "type": "message_result"}`),
			wantText: "A",
		},
		{
			name: "detail answer and markmap",
			body: sse(`{"field_name": "session_state.streaming_detail_answer.0", "delta": "D", "type": "message_field_delta"}`,
				`{"field_name": "session_state.streaming_markmap", "delta": "M", "type": "message_field_delta"}`,
				`{"content": "", "type": "message_result"}`),
			wantText: "DM",
		},
		{
			name: "message_field snapshots emit only what is new",
			body: sse(`{"field_name": "session_state.answer", "field_value": "", "type": "message_field"}`,
				`{"field_name": "session_state.answer", "delta": "Hel", "type": "message_field_delta"}`,
				`{"field_name": "session_state.answer", "field_value": "Hello", "type": "message_field"}`,
				`{"field_name": "session_state.answer", "field_value": "Hello", "type": "message_field"}`,
				`{"field_name": "session_state.answer", "field_value": "rewritten", "type": "message_field"}`,
				`{"content": "Hello", "type": "message_result"}`),
			wantText: "Hello",
		},
		{
			name: "reasoning only is an answer",
			body: sse(`{"field_name": "session_state.answerthink", "delta": "hmm", "type": "message_field_delta"}`,
				`{"content": "", "type": "message_result"}`),
			wantRsn: "hmm",
		},
		{
			name: "answer mentioning limits after deltas is not a signal",
			body: sse(`{"field_name": "session_state.answer", "delta": "Server overloaded, please try again later.", "type": "message_field_delta"}`,
				`{"content": "Server overloaded, please try again later.", "type": "message_result"}`),
			wantText: "Server overloaded, please try again later.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := llm.Collect(genspark.ParseStream(strings.NewReader(tt.body), genspark.ParseOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			if a.Text != tt.wantText || a.Reasoning != tt.wantRsn || a.FinishReason != llm.FinishStop || a.Usage != nil {
				t.Errorf("answer = %+v", a)
			}
		})
	}
}

func TestParseIncomplete(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		code    gw.Code
		message string
		events  int
	}{
		{"empty body", "", gw.CodeTransient, "Genspark closed the stream before the answer was complete", 0},
		{"only project_start", sse(`{"id": "p", "type": "project_start"}`), gw.CodeTransient, "Genspark closed the stream before the answer was complete", 0},
		{"deltas then close", sse(`{"field_name": "session_state.answer", "delta": "par", "type": "message_field_delta"}`), gw.CodeTransient, "Genspark closed the stream before the answer was complete", 1},
		{"empty result", sse(`{"id": "p", "type": "project_start"}`, `{"id": "", "content": "", "type": "message_result"}`), gw.CodeTransient, "Genspark returned an empty answer", 0},
		{"result without content", sse(`{"type": "message_result", "content": null}`), gw.CodeTransient, "Genspark returned an empty answer", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := collectEvents(genspark.ParseStream(strings.NewReader(tt.body), genspark.ParseOptions{}))
			e := wantCode(t, err, tt.code)
			if e.Message != tt.message {
				t.Errorf("message = %q", e.Message)
			}
			if len(evs) != tt.events {
				t.Errorf("%d events before the error, want %d", len(evs), tt.events)
			}
		})
	}
}

func TestParseLineLimit(t *testing.T) {
	const max = 1024
	delta := func(n int) string {
		return `{"field_name": "session_state.answer", "delta": "` + strings.Repeat("a", n) + `", "type": "message_field_delta"}`
	}
	fits := "data: " + delta(max-len("data: "+delta(0)))
	if len(fits) != max {
		t.Fatalf("bad test line length %d", len(fits))
	}
	t.Run("line of exactly the limit", func(t *testing.T) {
		body := fits + "\n\n" + sse(`{"content": "", "type": "message_result"}`)
		a, err := llm.Collect(genspark.ParseStream(strings.NewReader(body), genspark.ParseOptions{MaxLineBytes: max}))
		if err != nil || len(a.Text) != max-len("data: "+delta(0)) {
			t.Fatalf("err %v, text %d bytes", err, len(a.Text))
		}
	})
	t.Run("longer line is an error", func(t *testing.T) {
		body := "data: " + delta(max) + "\n\n" + sse(`{"content": "x", "type": "message_result"}`)
		_, err := llm.Collect(genspark.ParseStream(strings.NewReader(body), genspark.ParseOptions{MaxLineBytes: max}))
		e := wantCode(t, err, gw.CodeUpstream)
		if !strings.Contains(e.Message, "longer than 1024 bytes") {
			t.Errorf("message = %q", e.Message)
		}
	})
	t.Run("default limit is 16 MiB", func(t *testing.T) {
		big := strings.Repeat("b", genspark.DefaultMaxLineBytes)
		body := "data: " + big + "\n"
		_, err := llm.Collect(genspark.ParseStream(strings.NewReader(body), genspark.ParseOptions{}))
		e := wantCode(t, err, gw.CodeUpstream)
		if !strings.Contains(e.Message, fmt.Sprint(genspark.DefaultMaxLineBytes)) {
			t.Errorf("message = %q", e.Message)
		}
	})
}

// Pages as Cloudflare and Genspark serve them, spread over many lines.
const (
	cfChallengeMultiline = `<!DOCTYPE html>
<html lang="en-US">
<head>
  <title>Just a moment...</title>
  <meta http-equiv="refresh" content="390">
</head>
<body class="no-js">
  <script>(function(){window._cf_chl_opt={cvId: '3',cZone: "www.genspark.ai",cType: 'managed'};
  var cpo = document.createElement('script');
  cpo.src = '/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8f2c';
  }());</script>
</body>
</html>
`
	cfChallengeOnlyPlatform = "<!DOCTYPE html><html><head></head><body><script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/managed/v1\"></script></body></html>"
	cfBlockMultiline        = `<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<head>
<title>Attention Required! | Cloudflare</title>
</head>
<body>
  <div class="cf-wrapper cf-header cf-error-overview">
    <h1 data-translate="block_headline">Sorry, you have been blocked</h1>
    <h2 class="cf-subheadline"><span data-translate="unable_to_access">You are unable to access</span> genspark.ai</h2>
  </div>
  <script>(function(){var a=document.createElement('script');a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';})();</script>
</body>
</html>
`
	gensparkUnavailable = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Genspark</title></head>
<body>
  <div class="bb"><div class="s1"></div><div class="s2"></div><div class="s3"></div></div>
  <img src="https://gensparkpublicblob-cdn-e6g4btgjavb5a7gh.z03.azurefd.net/user-upload-image/manual/genspark_logo.png">
  <div class="tt">Service Unavailable</div>
  <script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js"></script>
</body>
</html>
`
	freeQuotaModern = `data: {"type":"message_result","content":"You've reached your free usage limit today. Upgrade to Plus.","id":"","role":"assistant","action":{"type":"ACTION_QUOTA_EXCEEDED","label":"Upgrade"},"tool_calls":null,"thinking_blocks":null,"session_state":{"consume_usage_quota_exceeded":true,"x":1}}`
)

func TestSignals(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		ctype   string
		body    string
		code    gw.Code
		message string // exact, when set
	}{
		{"rate limit cf1 200", 200, "text/plain", "Rate limit exceeded cf1", gw.CodeRateLimited, ""},
		{"rate limit cf2 as data line", 200, "text/event-stream", "data: Rate limit exceeded cf2\n\n", gw.CodeRateLimited, ""},
		{"rate limit line after events", 200, "text/event-stream", sse(`{"id": "p", "type": "project_start"}`) + "Rate limit exceeded cf1\n", gw.CodeRateLimited, ""},
		{"rate limit as result content", 200, "", sse(`{"id": "", "content": "Rate limit exceeded cf1", "type": "message_result"}`), gw.CodeRateLimited, ""},
		{"rate limit cf1 403", 403, "text/plain", "Rate limit exceeded cf1", gw.CodeRateLimited, ""},
		{"HTTP 429 empty body", 429, "", "", gw.CodeRateLimited, ""},
		{"HTTP 429 unknown body", 429, "application/json", `{"detail":"slow down"}`, gw.CodeRateLimited, ""},
		{"free quota modern keys", 200, "text/event-stream", sse(`{"id": "p", "type": "project_start"}`) + freeQuotaModern + "\n\n", gw.CodeQuotaExhausted, ""},
		{"free quota content only", 200, "", sse(`{"id": "", "role": "assistant", "content": "You've reached your free usage limit today", "type": "message_result"}`), gw.CodeQuotaExhausted, ""},
		{"free quota session flag only", 200, "", sse(`{"type": "message_result", "content": "", "session_state": {"consume_usage_quota_exceeded": true}}`), gw.CodeQuotaExhausted, ""},
		{"free quota non-2xx", 402, "", freeQuotaModern, gw.CodeQuotaExhausted, ""},
		{"not login compact 200", 200, "application/json", `{"status":-5,"message":"not login","data":{}}`, gw.CodeLoggedOut, ""},
		{"not login python data line", 200, "text/event-stream", `data: {"status": -5, "message": "not login", "data": {}}` + "\n\n", gw.CodeLoggedOut, ""},
		{"not login 401", 401, "application/json", `{"data":{},"message":"not login","status":-5}`, gw.CodeLoggedOut, ""},
		{"not login pretty-printed 403", 403, "application/json", "{\n  \"status\": -5,\n  \"message\": \"not login\"\n}\n", gw.CodeLoggedOut, ""},
		{"status -5 other message", 200, "application/json", `{"status": -5, "message": "please log in"}`, gw.CodeLoggedOut, ""},
		{"challenge one line 403", 403, "text/html", cfChallengeOnlyPlatform, gw.CodeChallenged, "Detected Cloudflare Challenge Page"},
		{"challenge multiline 503", 503, "text/html", cfChallengeMultiline, gw.CodeChallenged, "Detected Cloudflare Challenge Page"},
		{"challenge multiline 200", 200, "text/html", cfChallengeMultiline, gw.CodeChallenged, "Detected Cloudflare Challenge Page"},
		{"challenge as data line", 200, "text/event-stream", "data: " + strings.ReplaceAll(cfChallengeMultiline, "\n", "") + "\n\n", gw.CodeChallenged, "Detected Cloudflare Challenge Page"},
		{"block multiline 403", 403, "text/html", cfBlockMultiline, gw.CodeIPBlocked, "CloudFlare: Sorry, you have been blocked"},
		{"block 200", 200, "text/html", cfBlockMultiline, gw.CodeIPBlocked, "CloudFlare: Sorry, you have been blocked"},
		{"unavailable 503", 503, "text/html", gensparkUnavailable, gw.CodeUnavailable, "Genspark Service Unavailable"},
		{"unavailable one line 200", 200, "text/html", strings.ReplaceAll(gensparkUnavailable, "\n", ""), gw.CodeUnavailable, "Genspark Service Unavailable"},
		{"internal server error 500", 500, "text/plain", "Internal Server Error", gw.CodeTransient, ""},
		{"internal server error 200 data line", 200, "", "data: Internal Server Error\n\n", gw.CodeTransient, ""},
		{"overloaded 2025 body", 200, "", fixture(t, "ask_2025-05_image_server_overloaded.txt"), gw.CodeTransient, ""},
		{"overloaded pre-2025 line", 200, "", fixture(t, "ask_line_message_result_server_overloaded_pre2025-05.txt"), gw.CodeTransient, ""},
		{"unknown 418", 418, "text/plain", "I'm a teapot; session_id=leaked-secret", gw.CodeUpstream, "Genspark returned HTTP 418"},
		{"unknown 502 html", 502, "text/html", "<html><body>bad gateway</body></html>", gw.CodeTransient, "Genspark returned HTTP 502"},
		{"unknown html 200", 200, "text/html", "<html><body>hello</body></html>", gw.CodeUpstream, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("/api/copilot/ask", respond(tt.status, tt.ctype, tt.body))
			p := newProvider(t, f.srv.URL, nil)
			ctx := context.Background()
			s, err := p.Chat(ctx, account("a1", "session_id=secret-cookie"), userReq("gpt-5.1", "secret prompt"))
			if tt.status >= 300 && err == nil {
				t.Fatal("non-2xx status did not fail Chat")
			}
			if err == nil {
				// Signals in a 2xx body surface from the first Recv at the
				// latest (no text event before the error).
				defer s.Close()
				var ev llm.Event
				for ev, err = s.Recv(); err == nil; ev, err = s.Recv() {
					if ev.Type == llm.EventTextDelta || ev.Type == llm.EventFinish {
						t.Fatalf("got %+v before the error", ev)
					}
				}
			}
			e := wantCode(t, err, tt.code)
			if tt.message != "" && e.Message != tt.message {
				t.Errorf("message = %q, want %q", e.Message, tt.message)
			}
			if tt.code == gw.CodeQuotaExhausted && e.RetryAfter != 24*time.Hour {
				t.Errorf("RetryAfter = %v", e.RetryAfter)
			}
			full := e.Error()
			for _, secret := range []string{"secret-cookie", "secret prompt", "leaked-secret"} {
				if strings.Contains(e.Message, secret) || strings.Contains(full, secret) {
					t.Errorf("error %q leaks %q", full, secret)
				}
			}
		})
	}
}

func TestStatusErrorExcerpt(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(418, "text/plain", "teapot says no\x00\x01 token=abc123 "+strings.Repeat("z", 500)))
	p := newProvider(t, f.srv.URL, nil)
	_, err := p.Chat(context.Background(), account("a1", "c"), userReq("gpt-5.1", "x"))
	e := wantCode(t, err, gw.CodeUpstream)
	if e.Cause == nil {
		t.Fatal("no cause excerpt")
	}
	c := e.Cause.Error()
	if !strings.Contains(c, "teapot says no") || strings.Contains(c, "abc123") || strings.Contains(c, "\x00") || len(c) > 260 {
		t.Errorf("cause = %q", c)
	}
}

// streamingHandler writes one answer delta, flushes, then waits until the
// client goes away and reports it on gone. It also gives up when the test
// ends, so that a failing test does not hang in the server's Close.
func streamingHandler(t *testing.T, gone chan<- struct{}) http.HandlerFunc {
	testDone := testDoneChan(t)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, sse(`{"id": "p1", "type": "project_start"}`,
			`{"field_name": "session_state.answer", "delta": "first", "type": "message_field_delta"}`))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(gone)
		case <-testDone:
		}
	}
}

// testDoneChan returns a channel closed when t's cleanups start (before
// the fake servers close, as cleanups run last-registered first).
func testDoneChan(t *testing.T) <-chan struct{} {
	ch := make(chan struct{})
	t.Cleanup(func() { close(ch) })
	return ch
}

func TestCancelMidStream(t *testing.T) {
	gone := make(chan struct{})
	f := newFake(t)
	f.handle("/api/copilot/ask", streamingHandler(t, gone))
	p := newProvider(t, f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := p.Chat(ctx, account("a1", "c"), userReq("gpt-5.1", "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, err := s.Recv()
	if err != nil || ev.Text != "first" {
		t.Fatalf("first Recv = %+v, %v", ev, err)
	}
	cancel()
	waitOrFail(t, gone, "the upstream to see the request end")
	_, err = s.Recv()
	wantCode(t, err, gw.CodeCanceled)
}

func TestCloseMidStream(t *testing.T) {
	gone := make(chan struct{})
	f := newFake(t)
	f.handle("/api/copilot/ask", streamingHandler(t, gone))
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoDelete = true })
	s, err := p.Chat(context.Background(), account("a1", "c"), userReq("gpt-5.1", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := s.Recv(); err != nil || ev.Text != "first" {
		t.Fatalf("first Recv = %+v, %v", ev, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, gone, "the upstream to see the request end")
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	p.Wait()
	if n := len(f.reqs("/api/project/delete")); n != 0 {
		t.Errorf("incomplete answer triggered %d deletes", n)
	}
}

func TestCancelBeforeHeaders(t *testing.T) {
	arrived, gone := make(chan struct{}), make(chan struct{})
	f := newFake(t)
	testDone := testDoneChan(t)
	f.handle("/api/copilot/ask", func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
			close(gone)
		case <-testDone:
		}
	})
	p := newProvider(t, f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Chat(ctx, account("a1", "c"), userReq("gpt-5.1", "x"))
		errc <- err
	}()
	waitOrFail(t, arrived, "the ask request")
	cancel()
	waitOrFail(t, gone, "the upstream to see the request end")
	select {
	case err := <-errc:
		wantCode(t, err, gw.CodeCanceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Chat did not return after cancel")
	}
}

func TestTransportError(t *testing.T) {
	f := newFake(t)
	url := f.srv.URL
	f.srv.Close()
	p := newProvider(t, url, nil)
	_, err := p.Chat(context.Background(), account("a1", "c"), userReq("gpt-5.1", "x"))
	wantCode(t, err, gw.CodeTransient)
	if !gw.Failover(gw.ErrorCode(err)) {
		t.Error("transport failure is not failover-able")
	}
}

func TestDropMidStream(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000") // promise more than is sent
		_, _ = io.WriteString(w, sse(`{"field_name": "session_state.answer", "delta": "part", "type": "message_field_delta"}`))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	p := newProvider(t, f.srv.URL, nil)
	_, err := chat(t, p, account("a1", "c"), userReq("gpt-5.1", "x"))
	e := wantCode(t, err, gw.CodeTransient)
	if e.Message != "Genspark closed the stream before the answer was complete" {
		t.Errorf("message = %q", e.Message)
	}
}

func TestDebugLogsNoSecrets(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(b)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	rc := newFake(t)
	rc.handle("/genspark", respond(200, "", `{"code":200,"token":"secret-token"}`))
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", transcriptCompact))
	f.handle("/api/project/delete", respond(500, "", "nope"))
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) {
		c.Logger, c.Debug, c.RecaptchaURL, c.AutoDelete = logger, true, rc.srv.URL, true
	})
	a, err := chat(t, p, account("a1", "session_id=secret-cookie"), userReq("gpt-5.1", "secret prompt"))
	if err != nil || a.Text != "Hello" {
		t.Fatalf("answer %+v, %v", a, err)
	}
	p.Wait()
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	for _, want := range []string{"unknown event type", "agent_notification", "unknown field name", "session_state.layer_0", "genspark event", "deleting Genspark chat failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	for _, secret := range []string{"secret-cookie", "secret-token", "secret prompt", "Let me think", "layer text", "Hel"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
