package app_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/config"
)

// structuredSurface is one client API's way to ask for a structured answer
// and to read the answer text back, streamed or not.
type structuredSurface struct {
	name string
	path string
	// body builds the request: model, user text, the format (a schema, or
	// nil for a JSON object), stream, extra top-level fields ("" or
	// `,"k":v`).
	body func(model, text string, schema json.RawMessage, stream bool, extra string) string
	// text reads the answer text from a response body.
	text func(t *testing.T, body string, stream bool) string
	// schemaOnly: the API has no JSON-object mode.
	schemaOnly bool
	// models names a model on each upstream.
	models map[string]string
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// sseEvents returns the data of each server-sent event of body, with its
// event name ("" when none).
func sseEvents(body string) (names, data []string) {
	for _, e := range parseSSE([]byte(body)) {
		names = append(names, e.name)
		data = append(data, e.data)
	}
	return names, data
}

var structuredSurfaces = []structuredSurface{
	{
		name: "chat", path: "/v1/chat/completions",
		models: map[string]string{"genspark": "gpt-5.2", "geminiweb": "gemini-3-flash"},
		body: func(model, text string, schema json.RawMessage, stream bool, extra string) string {
			rf := `{"type":"json_object"}`
			if schema != nil {
				rf = `{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":` + string(schema) + `}}`
			}
			s, _ := json.Marshal(stream)
			return `{"model":"` + model + `","stream":` + string(s) + `,"messages":[{"role":"user","content":` + jsonString(text) + `}],"response_format":` + rf + extra + `}`
		},
		text: func(t *testing.T, body string, stream bool) string {
			if !stream {
				var c struct {
					Choices []struct {
						Message struct {
							Content string `json:"content"`
						} `json:"message"`
					} `json:"choices"`
				}
				if err := json.Unmarshal([]byte(body), &c); err != nil || len(c.Choices) != 1 {
					t.Fatalf("completion %s: %v", body, err)
				}
				return c.Choices[0].Message.Content
			}
			var b strings.Builder
			_, data := sseEvents(body)
			for _, d := range data {
				if d == "[DONE]" {
					continue
				}
				var c struct {
					Choices []struct {
						Delta struct {
							Content string `json:"content"`
						} `json:"delta"`
					} `json:"choices"`
					Error any `json:"error"`
				}
				if err := json.Unmarshal([]byte(d), &c); err != nil || c.Error != nil {
					t.Fatalf("chunk %s: %v", d, err)
				}
				for _, ch := range c.Choices {
					b.WriteString(ch.Delta.Content)
				}
			}
			return b.String()
		},
	},
	{
		name: "responses", path: "/v1/responses",
		models: map[string]string{"genspark": "gpt-5.2", "geminiweb": "gemini-3-flash"},
		body: func(model, text string, schema json.RawMessage, stream bool, extra string) string {
			f := `{"type":"json_object"}`
			if schema != nil {
				f = `{"type":"json_schema","name":"person","strict":true,"schema":` + string(schema) + `}`
			}
			s, _ := json.Marshal(stream)
			return `{"model":"` + model + `","stream":` + string(s) + `,"input":` + jsonString(text) + `,"text":{"format":` + f + `}` + extra + `}`
		},
		text: func(t *testing.T, body string, stream bool) string {
			type response struct {
				Output []struct {
					Content []struct {
						Type string `json:"type"`
						Text string `json:"text"`
					} `json:"content"`
				} `json:"output"`
				Text struct {
					Format struct {
						Type string `json:"type"`
					} `json:"format"`
				} `json:"text"`
			}
			read := func(r response) string {
				var b strings.Builder
				for _, it := range r.Output {
					for _, c := range it.Content {
						if c.Type == "output_text" {
							b.WriteString(c.Text)
						}
					}
				}
				if r.Text.Format.Type == "text" {
					t.Errorf("text.format not echoed: %s", body)
				}
				return b.String()
			}
			if !stream {
				var r response
				if err := json.Unmarshal([]byte(body), &r); err != nil {
					t.Fatalf("response %s: %v", body, err)
				}
				return read(r)
			}
			var b strings.Builder
			names, data := sseEvents(body)
			completed := false
			for i, d := range data {
				var ev struct {
					Delta    string   `json:"delta"`
					Response response `json:"response"`
				}
				if err := json.Unmarshal([]byte(d), &ev); err != nil {
					t.Fatalf("event %s: %v", d, err)
				}
				switch names[i] {
				case "response.output_text.delta":
					b.WriteString(ev.Delta)
				case "response.completed":
					completed = true
					if got := read(ev.Response); got != b.String() {
						t.Errorf("completed output %q, deltas %q", got, b.String())
					}
				case "error", "response.failed":
					t.Fatalf("stream failed: %s", d)
				}
			}
			if !completed {
				t.Fatalf("no response.completed: %s", body)
			}
			return b.String()
		},
	},
	{
		name: "anthropic", path: "/v1/messages", schemaOnly: true,
		models: map[string]string{"genspark": "claude-sonnet-4-5-20250929", "geminiweb": "claude-gemini-3-flash"},
		body: func(model, text string, schema json.RawMessage, stream bool, extra string) string {
			s, _ := json.Marshal(stream)
			return `{"model":"` + model + `","max_tokens":1024,"stream":` + string(s) + `,"messages":[{"role":"user","content":` + jsonString(text) + `}],"output_config":{"format":{"type":"json_schema","schema":` + string(schema) + `}}` + extra + `}`
		},
		text: func(t *testing.T, body string, stream bool) string {
			if !stream {
				var m struct {
					Content []struct {
						Type string `json:"type"`
						Text string `json:"text"`
					} `json:"content"`
				}
				if err := json.Unmarshal([]byte(body), &m); err != nil {
					t.Fatalf("message %s: %v", body, err)
				}
				var b strings.Builder
				for _, c := range m.Content {
					b.WriteString(c.Text)
				}
				return b.String()
			}
			var b strings.Builder
			names, data := sseEvents(body)
			for i, d := range data {
				if names[i] == "error" {
					t.Fatalf("stream failed: %s", d)
				}
				if names[i] != "content_block_delta" {
					continue
				}
				var ev struct {
					Delta struct {
						Type string `json:"type"`
						Text string `json:"text"`
					} `json:"delta"`
				}
				if err := json.Unmarshal([]byte(d), &ev); err != nil {
					t.Fatalf("event %s: %v", d, err)
				}
				if ev.Delta.Type == "text_delta" {
					b.WriteString(ev.Delta.Text)
				}
			}
			return b.String()
		},
	},
}

const personSchema = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":1},"tags":{"type":"array","items":{"type":"string"},"minItems":1}},"required":["name","age","tags"],"additionalProperties":false}`

// assertOnlyJSON checks that text is exactly one JSON value equal to want.
func assertOnlyJSON(t *testing.T, text, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatalf("answer is not only JSON: %q (%v)", text, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("answer %s, want %s", text, want)
	}
}

func (h *harness) call(s structuredSurface, body string) (*http.Response, string) {
	h.t.Helper()
	return h.post(s.path, testKey, body)
}

// Every surface, streamed and not, over both simulators: sim:json's value,
// a minimal instance of the schema when the prompt names no value, and a
// bare JSON object for json_object.
func TestStructuredOutputsOverSimulators(t *testing.T) {
	h := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie })
	const want = `{"name":"Ada","age":36,"tags":["math","poetry"]}`
	for _, s := range structuredSurfaces {
		for _, upstream := range []string{"genspark", "geminiweb"} {
			model := s.models[upstream]
			for _, stream := range []bool{false, true} {
				name := s.name + "/" + upstream
				if stream {
					name += "/stream"
				}
				t.Run(name, func(t *testing.T) {
					res, body := h.call(s, s.body(model, "Describe Ada. sim:json "+want, json.RawMessage(personSchema), stream, ""))
					if res.StatusCode != 200 {
						t.Fatalf("status %d: %s", res.StatusCode, body)
					}
					assertOnlyJSON(t, s.text(t, body, stream), want)

					// No sim:json: the simulated model follows the schema.
					res, body = h.call(s, s.body(model, "Describe someone.", json.RawMessage(personSchema), stream, ""))
					if res.StatusCode != 200 {
						t.Fatalf("status %d: %s", res.StatusCode, body)
					}
					assertOnlyJSON(t, s.text(t, body, stream), `{"name":"","age":1,"tags":[""]}`)

					if !s.schemaOnly {
						res, body = h.call(s, s.body(model, `Give me an object. sim:json {"ok":true}`, nil, stream, ""))
						if res.StatusCode != 200 {
							t.Fatalf("json_object: status %d: %s", res.StatusCode, body)
						}
						assertOnlyJSON(t, s.text(t, body, stream), `{"ok":true}`)
					}
				})
			}
		}
	}
}

