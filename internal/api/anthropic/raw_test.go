package anthropic_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

const streamBody = `{"model":"claude-sonnet-4-5","max_tokens":2048,"stream":true,
	"thinking":{"type":"enabled","budget_tokens":1024},
	"messages":[{"role":"user","content":"Weather in Paris?"}],
	"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]}`

// TestStreamTranscript checks the raw frames of a stream with thinking,
// text and two tool calls against docs/client-api-surface.md §3.4.
func TestStreamTranscript(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		reasoning("The user wants "), reasoning("weather."),
		text("Let me "), text("check."),
		toolDelta(0, "call_1", "get_weather", ""), toolDelta(0, "", "", `{"city": "Par`), toolDelta(0, "", "", `is"}`),
		toolDelta(1, "call_2", "get_weather", `{"city":"Lyon"}`),
		finish(llm.FinishToolCalls), usage(40, 57),
	}}
	srv := newServer(t, b, anthropic.Options{})
	res, body := post(t, srv, "/v1/messages?beta=true", streamBody,
		"anthropic-beta", "claude-code-20250219,some-future-beta-2031-01-01")
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content-type = %q", ct)
	}
	if res.Header.Get("Request-Id") != "req_test" {
		t.Errorf("request-id = %q", res.Header.Get("Request-Id"))
	}
	if strings.Contains(body, "[DONE]") {
		t.Error("stream contains [DONE]")
	}
	frames := sseFrames(t, body)
	var names []string
	for _, f := range frames {
		names = append(names, f.Event)
	}
	want := []string{
		"message_start", "ping",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_stop",
		"message_delta", "message_stop",
	}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("events:\n got %q\nwant %q", names, want)
	}

	var start struct {
		Message struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Role    string `json:"role"`
			Model   string `json:"model"`
			Content []any  `json:"content"`
			Usage   map[string]any
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(frames[0].Data), &start); err != nil {
		t.Fatal(err)
	}
	m := start.Message
	if !strings.HasPrefix(m.ID, "msg_") || m.Type != "message" || m.Role != "assistant" || m.Model != "claude-sonnet-4-5" || m.Content == nil || len(m.Content) != 0 {
		t.Errorf("message_start = %s", frames[0].Data)
	}
	if in, _ := m.Usage["input_tokens"].(float64); in <= 0 || m.Usage["output_tokens"] != 1.0 ||
		m.Usage["cache_creation_input_tokens"] != 0.0 || m.Usage["cache_read_input_tokens"] != 0.0 {
		t.Errorf("message_start usage = %v", m.Usage)
	}
	if frames[1].Data != `{"type": "ping"}` {
		t.Errorf("ping = %s", frames[1].Data)
	}

	// Blocks: sequential indices, start → deltas → stop.
	type blockFrame struct {
		Index        *int            `json:"index"`
		ContentBlock json.RawMessage `json:"content_block"`
		Delta        map[string]any  `json:"delta"`
	}
	open, next := -1, 0
	var partial [4]strings.Builder
	for _, f := range frames[2 : len(frames)-2] {
		var bf blockFrame
		if err := json.Unmarshal([]byte(f.Data), &bf); err != nil || bf.Index == nil {
			t.Fatalf("frame %s: %s", f.Event, f.Data)
		}
		i := *bf.Index
		switch f.Event {
		case "content_block_start":
			if open != -1 || i != next {
				t.Errorf("start of %d while %d open, expected index %d", i, open, next)
			}
			open, next = i, next+1
		case "content_block_delta", "content_block_stop":
			if i != open {
				t.Errorf("%s for %d while %d open", f.Event, i, open)
			}
			if f.Event == "content_block_stop" {
				open = -1
			}
		}
		if f.Event == "content_block_delta" && bf.Delta["type"] == "input_json_delta" {
			partial[i].WriteString(bf.Delta["partial_json"].(string))
		}
	}
	checkStart := func(frameIdx int, want string) {
		t.Helper()
		var bf blockFrame
		_ = json.Unmarshal([]byte(frames[frameIdx].Data), &bf)
		if got := string(bf.ContentBlock); got != want {
			t.Errorf("content_block_start = %s, want %s", got, want)
		}
	}
	checkStart(2, `{"type":"thinking","thinking":"","signature":""}`)
	checkStart(6, `{"type":"text","text":""}`)
	checkStart(10, `{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}`)
	checkStart(14, `{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{}}`)
	if !strings.Contains(frames[3].Data, `"delta":{"type":"thinking_delta","thinking":"The user wants "}`) {
		t.Errorf("thinking delta = %s", frames[3].Data)
	}
	if !strings.Contains(frames[7].Data, `"delta":{"type":"text_delta","text":"Let me "}`) {
		t.Errorf("text delta = %s", frames[7].Data)
	}
	for i, want := range map[int]string{2: `{"city":"Paris"}`, 3: `{"city":"Lyon"}`} {
		if !reflect.DeepEqual(mustJSON(t, partial[i].String()), mustJSON(t, want)) {
			t.Errorf("block %d partial_json = %q", i, partial[i].String())
		}
	}

	md := frames[len(frames)-2].Data
	var delta struct {
		Delta struct {
			StopReason   *string `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage *struct {
			InputTokens  int  `json:"input_tokens"`
			OutputTokens *int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(md), &delta); err != nil {
		t.Fatal(err)
	}
	if delta.Delta.StopReason == nil || *delta.Delta.StopReason != "tool_use" || delta.Delta.StopSequence != nil || !strings.Contains(md, `"stop_sequence":null`) {
		t.Errorf("message_delta = %s", md)
	}
	if delta.Usage == nil || delta.Usage.OutputTokens == nil || *delta.Usage.OutputTokens != 57 || delta.Usage.InputTokens != 40 {
		t.Errorf("message_delta usage = %s", md)
	}
	if frames[len(frames)-1].Data != `{"type":"message_stop"}` {
		t.Errorf("message_stop = %s", frames[len(frames)-1].Data)
	}
	waitClosed(t, b.LastStream(t))
}

func TestEmptyAnswer(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{finish(llm.FinishStop), usage(3, 0)}}
	srv := newServer(t, b, anthropic.Options{})
	res, body := post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	var names []string
	for _, f := range sseFrames(t, body) {
		names = append(names, f.Event)
	}
	if want := []string{"message_start", "ping", "message_delta", "message_stop"}; !reflect.DeepEqual(names, want) {
		t.Errorf("events = %q", names)
	}
	res, body = post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
	if res.StatusCode != 200 || !strings.Contains(body, `"content":[]`) || !strings.Contains(body, `"stop_reason":"end_turn"`) {
		t.Errorf("status %d: %s", res.StatusCode, body)
	}
}

func TestNonStreamShape(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("a <b> & c"), finish(llm.FinishLength), usage(9, 4)}}
	srv := newServer(t, b, anthropic.Options{})
	res, body := post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %q in %s", k, body)
		}
	}
	if got["stop_reason"] != "max_tokens" || got["stop_sequence"] != nil {
		t.Errorf("stop = %v %v", got["stop_reason"], got["stop_sequence"])
	}
	if !strings.Contains(body, `"text":"a <b> & c"`) {
		t.Errorf("HTML escaped: %s", body)
	}
	u := got["usage"].(map[string]any)
	if u["input_tokens"] != 9.0 || u["output_tokens"] != 4.0 || u["cache_creation_input_tokens"] != 0.0 || u["cache_read_input_tokens"] != 0.0 {
		t.Errorf("usage = %v", u)
	}
}

func TestGeneratedImage(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		text("Here it is:"),
		{Type: llm.EventImage, Media: &llm.Media{URL: "https://img.example/cat.png"}},
		text("Enjoy."),
		finish(llm.FinishStop), usage(1, 1),
	}}
	srv := newServer(t, b, anthropic.Options{})
	_, body := post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"draw"}]}`)
	var msg struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	_ = json.Unmarshal([]byte(body), &msg)
	if len(msg.Content) != 1 || msg.Content[0].Text != "Here it is:\n\n![image](https://img.example/cat.png)\n\nEnjoy." {
		t.Errorf("content = %+v", msg.Content)
	}
}

