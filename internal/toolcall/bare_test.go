package toolcall_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// A forced call answered with a bare JSON object valid against the tool's
// parameters (the AI SDK's Anthropic structured output forces a tool named
// "json") is taken as the call; an object that breaks the schema, or an
// answer when the call is not forced, is not.
func TestForcedCallAnsweredWithBareArguments(t *testing.T) {
	fenced := "Here is the weather query:\n```json\n{\"city\": \"Paris\", \"unit\": \"c\"}\n```"
	r := run(t, newReq(llm.ToolChoiceNamed, "get_weather"), textStream(splitEvery(fenced, 5)...), nil)
	if r.err != nil || len(r.calls) != 1 || r.calls[0].Name != "get_weather" || r.calls[0].Arguments != `{"city":"Paris","unit":"c"}` || r.finish != llm.FinishToolCalls {
		t.Fatalf("named: %+v", r)
	}

	req := newReq(llm.ToolChoiceRequired, "")
	req.Tools = req.Tools[:1]
	r = run(t, req, textStream(`{"city":"Oslo"}`), nil)
	if len(r.calls) != 1 || r.calls[0].Arguments != `{"city":"Oslo"}` {
		t.Fatalf("required with one tool: %+v", r)
	}

	// Invalid against the schema (unit not in the enum): no call, and
	// without a repair the forced call is missing.
	r = run(t, newReq(llm.ToolChoiceNamed, "get_weather"), textStream(`{"city":"Paris","unit":"kelvin"}`), nil)
	if gw.ErrorCode(r.err) != gw.CodeBadModelOutput || len(r.calls) != 0 {
		t.Fatalf("invalid object: %+v", r)
	}

	// Not forced: JSON in the text stays text.
	r = run(t, newReq(llm.ToolChoiceAuto, ""), textStream(`{"city":"Paris"}`), nil)
	if len(r.calls) != 0 || r.text != `{"city":"Paris"}` {
		t.Fatalf("auto: %+v", r)
	}
}
