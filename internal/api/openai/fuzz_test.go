package openai_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/llm"
)

// FuzzRequest feeds arbitrary bodies to POST /v1/chat/completions: the
// handler must not panic; it answers 200 or a 4xx OpenAI error envelope;
// and its work is bounded by the body: the backend is asked at most once,
// with a request of at most apitest.WorkBound bytes (texts, tool calls and
// results, media, tool schemas, stop strings) and no more messages than
// the body has bytes.
func FuzzRequest(f *testing.F) {
	const png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}],"stop":["a","b"],"temperature":0.2,"top_p":0.9,"max_tokens":5,"user":"u","metadata":{"k":"v"}}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"` + png + `","detail":"low"}},{"type":"image_url","image_url":{"url":"https://x.example/a.png"}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}}]}]}`,
		`{"model":"m","tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"sunny"}]}]}`,
		`{"model":"m","functions":[{"name":"f","parameters":{"type":"object"}}],"function_call":"auto","messages":[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f","arguments":{"a":1}}},{"role":"function","name":"f","content":"r"}]}`,
		`{"model":"m","response_format":{"type":"json_object"},"reasoning_effort":"high","messages":[{"role":"developer","content":[{"type":"text","text":"d"}]},{"role":"user","content":"json please"},{"role":"assistant","refusal":"no"}]}`,
		`{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"f"}}]}},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"n":2,"temperature":-5}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}]} garbage`,
		`null`,
	} {
		f.Add([]byte(seed))
	}
	answer := []llm.Event{apitest.Text("ok"), apitest.Finish(llm.FinishStop), apitest.Usage(1, 1, 0)}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := &apitest.FakeBackend{Events: answer}
		mux := http.NewServeMux()
		openai.New(b, openai.Options{MaxBodyBytes: 1 << 20}).Register(mux, "")
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		mux.ServeHTTP(w, req)
		apitest.CheckOpenAIAnswer(t, w.Code, w.Body.Bytes())
		if n := b.Calls(); n > 1 {
			t.Fatalf("one request made %d backend calls", n)
		}
		if b.Calls() == 1 {
			apitest.CheckWork(t, b.LastRequest(t), len(body))
		}
	})
}