// An answer that breaks the schema is repaired in a second exchange (the
// simulator then follows the schema); one that breaks it twice is
// invalid_model_output (502) in the API's dialect.
func TestStructuredRepairAndFailure(t *testing.T) {
	h := start(t, nil)
	// The pattern is one the simulator's minimal instance ("") breaks.
	const strictSchema = `{"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]{3}$"}},"required":["code"]}`
	for _, s := range structuredSurfaces {
		model := s.models["genspark"]
		for _, stream := range []bool{false, true} {
			name := s.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				before := len(h.asks())
				res, body := h.call(s, s.body(model, `sim:json {"name":"Ada","age":"old","tags":[]}`, json.RawMessage(personSchema), stream, ""))
				if res.StatusCode != 200 {
					t.Fatalf("status %d: %s", res.StatusCode, body)
				}
				assertOnlyJSON(t, s.text(t, body, stream), `{"name":"","age":1,"tags":[""]}`)
				asks := h.asks()
				if len(asks) != before+2 {
					t.Fatalf("%d upstream asks, want 2 (answer and repair)", len(asks)-before)
				}
				if last, _ := asks[len(asks)-1].Facts["last_user"].(string); !strings.Contains(last, "could not be used") || !strings.Contains(last, "/age") {
					t.Fatalf("repair note %q", last)
				}

				before = len(h.asks())
				res, body = h.call(s, s.body(model, `sim:json {"code":"abc"}`, json.RawMessage(strictSchema), stream, ""))
				if n := len(h.asks()) - before; n != 2 {
					t.Errorf("%d upstream asks for an answer invalid twice, want 2 (no failover)", n)
				}
				if !stream {
					if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "invalid_model_output") && !strings.Contains(body, "api_error") {
						t.Fatalf("status %d: %s", res.StatusCode, body)
					}
				} else if !strings.Contains(body, "error") || strings.Contains(body, `"code":"abc"`) && !strings.Contains(body, "pattern") {
					t.Fatalf("stream: %s", body)
				}
				if !strings.Contains(body, "requested format") {
					t.Fatalf("error does not say why: %s", body)
				}
			})
		}
	}
}