// TestStopSequenceEdges covers matches inside one delta, a held-back
// prefix that turns out not to match, and multi-byte text.
func TestStopSequenceEdges(t *testing.T) {
	cases := []struct {
		name   string
		deltas []string
		stops  []string
		want   string
		seq    string
	}{
		{"InOneDelta", []string{"abc###def"}, []string{"###"}, "abc", "###"},
		{"PrefixThenNoMatch", []string{"ab#", "#c", "d"}, []string{"###"}, "ab##cd", ""},
		{"Earliest", []string{"xx END yy STOP"}, []string{"STOP", "END"}, "xx ", "END"},
		{"SpansThree", []string{"héllo <", "/", "answer> tail"}, []string{"</answer>"}, "héllo ", "</answer>"},
		{"MultiByteStop", []string{"naïve ré", "sumé"}, []string{"résumé"}, "naïve ", "résumé"},
		{"AtStart", []string{"STOP"}, []string{"STOP"}, "", "STOP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				var evs []llm.Event
				for _, d := range c.deltas {
					evs = append(evs, text(d))
				}
				b := &fakeBackend{Events: append(evs, finish(llm.FinishStop), usage(1, 1))}
				srv := newServer(t, b, anthropic.Options{})
				stops, _ := json.Marshal(c.stops)
				body := `{"model":"m","max_tokens":5,"stop_sequences":` + string(stops) + `,"stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,"messages":[{"role":"user","content":"x"}]}`
				_, out := post(t, srv, "/v1/messages", body)
				var got, sr, seq string
				if stream {
					for _, f := range sseFrames(t, out) {
						var v struct {
							Delta struct {
								Text         string  `json:"text"`
								StopReason   string  `json:"stop_reason"`
								StopSequence *string `json:"stop_sequence"`
							} `json:"delta"`
						}
						_ = json.Unmarshal([]byte(f.Data), &v)
						got += v.Delta.Text
						if f.Event == "message_delta" {
							sr = v.Delta.StopReason
							if v.Delta.StopSequence != nil {
								seq = *v.Delta.StopSequence
							}
						}
					}
				} else {
					var v struct {
						Content []struct {
							Text string `json:"text"`
						} `json:"content"`
						StopReason   string  `json:"stop_reason"`
						StopSequence *string `json:"stop_sequence"`
					}
					_ = json.Unmarshal([]byte(out), &v)
					for _, blk := range v.Content {
						got += blk.Text
					}
					sr = v.StopReason
					if v.StopSequence != nil {
						seq = *v.StopSequence
					}
				}
				wantSR := "end_turn"
				if c.seq != "" {
					wantSR = "stop_sequence"
				}
				if got != c.want || seq != c.seq || sr != wantSR {
					t.Errorf("stream=%v: text %q seq %q reason %q, want %q %q %q", stream, got, seq, sr, c.want, c.seq, wantSR)
				}
			}
		})
	}
}

