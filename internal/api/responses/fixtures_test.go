package responses_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	resp "github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/llm"
)

// fixture is one captured client request (testdata/README.md).
type fixture struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func loadFixture(t *testing.T, name string) fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// replayFixture sends f to the handler with its own headers (except those
// of the transport) and returns the parsed, accumulated stream.
func replayFixture(t *testing.T, e *env, f fixture) (*accumulator, []sseEvent) {
	t.Helper()
	var hdr []string
	for k, v := range f.Headers {
		switch k {
		case "host", "content-length", "content-type":
			continue
		}
		hdr = append(hdr, k, v)
	}
	res, body := e.do(t, f.Method, f.URL, string(f.Body), hdr...)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	evs := parseSSE(t, body)
	if last := evs[len(evs)-1].Name; last != "response.completed" {
		t.Fatalf("stream ends with %s (Codex needs response.completed)", last)
	}
	return accumulate(t, evs), evs
}

var codexTools = []string{"exec_command", "write_stdin", "request_user_input", "view_image",
	"close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent", "get_goal", "create_goal", "update_goal"}

func TestCodexFixturePlainAnswer(t *testing.T) {
	b := &fakeBackend{Events: events(reasoning("The user wants the nonce."), text("nonce0123456789ab"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	acc, evs := replayFixture(t, e, loadFixture(t, "codex-0.169.0-responses-request.json"))
	if acc.final.OutputText() != "nonce0123456789ab" || acc.final.Output[0].Type != "reasoning" {
		t.Errorf("final = %s", acc.final.RawJSON())
	}
	final := evs[len(evs)-1].Obj["response"].(map[string]any)
	if final["store"] != false {
		t.Errorf("store = %v (Codex sends store:false)", final["store"])
	}
	if res, _ := e.do(t, http.MethodGet, "/v1/responses/"+acc.final.ID, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("a store:false response is retrievable")
	}

	req := b.Request(t, 0)
	var roles []llm.Role
	for _, m := range req.Messages {
		roles = append(roles, m.Role)
	}
	if !slices.Equal(roles, []llm.Role{llm.RoleSystem, llm.RoleSystem, llm.RoleUser, llm.RoleUser}) {
		t.Errorf("roles = %v", roles)
	}
	if req.Model != "gpt-5.1" || req.LastUserText() != "Reply with nonce0123456789ab" || len(req.Messages[1].Parts) != 2 ||
		!req.Reasoning || !req.ParallelToolCalls || req.ToolChoice.Mode != llm.ToolChoiceAuto {
		t.Errorf("request = %+v", req)
	}
	var tools []string
	for _, tl := range req.Tools {
		tools = append(tools, tl.Name)
		if len(tl.Parameters) == 0 || tl.Parameters[0] != '{' {
			t.Errorf("tool %s without a schema", tl.Name)
		}
	}
	slices.Sort(tools)
	want := slices.Clone(codexTools)
	slices.Sort(want)
	if !slices.Equal(tools, want) {
		t.Errorf("tools = %v\nwant %v", tools, want)
	}
}

func TestCodexFixtureFunctionCallOutput(t *testing.T) {
	f := loadFixture(t, "codex-0.169.0-responses-function-call-output-request.json")
	b := &fakeBackend{Events: events(text("Done: wrote codex-out.txt."), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	acc, _ := replayFixture(t, e, f)
	if acc.final.OutputText() != "Done: wrote codex-out.txt." {
		t.Errorf("final = %s", acc.final.RawJSON())
	}
	msgs := b.Request(t, 0).Messages
	if len(msgs) != 6 {
		t.Fatalf("messages = %+v", msgs)
	}
	call, result := msgs[4], msgs[5]
	if call.Role != llm.RoleAssistant || call.Parts[0].Type != llm.PartToolCall {
		t.Fatalf("assistant turn = %+v", call)
	}
	tc := call.Parts[0].ToolCall
	if tc.ID != "call_e78ff1365ddc61a41b0748ac" || tc.Name != "exec_command" || !strings.Contains(tc.Arguments, "codex-out.txt") {
		t.Errorf("tool call = %+v", tc)
	}
	tr := result.Parts[0].ToolResult
	if result.Role != llm.RoleTool || tr.CallID != tc.ID || tr.Name != "exec_command" || !strings.Contains(tr.Content, "Process exited with code 0") {
		t.Errorf("tool result = %+v", tr)
	}

	// The next turn's answer is another call: Codex gets a function_call
	// item it can run.
	b2 := &fakeBackend{Events: events(toolDelta(0, "call_next", "exec_command", `{"cmd":"cat codex-out.txt"}`), done(llm.FinishToolCalls))}
	acc, _ = replayFixture(t, newEnv(t, b2, resp.Options{}), f)
	out := acc.final.Output
	if len(out) != 1 || out[0].Type != "function_call" || out[0].Name != "exec_command" || out[0].CallID != "call_next" ||
		out[0].Arguments.OfString != `{"cmd":"cat codex-out.txt"}` {
		t.Errorf("output = %s", acc.final.RawJSON())
	}
}
