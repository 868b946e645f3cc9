package responses_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	resp "github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/llm"
)

// maxTokensPerByte bounds the input_tokens estimate of a body: a text
// token takes at least a byte, and the smallest attachment part
// ({"type":"input_image","image_url":"http://a"}, 46 bytes) counts 258
// tokens, under 6 per byte.
const maxTokensPerByte = 8

// duplicateReferences is a 2 kB body that referenced a 1 kB item 25 times:
// 26 kB of conversation before item references were limited to one per id
// (beyond FuzzRequest's work bound; not one of its seeds: the fuzzer
// minimizes every new input derived from a seed, which takes a minute for
// one of 2 kB).
var duplicateReferences = `{"model":"m","input":[{"id":"a","role":"user","content":"` + strings.Repeat("x", 1000) + `"}` +
	strings.Repeat(`,{"type":"item_reference","id":"a"}`, 25) + `]}`

// TestDuplicateItemReference: an item may be referenced once in an input;
// a second reference is a 400 about it, before any backend call (each
// reference copied the item, an inline image decoded again per copy).
func TestDuplicateItemReference(t *testing.T) {
	b := &apitest.FakeBackend{Events: []llm.Event{apitest.Text("ok"), apitest.Finish(llm.FinishStop)}}
	mux := http.NewServeMux()
	resp.New(b, nil, resp.Options{}).Register(mux, "")
	for _, tc := range []struct {
		name, body string
		status     int
		param      string
	}{
		{"one reference", `{"model":"m","input":[{"id":"a","role":"user","content":"x"},{"type":"item_reference","id":"a"}]}`, 200, ""},
		{"two references", `{"model":"m","input":[{"id":"a","role":"user","content":"x"},{"type":"item_reference","id":"a"},{"type":"item_reference","id":"a"}]}`, 400, "input[2].id"},
		{"amplifying body", duplicateReferences, 400, "input[2].id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := b.Calls()
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/responses", strings.NewReader(tc.body)))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if tc.status == 200 {
				if got := len(b.LastRequest(t).Messages); got != 2 {
					t.Errorf("%d messages, want the item and its copy", got)
				}
				return
			}
			var env struct {
				Error struct {
					Param string `json:"param"`
					Type  string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Param != tc.param || env.Error.Type != "invalid_request_error" {
				t.Errorf("error %s, want an invalid_request_error about %s", w.Body.String(), tc.param)
			}
			if b.Calls() != calls {
				t.Errorf("the backend was called")
			}
		})
	}
}

// TestDuplicateFunctionDropped: a function defined again (same namespace,
// same name) is dropped, the first definition kept: each copy of a 12-byte
// {"name":"a"} in a namespace with a 64-byte name gave the backend a
// 66-byte tool, a 13 kB body 66 kB of tools.
func TestDuplicateFunctionDropped(t *testing.T) {
	ns := strings.Repeat("n", 64)
	body := `{"model":"m","input":"x","tools":[{"type":"function","name":"a","description":"top"},{"type":"function","name":"a","description":"again"},` +
		`{"type":"namespace","name":"` + ns + `","tools":[{"name":"a","description":"first"}` + strings.Repeat(`,{"name":"a"}`, 999) + `]}]}`
	b := &apitest.FakeBackend{Events: []llm.Event{apitest.Text("ok"), apitest.Finish(llm.FinishStop)}}
	mux := http.NewServeMux()
	resp.New(b, nil, resp.Options{}).Register(mux, "")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/responses", strings.NewReader(body)))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	var got []string
	for _, tool := range b.LastRequest(t).Tools {
		got = append(got, tool.Name+":"+tool.Description)
	}
	if want := []string{"a:top", ns + ".a:first"}; !slices.Equal(got, want) {
		t.Errorf("tools %q, want %q", got, want)
	}
	apitest.CheckWork(t, b.LastRequest(t), len(body))
}

