package responses_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/responses"

	resp "github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/testutil"
)

// accumulate feeds raw SSE events through the strict accumulator.
func accumulate(t *testing.T, evs []sseEvent) *accumulator {
	t.Helper()
	acc := newAccumulator(t)
	for _, ev := range evs {
		var u responses.ResponseStreamEventUnion
		if err := json.Unmarshal([]byte(ev.Data), &u); err != nil {
			t.Fatalf("event %s: %v", ev.Name, err)
		}
		acc.add(u)
	}
	acc.check()
	return acc
}

// responseKeys are the keys every Response object carries (docs/client-api-surface.md §2.2).
var responseKeys = []string{"id", "object", "created_at", "status", "error", "incomplete_details", "instructions",
	"model", "tools", "output", "parallel_tool_calls", "metadata", "tool_choice", "temperature", "top_p", "usage",
	"store", "previous_response_id", "reasoning", "text", "truncation", "completed_at", "max_output_tokens", "background"}

func checkResponseKeys(t *testing.T, what string, obj map[string]any) {
	t.Helper()
	for _, k := range responseKeys {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s lacks %q", what, k)
		}
	}
	if obj["object"] != "response" {
		t.Errorf("%s object = %v", what, obj["object"])
	}
	if _, ok := obj["output"].([]any); !ok {
		t.Errorf("%s output is not an array: %v", what, obj["output"])
	}
}

func TestRawStreamTranscript(t *testing.T) {
	b := &fakeBackend{Events: events(text("Hi "), text("there"),
		toolDelta(0, "call_9", "lookup", `{"q":`), toolDelta(0, "", "", `"x"}`), done(llm.FinishToolCalls))}
	e := newEnv(t, b, resp.Options{})
	res, body := e.post(t, "/v1/responses", `{"model":"m","input":"hello","stream":true,
		"tools":[{"type":"function","name":"lookup","parameters":{"type":"object"}}],"include":["reasoning.encrypted_content"],
		"prompt_cache_key":"abc","safety_identifier":"u1","stream_options":{"include_obfuscation":false},"user":"bob"}`,
		"Accept", "text/event-stream")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") ||
		res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("status %d headers %v", res.StatusCode, res.Header)
	}
	if strings.Contains(body, "[DONE]") || strings.Contains(body, "\nid:") || strings.Contains(body, "retry:") {
		t.Errorf("forbidden SSE content in %s", body)
	}
	evs := parseSSE(t, body)
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.completed",
	}
	if got := names(evs); !slices.Equal(got, want) {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
	acc := accumulate(t, evs)
	created := evs[0].Obj["response"].(map[string]any)
	final := evs[len(evs)-1].Obj["response"].(map[string]any)
	checkResponseKeys(t, "response.created", created)
	checkResponseKeys(t, "response.completed", final)
	if created["usage"] != nil || created["status"] != "in_progress" || final["status"] != "completed" || final["user"] != "bob" {
		t.Errorf("created %v / final %v", created, final)
	}
	if len(final["output"].([]any)) != 2 || acc.final.OutputText() != "Hi there" {
		t.Errorf("final output = %v", final["output"])
	}
	// Item ids agree across events.
	added := evs[2].Obj["item"].(map[string]any)
	for _, ev := range evs[3:8] {
		if ev.Obj["item_id"] != added["id"] || ev.Obj["output_index"] != 0.0 {
			t.Errorf("%s: item_id %v output_index %v, want %v 0", ev.Name, ev.Obj["item_id"], ev.Obj["output_index"], added["id"])
		}
	}
	if d := evs[4].Obj; d["content_index"] != 0.0 || d["logprobs"] == nil {
		t.Errorf("delta = %v", d)
	}
	fc := evs[9].Obj["item"].(map[string]any)
	if fc["arguments"] != "" || fc["status"] != "in_progress" || fc["call_id"] != "call_9" || evs[12].Obj["name"] != "lookup" ||
		evs[12].Obj["arguments"] != `{"q":"x"}` {
		t.Errorf("function call events: %v / %v", fc, evs[12].Obj)
	}
	b.CheckClosed(t)
}

