package toolcall_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/toolcall"
)

// toolReq offers one tool with the given parameters schema.
func toolReq(schema string) *llm.Request {
	req := newReq(llm.ToolChoiceAuto, "")
	req.Tools = []llm.Tool{{Name: "t", Description: "A tool.", Parameters: json.RawMessage(schema)}}
	return req
}

// nestedArgs returns {"a":{"a":...{}}} levels deep.
func nestedArgs(levels int) string {
	return strings.Repeat(`{"a":`, levels) + `{}` + strings.Repeat(`}`, levels)
}

// A schema the emulator cannot use is the client's mistake: an
// invalid_request error naming the tool, before anything is sent upstream.
func TestWrapRefusesUnusableSchemas(t *testing.T) {
	tests := []struct{ name, schema, want string }{
		{"issue 11 loop", `{"allOf":[{"$ref":"#"},{"$ref":"#"}]}`, "the schema loops"},
		{"remote ref", `{"type":"object","properties":{"a":{"$ref":"http://169.254.169.254/latest"}}}`, "which is outside it"},
		{"file ref", `{"$ref":"file:///etc/passwd"}`, "which is outside it"},
		{"too deep", strings.Repeat(`{"not":`, 80) + `{}` + strings.Repeat(`}`, 80), "nested more than 64 levels deep"},
		{"too large", `{"description":"` + strings.Repeat("x", 600<<10) + `"}`, "more than the limit"},
		{"not an object", `[1]`, "must be a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := toolReq(tc.schema)
			req.Tools = append([]llm.Tool{testTools[0]}, req.Tools...)
			_, wrap, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), req)
			e := gw.AsError(err)
			if wrap != nil || e == nil || e.Code != gw.CodeInvalidRequest || e.Param != "tools[1]" ||
				!strings.Contains(e.Message, `tool "t"`) || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("err %#v, want invalid_request on tools[1] mentioning %q", e, tc.want)
			}
			if err := toolcall.CheckParameters(json.RawMessage(tc.schema)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckParameters: %v", err)
			}
		})
	}
	for _, raw := range []string{"", "null", " null "} {
		if err := toolcall.CheckParameters(json.RawMessage(raw)); err != nil {
			t.Errorf("CheckParameters(%q): %v", raw, err)
		}
	}
}

// A schema that compiles but whose evaluation explodes on the model's
// arguments costs that call, never a core: the call is handled like invalid
// arguments (one repair, then invalid_model_output).
func TestBudgetExhaustedIsAnInvalidCall(t *testing.T) {
	schema := `{"type":"object","properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}`
	bad := block("t", nestedArgs(40))
	repairs := 0
	r := run(t, toolReq(schema), textStream(bad), func(req *llm.Request) (llm.Stream, error) {
		repairs++
		if !strings.Contains(req.LastUserText(), "took too long") {
			t.Errorf("correction: %q", req.LastUserText())
		}
		return textStream(bad), nil
	})
	if repairs != 1 || gw.ErrorCode(r.err) != gw.CodeBadModelOutput || !strings.Contains(r.err.Error(), "work budget") {
		t.Fatalf("repairs %d, err %v", repairs, r.err)
	}
	// Shallow arguments pass the same schema.
	r = run(t, toolReq(schema), textStream(block("t", nestedArgs(3))), nil)
	if r.err != nil || len(r.calls) != 1 {
		t.Fatalf("shallow call: %v %v", r.calls, r.err)
	}
}

// When the request ends while its calls are checked, the check stops and
// the stream ends with the cancellation, without a repair.
func TestCancelledWhileChecking(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, wrap, err := toolcall.New(toolcall.Options{}).Wrap(ctx, toolReq(`{"type":"object","properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	r := collect(t, wrap(textStream(block("t", nestedArgs(40))), func(*llm.Request) (llm.Stream, error) {
		t.Error("repair after cancellation")
		return nil, fmt.Errorf("no")
	}))
	if gw.ErrorCode(r.err) != gw.CodeCanceled {
		t.Fatalf("err %v, want canceled", r.err)
	}
}

// Arguments are checked with the lenient rules the emulator documents,
// with messages that name the value.
func TestArgumentMessages(t *testing.T) {
	tests := []struct{ name, schema, args, want string }{
		{"missing required", string(testTools[0].Parameters), `{"unit":"c"}`, `missing required property "city"`},
		{"nested", `{"type":"object","properties":{"items":{"type":"array","items":{"type":"integer"}}}}`, `{"items":[1,"2"]}`, `at /items/1: expected integer, got string`},
		{"pattern RE2 cannot compile is not checked", `{"type":"object","properties":{"a":{"type":"string","pattern":"(?<=x)y"}}}`, `{"a":"q"}`, ""},
		{"overlapping oneOf accepted", `{"type":"object","properties":{"n":{"oneOf":[{"type":"number"},{"type":"integer"}]}}}`, `{"n":1}`, ""},
		{"nullable", `{"type":"object","properties":{"n":{"type":"string","nullable":true}}}`, `{"n":null}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, toolReq(tc.schema), textStream(block("t", tc.args)), nil)
			if tc.want == "" {
				if r.err != nil {
					t.Fatalf("err %v", r.err)
				}
				return
			}
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", r.err, tc.want)
			}
		})
	}
}