// TestPings checks keepalives while the upstream is silent. On the bubble's
// clock the count is exact: the ping that opens the stream, then one per
// 10 ms interval of each 65 ms wait for the upstream (three events and the
// end of the stream: 4 waits × 6 pings).
func TestPings(t *testing.T) {
	b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
		s := newFakeStream(ctx, []llm.Event{text("late"), finish(llm.FinishStop), usage(1, 1)}, nil)
		s.Delay = 65 * time.Millisecond
		return s, nil
	}}
	_, body := postInBubble(t, b, anthropic.Options{PingInterval: 10 * time.Millisecond},
		`{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	frames := sseFrames(t, body)
	pings := 0
	for _, f := range frames {
		if f.Event == "ping" {
			pings++
		}
	}
	if want := 1 + 4*6; pings != want {
		t.Errorf("%d pings, want %d: the initial one and one per interval of silence", pings, want)
	}
	if frames[len(frames)-1].Event != "message_stop" || !strings.Contains(body, `"text":"late"`) {
		t.Errorf("transcript:\n%s", body)
	}
}

// errorBody decodes an Anthropic error response.
type errorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

func TestRequestErrors(t *testing.T) {
	cases := []struct {
		name, path, body string
		status           int
		typ, msg         string
	}{
		{"NoMaxTokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "max_tokens: Field required"},
		{"NoModel", "/v1/messages", `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "model: Field required"},
		{"NoMessages", "/v1/messages", `{"model":"m","max_tokens":5}`, 400, "invalid_request_error", "messages: Field required"},
		{"EmptyMessages", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[]}`, 400, "invalid_request_error", "at least one message"},
		{"BadJSON", "/v1/messages", `{"model":`, 400, "invalid_request_error", "not valid JSON"},
		{"EmptyBody", "/v1/messages", ``, 400, "invalid_request_error", "empty"},
		{"TypeError", "/v1/messages", `{"model":"m","max_tokens":"many","messages":[]}`, 400, "invalid_request_error", "max_tokens: Input should be a valid integer"},
		{"BadRole", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"bot","content":"x"}]}`, 400, "invalid_request_error", "messages.0.role"},
		{"BadBlock", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, 400, "invalid_request_error", "messages.0.content.0.type"},
		{"BadBase64", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"!!!"}}]}]}`, 400, "invalid_request_error", "messages.0.content.0.source.data: invalid base64"},
		{"FileID", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]}`, 400, "invalid_request_error", "Files API"},
		{"ToolUseNoID", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]}`, 400, "invalid_request_error", "messages.0.content.0.id: Field required"},
		{"ServerTools", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"f","input_schema":{"type":"object"}},{"type":"bash_20250124","name":"bash"}]}`, 400, "invalid_request_error", "'web_search_20250305' (web_search), 'bash_20250124' (bash)"},
		{"NoSchema", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}]}`, 400, "invalid_request_error", "tools.0.input_schema: Field required"},
		{"LoopingSchema", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}},{"name":"g","input_schema":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}]}`, 400, "invalid_request_error", "tools.1.input_schema: JSON schema is invalid: the schema loops"},
		{"RemoteSchemaRef", "/v1/messages/count_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"$ref":"file:///etc/passwd"}}]}`, 400, "invalid_request_error", "tools.0.input_schema: JSON schema is invalid: the schema refers to \"file:///etc/passwd\""},
		{"UnknownToolChoice", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"g"}}`, 400, "invalid_request_error", "no tool named 'g'"},
		{"AnyWithoutTools", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"any"}}`, 400, "invalid_request_error", "requires at least one tool"},
		// Structured outputs are emulated (internal/structured); a schema
		// the emulator cannot use is refused up front, naming the field.
		{"StructuredOutputRemoteRef", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"output_config":{"format":{"type":"json_schema","schema":{"$ref":"https://example.com/s.json"}}}}`, 400, "invalid_request_error", "output_config.format.schema: invalid JSON Schema: the schema refers to"},
		{"StructuredOutputNoSchema", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"output_config":{"format":{"type":"json_schema"}}}`, 400, "invalid_request_error", "output_config.format.schema: Field required"},
		{"StructuredOutputType", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"output_config":{"format":{"type":"xml"}}}`, 400, "invalid_request_error", "output_config.format: Input tag 'xml'"},
		{"MCPServers", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"mcp_servers":[{"type":"url","url":"https://mcp.example","name":"x"}]}`, 400, "invalid_request_error", "mcp_servers"},
		{"SystemImage", "/v1/messages", `{"model":"m","max_tokens":5,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "system.0.type"},
		{"CountNoModel", "/v1/messages/count_tokens", `{"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "model: Field required"},
		// The limits of the Anthropic API (issue 11, items 2 and 6); the
		// message starts with the field's path, as the API words it.
		{"NullBody", "/v1/messages", `null`, 400, "invalid_request_error", "JSON object"},
		{"CountNullBody", "/v1/messages/count_tokens", `null`, 400, "invalid_request_error", "JSON object"},
		{"ModelTooLong", "/v1/messages", `{"model":"` + strings.Repeat("m", 257) + `","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "model: String should have at most 256 characters"},
		{"MaxTokensNegative", "/v1/messages", `{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1"},
		{"MaxTokensZero", "/v1/messages", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1"},
		{"TemperatureNegative", "/v1/messages", `{"model":"m","max_tokens":5,"temperature":-5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "temperature: Input should be greater than or equal to 0"},
		{"TemperatureAboveOne", "/v1/messages", `{"model":"m","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "temperature: Input should be less than or equal to 1"},
		{"TopPAboveOne", "/v1/messages", `{"model":"m","max_tokens":5,"top_p":2,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "top_p: Input should be less than or equal to 1"},
		{"TopKNegative", "/v1/messages", `{"model":"m","max_tokens":5,"top_k":-1,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "top_k: Input should be greater than or equal to 0"},
		{"TooManyStopSequences", "/v1/messages", `{"model":"m","max_tokens":5,"stop_sequences":[` + strings.Repeat(`"s",`, 32) + `"s"],"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "stop_sequences: List should have at most 32 items"},
		{"StopSequenceTooLong", "/v1/messages", `{"model":"m","max_tokens":5,"stop_sequences":["` + strings.Repeat("s", 1025) + `"],"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "stop_sequences.0: String should have at most 1024 characters"},
		{"UserIDTooLong", "/v1/messages", `{"model":"m","max_tokens":5,"metadata":{"user_id":"` + strings.Repeat("u", 257) + `"},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "metadata.user_id: String should have at most 256 characters"},
		{"ThinkingBudgetNegative", "/v1/messages", `{"model":"m","max_tokens":5000,"thinking":{"type":"enabled","budget_tokens":-5},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"ThinkingBudgetBelowMinimum", "/v1/messages", `{"model":"m","max_tokens":5000,"thinking":{"type":"enabled","budget_tokens":1023},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"ThinkingBudgetMissing", "/v1/messages", `{"model":"m","max_tokens":5000,"thinking":{"type":"enabled"},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "thinking.enabled.budget_tokens: Field required"},
		{"ThinkingBudgetNotBelowMaxTokens", "/v1/messages", `{"model":"m","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "max_tokens: `max_tokens` must be greater than `thinking.budget_tokens`"},
		{"ThinkingUnknownType", "/v1/messages", `{"model":"m","max_tokens":5,"thinking":{"type":"sometimes"},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "thinking: Input tag 'sometimes'"},
		{"ThinkingNoType", "/v1/messages", `{"model":"m","max_tokens":5,"thinking":{},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "thinking.type: Field required"},
		{"CountThinkingBudgetNegative", "/v1/messages/count_tokens", `{"model":"m","thinking":{"type":"enabled","budget_tokens":-5},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "thinking.enabled.budget_tokens"},
		{"ToolResultWithoutToolUse", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"r"}]}]}`, 400, "invalid_request_error", "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1"},
		{"ToolResultForAnEarlierTurn", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"r"}]},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"again"}]}]}`, 400, "invalid_request_error", "messages.4.content.0: unexpected `tool_use_id`"},
		{"CountToolResultWithoutToolUse", "/v1/messages/count_tokens", `{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1"}]}]}`, 400, "invalid_request_error", "unexpected `tool_use_id`"},
		{"ToolNameWithSpace", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"get weather","input_schema":{"type":"object"}}]}`, 400, "invalid_request_error", "tools.0.name: String should match pattern"},
		{"ToolNameTooLong", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"` + strings.Repeat("f", 129) + `","input_schema":{"type":"object"}}]}`, 400, "invalid_request_error", "tools.0.name: String should have at most 128 characters"},
		{"ToolUseIDTooLong", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"` + strings.Repeat("i", 257) + `","name":"f","input":{}}]}]}`, 400, "invalid_request_error", "messages.0.content.0.id: String should have at most 256"},
		{"ImageMediaTypeHTML", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"text/html","data":"PGh0bWw+"}}]}]}`, 400, "invalid_request_error", "messages.0.content.0.source.media_type: Input should be 'image/jpeg'"},
		{"ImageDataURLHTML", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"data:text/html;base64,PGh0bWw+"}}]}]}`, 400, "invalid_request_error", "messages.0.content.0.source.url: Input should be 'image/jpeg'"},
		{"CountEmptyMessages", "/v1/messages/count_tokens", `{"model":"m","messages":[]}`, 400, "invalid_request_error", "messages: at least one message"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &fakeBackend{}
			srv := newServer(t, b, anthropic.Options{})
			res, body := post(t, srv, c.path, c.body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.status, body)
			}
			var e errorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if e.Type != "error" || e.Error.Type != c.typ || !strings.Contains(e.Error.Message, c.msg) {
				t.Errorf("error = %+v, want type %q message containing %q", e, c.typ, c.msg)
			}
			if e.RequestID != "req_test" || res.Header.Get("Request-Id") != "req_test" {
				t.Errorf("request id = %q / %q", e.RequestID, res.Header.Get("Request-Id"))
			}
			if res.Header.Get("X-Should-Retry") != "false" || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers = %v", res.Header)
			}
			if b.Calls() != 0 {
				t.Error("backend called for an invalid request")
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	b := &fakeBackend{}
	srv := newServer(t, b, anthropic.Options{MaxBodyBytes: 1000})
	big := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`
	for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens"} {
		res, body := post(t, srv, path, big)
		var e errorBody
		_ = json.Unmarshal([]byte(body), &e)
		if res.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Type != "request_too_large" {
			t.Errorf("%s: status %d: %s", path, res.StatusCode, body)
		}
	}
}