func TestRawMidStreamFailure(t *testing.T) {
	b := &fakeBackend{Events: events(text("partial")), Err: &gw.Error{Code: gw.CodeUpstreamTimeout, Message: "upstream timed out"}}
	e := newEnv(t, b, resp.Options{})
	res, body := e.post(t, "/v1/responses", `{"model":"m","input":"hi","stream":true}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	evs := parseSSE(t, body)
	last := evs[len(evs)-1]
	if last.Name != "response.failed" {
		t.Fatalf("last event %s; events %v", last.Name, names(evs))
	}
	accumulate(t, evs)
	r := last.Obj["response"].(map[string]any)
	checkResponseKeys(t, "response.failed", r)
	errObj, _ := r["error"].(map[string]any)
	if r["status"] != "failed" || errObj["code"] != "server_error" || errObj["message"] != "upstream timed out" {
		t.Errorf("failed response = %v", r)
	}
	out := r["output"].([]any)
	if len(out) != 1 || out[0].(map[string]any)["status"] != "incomplete" {
		t.Errorf("failed output = %v", out)
	}
	for _, n := range names(evs) {
		if n == "response.completed" {
			t.Error("failed stream also completed")
		}
	}
	b.CheckClosed(t)
	// A failed response is not stored.
	id := r["id"].(string)
	if res, _ := e.do(t, http.MethodGet, "/v1/responses/"+id, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET failed response: %d", res.StatusCode)
	}

	// Non-streaming: the same failure is a real HTTP error.
	res, body = e.post(t, "/v1/responses", `{"model":"m","input":"hi"}`)
	if res.StatusCode != http.StatusGatewayTimeout || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("non-stream failure: %d %s", res.StatusCode, body)
	}
	errorOf(t, body)
}

func TestRawPreStreamError(t *testing.T) {
	b := &fakeBackend{ChatErr: &gw.Error{Code: gw.CodeRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}}
	e := newEnv(t, b, resp.Options{})
	for _, stream := range []bool{true, false} {
		res, body := e.post(t, "/v1/responses", fmt.Sprintf(`{"model":"m","input":"hi","stream":%v}`, stream))
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Content-Type") != "application/json" ||
			res.Header.Get("Retry-After") != "2" {
			t.Errorf("stream=%v: %d %v %s", stream, res.StatusCode, res.Header, body)
		}
		if e := errorOf(t, body); e["code"] != "rate_limit_exceeded" || e["message"] != "slow down" {
			t.Errorf("stream=%v: error %v", stream, e)
		}
	}
}

func TestRawIncomplete(t *testing.T) {
	b := &fakeBackend{Events: events(text("cut sho"), done(llm.FinishLength))}
	e := newEnv(t, b, resp.Options{})
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"hi","stream":true,"max_output_tokens":3}`)
	evs := parseSSE(t, body)
	last := evs[len(evs)-1]
	if last.Name != "response.incomplete" {
		t.Fatalf("events %v", names(evs))
	}
	accumulate(t, evs)
	r := last.Obj["response"].(map[string]any)
	if r["status"] != "incomplete" || r["incomplete_details"].(map[string]any)["reason"] != "max_output_tokens" ||
		r["max_output_tokens"] != 3.0 || r["completed_at"] != nil {
		t.Errorf("incomplete response = %v", r)
	}
	if b.Request(t, 0).MaxTokens != 3 {
		t.Errorf("MaxTokens = %d", b.Request(t, 0).MaxTokens)
	}
	_, body = e.post(t, "/v1/responses", `{"model":"m","input":"hi"}`)
	r = jsonObj(t, body)
	msg := r["output"].([]any)[0].(map[string]any)
	if r["status"] != "incomplete" || msg["status"] != "incomplete" {
		t.Errorf("non-stream incomplete = %s", body)
	}
}

func TestRawClientGoneClosesStream(t *testing.T) {
	b := &fakeBackend{Events: events(text("first")), Block: true}
	e := newEnv(t, b, resp.Options{})
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/v1/responses",
		strings.NewReader(`{"model":"m","input":"hi","stream":true}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(res.Body)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "response.output_text.delta") {
			break
		}
	}
	cancel()
	res.Body.Close()
	b.CheckClosed(t)
	testutil.SettleGoroutines(t, before+2)
}

func TestRawReplay(t *testing.T) {
	b := &fakeBackend{Events: events(reasoning("think"), text("answer"), toolDelta(0, "call_R", "f", `{"x":1}`), done(llm.FinishToolCalls))}
	e := newEnv(t, b, resp.Options{})
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"hi","stream":true,"tools":[{"type":"function","name":"f"}]}`)
	orig := parseSSE(t, body)
	id := orig[0].Obj["response"].(map[string]any)["id"].(string)

	// The SDK's GetStreaming replays it through the strict accumulator.
	s := e.client().Responses.GetStreaming(context.Background(), id, responses.ResponseGetParams{})
	acc := newAccumulator(t)
	for s.Next() {
		acc.add(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	acc.check()
	if acc.final.ID != id || acc.final.OutputText() != "answer" || acc.streamedText() != "answer" || len(acc.items) != 3 {
		t.Errorf("replayed = %s", acc.final.RawJSON())
	}

	res, replay := e.do(t, http.MethodGet, "/v1/responses/"+id+"?stream=true", "")
	if res.StatusCode != http.StatusOK {
		t.Fatal(res.StatusCode)
	}
	full := parseSSE(t, replay)
	if got, want := names(full), names(orig); !slices.Equal(got, want) {
		t.Errorf("replayed events:\n got %v\nwant %v", got, want)
	}
	// starting_after skips what the client already has.
	_, partial := e.do(t, http.MethodGet, "/v1/responses/"+id+"?stream=true&starting_after=9", "")
	var seqs []float64
	sc := bufio.NewScanner(strings.NewReader(partial))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			seqs = append(seqs, jsonObj(t, d)["sequence_number"].(float64))
		}
	}
	if len(seqs) != len(full)-10 || seqs[0] != 10 {
		t.Errorf("starting_after=9 gave sequence numbers %v of %d events", seqs, len(full))
	}
}

