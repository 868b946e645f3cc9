package gemini_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/gemini"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// TestGenerateContent: one answer with Gemini's shape, finish reasons in
// Gemini's vocabulary and usage with thoughts counted apart.
func TestGenerateContent(t *testing.T) {
	for _, tc := range []struct {
		reason llm.FinishReason
		want   string
	}{
		{llm.FinishStop, "STOP"}, {llm.FinishLength, "MAX_TOKENS"},
		{llm.FinishContentFilter, "SAFETY"}, {"", "STOP"},
	} {
		t.Run(tc.want+"/"+string(tc.reason), func(t *testing.T) {
			b := &fakeBackend{Events: []llm.Event{reasoning("hmm"), text("Hel"), text("lo"), finish(tc.reason), usage(11, 7, 3)}}
			srv := newServer(t, b, gemini.Options{})
			resp, body := do(t, "POST", srv.URL+"/v1beta/models/models%2Fgemini-2.5-pro:generateContent", hello)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			r := decode(t, body)
			if len(r.Candidates) != 1 || r.Candidates[0].Content.Role != "model" || r.Candidates[0].FinishReason != tc.want {
				t.Fatalf("candidates: %s", body)
			}
			if got, thoughts := answerText(r); got != "Hello" || thoughts != "" {
				t.Fatalf("text %q thoughts %q (no includeThoughts): %s", got, thoughts, body)
			}
			if u := r.UsageMetadata; u == nil || u.PromptTokenCount != 11 || u.CandidatesTokenCount != 4 || u.ThoughtsTokenCount != 3 || u.TotalTokenCount != 18 {
				t.Fatalf("usage: %s", body)
			}
			if r.ModelVersion != "gemini-2.5-pro" || r.ResponseID == "" {
				t.Fatalf("modelVersion/responseId: %s", body)
			}
			req := b.LastRequest(t)
			if req.Model != "gemini-2.5-pro" || req.ClientKey != "key-1" || req.LastUserText() != "hi" {
				t.Fatalf("request: model %q key %q text %q", req.Model, req.ClientKey, req.LastUserText())
			}
			b.CheckClosed(t)
		})
	}
}

// TestThoughts: includeThoughts answers the reasoning as parts with
// thought: true, before the answer; a zero budget turns reasoning off.
func TestThoughts(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{reasoning("think "), reasoning("more"), text("answer"), finish(llm.FinishStop), usage(5, 4, 2)}}
	srv := newServer(t, b, gemini.Options{})
	body := `{"contents":[{"parts":[{"text":"q"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingLevel":"HIGH"}}}`
	_, out := do(t, "POST", srv.URL+"/v1beta/models/gemini-3-pro:generateContent", body)
	r := decode(t, out)
	parts := r.Candidates[0].Content.Parts
	if len(parts) != 2 || !parts[0].Thought || *parts[0].Text != "think more" || parts[1].Thought || *parts[1].Text != "answer" {
		t.Fatalf("parts: %s", out)
	}
	if req := b.LastRequest(t); !req.Reasoning || req.ReasoningEffort != "high" {
		t.Fatalf("reasoning %v effort %q", req.Reasoning, req.ReasoningEffort)
	}
	_, _ = do(t, "POST", srv.URL+"/v1beta/models/gemini-3-pro:generateContent",
		`{"contents":[{"parts":[{"text":"q"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":0}}}`)
	if req := b.LastRequest(t); req.Reasoning {
		t.Fatal("thinkingBudget 0 still asks for reasoning")
	}
}