// TestLenientFields checks that unknown fields, betas and ignored options
// never cause a 400.
func TestLenientFields(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1)}}
	srv := newServer(t, b, anthropic.Options{})
	body := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
		"metadata":{"user_id":"{\"device_id\":\"d\"}"},"top_k":5,"service_tier":"auto","container":null,
		"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},
		"cache_control":{"type":"ephemeral"},"output_config":{"effort":"high"},"mcp_servers":[],
		"thinking":{"type":"adaptive"},"some_future_field":{"x":[1,2]}}`
	res, out := post(t, srv, "/v1/messages?beta=true", body, "anthropic-beta", "totally-unknown-beta-2099-01-01", "anthropic-version", "")
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, out)
	}
	req := b.LastRequest(t)
	if !req.Reasoning || req.ReasoningEffort != "high" {
		t.Errorf("reasoning = %v %q", req.Reasoning, req.ReasoningEffort)
	}
}

// TestRequestConversion checks the neutral request built from content
// blocks of every supported kind.
func TestRequestConversion(t *testing.T) {
	const png = "iVBORw0KGgo=" // PNG signature
	body := `{"model":"m","max_tokens":5,
	"system":"Be brief.",
	"messages":[
	 {"role":"user","content":[
	   {"type":"text","text":"look","cache_control":{"type":"ephemeral","ttl":"1h"}},
	   {"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png + `"}},
	   {"type":"image","source":{"type":"url","url":"https://img.example/a.jpg"}},
	   {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="},"title":"Report"},
	   {"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain body"},"title":"Notes","context":"from the wiki"},
	   {"type":"document","source":{"type":"content","content":[{"type":"text","text":"chunk"}]}},
	   {"type":"document","source":{"type":"url","url":"https://docs.example/a.pdf"}},
	   {"type":"search_result","source":"https://s.example","title":"S","content":[{"type":"text","text":"found"}]}
	 ]},
	 {"role":"assistant","content":[
	   {"type":"thinking","thinking":"secret","signature":"EqQB"},
	   {"type":"redacted_thinking","data":"abc"},
	   {"type":"text","text":"calling"},
	   {"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}},
	   {"type":"tool_use","id":"toolu_X","name":"shot","input":{"a": 1}},
	   {"type":"tool_use","id":"toolu_Y","name":"ToolSearch","input":{"query":"select:Cron"}}
	 ]},
	 {"role":"user","content":[
	   {"type":"tool_result","tool_use_id":"toolu_X","is_error":false,"content":[
	     {"type":"text","text":"screenshot taken"},
	     {"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png + `"}}]},
	   {"type":"tool_result","tool_use_id":"toolu_Y","content":[{"type":"tool_reference","tool_name":"CronCreate"}]},
	   {"type":"text","text":"go on"}
	 ]},
	 {"role":"system","content":"mid-conversation instruction"},
	 {"role":"assistant","content":"prefill"}
	],
	"tools":[
	  {"name":"shot","input_schema":{"type":"object"}},
	  {"name":"ToolSearch","input_schema":{"type":"object"}},
	  {"name":"CronCreate","input_schema":{"type":"object"},"defer_loading":true},
	  {"name":"CronDelete","input_schema":{"type":"object"},"defer_loading":true},
	  {"name":"DeferredToolPlaceholder","input_schema":{"type":"object","properties":{}},"defer_loading":true}
	],
	"tool_choice":{"type":"none"}}`
	b := &fakeBackend{Events: []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1)}}
	srv := newServer(t, b, anthropic.Options{})
	res, out := post(t, srv, "/v1/messages", body)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, out)
	}
	req := b.LastRequest(t)
	type part struct {
		Type llm.PartType
		Text string
		MIME string
		Name string
		URL  string
		N    int // bytes
	}
	type msg struct {
		Role  llm.Role
		Parts []part
	}
	var got []msg
	for _, m := range req.Messages {
		gm := msg{Role: m.Role}
		for _, p := range m.Parts {
			gp := part{Type: p.Type, Text: p.Text}
			if p.Media != nil {
				gp.MIME, gp.Name, gp.URL, gp.N = p.Media.MIMEType, p.Media.Name, p.Media.URL, len(p.Media.Data)
			}
			if p.ToolCall != nil {
				gp.Text = p.ToolCall.ID + " " + p.ToolCall.Name + " " + p.ToolCall.Arguments
			}
			if p.ToolResult != nil {
				gp.Text = p.ToolResult.CallID + " " + p.ToolResult.Name + " " + p.ToolResult.Content
			}
			gm.Parts = append(gm.Parts, gp)
		}
		got = append(got, gm)
	}
	want := []msg{
		{llm.RoleSystem, []part{{Type: llm.PartText, Text: "Be brief."}}},
		{llm.RoleUser, []part{
			{Type: llm.PartText, Text: "look"},
			{Type: llm.PartImage, MIME: "image/png", N: 8},
			{Type: llm.PartImage, URL: "https://img.example/a.jpg"},
			{Type: llm.PartFile, MIME: "application/pdf", Name: "Report.pdf", N: 5},
			{Type: llm.PartText, Text: "Document: Notes\nContext: from the wiki\n\nplain body"},
			{Type: llm.PartText, Text: "chunk"},
			{Type: llm.PartFile, URL: "https://docs.example/a.pdf"},
			{Type: llm.PartText, Text: "Search result: S\nSource: https://s.example\n\nfound"},
		}},
		{llm.RoleAssistant, []part{
			{Type: llm.PartText, Text: "calling"},
			{Type: llm.PartToolCall, Text: `toolu_X shot {"a":1}`},
			{Type: llm.PartToolCall, Text: `toolu_Y ToolSearch {"query":"select:Cron"}`},
		}},
		{llm.RoleTool, []part{{Type: llm.PartToolResult, Text: "toolu_X shot screenshot taken\n[image attached in the next message]"}}},
		{llm.RoleTool, []part{{Type: llm.PartToolResult, Text: "toolu_Y ToolSearch Tool loaded: CronCreate"}}},
		{llm.RoleUser, []part{
			{Type: llm.PartImage, MIME: "image/png", N: 8},
			{Type: llm.PartText, Text: "go on"},
		}},
		{llm.RoleSystem, []part{{Type: llm.PartText, Text: "mid-conversation instruction"}}},
		{llm.RoleAssistant, []part{{Type: llm.PartText, Text: "prefill"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages:\n got %+v\nwant %+v", got, want)
	}
	var names []string
	for _, tl := range req.Tools {
		names = append(names, tl.Name)
	}
	if want := []string{"shot", "ToolSearch", "CronCreate"}; !reflect.DeepEqual(names, want) {
		t.Errorf("tools = %q, want %q (deferred tools only once referenced)", names, want)
	}
	if req.ToolChoice.Mode != llm.ToolChoiceNone || !req.ParallelToolCalls {
		t.Errorf("tool choice = %+v parallel %v", req.ToolChoice, req.ParallelToolCalls)
	}
}

// TestToolChoiceModes checks the tool_choice mapping.
func TestToolChoiceModes(t *testing.T) {
	cases := map[string]llm.ToolChoice{
		`{"type":"auto"}`:            {Mode: llm.ToolChoiceAuto},
		`{"type":"any"}`:             {Mode: llm.ToolChoiceRequired},
		`{"type":"tool","name":"f"}`: {Mode: llm.ToolChoiceNamed, Name: "f"},
		`{"type":"none"}`:            {Mode: llm.ToolChoiceNone},
	}
	for tc, want := range cases {
		b := &fakeBackend{Events: []llm.Event{finish(llm.FinishStop), usage(1, 1)}}
		srv := newServer(t, b, anthropic.Options{})
		res, out := post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":`+tc+`}`)
		if res.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", tc, res.StatusCode, out)
		}
		if got := b.LastRequest(t).ToolChoice; got != want {
			t.Errorf("%s: %+v, want %+v", tc, got, want)
		}
	}
}

