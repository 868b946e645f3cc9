package structured_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/llm/llmtest"
	"github.com/sparkgw/spark/internal/structured"
	"github.com/sparkgw/spark/internal/toolcall"
)

var _ gateway.StreamWrapper = (*structured.Emulator)(nil)

const personSchema = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}},"required":["name","age"],"additionalProperties":false}`

// fake is a scripted upstream stream (shared with the other emulators' tests).
type fake = llmtest.Stream

// answer is an upstream answering text in deltas of a few bytes, then
// finish stop.
func answer(text string, before ...llm.Event) *fake {
	f := &fake{Events: before}
	for len(text) > 0 {
		n := min(max(7, len(text)/1000), len(text))
		f.Events = append(f.Events, llm.Event{Type: llm.EventTextDelta, Text: text[:n]})
		text = text[n:]
	}
	f.Events = append(f.Events, llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop})
	return f
}

// upstream scripts the answers of successive exchanges and records the
// requests sent.
type upstream struct {
	answers []string
	sent    []*llm.Request
}

func (u *upstream) open(r *llm.Request) (llm.Stream, error) {
	u.sent = append(u.sent, r)
	if len(u.answers) == 0 {
		return nil, errors.New("no more scripted answers")
	}
	a := u.answers[0]
	u.answers = u.answers[1:]
	return answer(a), nil
}

// seen is what a client receives.
type seen struct {
	text, refusal, reasoning string
	calls                    []llm.ToolCall
	finish                   llm.FinishReason
	deltas                   int
	err                      error
}

func drain(st llm.Stream) seen {
	var s seen
	var acc llm.Accumulator
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.err = err
			break
		}
		if ev.Type == llm.EventTextDelta {
			s.deltas++
		}
		acc.Add(ev)
	}
	a := acc.Answer()
	s.text, s.refusal, s.reasoning, s.calls, s.finish = a.Text, a.Refusal, a.Reasoning, a.ToolCalls, a.FinishReason
	return s
}

func schemaReq(schema string) *llm.Request {
	return &llm.Request{Model: "m",
		Messages: []llm.Message{llm.TextMessage(llm.RoleUser, "Who wrote the first program?")},
		Output:   &llm.OutputFormat{Kind: llm.OutputJSONSchema, Name: "person", Schema: json.RawMessage(schema)}}
}

// run wraps req with w and plays the scripted answers through it.
func run(t *testing.T, w gateway.StreamWrapper, req *llm.Request, answers ...string) (seen, *upstream) {
	t.Helper()
	send, wrap, err := w.Wrap(context.Background(), req)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	u := &upstream{answers: answers}
	st, err := u.open(send)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		st = wrap(st, u.open)
	}
	defer st.Close()
	return drain(st), u
}

func TestAnswersOnlyTheJSON(t *testing.T) {
	cases := []struct {
		name, answer, want string
	}{
		{"bare", `{"name":"Ada","age":36}`, `{"name":"Ada","age":36}`},
		{"fenced in prose", "Sure! Here is the person:\n```json\n{\"name\": \"Ada\", \"age\": 36}\n```\nAnything else?", `{"name": "Ada", "age": 36}`},
		{"in a sentence", `The answer is {"name":"Ada","age":36} as requested.`, `{"name":"Ada","age":36}`},
		{"braces in prose before", `I {think} the data is {"name":"Ada","age":36}.`, `{"name":"Ada","age":36}`},
		{"an invalid object first", `First draft: {"name":"Ada"}. Final: {"name":"Ada","age":36}`, `{"name":"Ada","age":36}`},
		{"strings with braces", `{"name":"A}d{a","age":36}`, `{"name":"A}d{a","age":36}`},
	}
	e := structured.New(structured.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, u := run(t, e, schemaReq(personSchema), c.answer)
			if got.err != nil || got.text != c.want || got.finish != llm.FinishStop {
				t.Fatalf("got text %q finish %q err %v; want %q", got.text, got.finish, got.err, c.want)
			}
			if len(u.sent) != 1 {
				t.Fatalf("%d upstream exchanges, want 1 (no repair)", len(u.sent))
			}
		})
	}
}

