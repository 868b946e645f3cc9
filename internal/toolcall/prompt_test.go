package toolcall_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/toolcall"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// agentRequest is a conversation after one round of two parallel calls.
func agentRequest() *llm.Request {
	return &llm.Request{
		Model: "m",
		Messages: []llm.Message{
			llm.TextMessage(llm.RoleSystem, "You are a helpful assistant."),
			llm.TextMessage(llm.RoleUser, "Weather in Paris and the time in Tokyo? sim:tool get_weather {\"city\":\"Paris\"}"),
			{Role: llm.RoleAssistant, Parts: []llm.Part{
				{Type: llm.PartText, Text: "Let me check both."},
				{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1", Name: "get_weather", Arguments: "{\n  \"city\": \"Paris\"\n}"}},
				{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_2", Name: "get_time", Arguments: `{"tz":"Asia/Tokyo"}`}},
			}},
			{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "call_1", Content: "18°C, sunny"}}}},
			{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "call_2", Name: "get_time", Content: "21:04", IsError: false}}}},
			llm.TextMessage(llm.RoleUser, "Thanks! Now search for \"<b>tips</b>\". sim:tool search {\"query\":\"tips\"}"),
		},
		Tools:             testTools,
		ToolChoice:        llm.ToolChoice{Mode: llm.ToolChoiceAuto},
		ParallelToolCalls: true,
	}
}

func TestWrapRendersHistory(t *testing.T) {
	req := agentRequest()
	pristine := agentRequest()
	out, wrap, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), req)
	if err != nil || wrap == nil {
		t.Fatalf("Wrap: %v", err)
	}
	if !reflect.DeepEqual(req, pristine) {
		t.Fatal("Wrap modified the caller's request")
	}
	if out.Tools != nil || out.ToolChoice != (llm.ToolChoice{}) {
		t.Fatal("tools still set on the upstream request")
	}
	roles := []llm.Role{}
	for _, m := range out.Messages {
		roles = append(roles, m.Role)
	}
	if want := []llm.Role{llm.RoleSystem, llm.RoleUser, llm.RoleAssistant, llm.RoleUser, llm.RoleUser}; !slices.Equal(roles, want) {
		t.Fatalf("roles %v, want %v", roles, want)
	}
	sys := out.Messages[0].Text()
	if !strings.HasPrefix(sys, "You are a helpful assistant.\n\n# Tools\n") {
		t.Fatalf("system prompt: %q", sys)
	}
	for _, want := range []string{`<tool_call>{"name": "TOOL_NAME", "arguments": {...}}</tool_call>`,
		"### get_weather\nGet the current weather for a city.\nParameters (JSON Schema): {\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"],\"additionalProperties\":false}",
		"### search", "one block per call", "only when it is needed"} {
		if !strings.Contains(sys, want) {
			t.Errorf("system prompt lacks %q", want)
		}
	}
	if got, want := out.Messages[2].Text(), "Let me check both.\n"+
		`<tool_call>{"name": "get_weather", "arguments": {"city":"Paris"}}</tool_call>`+"\n"+
		`<tool_call>{"name": "get_time", "arguments": {"tz":"Asia/Tokyo"}}</tool_call>`; got != want {
		t.Fatalf("assistant:\n%s\nwant:\n%s", got, want)
	}
	if got, want := out.Messages[3].Text(), "<tool_result id=\"call_1\" name=\"get_weather\">\n18°C, sunny\n</tool_result>\n"+
		"<tool_result id=\"call_2\" name=\"get_time\">\n21:04\n</tool_result>"; got != want {
		t.Fatalf("results:\n%s\nwant:\n%s", got, want)
	}
	// The last user message is untouched and last.
	if got := out.LastUserText(); got != pristine.LastUserText() || !reflect.DeepEqual(out.Messages[4], pristine.Messages[5]) {
		t.Fatalf("last user message changed: %q", got)
	}

	// Round trip: the assistant's rendered history parses back to its calls.
	r := collect(t, wrap(textStream(splitEvery(out.Messages[2].Text(), 3)...), nil))
	want := []call{{"get_weather", `{"city":"Paris"}`}, {"get_time", `{"tz":"Asia/Tokyo"}`}}
	if r.text != "Let me check both.\n" || !slices.Equal(callsOf(r), want) {
		t.Fatalf("round trip: text %q calls %v", r.text, callsOf(r))
	}

	golden(t, "agent_prompt.golden", joinTexts(out.Messages))
}

func TestWrapToolResultsInUserMessage(t *testing.T) {
	// Anthropic shape: results and text in one user message; text stays last.
	req := &llm.Request{Messages: []llm.Message{
		{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "toolu_1", Name: "search", Arguments: `{"query":"a"}`}}}},
		{Role: llm.RoleUser, Parts: []llm.Part{
			{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "toolu_1", Content: "no hits", IsError: true}},
			{Type: llm.PartText, Text: "Try again."},
		}},
	}, Tools: testTools, ParallelToolCalls: true}
	out, _, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	m := out.Messages[len(out.Messages)-1]
	if m.Role != llm.RoleUser || m.Text() != "<tool_result id=\"toolu_1\" name=\"search\" is_error=\"true\">\nno hits\n</tool_result>\nTry again." ||
		m.Parts[len(m.Parts)-1].Text != "Try again." {
		t.Fatalf("user message: %+v", m)
	}
	if out.Messages[0].Role != llm.RoleSystem || !strings.Contains(out.Messages[0].Text(), "# Tools") {
		t.Fatal("no system message prepended")
	}
}

func TestWrapChoiceRules(t *testing.T) {
	e := toolcall.New(toolcall.Options{})
	system := func(req *llm.Request) string {
		out, _, err := e.Wrap(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages[0].Text()
	}
	if s := system(newReq(llm.ToolChoiceRequired, "")); !strings.Contains(s, "You must call at least one tool") {
		t.Errorf("required: %s", s)
	}
	s := system(newReq(llm.ToolChoiceNamed, "search"))
	if !strings.Contains(s, `You must call the tool "search" in this answer, exactly once`) || strings.Contains(s, "### get_weather") ||
		!strings.Contains(s, `<tool_call>{"name": "search", "arguments": {"query": "..."}}</tool_call>`) {
		t.Errorf("named: %s", s)
	}
	req := newReq(llm.ToolChoiceAuto, "")
	req.ParallelToolCalls = false
	if s := system(req); !strings.Contains(s, "Call at most one tool per answer.") {
		t.Errorf("parallel off: %s", s)
	}

	// none with history: history rendered, tools not offered, no wrapping.
	hist := agentRequest()
	hist.ToolChoice.Mode = llm.ToolChoiceNone
	out, wrap, err := e.Wrap(context.Background(), hist)
	if err != nil || wrap != nil {
		t.Fatalf("none: wrap %v err %v", wrap != nil, err)
	}
	sys := out.Messages[0].Text()
	if strings.Contains(sys, "### get_weather") || !strings.Contains(sys, "No tools are available now") ||
		!strings.Contains(out.Messages[2].Text(), `<tool_call>{"name": "get_weather"`) {
		t.Fatalf("none:\n%s", joinTexts(out.Messages))
	}
	// No tools at all but tool history: same.
	hist.Tools = nil
	if out, wrap, _ := e.Wrap(context.Background(), hist); wrap != nil || !strings.Contains(out.Messages[3].Text(), "<tool_result") {
		t.Fatal("history without tools not rewritten")
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != got {
		t.Fatalf("%s differs (run with -update to accept):\n%s", path, got)
	}
}