// TestStreamSSE: alt=sse answers data-only events of
// GenerateContentResponse; the last carries the finish reason and usage,
// and the text joins to the answer.
func TestStreamSSE(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{reasoning("r"), text("a"), text("b"), text("c"), finish(llm.FinishStop), usage(3, 3, 1)}}
	srv := newServer(t, b, gemini.Options{})
	resp, body := do(t, "POST", srv.URL+"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
		`{"contents":[{"parts":[{"text":"q"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true}}}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	chunks := sseChunks(t, body)
	if len(chunks) < 2 {
		t.Fatalf("%d chunks: %s", len(chunks), body)
	}
	for i, c := range chunks {
		last := i == len(chunks)-1
		if (c.Candidates[0].FinishReason != "") != last || (c.UsageMetadata != nil) != last {
			t.Fatalf("chunk %d: finish reason or usage misplaced: %s", i, body)
		}
	}
	if got, thoughts := answerText(chunks...); got != "abc" || thoughts != "r" {
		t.Fatalf("text %q thoughts %q", got, thoughts)
	}
	if u := chunks[len(chunks)-1].UsageMetadata; u.PromptTokenCount != 3 || u.CandidatesTokenCount != 2 || u.ThoughtsTokenCount != 1 {
		t.Fatalf("usage %+v", u)
	}
	b.CheckClosed(t)
}

// TestStreamJSONArray: without alt=sse the chunks form one JSON array.
func TestStreamJSONArray(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("x"), text("y"), finish(llm.FinishLength), usage(1, 2, 0)}}
	srv := newServer(t, b, gemini.Options{})
	resp, body := do(t, "POST", srv.URL+"/v1beta/models/gemini-2.5-flash:streamGenerateContent", hello)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d: %s", resp.StatusCode, body)
	}
	var chunks []json.RawMessage
	if err := json.Unmarshal([]byte(body), &chunks); err != nil {
		t.Fatalf("not a JSON array (%v): %s", err, body)
	}
	var rs []response
	for _, c := range chunks {
		rs = append(rs, decode(t, string(c)))
	}
	if got, _ := answerText(rs...); got != "xy" || rs[len(rs)-1].Candidates[0].FinishReason != "MAX_TOKENS" {
		t.Fatalf("stream: %s", body)
	}
}

// TestStreamFailures: a backend failure before the stream is a real HTTP
// error in Google's envelope (with the retry headers); one mid-stream is
// an error chunk, which the google-genai SDKs raise.
func TestStreamFailures(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		b := &fakeBackend{ChatErr: &gw.Error{Code: gw.CodeNoAccounts, Message: "all accounts busy", RetryAfter: 1500e6}}
		srv := newServer(t, b, gemini.Options{})
		resp, body := do(t, "POST", srv.URL+"/v1beta/models/m:streamGenerateContent?alt=sse", hello)
		e := googleError(t, body)
		if resp.StatusCode != http.StatusTooManyRequests || e.Code != 429 || e.Status != "RESOURCE_EXHAUSTED" || resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("%d %v %+v", resp.StatusCode, resp.Header, e)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		b := &fakeBackend{Events: []llm.Event{text("part")}, Err: &gw.Error{Code: gw.CodeUpstream, Message: "upstream broke"}}
		srv := newServer(t, b, gemini.Options{})
		resp, body := do(t, "POST", srv.URL+"/v1beta/models/m:streamGenerateContent?alt=sse", hello)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d: %s", resp.StatusCode, body)
		}
		lines := strings.Split(strings.TrimSpace(body), "\n\n")
		last, _ := strings.CutPrefix(lines[len(lines)-1], "data: ")
		if e := googleError(t, last); e.Status != "UNAVAILABLE" || e.Code != 502 {
			t.Fatalf("last event: %s", body)
		}
		if len(lines) != 2 || !strings.Contains(lines[0], `"text":"part"`) {
			t.Fatalf("the text before the failure is lost: %s", body)
		}
		b.CheckClosed(t)
	})
	t.Run("first event", func(t *testing.T) {
		b := &fakeBackend{Err: &gw.Error{Code: gw.CodeUnavailable, Message: "upstream down"}}
		srv := newServer(t, b, gemini.Options{})
		for _, q := range []string{"?alt=sse", ""} {
			resp, body := do(t, "POST", srv.URL+"/v1beta/models/m:streamGenerateContent"+q, hello)
			if e := googleError(t, body); resp.StatusCode != 503 || e.Status != "UNAVAILABLE" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%q: %d %s %+v", q, resp.StatusCode, resp.Header.Get("Content-Type"), e)
			}
		}
	})
}

// TestFunctionCalling: declarations (OpenAPI parameters and
// parametersJsonSchema), the history's functionCall/functionResponse parts
// with ids (as Gemini CLI sends them) or without (as SDK users often do),
// and the answer's calls as functionCall parts with args objects.
func TestFunctionCalling(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		toolDelta(0, "call_a", "write_file", `{"file_path":"/tmp/x",`), toolDelta(0, "", "", `"content":"y"}`),
		toolDelta(1, "call_b", "get_time", ``),
		finish(llm.FinishToolCalls), usage(9, 9, 0)}}
	srv := newServer(t, b, gemini.Options{})
	body := `{
	 "contents":[
	  {"role":"user","parts":[{"text":"do it"}]},
	  {"role":"model","parts":[{"functionCall":{"id":"write_file_1_0","name":"write_file","args":{"file_path":"/a","content":"b"}},"thoughtSignature":"skip_thought_signature_validator"},
	                           {"functionCall":{"name":"get_time"}}]},
	  {"role":"user","parts":[{"functionResponse":{"id":"write_file_1_0","name":"write_file","response":{"output":"written"}}},
	                          {"functionResponse":{"name":"get_time","response":{"error":"no clock"}}},
	                          {"text":"and now?"}]}
	 ],
	 "tools":[{"functionDeclarations":[
	  {"name":"write_file","description":"writes","parametersJsonSchema":{"type":"OBJECT","properties":{"file_path":{"type":"STRING"},"content":{"type":"string"}},"required":["file_path"]}},
	  {"name":"get_time","parameters":{"type":"OBJECT","properties":{"zone":{"type":"STRING","nullable":true,"enum":["utc","local"]}},"propertyOrdering":["zone"]}}
	 ]}],
	 "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}
	}`
	resp, out := do(t, "POST", srv.URL+"/v1beta/models/gemini-3-flash:generateContent", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d: %s", resp.StatusCode, out)
	}
	r := decode(t, out)
	parts := r.Candidates[0].Content.Parts
	if len(parts) != 2 || parts[0].FunctionCall == nil || parts[1].FunctionCall == nil || r.Candidates[0].FinishReason != "STOP" {
		t.Fatalf("parts: %s", out)
	}
	if fc := parts[0].FunctionCall; fc.ID != "call_a" || fc.Name != "write_file" || string(fc.Args) != `{"file_path":"/tmp/x","content":"y"}` {
		t.Fatalf("call 0: %s", out)
	}
	if fc := parts[1].FunctionCall; fc.Name != "get_time" || string(fc.Args) != `{}` {
		t.Fatalf("call 1 (no arguments streamed): %s", out)
	}

	req := b.LastRequest(t)
	roles := []llm.Role{}
	for _, m := range req.Messages {
		roles = append(roles, m.Role)
	}
	want := []llm.Role{llm.RoleUser, llm.RoleAssistant, llm.RoleTool, llm.RoleTool, llm.RoleUser}
	if !equalRoles(roles, want) {
		t.Fatalf("roles %v, want %v", roles, want)
	}
	calls := req.Messages[1].Parts
	if calls[0].ToolCall.ID != "write_file_1_0" || calls[0].ToolCall.Arguments != `{"file_path":"/a","content":"b"}` || calls[1].ToolCall.ID == "" {
		t.Fatalf("calls: %+v %+v", calls[0].ToolCall, calls[1].ToolCall)
	}
	r1, r2 := req.Messages[2].Parts[0].ToolResult, req.Messages[3].Parts[0].ToolResult
	if r1.CallID != "write_file_1_0" || r1.Content != "written" || r1.IsError {
		t.Fatalf("result 1: %+v", r1)
	}
	if r2.CallID != calls[1].ToolCall.ID || r2.Name != "get_time" || r2.Content != "no clock" || !r2.IsError {
		t.Fatalf("result 2 (matched by name): %+v", r2)
	}
	if len(req.Tools) != 2 || req.ToolChoice.Mode != llm.ToolChoiceAuto {
		t.Fatalf("tools: %+v %+v", req.Tools, req.ToolChoice)
	}
	assertJSON(t, req.Tools[0].Parameters, `{"type":"object","properties":{"file_path":{"type":"string"},"content":{"type":"string"}},"required":["file_path"]}`)
	assertJSON(t, req.Tools[1].Parameters, `{"type":"object","properties":{"zone":{"type":["string","null"],"enum":["utc","local",null]}}}`)
}

func equalRoles(a, b []llm.Role) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// assertJSON compares two JSON documents semantically.
func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("got  %s\nwant %s", gb, wb)
	}
}

// TestToolConfig: the function-calling modes and allowedFunctionNames.
func TestToolConfig(t *testing.T) {
	decl := `"tools":[{"functionDeclarations":[{"name":"a"},{"name":"b"},{"name":"c"}]}]`
	for _, tc := range []struct {
		config string
		mode   llm.ToolChoiceMode
		name   string
		tools  int
	}{
		{`{"mode":"AUTO"}`, llm.ToolChoiceAuto, "", 3},
		{`{"mode":"NONE"}`, llm.ToolChoiceNone, "", 3},
		{`{"mode":"ANY"}`, llm.ToolChoiceRequired, "", 3},
		{`{"mode":"ANY","allowedFunctionNames":["b"]}`, llm.ToolChoiceNamed, "b", 3},
		{`{"mode":"ANY","allowedFunctionNames":["a","c"]}`, llm.ToolChoiceRequired, "", 2},
	} {
		b := &fakeBackend{Events: []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1, 0)}}
		srv := newServer(t, b, gemini.Options{})
		resp, out := do(t, "POST", srv.URL+"/v1beta/models/m:generateContent",
			`{"contents":[{"parts":[{"text":"q"}]}],`+decl+`,"toolConfig":{"functionCallingConfig":`+tc.config+`}}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.config, resp.StatusCode, out)
		}
		req := b.LastRequest(t)
		if req.ToolChoice.Mode != tc.mode || req.ToolChoice.Name != tc.name || len(req.Tools) != tc.tools {
			t.Errorf("%s: choice %+v, %d tools", tc.config, req.ToolChoice, len(req.Tools))
		}
	}
}

