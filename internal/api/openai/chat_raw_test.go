package openai_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// chunkHead returns the id and created of the first chunk.
func chunkHead(t *testing.T, data string) (string, int64) {
	t.Helper()
	var c struct {
		ID      string `json:"id"`
		Created int64  `json:"created"`
	}
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("first chunk %q: %v", data, err)
	}
	return c.ID, c.Created
}

func TestStreamTranscript(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		reasoning("R"),
		text("Hi"),
		{Type: llm.EventImage, Media: &llm.Media{URL: "https://img.example/x.png"}},
		text("after"),
		toolDelta(0, "call_1", "f", `{"a":1}`),
		{Type: llm.EventImage, Media: &llm.Media{Data: []byte{1, 2, 3}}},
		finish(llm.FinishStop), usage(5, 6, 1),
	}}
	srv := newServer(t, b, "", openai.Options{})
	res, body := post(t, srv, "/v1/chat/completions",
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}`,
		"Accept-Encoding", "gzip, br")
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
		"X-Accel-Buffering": "no", "Content-Encoding": "",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	data := sseData(t, body)
	if len(data) == 0 {
		t.Fatal("no events")
	}
	id, created := chunkHead(t, data[0])
	head := fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":%d,"model":"m","choices":`, id, created)
	choice := func(delta, fin string) string {
		return head + `[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + fin + `}]}`
	}
	want := []string{
		choice(`{"role":"assistant","content":""}`, "null"),
		choice(`{"reasoning_content":"R"}`, "null"),
		choice(`{"content":"Hi"}`, "null"),
		choice(`{"content":"\n\n![image](https://img.example/x.png)"}`, "null"),
		choice(`{"content":"\n\nafter"}`, "null"),
		choice(`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}`, "null"),
		choice(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}`, "null"),
		choice(`{"content":"\n\n![image](data:image/png;base64,AQID)"}`, "null"),
		choice(`{}`, `"tool_calls"`),
		head + `[],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":1}}}`,
		"[DONE]",
	}
	if len(data) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(data), len(want), body)
	}
	for i := range want {
		if data[i] != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, data[i], want[i])
		}
	}
}

func TestStreamShapeRules(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("a"), text("b"), finish(llm.FinishLength), usage(1, 2, 0), text("late")}}
	srv := newServer(t, b, "", openai.Options{})
	_, body := post(t, srv, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`)
	if strings.Contains(body, "\nid:") || strings.HasPrefix(body, "id:") || strings.Contains(body, "retry:") || strings.Contains(body, "event:") {
		t.Errorf("control lines in stream:\n%s", body)
	}
	data := sseData(t, body)
	if data[len(data)-1] != "[DONE]" {
		t.Errorf("last event %q", data[len(data)-1])
	}
	firstID, _ := chunkHead(t, data[0])
	finishes := 0
	for _, d := range data[:len(data)-1] {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for _, k := range []string{"error", "usage"} {
			if _, ok := m[k]; ok {
				t.Errorf("chunk has %q key: %s", k, d)
			}
		}
		if id, _ := chunkHead(t, d); id != firstID {
			t.Errorf("id changed: %s", d)
		}
		if strings.Contains(d, `"finish_reason":"`) {
			finishes++
		}
		if strings.Contains(d, "late") {
			t.Errorf("content after finish: %s", d)
		}
	}
	if finishes != 1 || !strings.Contains(body, `"finish_reason":"length"`) {
		t.Errorf("finish chunks = %d\n%s", finishes, body)
	}
}

func TestStreamWithoutFinishEvent(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("a")}}
	srv := newServer(t, b, "", openai.Options{})
	_, body := post(t, srv, "/v1/chat/completions",
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}`)
	data := sseData(t, body)
	if n := len(data); n != 5 || !strings.Contains(data[2], `"finish_reason":"stop"`) ||
		!strings.Contains(data[3], `"choices":[],"usage":{"prompt_tokens":0`) || data[4] != "[DONE]" {
		t.Errorf("stream:\n%s", body)
	}
}

func TestReasoningOptions(t *testing.T) {
	events := []llm.Event{reasoning("think"), text("answer"), finish(llm.FinishStop), usage(1, 1, 1)}
	tests := []struct {
		name       string
		opts       openai.Options
		stream     bool
		want, deny []string
		hide       bool // answered by the gateway with REASONING_HIDE
	}{
		{"StreamDefault", openai.Options{}, true, []string{`"delta":{"reasoning_content":"think"}`}, []string{`"reasoning":`}, false},
		{"StreamMirror", openai.Options{MirrorReasoning: true}, true, []string{`"delta":{"reasoning_content":"think","reasoning":"think"}`}, nil, false},
		{"StreamHidden", openai.Options{}, true, []string{`"reasoning_tokens":1`}, []string{"think"}, true},
		{"NonStreamDefault", openai.Options{}, false, []string{`"reasoning_content":"think"`}, []string{`"reasoning":`}, false},
		{"NonStreamMirror", openai.Options{MirrorReasoning: true}, false, []string{`"reasoning_content":"think","reasoning":"think"`}, nil, false},
		{"NonStreamHidden", openai.Options{}, false, []string{`"reasoning_tokens":1`}, []string{"think"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b openai.Backend = &fakeBackend{Events: events}
			if tt.hide {
				b = apitest.Gateway(true, events...)
			}
			srv := newServer(t, b, "", tt.opts)
			_, body := post(t, srv, "/v1/chat/completions",
				fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":%v,"stream_options":{"include_usage":true}}`, tt.stream))
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("missing %s in\n%s", w, body)
				}
			}
			for _, d := range tt.deny {
				if strings.Contains(body, d) {
					t.Errorf("unexpected %s in\n%s", d, body)
				}
			}
		})
	}
}