// Schemas spark cannot use are a 400 naming each API's parameter.
func TestStructuredBadSchema(t *testing.T) {
	h := start(t, nil)
	params := map[string]string{
		"chat":      "response_format.json_schema.schema",
		"responses": "text.format.schema",
		"anthropic": "output_config.format.schema",
	}
	for _, s := range structuredSurfaces {
		for _, schema := range []string{`{"$ref":"https://example.com/p.json"}`, `{"type":"object","properties":{"a":{"pattern":"(?<=x)y"}}}`} {
			res, body := h.call(s, s.body(s.models["genspark"], "x", json.RawMessage(schema), false, ""))
			if res.StatusCode != 400 || !strings.Contains(body, params[s.name]) {
				t.Errorf("%s %s: status %d: %s", s.name, schema, res.StatusCode, body)
			}
		}
	}
	if n := len(h.asks()); n != 0 {
		t.Fatalf("%d requests reached the upstream", n)
	}
}

// With tools, a turn may call a tool or answer in the schema.
func TestStructuredWithTools(t *testing.T) {
	h := start(t, nil)
	tools := `,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`
	chat := structuredSurfaces[0]
	res, body := h.call(chat, chat.body("gpt-5.2", `Weather? sim:tool get_weather {"city":"Paris"}`, json.RawMessage(personSchema), false, tools))
	if res.StatusCode != 200 || !strings.Contains(body, `"finish_reason":"tool_calls"`) || !strings.Contains(body, `"name":"get_weather"`) {
		t.Fatalf("tool turn: %d %s", res.StatusCode, body)
	}
	if body := h.lastAsk().Body; !strings.Contains(body, "json-schema") || !strings.Contains(body, "tool_call") {
		t.Fatalf("the upstream prompt lacks the format or the tools: %s", body)
	}
	res, body = h.call(chat, chat.body("gpt-5.2", `Now answer. sim:json {"name":"Ada","age":36,"tags":["x"]}`, json.RawMessage(personSchema), false, tools))
	if res.StatusCode != 200 {
		t.Fatalf("answer turn: %d %s", res.StatusCode, body)
	}
	assertOnlyJSON(t, chat.text(t, body, false), `{"name":"Ada","age":36,"tags":["x"]}`)
}

// Reasoning still flows before the JSON, as without a format.
func TestStructuredKeepsReasoning(t *testing.T) {
	h := start(t, nil)
	chat := structuredSurfaces[0]
	res, body := h.call(chat, chat.body("o3-pro", `Think first. sim:think sim:json {"name":"Ada","age":36,"tags":["x"]}`, json.RawMessage(personSchema), true, ""))
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	r, c := strings.Index(body, "reasoning_content"), strings.Index(body, `\"Ada\"`)
	if r < 0 || c < 0 || r > c {
		t.Fatalf("reasoning at %d, JSON at %d: %s", r, c, body)
	}
	assertOnlyJSON(t, chat.text(t, body, true), `{"name":"Ada","age":36,"tags":["x"]}`)
}
