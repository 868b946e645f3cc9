package openai_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/llm"
)

// pngB64 is base64 of the bytes "PNG".
const pngB64 = "UE5H"

func okEvents() []llm.Event {
	return []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1, 0)}
}

// chatBody wraps messages (a JSON array) and extra top-level fields.
func chatBody(messages, extra string) string {
	s := `{"model":"m","messages":` + messages
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

const userHi = `[{"role":"user","content":"hi"}]`

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *llm.Request)
	}{
		{"StringContent", chatBody(userHi, ""), func(t *testing.T, r *llm.Request) {
			if len(r.Messages) != 1 || r.Messages[0].Role != llm.RoleUser || r.Messages[0].Text() != "hi" {
				t.Errorf("%+v", r.Messages)
			}
		}},
		{"RolesAndNames", chatBody(`[{"role":"developer","content":"be brief"},{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"user","name":"bob","content":"hi"},{"role":"assistant","content":"yo","reasoning_content":"ignored"}]`, ""), func(t *testing.T, r *llm.Request) {
			want := []struct {
				role       llm.Role
				text, name string
			}{{llm.RoleSystem, "be brief", ""}, {llm.RoleSystem, "ab", ""}, {llm.RoleUser, "hi", "bob"}, {llm.RoleAssistant, "yo", ""}}
			for i, w := range want {
				m := r.Messages[i]
				if m.Role != w.role || m.Text() != w.text || m.Name != w.name {
					t.Errorf("message %d = %+v", i, m)
				}
			}
		}},
		{"ImageDataURL", chatBody(`[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,`+pngB64+`","detail":"high"}}]}]`, ""), func(t *testing.T, r *llm.Request) {
			p := r.Messages[0].Parts
			if len(p) != 2 || p[0].Text != "what?" || p[1].Type != llm.PartImage ||
				p[1].Media.MIMEType != "image/png" || string(p[1].Media.Data) != "PNG" || p[1].Media.URL != "" {
				t.Errorf("%+v", p)
			}
		}},
		{"ImageHTTPURL", chatBody(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.example/a.jpg"}}]}]`, ""), func(t *testing.T, r *llm.Request) {
			p := r.Messages[0].Parts[0]
			if p.Type != llm.PartImage || p.Media.URL != "https://x.example/a.jpg" || p.Media.Data != nil {
				t.Errorf("%+v", p.Media)
			}
		}},
		{"ImageURLAsString", chatBody(`[{"role":"user","content":[{"type":"image_url","image_url":"http://x.example/a.jpg"}]}]`, ""), func(t *testing.T, r *llm.Request) {
			if u := r.Messages[0].Parts[0].Media.URL; u != "http://x.example/a.jpg" {
				t.Errorf("url %q", u)
			}
		}},
		{"ImageUnpaddedBase64", chatBody(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/webp;base64,UE5HMQ"}}]}]`, ""), func(t *testing.T, r *llm.Request) {
			if m := r.Messages[0].Parts[0].Media; string(m.Data) != "PNG1" || m.MIMEType != "image/webp" {
				t.Errorf("%+v", m)
			}
		}},
		{"InputAudio", chatBody(`[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"`+pngB64+`","format":"mp3"}},{"type":"input_audio","input_audio":{"data":"`+pngB64+`","format":"wav"}}]}]`, ""), func(t *testing.T, r *llm.Request) {
			p := r.Messages[0].Parts
			if p[0].Type != llm.PartFile || p[0].Media.MIMEType != "audio/mpeg" || string(p[0].Media.Data) != "PNG" || p[0].Media.Name != "audio.mp3" {
				t.Errorf("%+v", p[0].Media)
			}
			if p[1].Media.MIMEType != "audio/wav" {
				t.Errorf("%+v", p[1].Media)
			}
		}},
		{"FileDataURL", chatBody(`[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,`+pngB64+`"}}]}]`, ""), func(t *testing.T, r *llm.Request) {
			m := r.Messages[0].Parts[0].Media
			if r.Messages[0].Parts[0].Type != llm.PartFile || m.MIMEType != "application/pdf" || m.Name != "a.pdf" || string(m.Data) != "PNG" {
				t.Errorf("%+v", m)
			}
		}},
		{"FileRawBase64", chatBody(`[{"role":"user","content":[{"type":"file","file":{"filename":"notes.txt","file_data":"`+pngB64+`"}}]}]`, ""), func(t *testing.T, r *llm.Request) {
			m := r.Messages[0].Parts[0].Media
			if m.MIMEType != "text/plain" || m.Name != "notes.txt" || string(m.Data) != "PNG" {
				t.Errorf("%+v", m)
			}
		}},
		{"FileUnknownExtension", chatBody(`[{"role":"user","content":[{"type":"file","file":{"filename":"blob","file_data":"`+pngB64+`"}}]}]`, ""), func(t *testing.T, r *llm.Request) {
			if m := r.Messages[0].Parts[0].Media; m.MIMEType != "application/octet-stream" {
				t.Errorf("%+v", m)
			}
		}},
		{"AssistantToolCallsAndToolResults", chatBody(`[{"role":"user","content":"w?"},
			{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function","function":{"name":"get_time","arguments":{"tz":"UTC"}}}]},
			{"role":"tool","tool_call_id":"call_1","name":"get_weather","content":"sunny"},
			{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"12:00"},{"type":"text","text":" UTC"}]}]`, ""), func(t *testing.T, r *llm.Request) {
			a := r.Messages[1]
			if a.Role != llm.RoleAssistant || len(a.Parts) != 2 || a.Parts[0].Type != llm.PartToolCall {
				t.Fatalf("%+v", a)
			}
			if tc := a.Parts[0].ToolCall; tc.ID != "call_1" || tc.Name != "get_weather" || tc.Arguments != `{"city":"Paris"}` {
				t.Errorf("%+v", tc)
			}
			if tc := a.Parts[1].ToolCall; tc.Arguments != `{"tz":"UTC"}` {
				t.Errorf("object arguments: %+v", tc)
			}
			for i, want := range []llm.ToolResult{{CallID: "call_1", Name: "get_weather", Content: "sunny"}, {CallID: "call_2", Content: "12:00 UTC"}} {
				m := r.Messages[2+i]
				if m.Role != llm.RoleTool || m.Parts[0].Type != llm.PartToolResult || *m.Parts[0].ToolResult != want {
					t.Errorf("tool message %d = %+v", i, m.Parts[0].ToolResult)
				}
			}
		}},
		{"AssistantRefusalAndParts", chatBody(`[{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"refusal","refusal":"no"}]},{"role":"assistant","content":null,"refusal":"nope"},{"role":"user","content":"x"}]`, ""), func(t *testing.T, r *llm.Request) {
			if r.Messages[0].Text() != "ano" || r.Messages[1].Text() != "nope" {
				t.Errorf("%+v", r.Messages)
			}
		}},
		{"LegacyFunctions", chatBody(`[{"role":"user","content":"x"},{"role":"assistant","content":null,"function_call":{"name":"lookup","arguments":"{}"}},{"role":"function","name":"lookup","content":"found"}]`,
			`"functions":[{"name":"lookup","parameters":{"type":"object"}}],"function_call":{"name":"lookup"}`), func(t *testing.T, r *llm.Request) {
			if len(r.Tools) != 1 || r.Tools[0].Name != "lookup" || r.ToolChoice != (llm.ToolChoice{Mode: llm.ToolChoiceNamed, Name: "lookup"}) {
				t.Errorf("tools %+v choice %+v", r.Tools, r.ToolChoice)
			}
			call := r.Messages[1].Parts[0].ToolCall
			res := r.Messages[2].Parts[0].ToolResult
			if call.ID == "" || res.CallID != call.ID || res.Name != "lookup" || res.Content != "found" || r.Messages[2].Role != llm.RoleTool {
				t.Errorf("call %+v result %+v", call, res)
			}
		}},
		{"ToolChoiceNone", chatBody(userHi, `"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false`), func(t *testing.T, r *llm.Request) {
			if r.ToolChoice.Mode != llm.ToolChoiceNone || r.ParallelToolCalls || r.Tools[0].Parameters != nil {
				t.Errorf("%+v %v", r.ToolChoice, r.ParallelToolCalls)
			}
		}},
		{"ToolChoiceRequired", chatBody(userHi, `"tools":[{"type":"function","function":{"name":"f","description":"does f"}}],"tool_choice":"required"`), func(t *testing.T, r *llm.Request) {
			if r.ToolChoice.Mode != llm.ToolChoiceRequired || r.Tools[0].Description != "does f" {
				t.Errorf("%+v", r)
			}
		}},
		{"ToolChoiceNamed", chatBody(userHi, `"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}}],"tool_choice":{"type":"function","function":{"name":"g"}}`), func(t *testing.T, r *llm.Request) {
			if r.ToolChoice != (llm.ToolChoice{Mode: llm.ToolChoiceNamed, Name: "g"}) || len(r.Tools) != 2 {
				t.Errorf("%+v", r.ToolChoice)
			}
		}},
		{"ToolChoiceAllowedTools", chatBody(userHi, `"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}},{"type":"function","function":{"name":"h"}}],
			"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"h"}},{"type":"function","function":{"name":"f"}}]}}`), func(t *testing.T, r *llm.Request) {
			if r.ToolChoice.Mode != llm.ToolChoiceRequired || len(r.Tools) != 2 || r.Tools[0].Name != "f" || r.Tools[1].Name != "h" {
				t.Errorf("%+v %+v", r.ToolChoice, r.Tools)
			}
		}},
		{"SamplingOptions", chatBody(userHi, `"max_tokens":100,"max_completion_tokens":200,"temperature":0.5,"top_p":0.9,"stop":["a","b"],"n":1,"seed":3,"user":"u","metadata":{"k":"v"},"prompt_cache_key":"p","stream_options":{"include_usage":true,"include_obfuscation":false},"response_format":{"type":"json_object"},"logit_bias":{"1":2},"verbosity":"low"`), func(t *testing.T, r *llm.Request) {
			if r.MaxTokens != 200 || *r.Temperature != 0.5 || *r.TopP != 0.9 || strings.Join(r.Stop, ",") != "a,b" {
				t.Errorf("%+v", r)
			}
		}},
		{"MaxTokensOnly", chatBody(userHi, `"max_tokens":100,"stop":"END"`), func(t *testing.T, r *llm.Request) {
			if r.MaxTokens != 100 || len(r.Stop) != 1 || r.Stop[0] != "END" || r.Temperature != nil {
				t.Errorf("%+v", r)
			}
		}},
		{"ReasoningEffort", chatBody(userHi, `"reasoning_effort":"high"`), func(t *testing.T, r *llm.Request) {
			if !r.Reasoning || r.ReasoningEffort != "high" {
				t.Errorf("%v %q", r.Reasoning, r.ReasoningEffort)
			}
		}},
		{"ReasoningEffortNone", chatBody(userHi, `"reasoning_effort":"none"`), func(t *testing.T, r *llm.Request) {
			if r.Reasoning || r.ReasoningEffort != "none" {
				t.Errorf("%v %q", r.Reasoning, r.ReasoningEffort)
			}
		}},
		{"ReasoningObject", chatBody(userHi, `"reasoning":{"effort":"low"}`), func(t *testing.T, r *llm.Request) {
			if !r.Reasoning || r.ReasoningEffort != "low" {
				t.Errorf("%v %q", r.Reasoning, r.ReasoningEffort)
			}
		}},
		{"NoReasoningByDefault", chatBody(userHi, ""), func(t *testing.T, r *llm.Request) {
			if r.Reasoning || r.ReasoningEffort != "" || !r.ParallelToolCalls || r.ToolChoice.Mode != llm.ToolChoiceAuto {
				t.Errorf("%+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{Events: okEvents()}
			srv := newServer(t, b, "", openai.Options{})
			res, body := post(t, srv, "/v1/chat/completions", tt.body)
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			tt.check(t, b.LastRequest(t))
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		param  any // string, or nil for null
		msg    string
	}{
		{"BadJSON", `{"model":"m",`, 400, nil, "could not parse the JSON body"},
		{"NotJSON", `hello`, 400, nil, "could not parse the JSON body"},
		{"Empty", ``, 400, nil, "empty"},
		{"Array", `[1]`, 400, nil, "JSON object"},
		{"NoModel", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model", "you must provide a model parameter"},
		{"ModelWrongType", `{"model":5,"messages":[]}`, 400, "model", "Invalid type for 'model'"},
		{"NoMessages", `{"model":"m"}`, 400, "messages", "Missing required parameter: 'messages'"},
		{"EmptyMessages", `{"model":"m","messages":[]}`, 400, "messages", "empty array"},
		{"MessagesWrongType", `{"model":"m","messages":"hi"}`, 400, "messages", "Invalid type for 'messages'"},
		{"TemperatureWrongType", chatBody(userHi, `"temperature":"hot"`), 400, "temperature", "Invalid type for 'temperature'"},
		{"StreamWrongType", chatBody(userHi, `"stream":"yes"`), 400, "stream", "Invalid type for 'stream'"},
		{"UnknownRole", chatBody(`[{"role":"robot","content":"x"}]`, ""), 400, "messages[0].role", "robot"},
		{"MissingRole", chatBody(`[{"content":"x"}]`, ""), 400, "messages[0].role", "Missing"},
		{"ContentNumber", chatBody(`[{"role":"user","content":5}]`, ""), 400, "messages[0].content", "Invalid type"},
		{"UnknownPart", chatBody(`[{"role":"user","content":[{"type":"hologram"}]}]`, ""), 400, "messages[0].content[0].type", "hologram"},
		{"ImageInSystem", chatBody(`[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://a/b"}}]}]`, ""), 400, "messages[0].content[0].type", "image_url"},
		{"ImageBadScheme", chatBody(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]`, ""), 400, "messages[0].content[0].image_url.url", "http(s) URL or a base64 data URL"},
		{"ImageBadBase64", chatBody(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!"}}]}]`, ""), 400, "messages[0].content[0].image_url.url", "base64"},
		{"ImageNoURL", chatBody(`[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]`, ""), 400, "messages[0].content[0].image_url.url", "Missing"},
		{"AudioNoData", chatBody(`[{"role":"user","content":[{"type":"input_audio","input_audio":{"format":"wav"}}]}]`, ""), 400, "messages[0].content[0].input_audio.data", "Missing"},
		{"FileIDOnly", chatBody(`[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]`, ""), 400, "messages[0].content[0].file.file_id", "file_data"},
		{"ToolWithoutCallID", chatBody(`[{"role":"user","content":"x"},{"role":"tool","content":"r"}]`, ""), 400, "messages[1].tool_call_id", "tool_call_id"},
		{"ToolCallWithoutName", chatBody(`[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]`, ""), 400, "messages[0].tool_calls[0].function.name", "Missing"},
		{"CustomTool", chatBody(userHi, `"tools":[{"type":"custom","custom":{"name":"grammar"}}]`), 400, "tools[0].type", "Custom tools are not supported"},
		{"HostedTool", chatBody(userHi, `"tools":[{"type":"web_search"}]`), 400, "tools[0].type", "web_search"},
		{"ToolWithoutName", chatBody(userHi, `"tools":[{"type":"function","function":{"description":"x"}}]`), 400, "tools[0].function.name", "Missing"},
		{"ToolSchemaLoops", chatBody(userHi, `"tools":[{"type":"function","function":{"name":"f","parameters":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}]`), 400, "tools[0].function.parameters", "Invalid schema for function 'f': the schema loops"},
		{"FunctionSchemaRemoteRef", chatBody(userHi, `"functions":[{"name":"f","parameters":{"$ref":"http://127.0.0.1/s.json"}}]`), 400, "functions[0].parameters", "outside it"},
		{"ToolChoiceUnknownTool", chatBody(userHi, `"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}`), 400, "tool_choice", "'g'"},
		{"ToolChoiceRequiredNoTools", chatBody(userHi, `"tool_choice":"required"`), 400, "tool_choice", "at least one tool"},
		{"ToolChoiceBadString", chatBody(userHi, `"tool_choice":"sometimes"`), 400, "tool_choice", "sometimes"},
		{"JSONSchemaRemoteRef", chatBody(userHi, `"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"$ref":"https://example.com/s.json"}}}`), 400, "response_format.json_schema.schema", "refers to"},
		{"JSONSchemaLooping", chatBody(userHi, `"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}}}`), 400, "response_format.json_schema.schema", "Invalid schema for response_format 'x'"},
		{"JSONSchemaMissing", chatBody(userHi, `"response_format":{"type":"json_schema"}`), 400, "response_format.json_schema", "Missing required parameter"},
		{"ResponseFormatUnknown", chatBody(userHi, `"response_format":{"type":"yaml"}`), 400, "response_format.type", "yaml"},
		{"NTwo", chatBody(userHi, `"n":2`), 400, "n", "n=1"},
		{"StopWrongType", chatBody(userHi, `"stop":5`), 400, "stop", "Invalid type for 'stop'"},
		// The limits of the official API (issue 11, items 2 and 6).
		{"NullBody", `null`, 400, nil, "JSON object"},
		{"ModelTooLong", `{"model":"` + strings.Repeat("m", 257) + `","messages":` + userHi + `}`, 400, "model", "string too long"},
		{"TemperatureBelowZero", chatBody(userHi, `"temperature":-5`), 400, "temperature", "Expected a value >= 0, but got -5"},
		{"TemperatureAboveTwo", chatBody(userHi, `"temperature":2.5`), 400, "temperature", "Expected a value <= 2, but got 2.5"},
		{"TopPAboveOne", chatBody(userHi, `"top_p":1.5`), 400, "top_p", "decimal above maximum value"},
		{"TopPNegative", chatBody(userHi, `"top_p":-0.1`), 400, "top_p", "decimal below minimum value"},
		{"PresencePenaltyAboveTwo", chatBody(userHi, `"presence_penalty":3`), 400, "presence_penalty", "Expected a value <= 2"},
		{"FrequencyPenaltyBelowMinusTwo", chatBody(userHi, `"frequency_penalty":-2.5`), 400, "frequency_penalty", "Expected a value >= -2"},
		{"MaxTokensNegative", chatBody(userHi, `"max_tokens":-1`), 400, "max_tokens", "Expected a value >= 1, but got -1"},
		{"MaxTokensZero", chatBody(userHi, `"max_tokens":0`), 400, "max_tokens", "integer below minimum value"},
		{"MaxCompletionTokensZero", chatBody(userHi, `"max_completion_tokens":0`), 400, "max_completion_tokens", "integer below minimum value"},
		{"NZero", chatBody(userHi, `"n":0`), 400, "n", "Expected a value >= 1"},
		{"NAbove128", chatBody(userHi, `"n":129`), 400, "n", "Expected a value <= 128"},
		{"FiveStops", chatBody(userHi, `"stop":["a","b","c","d","e"]`), 400, "stop", "Expected an array with maximum length 4, but got an array with length 5"},
		{"StopTooLong", chatBody(userHi, `"stop":"`+strings.Repeat("s", 1025)+`"`), 400, "stop", "string too long"},
		{"StopInArrayTooLong", chatBody(userHi, `"stop":["a","`+strings.Repeat("s", 1025)+`"]`), 400, "stop[1]", "string too long"},
		{"UserTooLong", chatBody(userHi, `"user":"`+strings.Repeat("u", 257)+`"`), 400, "user", "string too long"},
		{"MetadataTooManyPairs", chatBody(userHi, `"metadata":{`+metadataPairs(17)+`}`), 400, "metadata", "at most 16 properties, but got an object with 17"},
		{"MetadataKeyTooLong", chatBody(userHi, `"metadata":{"`+strings.Repeat("k", 65)+`":"v"}`), 400, "metadata", "key too long"},
		{"MetadataValueTooLong", chatBody(userHi, `"metadata":{"k":"`+strings.Repeat("v", 513)+`"}`), 400, "metadata.k", "string too long"},
		{"MetadataNotStrings", chatBody(userHi, `"metadata":{"k":5}`), 400, "metadata", "string values"},
		{"ToolNameWithSpace", chatBody(userHi, `"tools":[{"type":"function","function":{"name":"get weather"}}]`), 400, "tools[0].function.name", "does not match pattern"},
		{"ToolNameTooLong", chatBody(userHi, `"tools":[{"type":"function","function":{"name":"`+strings.Repeat("f", 65)+`"}}]`), 400, "tools[0].function.name", "string too long"},
		{"LegacyFunctionNameWithDot", chatBody(userHi, `"functions":[{"name":"a.b"}]`), 400, "functions[0].name", "does not match pattern"},
		{"ToolMessageWithoutToolCalls", chatBody(`[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"call_1","content":"r"}]`, ""), 400, "messages[1].role", "must be a response to a preceeding message with 'tool_calls'"},
		{"ToolMessageAfterUserTurn", chatBody(`[{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"x"},{"role":"tool","tool_call_id":"call_1","content":"r"}]`, ""), 400, "messages[2].role", "preceeding message with 'tool_calls'"},
		{"ToolMessageUnknownCallID", chatBody(`[{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_9","content":"r"}]`, ""), 400, "messages[1].tool_call_id", "'call_9' not found"},
		{"TooLarge", chatBody(`[{"role":"user","content":"`+strings.Repeat("a", 5000)+`"}]`, ""), 413, nil, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{Events: okEvents()}
			srv := newServer(t, b, "", openai.Options{MaxBodyBytes: 4096})
			res, body := post(t, srv, "/v1/chat/completions", tt.body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.status, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if res.Header.Get("X-Should-Retry") != "false" {
				t.Errorf("x-should-retry = %q", res.Header.Get("X-Should-Retry"))
			}
			var env struct {
				Error map[string]any `json:"error"`
			}
			dec := json.NewDecoder(bytes.NewReader([]byte(body)))
			dec.UseNumber()
			if err := dec.Decode(&env); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			e := env.Error
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := e[k]; !ok {
					t.Errorf("error lacks %q: %s", k, body)
				}
			}
			if e["type"] != "invalid_request_error" {
				t.Errorf("type %v", e["type"])
			}
			if e["param"] != tt.param {
				t.Errorf("param %v, want %v", e["param"], tt.param)
			}
			if msg, _ := e["message"].(string); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q lacks %q", msg, tt.msg)
			}
			if b.Calls() != 0 {
				t.Error("backend was called")
			}
		})
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