func TestRawMediaInputs(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nfake")
	pdf := []byte("%PDF-1.7 fake")
	b := &fakeBackend{Events: events(text("ok"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	body := fmt.Sprintf(`{"model":"m","input":[{"role":"user","content":[
		{"type":"input_text","text":"look"},
		{"type":"input_image","image_url":"data:image/png;base64,%s","detail":"high"},
		{"type":"input_image","image_url":"https://example.com/cat.jpg"},
		{"type":"input_file","file_name":"report.pdf","file_data":"%s"},
		{"type":"input_file","filename":"x.pdf","file_data":"data:application/pdf;base64,%s"},
		{"type":"input_file","file_url":"https://example.com/docs/spec.pdf"}]}]}`,
		base64.StdEncoding.EncodeToString(png), base64.StdEncoding.EncodeToString(pdf), base64.StdEncoding.EncodeToString(pdf))
	res, out := e.post(t, "/v1/responses", body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, out)
	}
	parts := b.Request(t, 0).Messages[0].Parts
	if len(parts) != 6 {
		t.Fatalf("parts = %+v", parts)
	}
	if p := parts[1]; p.Type != llm.PartImage || string(p.Media.Data) != string(png) || p.Media.MIMEType != "image/png" {
		t.Errorf("data URL image = %+v", p.Media)
	}
	if p := parts[2]; p.Type != llm.PartImage || p.Media.URL != "https://example.com/cat.jpg" || p.Media.Data != nil {
		t.Errorf("URL image = %+v", p.Media)
	}
	if p := parts[3]; p.Type != llm.PartFile || string(p.Media.Data) != string(pdf) || p.Media.Name != "report.pdf" || p.Media.MIMEType != "application/pdf" {
		t.Errorf("n8n file = %+v", p.Media)
	}
	if p := parts[4]; string(p.Media.Data) != string(pdf) || p.Media.Name != "x.pdf" || p.Media.MIMEType != "application/pdf" {
		t.Errorf("data URL file = %+v", p.Media)
	}
	if p := parts[5]; p.Media.URL != "https://example.com/docs/spec.pdf" || p.Media.Name != "spec.pdf" {
		t.Errorf("URL file = %+v", p.Media)
	}

	for _, tc := range []struct{ part, param string }{
		{`{"type":"input_image","file_id":"file-1"}`, "input[0].content[0].file_id"},
		{`{"type":"input_file","file_id":"file-1"}`, "input[0].content[0].file_id"},
		{`{"type":"input_image","image_url":"ftp://x/y.png"}`, "input[0].content.image_url"},
		{`{"type":"input_image","image_url":"data:image/png;base64,@@@"}`, "input[0].content.image_url"},
		{`{"type":"input_file","filename":"a.txt"}`, "input[0].content[0].file_data"},
		{`{"type":"input_audio","input_audio":{}}`, "input[0].content[0].type"},
	} {
		res, out := e.post(t, "/v1/responses", `{"model":"m","input":[{"role":"user","content":[`+tc.part+`]}]}`)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", tc.part, res.StatusCode, out)
			continue
		}
		if e := errorOf(t, out); e["param"] != tc.param {
			t.Errorf("%s: param %v, want %s (%v)", tc.part, e["param"], tc.param, e["message"])
		}
	}
	if res, out := e.post(t, "/v1/responses", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`); !strings.Contains(out, "File ids are not supported") {
		t.Errorf("file_id message: %d %s", res.StatusCode, out)
	}
	if res, out := e.post(t, "/v1/responses", `{"model":"m","input":[{"role":"system","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]}`); res.StatusCode != http.StatusBadRequest {
		t.Errorf("image in a system message: %d %s", res.StatusCode, out)
	}
}

// An n8n "Message a model" request: easy input items without type, every
// option it can send, web search switched on.
func TestRawN8nRequest(t *testing.T) {
	b := &fakeBackend{Events: events(text(`{"answer":42}`), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	res, body := e.post(t, "/v1/responses", `{"model":"gpt-4.1","input":[
		{"role":"system","content":[{"type":"input_text","text":"You are a helpful assistant designed to output JSON."}]},
		{"role":"user","content":[{"type":"input_text","text":"What is the answer?"}]},
		{"role":"assistant","content":"Earlier answer"},
		{"role":"user","content":"and now?"}],
		"parallel_tool_calls":true,"store":true,"instructions":"Answer in JSON.","max_output_tokens":500,
		"prompt_cache_key":"k","safety_identifier":"s","service_tier":"auto","temperature":0.2,"top_p":0.9,"top_logprobs":0,
		"max_tool_calls":5,"background":false,"truncation":"disabled","include":["message.output_text.logprobs"],
		"metadata":{"workflow":"w1"},"reasoning":{"effort":"low"},"text":{"verbosity":"low","format":{"type":"json_object"}},
		"tools":[{"type":"web_search","search_context_size":"medium","filters":{"allowed_domains":["example.com"]}}]}`,
		"OpenAI-Organization", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	r := jsonObj(t, body)
	checkResponseKeys(t, "response", r)
	if r["max_tool_calls"] != 5.0 || r["text"].(map[string]any)["verbosity"] != "low" ||
		r["reasoning"].(map[string]any)["effort"] != "low" || r["metadata"].(map[string]any)["workflow"] != "w1" {
		t.Errorf("echo = %s", body)
	}
	req := b.Request(t, 0)
	var got []string
	for _, m := range req.Messages {
		got = append(got, string(m.Role)+":"+m.Text())
	}
	want := []string{"system:Answer in JSON.", "system:You are a helpful assistant designed to output JSON.",
		"user:What is the answer?", "assistant:Earlier answer", "user:and now?"}
	if !slices.Equal(got, want) {
		t.Errorf("messages:\n got %q\nwant %q", got, want)
	}
	if req.MaxTokens != 500 || !req.Reasoning || req.ReasoningEffort != "low" || len(req.Tools) != 0 || *req.TopP != 0.9 {
		t.Errorf("request = %+v", req)
	}
}

func TestRawBackgroundServedSynchronously(t *testing.T) {
	b := &fakeBackend{Events: events(text("done already"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	res, body := e.post(t, "/v1/responses", `{"model":"m","input":"hi","background":true}`)
	r := jsonObj(t, body)
	if res.StatusCode != http.StatusOK || r["status"] != "completed" || r["background"] != true {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	// n8n polls GET until completed.
	_, got := e.do(t, http.MethodGet, "/v1/responses/"+r["id"].(string), "")
	if got != body {
		t.Errorf("GET = %s\nwant %s", got, body)
	}
	// Nothing to cancel.
	res, body = e.post(t, "/v1/responses/"+r["id"].(string)+"/cancel", "")
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(errorOf(t, body)["message"].(string), "background") {
		t.Errorf("cancel: %d %s", res.StatusCode, body)
	}
	res, body = e.post(t, "/v1/responses/resp_unknown/cancel", "")
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("cancel unknown: %d %s", res.StatusCode, body)
	}
	errorOf(t, body)
	res, body = e.post(t, "/v1/responses/compact", `{"model":"m","input":"x"}`)
	if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("compact: %d %s", res.StatusCode, body)
	}
	errorOf(t, body)
}

func TestRawItemReference(t *testing.T) {
	b := &fakeBackend{Events: events(text("first answer"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"q1"}`)
	r1 := jsonObj(t, body)
	msgID := r1["output"].([]any)[0].(map[string]any)["id"].(string)

	res, body := e.post(t, "/v1/responses", fmt.Sprintf(`{"model":"m","previous_response_id":%q,"input":[
		{"type":"item_reference","id":%q},{"role":"user","content":"q2"}]}`, r1["id"], msgID))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var got []string
	for _, m := range b.Request(t, 1).Messages {
		got = append(got, string(m.Role)+":"+m.Text())
	}
	want := []string{"user:q1", "assistant:first answer", "assistant:first answer", "user:q2"}
	if !slices.Equal(got, want) {
		t.Errorf("messages %q, want %q", got, want)
	}
	// Replaying the previous output verbatim with previous_response_id does
	// not duplicate it.
	res, body = e.post(t, "/v1/responses", fmt.Sprintf(`{"model":"m","previous_response_id":%q,"input":[%s,{"role":"user","content":"q3"}]}`,
		r1["id"], mustJSON(t, r1["output"].([]any)[0])))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if n := len(b.Request(t, 2).Messages); n != 3 {
		t.Errorf("replayed output duplicated: %d messages", n)
	}

	res, body = e.post(t, "/v1/responses", `{"model":"m","input":[{"type":"item_reference","id":"msg_nope"}]}`)
	if res.StatusCode != http.StatusBadRequest || errorOf(t, body)["param"] != "input[0].id" {
		t.Errorf("unknown reference: %d %s", res.StatusCode, body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRawStoreSizeBound(t *testing.T) {
	b := &fakeBackend{Events: events(text("small answer"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{MaxStoredBytes: 4096})
	big := strings.Repeat("y", 5000)
	for _, stream := range []bool{false, true} {
		_, body := e.post(t, "/v1/responses", fmt.Sprintf(`{"model":"m","input":%q,"stream":%v}`, big, stream))
		var r map[string]any
		if stream {
			evs := parseSSE(t, body)
			if evs[0].Obj["response"].(map[string]any)["store"] != true {
				t.Error("created did not say store:true")
			}
			r = evs[len(evs)-1].Obj["response"].(map[string]any)
		} else {
			r = jsonObj(t, body)
		}
		if r["store"] != false || r["status"] != "completed" {
			t.Errorf("stream=%v: store %v status %v", stream, r["store"], r["status"])
		}
		if res, _ := e.do(t, http.MethodGet, "/v1/responses/"+r["id"].(string), ""); res.StatusCode != http.StatusNotFound {
			t.Errorf("stream=%v: oversized response was stored", stream)
		}
	}
	// A small one still is.
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"tiny"}`)
	r := jsonObj(t, body)
	if res, _ := e.do(t, http.MethodGet, "/v1/responses/"+r["id"].(string), ""); r["store"] != true || res.StatusCode != http.StatusOK {
		t.Errorf("small response not stored: %s", body)
	}
}

func TestRawNoStore(t *testing.T) {
	b := &fakeBackend{Events: events(text("a"), done(llm.FinishStop))}
	e := newEnvWithStore(t, b, nil, nil, resp.Options{})
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"hi"}`)
	r := jsonObj(t, body)
	if r["store"] != false {
		t.Errorf("store = %v without a store", r["store"])
	}
	if res, _ := e.do(t, http.MethodGet, "/v1/responses/"+r["id"].(string), ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET: %d", res.StatusCode)
	}
	if res, _ := e.do(t, http.MethodDelete, "/v1/responses/"+r["id"].(string), ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE: %d", res.StatusCode)
	}
	res, body := e.post(t, "/v1/responses", fmt.Sprintf(`{"model":"m","input":"x","previous_response_id":%q}`, r["id"]))
	if res.StatusCode != http.StatusBadRequest || errorOf(t, body)["param"] != "previous_response_id" {
		t.Errorf("continuation: %d %s", res.StatusCode, body)
	}
}

func TestRawExpiry(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := &fakeBackend{Events: events(text("a"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{Now: clock, StoreTTL: time.Hour})
	e.st.Now = clock
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"hi"}`)
	id := jsonObj(t, body)["id"].(string)
	if res, _ := e.do(t, http.MethodGet, "/v1/responses/"+id, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("fresh GET: %d", res.StatusCode)
	}
	advance(61 * time.Minute)
	if res, _ := e.do(t, http.MethodGet, "/v1/responses/"+id, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("expired GET: %d", res.StatusCode)
	}
	// The next stored answer prunes it from the database.
	e.post(t, "/v1/responses", `{"model":"m","input":"again"}`)
	if _, err := e.st.GetResponse(context.Background(), "key-1", id); err == nil {
		t.Error("expired response not pruned")
	}
}

func TestRawInputItemsPaging(t *testing.T) {
	b := &fakeBackend{Events: events(text("a"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":[
		{"role":"user","content":"one","id":"msg_1"},{"role":"user","content":"two","id":"msg_2"},{"role":"user","content":"three","id":"msg_3"}]}`)
	id := jsonObj(t, body)["id"].(string)
	get := func(q string) map[string]any {
		t.Helper()
		res, body := e.do(t, http.MethodGet, "/v1/responses/"+id+"/input_items"+q, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", q, res.StatusCode, body)
		}
		return jsonObj(t, body)
	}
	ids := func(m map[string]any) []string {
		var out []string
		for _, it := range m["data"].([]any) {
			out = append(out, it.(map[string]any)["id"].(string))
		}
		return out
	}
	p := get("")
	if !slices.Equal(ids(p), []string{"msg_3", "msg_2", "msg_1"}) || p["object"] != "list" || p["has_more"] != false ||
		p["first_id"] != "msg_3" || p["last_id"] != "msg_1" {
		t.Errorf("default page = %v", p)
	}
	p = get("?order=asc&limit=2")
	if !slices.Equal(ids(p), []string{"msg_1", "msg_2"}) || p["has_more"] != true || p["last_id"] != "msg_2" {
		t.Errorf("asc page = %v", p)
	}
	p = get("?order=asc&limit=2&after=msg_2")
	if !slices.Equal(ids(p), []string{"msg_3"}) || p["has_more"] != false {
		t.Errorf("second page = %v", p)
	}
	p = get("?after=msg_1")
	if len(ids(p)) != 0 || p["first_id"] != nil || p["has_more"] != false {
		t.Errorf("empty page = %v", p)
	}
	first := get("?order=asc")["data"].([]any)[0].(map[string]any)
	if first["type"] != "message" || first["role"] != "user" || first["status"] != "completed" ||
		first["content"].([]any)[0].(map[string]any)["text"] != "one" {
		t.Errorf("item = %v", first)
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?order=up"} {
		if res, _ := e.do(t, http.MethodGet, "/v1/responses/"+id+"/input_items"+q, ""); res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", q, res.StatusCode)
		}
	}
	if res, _ := e.do(t, http.MethodGet, "/v1/responses/resp_x/input_items", ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown: %d", res.StatusCode)
	}
}

func TestRawNamespaceTools(t *testing.T) {
	b := &fakeBackend{Script: func(n int, req *llm.Request) []llm.Event {
		return events(toolDelta(0, "call_S", req.Tools[len(req.Tools)-1].Name, `{"message":"go"}`), done(llm.FinishToolCalls))
	}}
	e := newEnv(t, b, resp.Options{})
	ns := `{"type":"namespace","name":"multi_agent_v1","description":"agents","tools":[
		{"type":"function","name":"close_agent","parameters":{"type":"object"}},
		{"type":"function","name":"spawn_agent","description":"spawn","strict":false,"parameters":{"type":"object"}}]}`
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"go","tools":[{"type":"function","name":"exec_command"},`+ns+`]}`)
	r := jsonObj(t, body)
	fc := r["output"].([]any)[0].(map[string]any)
	if fc["name"] != "spawn_agent" || fc["namespace"] != "multi_agent_v1" || fc["call_id"] != "call_S" {
		t.Errorf("call = %v", fc)
	}
	var tools []string
	for _, tl := range b.Request(t, 0).Tools {
		tools = append(tools, tl.Name)
	}
	if !slices.Equal(tools, []string{"exec_command", "close_agent", "spawn_agent"}) {
		t.Errorf("tools = %v", tools)
	}

	// A top-level tool of the same name keeps it; the namespaced one is
	// qualified, and replayed calls map back.
	_, body = e.post(t, "/v1/responses", `{"model":"m","tools":[{"type":"function","name":"spawn_agent"},`+ns+`],"input":[
		{"role":"user","content":"go"},
		{"type":"function_call","call_id":"call_P","name":"spawn_agent","namespace":"multi_agent_v1","arguments":"{}"},
		{"type":"function_call_output","call_id":"call_P","output":"ok"}]}`)
	r = jsonObj(t, body)
	fc = r["output"].([]any)[0].(map[string]any)
	if fc["name"] != "spawn_agent" || fc["namespace"] != "multi_agent_v1" {
		t.Errorf("qualified call = %v", fc)
	}
	req := b.Request(t, 1)
	if req.Tools[2].Name != "multi_agent_v1.spawn_agent" || req.Messages[1].Parts[0].ToolCall.Name != "multi_agent_v1.spawn_agent" ||
		req.Messages[2].Parts[0].ToolResult.Name != "multi_agent_v1.spawn_agent" {
		t.Errorf("request = %+v / %+v", req.Tools, req.Messages)
	}
}

func TestRawToolOutputWithImage(t *testing.T) {
	b := &fakeBackend{Events: events(text("a cat"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	res, body := e.post(t, "/v1/responses", `{"model":"m","input":[
		{"role":"user","content":"what is in the image?"},
		{"type":"function_call","call_id":"call_V","name":"view_image","arguments":"{\"path\":\"/tmp/c.png\"}"},
		{"type":"function_call_output","call_id":"call_V","output":[{"type":"input_text","text":"image loaded"},
			{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]}],
		"tools":[{"type":"function","name":"view_image"}]}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	msgs := b.Request(t, 0).Messages
	if len(msgs) != 4 || msgs[2].Role != llm.RoleTool || msgs[2].Parts[0].ToolResult.Content != "image loaded" ||
		msgs[3].Role != llm.RoleUser || msgs[3].Parts[1].Type != llm.PartImage || msgs[3].Parts[1].Media.MIMEType != "image/png" {
		t.Errorf("messages = %+v", msgs)
	}
	// input_items keeps the parts form of the output.
	id := jsonObj(t, body)["id"].(string)
	_, items := e.do(t, http.MethodGet, "/v1/responses/"+id+"/input_items?order=asc", "")
	out := jsonObj(t, items)["data"].([]any)[2].(map[string]any)
	if parts, ok := out["output"].([]any); !ok || len(parts) != 2 || out["call_id"] != "call_V" {
		t.Errorf("stored output item = %v", out)
	}
}

func TestRawGeneratedImage(t *testing.T) {
	b := &fakeBackend{Events: events(text("Here:"), llm.Event{Type: llm.EventImage, Media: &llm.Media{URL: "https://img.example/1.png"}},
		done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"draw"}`)
	var r responses.Response
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if got := r.OutputText(); got != "Here:\n\n![image](https://img.example/1.png)" {
		t.Errorf("OutputText = %q", got)
	}
}

func TestRawInvalidRequests(t *testing.T) {
	b := &fakeBackend{Events: events(text("a"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{MaxBodyBytes: 1 << 16})
	for _, tc := range []struct {
		name, body, param string
		status            int
		path              string // "" is /v1/responses
	}{
		{"no model", `{"input":"hi"}`, "model", 400, ""},
		{"no input", `{"model":"m"}`, "input", 400, ""},
		{"empty input", `{"model":"m","input":[]}`, "input", 400, ""},
		{"input number", `{"model":"m","input":5}`, "input", 400, ""},
		{"bad JSON", `{"model":`, "", 400, ""},
		{"not an object", `[1]`, "", 400, ""},
		{"stream not bool", `{"model":"m","input":"x","stream":"yes"}`, "stream", 400, ""},
		{"store not bool", `{"model":"m","input":"x","store":"yes"}`, "store", 400, ""},
		{"too large", `{"model":"m","input":"` + strings.Repeat("x", 1<<16) + `"}`, "", 413, ""},
		{"unknown role", `{"model":"m","input":[{"role":"bot","content":"x"}]}`, "input[0].role", 400, ""},
		{"no type", `{"model":"m","input":[{"content":"x"}]}`, "input[0].type", 400, ""},
		{"hosted item", `{"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]}`, "input[0].type", 400, ""},
		{"unknown item", `{"model":"m","input":[{"type":"wat"}]}`, "input[0].type", 400, ""},
		{"call without id", `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id", 400, ""},
		{"output without id", `{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id", 400, ""},
		{"bad part", `{"model":"m","input":[{"role":"user","content":[{"type":"video"}]}]}`, "input[0].content[0].type", 400, ""},
		{"conversation", `{"model":"m","input":"x","conversation":"conv_1"}`, "conversation", 400, ""},
		{"prompt", `{"model":"m","input":"x","prompt":{"id":"pmpt_1"}}`, "prompt", 400, ""},
		{"custom tool", `{"model":"m","input":"x","tools":[{"type":"custom","name":"c"}]}`, "tools[0].type", 400, ""},
		{"mcp tool", `{"model":"m","input":"x","tools":[{"type":"mcp","server_label":"s"}]}`, "tools[0].type", 400, ""},
		{"file_search", `{"model":"m","input":"x","tools":[{"type":"file_search","vector_store_ids":[]}]}`, "tools[0].type", 400, ""},
		{"local_shell", `{"model":"m","input":"x","tools":[{"type":"local_shell"}]}`, "tools[0].type", 400, ""},
		{"tool no name", `{"model":"m","input":"x","tools":[{"type":"function"}]}`, "tools[0].name", 400, ""},
		{"looping schema", `{"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}]}`, "tools[0].parameters", 400, ""},
		{"remote ref in namespace", `{"model":"m","input":"x","tools":[{"type":"namespace","name":"n","tools":[{"type":"function","name":"f","parameters":{"$ref":"https://example.com/s"}}]}]}`, "tools[0].tools[0].parameters", 400, ""},
		{"choice unknown fn", `{"model":"m","input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}`, "tool_choice", 400, ""},
		{"required no tools", `{"model":"m","input":"x","tool_choice":"required"}`, "tool_choice", 400, ""},
		{"choice hosted", `{"model":"m","input":"x","tool_choice":{"type":"file_search"}}`, "tool_choice.type", 400, ""},
		{"choice bad", `{"model":"m","input":"x","tool_choice":"sometimes"}`, "tool_choice", 400, ""},
		{"metadata not strings", `{"model":"m","input":"x","metadata":{"a":1}}`, "metadata", 400, ""},
		{"bad format", `{"model":"m","input":"x","text":{"format":{"type":"yaml"}}}`, "text.format.type", 400, ""},
		{"max tokens 0", `{"model":"m","input":"x","max_output_tokens":0}`, "max_output_tokens", 400, ""},
		{"bad reference", `{"model":"m","input":[{"type":"item_reference"}]}`, "input[0].id", 400, ""},
		// The limits of the official API (issue 11, items 2 and 6).
		{"null body", `null`, "", 400, ""},
		{"null body counted", `null`, "", 400, "/v1/responses/input_tokens"},
		{"model too long", `{"model":"` + strings.Repeat("m", 257) + `","input":"x"}`, "model", 400, ""},
		{"model too long counted", `{"model":"` + strings.Repeat("m", 257) + `","input":"x"}`, "model", 400, "/v1/responses/input_tokens"},
		{"temperature negative", `{"model":"m","input":"x","temperature":-5}`, "temperature", 400, ""},
		{"temperature above two", `{"model":"m","input":"x","temperature":2.01}`, "temperature", 400, ""},
		{"top_p above one", `{"model":"m","input":"x","top_p":1.01}`, "top_p", 400, ""},
		{"max tokens negative", `{"model":"m","input":"x","max_output_tokens":-1}`, "max_output_tokens", 400, ""},
		{"max tool calls negative", `{"model":"m","input":"x","max_tool_calls":-1}`, "max_tool_calls", 400, ""},
		{"user too long", `{"model":"m","input":"x","user":"` + strings.Repeat("u", 257) + `"}`, "user", 400, ""},
		{"previous id too long", `{"model":"m","input":"x","previous_response_id":"` + strings.Repeat("r", 257) + `"}`, "previous_response_id", 400, ""},
		{"metadata 17 pairs", `{"model":"m","input":"x","metadata":{` + metadataPairs(17) + `}}`, "metadata", 400, ""},
		{"metadata key too long", `{"model":"m","input":"x","metadata":{"` + strings.Repeat("k", 65) + `":"v"}}`, "metadata", 400, ""},
		{"metadata value too long", `{"model":"m","input":"x","metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, "metadata.k", 400, ""},
		{"truncation unknown", `{"model":"m","input":"x","truncation":"` + strings.Repeat("t", 1000) + `"}`, "truncation", 400, ""},
		{"verbosity unknown", `{"model":"m","input":"x","text":{"verbosity":"loud"}}`, "text.verbosity", 400, ""},
		{"effort too long", `{"model":"m","input":"x","reasoning":{"effort":"` + strings.Repeat("e", 33) + `"}}`, "reasoning.effort", 400, ""},
		{"tool name with space", `{"model":"m","input":"x","tools":[{"type":"function","name":"get weather"}]}`, "tools[0].name", 400, ""},
		{"tool name too long", `{"model":"m","input":"x","tools":[{"type":"function","name":"` + strings.Repeat("f", 65) + `"}]}`, "tools[0].name", 400, ""},
		{"namespace name with dot", `{"model":"m","input":"x","tools":[{"type":"namespace","name":"a.b","tools":[]}]}`, "tools[0].name", 400, ""},
		{"item id too long", `{"model":"m","input":[{"type":"message","id":"` + strings.Repeat("i", 257) + `","role":"user","content":"x"}]}`, "input[0].id", 400, ""},
		{"call id too long", `{"model":"m","input":[{"type":"function_call_output","call_id":"` + strings.Repeat("c", 257) + `","output":"x"}]}`, "input[0].call_id", 400, ""},
	} {
		path := tc.path
		if path == "" {
			path = "/v1/responses"
		}
		res, body := e.post(t, path, tc.body)
		if res.StatusCode != tc.status || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s", tc.name, res.StatusCode, body)
			continue
		}
		e := errorOf(t, body)
		if p, _ := e["param"].(string); p != tc.param {
			t.Errorf("%s: param %q, want %q (%v)", tc.name, p, tc.param, e["message"])
		}
		if tc.status == 400 && (e["type"] != "invalid_request_error" || res.Header.Get("X-Should-Retry") != "false") {
			t.Errorf("%s: %v / x-should-retry %q", tc.name, e, res.Header.Get("X-Should-Retry"))
		}
	}
	if b.Calls() != 0 {
		t.Errorf("backend called %d times for invalid requests", b.Calls())
	}
	// The hosted-tool message tells n8n users what to do.
	_, body := e.post(t, "/v1/responses", `{"model":"m","input":"x","tools":[{"type":"mcp","server_label":"s"}]}`)
	if msg := errorOf(t, body)["message"].(string); !strings.Contains(msg, "'mcp'") || !strings.Contains(msg, "n8n") {
		t.Errorf("hosted tool message: %s", msg)
	}
}

func TestRawAllowedToolsAndChoice(t *testing.T) {
	b := &fakeBackend{Events: events(text("a"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	tools := `"tools":[{"type":"function","name":"a"},{"type":"function","name":"b"},{"type":"function","name":"c"}]`
	for _, tc := range []struct {
		choice string
		mode   llm.ToolChoiceMode
		name   string
		tools  []string
	}{
		{`"none"`, llm.ToolChoiceNone, "", []string{"a", "b", "c"}},
		{`"required"`, llm.ToolChoiceRequired, "", []string{"a", "b", "c"}},
		{`{"type":"function","name":"b"}`, llm.ToolChoiceNamed, "b", []string{"a", "b", "c"}},
		{`{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"a"},{"type":"function","name":"c"}]}`,
			llm.ToolChoiceRequired, "", []string{"a", "c"}},
		{`{"type":"web_search_preview"}`, llm.ToolChoiceAuto, "", []string{"a", "b", "c"}},
	} {
		res, body := e.post(t, "/v1/responses", `{"model":"m","input":"x","parallel_tool_calls":false,`+tools+`,"tool_choice":`+tc.choice+`}`)
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", tc.choice, res.StatusCode, body)
			continue
		}
		req := b.Request(t, -1)
		var got []string
		for _, tl := range req.Tools {
			got = append(got, tl.Name)
		}
		if req.ToolChoice.Mode != tc.mode || req.ToolChoice.Name != tc.name || !slices.Equal(got, tc.tools) || req.ParallelToolCalls {
			t.Errorf("%s: choice %+v tools %v parallel %v", tc.choice, req.ToolChoice, got, req.ParallelToolCalls)
		}
		if !strings.Contains(body, `"tool_choice":`+tc.choice+`,`) {
			t.Errorf("tool_choice %s not echoed: %s", tc.choice, body)
		}
	}
}

func TestRawConcurrentRequests(t *testing.T) {
	b := &fakeBackend{Events: events(text("x"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			stream := i%2 == 0
			res, err := e.srv.Client().Post(e.srv.URL+"/v1/responses", "application/json",
				strings.NewReader(fmt.Sprintf(`{"model":"m","input":"q%d","stream":%v}`, i, stream)))
			if err != nil {
				errs <- err
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				errs <- errors.New(res.Status)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRawPrefixAndMethods(t *testing.T) {
	mux := http.NewServeMux()
	b := &fakeBackend{Events: events(text("hf"), done(llm.FinishStop))}
	resp.New(b, nil, resp.Options{}).Register(mux, "/hf")
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := srv.Client().Post(srv.URL+"/hf/v1/responses?beta=true", "application/json", strings.NewReader(`{"model":"m","input":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || b.Request(t, 0).ClientKey != "" {
		t.Errorf("prefixed route: %d", res.StatusCode)
	}
	res, err = srv.Client().Post(srv.URL+"/hf/v1/responses/input_tokens", "application/json", strings.NewReader(`{"input":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("input_tokens without a model: %d", res.StatusCode)
	}
}

// metadataPairs returns n "kN":"v" members of a JSON object.
func metadataPairs(n int) string {
	pairs := make([]string, n)
	for i := range pairs {
		pairs[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	return strings.Join(pairs, ",")
}
