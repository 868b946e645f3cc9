package toolcall_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/llm/llmtest"
	"github.com/sparkgw/spark/internal/toolcall"
)

// streamWrapper is gateway.StreamWrapper, restated so that this package's
// tests do not build the gateway and its dependencies. The emulator
// satisfies it without either package importing the other.
type streamWrapper interface {
	Wrap(ctx context.Context, req *llm.Request) (*llm.Request, func(st llm.Stream, reopen func(*llm.Request) (llm.Stream, error)) llm.Stream, error)
}

var _ streamWrapper = (*toolcall.Emulator)(nil)

var testTools = []llm.Tool{
	{Name: "get_weather", Description: "Get the current weather for a city.", Parameters: json.RawMessage(`{
		"type": "object",
		"properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
		"required": ["city"],
		"additionalProperties": false}`)},
	{Name: "get_time", Description: "Get the time in a time zone.", Parameters: json.RawMessage(`{"type":"object","properties":{"tz":{"type":"string"}}}`)},
	{Name: "search", Description: "Search the web.", Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer","minimum":1}},"required":["query"]}`)},
}

// newReq returns a request with the test tools and one user message.
func newReq(mode llm.ToolChoiceMode, name string) *llm.Request {
	return &llm.Request{
		Model:             "m",
		Messages:          []llm.Message{llm.TextMessage(llm.RoleUser, "What is the weather in Paris?")},
		Tools:             testTools,
		ToolChoice:        llm.ToolChoice{Mode: mode, Name: name},
		ParallelToolCalls: true,
	}
}

// fake is a scripted upstream stream (shared with the other emulators' tests).
type fake = llmtest.Stream

// textStream is an upstream answering deltas, then finish stop.
func textStream(deltas ...string) *fake {
	f := &fake{}
	for _, d := range deltas {
		f.Events = append(f.Events, llm.Event{Type: llm.EventTextDelta, Text: d})
	}
	f.Events = append(f.Events, llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop})
	return f
}

// result is what a client would see.
type result struct {
	events   []llm.Event
	texts    []string // text of each text event
	text     string
	calls    []llm.ToolCall
	deltas   []llm.ToolCallDelta
	finish   llm.FinishReason
	finishes int
	err      error
}

func collect(t testing.TB, st llm.Stream) result {
	t.Helper()
	var r result
	var acc llm.Accumulator
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.err = err
			break
		}
		r.events = append(r.events, ev)
		acc.Add(ev)
		switch ev.Type {
		case llm.EventTextDelta:
			r.texts = append(r.texts, ev.Text)
		case llm.EventToolCallDelta:
			r.deltas = append(r.deltas, *ev.ToolCall)
		case llm.EventFinish:
			r.finishes++
			r.finish = ev.FinishReason
		}
	}
	a := acc.Answer()
	r.text, r.calls = a.Text, a.ToolCalls
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return r
}

// run wraps up with a fresh emulator for req and collects the answer.
func run(t testing.TB, req *llm.Request, up llm.Stream, reopen llm.Reopen) result {
	t.Helper()
	_, wrap, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), req)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if wrap == nil {
		t.Fatal("Wrap returned no wrap func")
	}
	return collect(t, wrap(up, reopen))
}

// block writes a call in the protocol.
func block(name, args string) string {
	return `<tool_call>{"name": "` + name + `", "arguments": ` + args + `}</tool_call>`
}

// splitEvery cuts s into pieces of n bytes.
func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

type call struct{ name, args string }

func callsOf(r result) []call {
	var out []call
	for _, c := range r.calls {
		out = append(out, call{c.Name, c.Arguments})
	}
	return out
}

func joinTexts(msgs []llm.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(string(m.Role) + ": " + m.Text() + "\n")
	}
	return b.String()
}
