package toolcall_test

import (
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/toolcall"
)

// The model writes what the client's prompt asks for: a huge or deeply
// nested call must end as a bad call, never as unbounded buffering or a
// stack overflow.
func TestCallBounds(t *testing.T) {
	const schema = `{"type":"object","properties":{"content":{"type":"string"}}}`
	big := func(n int) string { return block("t", `{"content":"`+strings.Repeat("x", n)+`"}`) }
	deep := func(n int) string {
		return block("t", `{"content":"x","a":`+strings.Repeat("[", n)+strings.Repeat("]", n)+`}`)
	}
	tests := []struct {
		name, answer, err string
	}{
		{"large call within the bound", big(toolcall.MaxCallBytes - 100), ""},
		{"call over the bound", big(toolcall.MaxCallBytes+1) + " and text that is never shown", "larger than 1048576 bytes"},
		{"unclosed call over the bound", `<tool_call>{"name":"t","arguments":{"content":"` + strings.Repeat("y", 2*toolcall.MaxCallBytes), "larger than 1048576 bytes"},
		{"nested deeper than JSON allows", deep(20_000), "not valid JSON"},
		{"nested deeper than validation allows", deep(200), "nested more than 64 levels deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, toolReq(schema), textStream(splitEvery(tc.answer, 64<<10)...), nil)
			if tc.err == "" {
				if r.err != nil || len(r.calls) != 1 {
					t.Fatalf("calls %d, err %v", len(r.calls), r.err)
				}
				return
			}
			if gw.ErrorCode(r.err) != gw.CodeBadModelOutput || !strings.Contains(r.err.Error(), tc.err) {
				t.Fatalf("err %v, want invalid model output mentioning %q", r.err, tc.err)
			}
			if r.text != "" {
				t.Fatalf("text %.80q leaked", r.text)
			}
		})
	}
}

// The repair request echoes a bounded part of a huge answer.
func TestRepairEchoBounded(t *testing.T) {
	answer := strings.Repeat("z", 3*toolcall.MaxCallBytes)
	var echoed int
	r := run(t, newReq(llm.ToolChoiceRequired, ""), textStream(splitEvery(answer, 64<<10)...), func(req *llm.Request) (llm.Stream, error) {
		echoed = len(req.Messages[len(req.Messages)-2].Text())
		return textStream(block("get_weather", paris)), nil
	})
	if r.err != nil || echoed == 0 || echoed > toolcall.MaxCallBytes+128<<10 {
		t.Fatalf("echoed %d bytes, err %v", echoed, r.err)
	}
}

// An answer with thousands of bad calls gets a repair request of bounded
// size.
func TestRepairListsBoundedProblems(t *testing.T) {
	answer := strings.Repeat(block("nope", `{}`), 5000)
	var correction string
	req := newReq(llm.ToolChoiceAuto, "")
	req.ParallelToolCalls = true
	r := run(t, req, textStream(splitEvery(answer, 4096)...), func(req *llm.Request) (llm.Stream, error) {
		correction = req.LastUserText()
		return textStream(block("get_weather", paris)), nil
	})
	if r.err != nil || strings.Count(correction, "is not an available tool") != 10 || !strings.Contains(correction, "(and 4990 more problems)") {
		t.Fatalf("err %v, correction of %d bytes: %.300q", r.err, len(correction), correction)
	}
}