func TestPromptCarriesSchemaInFence(t *testing.T) {
	e := structured.New(structured.Options{})
	req := schemaReq(personSchema)
	req.Messages = append([]llm.Message{llm.TextMessage(llm.RoleSystem, "Be brief.")}, req.Messages...)
	send, _, err := e.Wrap(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if send.Output != nil {
		t.Fatal("Output is passed upstream")
	}
	sys := send.Messages[0].Text()
	if !strings.HasPrefix(sys, "Be brief.") || !strings.Contains(sys, "```json-schema\n"+personSchema+"\n```") {
		t.Fatalf("system prompt lacks the schema fence:\n%s", sys)
	}
	if req.Messages[0].Text() != "Be brief." {
		t.Fatal("the client's request was modified")
	}
	// json_object: the schema of any object.
	send, _, _ = e.Wrap(context.Background(), &llm.Request{Messages: req.Messages[1:], Output: &llm.OutputFormat{Kind: llm.OutputJSONObject}})
	if !strings.Contains(send.Messages[0].Text(), "```json-schema\n{\"type\":\"object\"}\n```") {
		t.Fatalf("json_object prompt: %s", send.Messages[0].Text())
	}
}

func TestRepairThenValid(t *testing.T) {
	e := structured.New(structured.Options{})
	got, u := run(t, e, schemaReq(personSchema),
		`{"name":"Ada","age":"thirty-six"}`,
		"```json\n{\"name\":\"Ada\",\"age\":36}\n```")
	if got.err != nil || got.text != `{"name":"Ada","age":36}` {
		t.Fatalf("got %q, %v", got.text, got.err)
	}
	if len(u.sent) != 2 {
		t.Fatalf("%d exchanges, want 2", len(u.sent))
	}
	repair := u.sent[1].Messages
	last := repair[len(repair)-1]
	if last.Role != llm.RoleUser || !strings.Contains(last.Text(), "/age") || !strings.Contains(last.Text(), "expected integer") {
		t.Fatalf("repair note does not say what was wrong: %q", last.Text())
	}
	if prev := repair[len(repair)-2]; prev.Role != llm.RoleAssistant || !strings.Contains(prev.Text(), "thirty-six") {
		t.Fatalf("repair does not echo the answer: %+v", prev)
	}
}

func TestInvalidTwiceIsInvalidModelOutput(t *testing.T) {
	e := structured.New(structured.Options{})
	got, u := run(t, e, schemaReq(personSchema), `{"name":"Ada"}`, `Here you go: {"age": 3}`)
	var ge *gw.Error
	if !errors.As(got.err, &ge) || ge.Code != gw.CodeBadModelOutput || gw.HTTPStatus(ge.Code) != 502 {
		t.Fatalf("err = %v, want invalid_model_output (502)", got.err)
	}
	if !strings.Contains(ge.Message, "name") {
		t.Fatalf("message does not say what is wrong: %q", ge.Message)
	}
	if got.text != "" {
		t.Fatalf("invalid JSON reached the client: %q", got.text)
	}
	if len(u.sent) != 2 {
		t.Fatalf("%d exchanges, want 2", len(u.sent))
	}
}

func TestJSONObject(t *testing.T) {
	e := structured.New(structured.Options{})
	req := &llm.Request{Messages: []llm.Message{llm.TextMessage(llm.RoleUser, "hi")}, Output: &llm.OutputFormat{Kind: llm.OutputJSONObject}}
	got, _ := run(t, e, req, "Here:\n```json\n{\"ok\": true}\n```")
	if got.err != nil || got.text != `{"ok": true}` {
		t.Fatalf("got %q %v", got.text, got.err)
	}
	// An array is not an object: repaired.
	got, u := run(t, e, req, `[1,2]`, `{"a":[1,2]}`)
	if got.text != `{"a":[1,2]}` || len(u.sent) != 2 {
		t.Fatalf("got %q after %d exchanges", got.text, len(u.sent))
	}
}

func TestRefusal(t *testing.T) {
	e := structured.New(structured.Options{})
	refusal := "I'm sorry, but I can't help with that request."
	got, u := run(t, e, schemaReq(personSchema), refusal, refusal)
	if got.err != nil || got.refusal != refusal || got.text != "" {
		t.Fatalf("got refusal %q text %q err %v", got.refusal, got.text, got.err)
	}
	if len(u.sent) != 2 {
		t.Fatalf("a refusal is asked again once: %d exchanges", len(u.sent))
	}
	// Prose that ignores the format is not a refusal.
	got, _ = run(t, e, schemaReq(personSchema), "Ada Lovelace wrote it.", "Ada Lovelace, aged 36.")
	if gw.ErrorCode(got.err) != gw.CodeBadModelOutput || got.refusal != "" {
		t.Fatalf("prose: refusal %q err %v", got.refusal, got.err)
	}
}

func TestStreamsLongJSONInFragments(t *testing.T) {
	e := structured.New(structured.Options{FragmentSize: 16})
	long := `{"name":"` + strings.Repeat("é", 100) + `","age":1}`
	got, _ := run(t, e, schemaReq(personSchema), long)
	if got.text != long || got.deltas < 10 {
		t.Fatalf("got %d deltas, text ok %v", got.deltas, got.text == long)
	}
}

func TestReasoningPassesThrough(t *testing.T) {
	e := structured.New(structured.Options{})
	send, wrap, err := e.Wrap(context.Background(), schemaReq(personSchema))
	if err != nil {
		t.Fatal(err)
	}
	_ = send
	up := answer(`{"name":"Ada","age":36}`, llm.Event{Type: llm.EventReasoningDelta, Text: "thinking"})
	st := wrap(up, nil)
	ev, err := st.Recv()
	if err != nil || ev.Type != llm.EventReasoningDelta {
		t.Fatalf("first event %+v %v, want the reasoning at once", ev, err)
	}
	got := drain(st)
	if got.text != `{"name":"Ada","age":36}` {
		t.Fatalf("text %q", got.text)
	}
}

func TestUpstreamErrorPasses(t *testing.T) {
	e := structured.New(structured.Options{})
	_, wrap, _ := e.Wrap(context.Background(), schemaReq(personSchema))
	boom := &gw.Error{Code: gw.CodeUnavailable, Message: "down"}
	st := wrap(&fake{Events: []llm.Event{{Type: llm.EventTextDelta, Text: `{"name":`}}, Err: boom}, nil)
	if got := drain(st); !errors.Is(got.err, boom) || got.text != "" {
		t.Fatalf("got %q %v", got.text, got.err)
	}
}

func TestBadSchemaIsInvalidRequest(t *testing.T) {
	e := structured.New(structured.Options{})
	for _, schema := range []string{
		`{"$ref":"https://example.com/schema.json"}`,
		`{"type":"object","properties":{"a":{"pattern":"(?=x)"}}}`,
		`{"type":17}`,
		`[1]`,
	} {
		if err := structured.CheckSchema(json.RawMessage(schema)); err == nil {
			t.Errorf("CheckSchema(%s) accepted", schema)
		}
		_, _, err := e.Wrap(context.Background(), schemaReq(schema))
		if gw.ErrorCode(err) != gw.CodeInvalidRequest {
			t.Errorf("Wrap(%s): %v, want invalid_request", schema, err)
		}
	}
}

// Bounded work on a huge answer full of unclosed brackets.
func TestHugeAnswerIsBounded(t *testing.T) {
	e := structured.New(structured.Options{MaxRepair: -1})
	huge := strings.Repeat("{[", 1<<20)
	got, _ := run(t, e, schemaReq(personSchema), huge)
	if gw.ErrorCode(got.err) != gw.CodeBadModelOutput {
		t.Fatalf("err %v", got.err)
	}
	tooLong := `{"name":"` + strings.Repeat("a", structured.MaxAnswerBytes) + `","age":1}`
	got, _ = run(t, e, schemaReq(personSchema), tooLong)
	if gw.ErrorCode(got.err) != gw.CodeBadModelOutput || !strings.Contains(got.err.Error(), "longer") {
		t.Fatalf("err %v", got.err)
	}
}

var weatherTool = llm.Tool{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

// With tools: a turn may call a tool (passed on as a call) or answer in the
// schema, through the chain the gateway uses.
func TestWithTools(t *testing.T) {
	chain := gateway.Chain(structured.New(structured.Options{}), toolcall.New(toolcall.Options{}))
	req := schemaReq(personSchema)
	req.Tools = []llm.Tool{weatherTool}

	got, u := run(t, chain, req, `<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>`)
	if got.err != nil || len(got.calls) != 1 || got.calls[0].Name != "get_weather" || got.finish != llm.FinishToolCalls {
		t.Fatalf("tool turn: %+v", got)
	}
	sys := u.sent[0].Messages[0].Text()
	if !strings.Contains(sys, "<tool_call>") || !strings.Contains(sys, "```json-schema") {
		t.Fatalf("prompt lacks the tool protocol or the schema:\n%s", sys)
	}

	got, _ = run(t, chain, req, "```json\n{\"name\":\"Ada\",\"age\":36}\n```")
	if got.err != nil || got.text != `{"name":"Ada","age":36}` || len(got.calls) != 0 {
		t.Fatalf("answer turn: %+v", got)
	}

	// A repair goes through the tool-call emulator again.
	got, u = run(t, chain, req, "no idea", `{"name":"Ada","age":36}`)
	if got.text != `{"name":"Ada","age":36}` || len(u.sent) != 2 {
		t.Fatalf("repair turn: %+v after %d", got, len(u.sent))
	}
	if len(u.sent[1].Tools) != 0 || !strings.Contains(u.sent[1].Messages[0].Text(), "<tool_call>") {
		t.Fatal("the repair request did not go through the tool-call emulator")
	}
}

func TestNoOutputIsUnwrapped(t *testing.T) {
	e := structured.New(structured.Options{})
	req := &llm.Request{Messages: []llm.Message{llm.TextMessage(llm.RoleUser, "hi")}}
	send, wrap, err := e.Wrap(context.Background(), req)
	if send != req || wrap != nil || err != nil {
		t.Fatal("a request without Output is changed")
	}
}