// TestToolIDs checks the upstream → tool_use id mapping.
func TestToolIDs(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		toolDelta(0, "toolu_keep", "f", "{}"),
		toolDelta(1, "call_x", "f", "{}"),
		toolDelta(2, "weird id/with:chars", "f", "{}"),
		toolDelta(3, "", "f", ""),
		toolDelta(4, "x", "f", "{}"),
		toolDelta(5, "toolu_x", "f", "{}"),
		finish(llm.FinishToolCalls), usage(1, 1),
	}}
	srv := newServer(t, b, anthropic.Options{})
	_, out := post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}]}`)
	var msg struct {
		Content []struct {
			ID    string          `json:"id"`
			Input json.RawMessage `json:"input"`
		} `json:"content"`
	}
	_ = json.Unmarshal([]byte(out), &msg)
	if len(msg.Content) != 6 {
		t.Fatalf("content: %s", out)
	}
	ids := map[string]bool{}
	for i, c := range msg.Content {
		if !strings.HasPrefix(c.ID, "toolu_") || strings.Trim(c.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" || ids[c.ID] {
			t.Errorf("id %d = %q", i, c.ID)
		}
		ids[c.ID] = true
		if string(c.Input) != "{}" {
			t.Errorf("input %d = %s", i, c.Input)
		}
	}
	if msg.Content[0].ID != "toolu_keep" || msg.Content[1].ID != "toolu_x" || msg.Content[4].ID != "toolu_x_2" {
		t.Errorf("ids = %s", out)
	}
}

// TestSlowChat checks keepalives while the backend's Chat is still waiting
// for the upstream: the stream starts after PingInterval and a later
// failure goes in-band; a fast failure stays a real HTTP error.
func TestSlowChat(t *testing.T) {
	const body = `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`
	slow := func(d time.Duration, evs []llm.Event, err error) func(context.Context, *llm.Request) (llm.Stream, error) {
		return func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if err != nil {
				return nil, err
			}
			return newFakeStream(ctx, evs, nil), nil
		}
	}
	t.Run("Answer", func(t *testing.T) {
		// On the bubble's clock: the stream starts at 10 ms (message_start
		// and its ping), then pings at 20, 30, ... 80 ms; Chat answers at 85.
		b := &fakeBackend{ChatFn: slow(85*time.Millisecond, []llm.Event{text("late"), finish(llm.FinishStop), usage(1, 1)}, nil)}
		status, out := postInBubble(t, b, anthropic.Options{PingInterval: 10 * time.Millisecond}, body)
		frames := sseFrames(t, out)
		if status != 200 || len(frames) < 4 || frames[0].Event != "message_start" || frames[len(frames)-1].Event != "message_stop" {
			t.Fatalf("status %d:\n%s", status, out)
		}
		pings := 0
		for _, f := range frames {
			if f.Event == "content_block_start" {
				break
			}
			if f.Event == "ping" {
				pings++
			}
		}
		if pings != 8 || !strings.Contains(out, `"text":"late"`) {
			t.Errorf("%d pings before the answer, want 8:\n%s", pings, out)
		}
	})
	t.Run("LateError", func(t *testing.T) {
		b := &fakeBackend{ChatFn: slow(55*time.Millisecond, nil, &gw.Error{Code: gw.CodeNoAccounts, Message: "all accounts resting"})}
		status, out := postInBubble(t, b, anthropic.Options{PingInterval: 10 * time.Millisecond}, body)
		frames := sseFrames(t, out)
		last := frames[len(frames)-1]
		if status != 200 || frames[0].Event != "message_start" || last.Event != "error" ||
			!strings.Contains(last.Data, `"type":"rate_limit_error"`) || !strings.Contains(last.Data, "all accounts resting") {
			t.Errorf("status %d:\n%s", status, out)
		}
	})
	t.Run("FastError", func(t *testing.T) {
		b := &fakeBackend{ChatFn: slow(time.Millisecond, nil, &gw.Error{Code: gw.CodeNoAccounts, Message: "all accounts resting"})}
		srv := newServer(t, b, anthropic.Options{PingInterval: time.Hour})
		res, out := post(t, srv, "/v1/messages", body)
		var e errorBody
		if res.StatusCode != 429 || json.Unmarshal([]byte(out), &e) != nil || e.Error.Type != "rate_limit_error" {
			t.Errorf("status %d: %s", res.StatusCode, out)
		}
	})
}

// TestMediaVariants checks the less common media encodings.
func TestMediaVariants(t *testing.T) {
	const png = "iVBORw0KGgo="
	body := `{"model":"m","max_tokens":5,"messages":[
	 {"role":"user","content":[
	   {"type":"image","source":{"type":"url","url":"data:image/png;base64,` + png + `"}},
	   {"type":"image","source":{"type":"base64","data":"` + png + `"}},
	   {"type":"image","source":{"type":"base64","media_type":"image/png","data":"data:image/png;base64,` + png + `"}},
	   {"type":"document","source":{"type":"base64","media_type":"text/plain","data":"aGVsbG8="},"title":"greeting.txt"},
	   {"type":"document","source":{"type":"content","content":"just text"},"title":"T"}
	 ]},
	 {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"read","input":"{\"p\": 1}"},{"type":"tool_use","id":"toolu_2","name":"list","input":{}}]},
	 {"role":"user","content":[
	   {"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":[
	     {"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc text"}},
	     {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},
	     {"type":"search_result","source":"https://s.example","title":"S","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
	     {"type":"mystery"}]},
	   {"type":"tool_result","tool_use_id":"toolu_2","content":"plain"}
	 ]}]}`
	b := &fakeBackend{Events: []llm.Event{finish(llm.FinishStop), usage(1, 1)}}
	srv := newServer(t, b, anthropic.Options{})
	res, out := post(t, srv, "/v1/messages", body)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, out)
	}
	req := b.LastRequest(t)
	if len(req.Messages) != 5 {
		t.Fatalf("messages = %+v", req.Messages)
	}
	u := req.Messages[0].Parts
	for i := 0; i < 3; i++ {
		if u[i].Type != llm.PartImage || u[i].Media.MIMEType != "image/png" || len(u[i].Media.Data) != 8 {
			t.Errorf("image %d = %+v", i, u[i].Media)
		}
	}
	if u[3].Type != llm.PartText || u[3].Text != "Document: greeting.txt\n\nhello" {
		t.Errorf("text document = %+v", u[3])
	}
	if u[4].Text != "Document: T" || u[5].Text != "just text" {
		t.Errorf("content document = %+v %+v", u[4], u[5])
	}
	if call := req.Messages[1].Parts[0].ToolCall; call.Arguments != `{"p":1}` {
		t.Errorf("string input = %q", call.Arguments)
	}
	tr := req.Messages[2].Parts[0].ToolResult
	want := "doc text\n[document attached in the next message]\nSearch result: S\nSource: https://s.example\n\na\nb\n[mystery content omitted]"
	if !tr.IsError || tr.Content != want || tr.Name != "read" {
		t.Errorf("tool result = %+v", tr)
	}
	if tr := req.Messages[3].Parts[0].ToolResult; tr.CallID != "toolu_2" || tr.Content != "plain" || tr.Name != "list" {
		t.Errorf("second result = %+v", tr)
	}
	if att := req.Messages[4]; att.Role != llm.RoleUser || len(att.Parts) != 1 || att.Parts[0].Type != llm.PartFile ||
		att.Parts[0].Media.Name != "document.pdf" {
		t.Errorf("attachments = %+v", att)
	}
}

// TestInterleavedToolFragments checks an upstream that returns to an
// earlier call after starting the next: the whole answer still has both
// inputs; a stream, which cannot reopen a closed block, drops the late
// fragment but stays well-formed.
func TestInterleavedToolFragments(t *testing.T) {
	evs := []llm.Event{
		toolDelta(0, "call_a", "f", `{"x":`),
		toolDelta(1, "call_b", "f", `{"y":2}`),
		toolDelta(0, "", "", `1}`),
		finish(llm.FinishToolCalls), usage(1, 1),
	}
	b := &fakeBackend{Events: evs}
	srv := newServer(t, b, anthropic.Options{})
	_, out := post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
	if !strings.Contains(out, `"input":{"x":1}`) || !strings.Contains(out, `"input":{"y":2}`) {
		t.Errorf("non-stream: %s", out)
	}
	_, out = post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	frames := sseFrames(t, out)
	if frames[len(frames)-1].Event != "message_stop" || strings.Contains(out, `"partial_json":"1}"`) {
		t.Errorf("stream:\n%s", out)
	}
}