// TestGenerationConfig: sampling options, stop sequences and the
// structured-output request.
func TestGenerationConfig(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text(`{"a":1}`), finish(llm.FinishStop), usage(1, 1, 0)}}
	srv := newServer(t, b, gemini.Options{})
	post := func(config string) *llm.Request {
		t.Helper()
		resp, out := do(t, "POST", srv.URL+"/v1beta/models/m:generateContent", `{"contents":[{"parts":[{"text":"q"}]}],"generationConfig":`+config+`}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", config, resp.StatusCode, out)
		}
		return b.LastRequest(t)
	}
	req := post(`{"temperature":0.5,"topP":0.9,"topK":40,"maxOutputTokens":100,"stopSequences":["END"],"candidateCount":1}`)
	if *req.Temperature != 0.5 || *req.TopP != 0.9 || req.MaxTokens != 100 || len(req.Stop) != 1 || req.Output != nil {
		t.Fatalf("%+v", req)
	}
	req = post(`{"responseMimeType":"application/json"}`)
	if req.Output == nil || req.Output.Kind != llm.OutputJSONObject {
		t.Fatalf("json mode: %+v", req.Output)
	}
	req = post(`{"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"n":{"type":"INTEGER","minimum":1}},"required":["n"],"maxProperties":"3"}}`)
	if req.Output == nil || req.Output.Kind != llm.OutputJSONSchema {
		t.Fatalf("schema: %+v", req.Output)
	}
	assertJSON(t, req.Output.Schema, `{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"required":["n"],"maxProperties":3}`)
	// Gemini CLI's routing classifier: uppercase types in a JSON Schema.
	req = post(`{"responseMimeType":"application/json","responseJsonSchema":{"type":"OBJECT","properties":{"s":{"type":"STRING"}},"required":["s"]}}`)
	assertJSON(t, req.Output.Schema, `{"type":"object","properties":{"s":{"type":"string"}},"required":["s"]}`)
}

// TestCountTokens: the estimate of contents, or of a whole
// generateContentRequest (system instruction and tools count too).
func TestCountTokens(t *testing.T) {
	b := &fakeBackend{}
	srv := newServer(t, b, gemini.Options{})
	count := func(body string) int {
		t.Helper()
		resp, out := do(t, "POST", srv.URL+"/v1beta/models/gemini-2.5-pro:countTokens", body)
		var r struct {
			TotalTokens int `json:"totalTokens"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("%d: %s", resp.StatusCode, out)
		}
		return r.TotalTokens
	}
	small := count(`{"contents":[{"parts":[{"text":"hello"}]}]}`)
	big := count(`{"generateContentRequest":{"model":"models/gemini-2.5-pro","contents":[{"parts":[{"text":"hello"}]}],
	  "systemInstruction":{"parts":[{"text":"You are a careful assistant who answers in long detailed paragraphs."}]}}}`)
	if small <= 0 || big <= small {
		t.Fatalf("counts %d, %d", small, big)
	}
	if b.Calls() != 0 {
		t.Fatal("countTokens called the backend")
	}
}

// TestClientGoneCancelsUpstream: when the client leaves mid-stream the
// backend's context ends and its stream is closed.
func TestClientGoneCancelsUpstream(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("a"), text("b")}, Block: true}
	srv := newServer(t, b, gemini.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1beta/models/m:streamGenerateContent?alt=sse", strings.NewReader(hello))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	resp.Body.Close()
	b.CheckClosed(t)
}