// FuzzRequest feeds arbitrary bodies to POST /v1/responses and POST
// /v1/responses/input_tokens (count): the handler must not panic; it
// answers 200 or a 4xx OpenAI error envelope; and its work is bounded by
// the body: a create asks the backend at most once, with a request of at
// most apitest.WorkBound bytes and no more messages than the body has
// bytes; a count asks it never, and its estimate is at most
// maxTokensPerByte tokens per byte of the body.
//
// The Codex captures in testdata are 20 kB (TestCodexFixtures replays
// them); the seeds are small requests of the same shapes.
func FuzzRequest(f *testing.F) {
	const png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
	for _, seed := range []struct {
		body  string
		count bool
	}{
		{`{"model":"m","input":"hi"}`, false},
		{`{"model":"m","input":"hi"}`, true},
		{`{"model":"m","stream":true,"store":false,"instructions":"be brief","input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"d"}]},{"role":"user","content":[{"type":"input_text","text":"what is this"},{"type":"input_image","image_url":"` + png + `","detail":"low"},{"type":"input_image","image_url":"https://x.example/a.png"},{"type":"input_file","filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}]}],"metadata":{"k":"v"},"temperature":0.5,"max_output_tokens":64,"truncation":"auto","user":"u"}`, false},
		{`{"model":"m","tools":[{"type":"function","name":"exec_command","description":"run","parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]},"strict":false},{"type":"namespace","name":"multi_agent_v1","tools":[{"type":"function","name":"spawn","parameters":{"type":"object"}},{"name":"exec_command"}]},{"type":"web_search"}],"tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"medium","summary":"auto"},"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"ls"}]},{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"t"}]},{"type":"function_call","id":"fc_1","call_id":"call_1","name":"exec_command","arguments":"{\"cmd\":\"ls\"}","status":"completed"},{"type":"function_call_output","call_id":"call_1","output":"a.txt"}]}`, false},
		{`{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call","call_id":"c","name":"f","namespace":"multi_agent_v1","arguments":{"a":1}},{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"r"},{"type":"input_image","image_url":"` + png + `"}]}],"tools":[{"type":"namespace","name":"multi_agent_v1","tools":[{"type":"function","name":"f"}]}],"tool_choice":{"type":"function","name":"f","namespace":"multi_agent_v1"}}`, false},
		{`{"model":"m","text":{"format":{"type":"json_object"},"verbosity":"low"},"input":[{"id":"msg_1","role":"user","content":"hello"},{"type":"item_reference","id":"msg_1"}]}`, false},
		{`{"model":"m","text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}},"input":"x"}`, false},
		{`{"model":"m","tools":[{"type":"function","name":"f","parameters":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}],"tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"f"}]},"input":"x"}`, false},
		{`{"model":"m","previous_response_id":"resp_1","input":"x"}`, false},
		{`{"input":[{"role":"user","content":"a"}],"instructions":[{"role":"system","content":"s"}]}`, true},
		{`{"model":"m","input":"x","temperature":-5,"top_p":2}`, false},
		{`{"model":"m","input":"x"} garbage`, false},
		{`null`, true},
	} {
		f.Add([]byte(seed.body), seed.count)
	}
	answer := []llm.Event{apitest.Text("ok"), apitest.Finish(llm.FinishStop), apitest.Usage(1, 1, 0)}
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		b := &apitest.FakeBackend{Events: answer}
		mux := http.NewServeMux()
		resp.New(b, nil, resp.Options{MaxBodyBytes: 1 << 20}).Register(mux, "")
		path := "/v1/responses"
		if count {
			path += "/input_tokens"
		}
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		mux.ServeHTTP(w, req)
		apitest.CheckOpenAIAnswer(t, w.Code, w.Body.Bytes())
		switch n := b.Calls(); {
		case count && n > 0:
			t.Fatalf("input_tokens made %d backend calls", n)
		case n > 1:
			t.Fatalf("one request made %d backend calls", n)
		case n == 1:
			apitest.CheckWork(t, b.LastRequest(t), len(body))
		}
		if count && w.Code == http.StatusOK {
			var c struct {
				InputTokens *int `json:"input_tokens"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil || c.InputTokens == nil {
				t.Fatalf("input_tokens answer %.300q", w.Body.Bytes())
			}
			if *c.InputTokens > maxTokensPerByte*len(body)+64 {
				t.Fatalf("a body of %d bytes counts %d input tokens", len(body), *c.InputTokens)
			}
		}
	})
}