func TestNonStreamRaw(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		text("Hi"), {Type: llm.EventImage, Media: &llm.Media{MIMEType: "image/jpeg", Data: []byte{1, 2, 3}}},
		finish(llm.FinishStop), usage(2, 3, 0),
	}}
	srv := newServer(t, b, "", openai.Options{})
	res, body := post(t, srv, "/v1/chat/completions",
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":false,"stream_options":{"include_usage":true}}`)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var got struct {
		ID      string `json:"id"`
		Created int64  `json:"created"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"id":%q,"object":"chat.completion","created":%d,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi\n\n![image](data:image/jpeg;base64,AQID)","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`+"\n",
		got.ID, got.Created)
	if body != want {
		t.Errorf("body:\n got %s\nwant %s", body, want)
	}
}

func TestStreamErrors(t *testing.T) {
	t.Run("PreStream", func(t *testing.T) {
		b := &fakeBackend{ChatErr: &gw.Error{Code: gw.CodeNoAccounts, Message: "all accounts are resting", RetryAfter: 30e9}}
		srv := newServer(t, b, "", openai.Options{})
		res, body := post(t, srv, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`)
		if res.StatusCode != 429 || res.Header.Get("Content-Type") != "application/json" ||
			res.Header.Get("Retry-After") != "30" || res.Header.Get("X-Should-Retry") != "" {
			t.Errorf("%d %v", res.StatusCode, res.Header)
		}
		want := `{"error":{"message":"all accounts are resting","type":"requests","param":null,"code":"rate_limit_exceeded"}}` + "\n"
		if body != want {
			t.Errorf("body %s", body)
		}
	})
	t.Run("MidStream", func(t *testing.T) {
		b := &fakeBackend{Events: []llm.Event{text("par")},
			Err: &gw.Error{Code: gw.CodeUnavailable, Message: "upstream went down", Cause: fmt.Errorf("cookie=secret")}}
		srv := newServer(t, b, "", openai.Options{})
		res, body := post(t, srv, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`)
		if res.StatusCode != 200 {
			t.Errorf("status %d", res.StatusCode)
		}
		data := sseData(t, body)
		last := data[len(data)-1]
		if last != `{"error":{"message":"upstream went down","type":"server_error","param":null,"code":"upstream_unavailable"}}` {
			t.Errorf("last event %s", last)
		}
		if strings.Contains(body, "[DONE]") || strings.Contains(body, "secret") {
			t.Errorf("stream:\n%s", body)
		}
		waitClosed(t, b.Streams()[0]) // the handler closes it after the last byte
	})
	t.Run("MidStreamInternal", func(t *testing.T) {
		b := &fakeBackend{Err: fmt.Errorf("nil pointer in parser")}
		srv := newServer(t, b, "", openai.Options{})
		_, body := post(t, srv, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`)
		if !strings.Contains(body, `data: {"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`) ||
			strings.Contains(body, "nil pointer") {
			t.Errorf("stream:\n%s", body)
		}
	})
}

func TestRoutes(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1, 0)}}
	srv := newServer(t, b, "/hf", openai.Options{})
	res, _ := post(t, srv, "/hf/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if res.StatusCode != 200 {
		t.Errorf("prefixed route: %d", res.StatusCode)
	}
	res, _ = post(t, srv, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unprefixed route: %d", res.StatusCode)
	}
}

// response_format reaches the backend as llm.Request.Output.
func TestResponseFormatToBackend(t *testing.T) {
	tests := []struct {
		format string
		want   *llm.OutputFormat
	}{
		{`{"type":"text"}`, nil},
		{`{"type":"json_object"}`, &llm.OutputFormat{Kind: llm.OutputJSONObject}},
		{`{"type":"json_schema","json_schema":{"name":"person","description":"who","strict":true,"schema":{"type":"object"}}}`,
			&llm.OutputFormat{Kind: llm.OutputJSONSchema, Name: "person", Description: "who", Strict: true, Schema: json.RawMessage(`{"type":"object"}`)}},
	}
	for _, tt := range tests {
		b := &fakeBackend{Events: okEvents()}
		srv := newServer(t, b, "", openai.Options{})
		res, body := post(t, srv, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":`+tt.format+`}`)
		if res.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", tt.format, res.StatusCode, body)
		}
		got := b.Request(t, 0).Output
		if (got == nil) != (tt.want == nil) || got != nil && (got.Kind != tt.want.Kind || got.Name != tt.want.Name ||
			got.Description != tt.want.Description || got.Strict != tt.want.Strict || string(got.Schema) != string(tt.want.Schema)) {
			t.Errorf("%s: backend Output = %+v, want %+v", tt.format, got, tt.want)
		}
	}
}

// A refused structured answer is message.refusal (content null), and a
// refusal delta when streaming.
func TestRefusal(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{{Type: llm.EventRefusal, Text: "I can't help with that."}, finish(llm.FinishStop), usage(1, 1, 0)}}
	srv := newServer(t, b, "", openai.Options{})
	res, body := post(t, srv, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if res.StatusCode != 200 || !strings.Contains(body, `"message":{"role":"assistant","content":null,"refusal":"I can't help with that."}`) {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	res, body = post(t, srv, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`)
	if res.StatusCode != 200 || !strings.Contains(body, `"delta":{"refusal":"I can't help with that."}`) {
		t.Fatalf("stream: status %d: %s", res.StatusCode, body)
	}
}
