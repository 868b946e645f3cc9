package toolcall_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/toolcall"
)

const paris = `{"city": "Paris"}`

var parisCall = call{"get_weather", `{"city":"Paris"}`}

func TestMarkerSplitAtEveryPosition(t *testing.T) {
	inputs := []struct {
		name, in, text string
	}{
		{"plain", "Let me check. " + block("get_weather", paris) + " Done.", "Let me check.  Done."},
		{"fenced", "Sure:\n```json\n" + block("get_weather", paris) + "\n```\nDone.", "Sure:\n\nDone."},
		{"spaced", "<tool_call>\n  {\"name\": \"get_weather\",\n   \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", ""},
	}
	for _, tc := range inputs {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i <= len(tc.in); i++ {
				for j := i; j <= len(tc.in); j++ {
					r := run(t, newReq(llm.ToolChoiceAuto, ""), textStream(tc.in[:i], tc.in[i:j], tc.in[j:]), nil)
					if r.err != nil || r.text != tc.text || !slices.Equal(callsOf(r), []call{parisCall}) {
						t.Fatalf("split %d,%d: text %q calls %v err %v; want text %q", i, j, r.text, callsOf(r), r.err, tc.text)
					}
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	w := func(args string) string { return block("get_weather", args) }
	tests := []struct {
		name   string
		in     string
		text   string
		calls  []call
		finish llm.FinishReason
	}{
		{"text only", "Hello there, <b>world</b> a<b", "Hello there, <b>world</b> a<b", nil, llm.FinishStop},
		{"call only", w(paris), "", []call{parisCall}, llm.FinishToolCalls},
		{"text before", "Checking the weather.\n" + w(paris), "Checking the weather.\n", []call{parisCall}, llm.FinishToolCalls},
		{"text after", w(paris) + "\nI will wait for the result.", "\nI will wait for the result.", []call{parisCall}, llm.FinishToolCalls},
		{"whitespace around calls dropped", "\n\n " + w(paris) + "\n\n" + block("get_time", `{}`) + " \n", "",
			[]call{parisCall, {"get_time", "{}"}}, llm.FinishToolCalls},
		{"text between", "A " + w(paris) + " B " + block("get_time", `{"tz":"UTC"}`) + " C", "A  B  C",
			[]call{parisCall, {"get_time", `{"tz":"UTC"}`}}, llm.FinishToolCalls},
		{"three parallel calls", w(paris) + "\n" + w(`{"city":"Rome"}`) + "\n" + block("search", `{"query": "x", "limit": 3}`), "",
			[]call{parisCall, {"get_weather", `{"city":"Rome"}`}, {"search", `{"query":"x","limit":3}`}}, llm.FinishToolCalls},
		{"leading whitespace kept with text", "  \nHi", "  \nHi", nil, llm.FinishStop},
		{"whitespace-only answer kept", " \n ", " \n ", nil, llm.FinishStop},
		{"fence with language", "```json\n" + w(paris) + "\n```", "", []call{parisCall}, llm.FinishToolCalls},
		{"bare fence", "```\n" + w(paris) + "\n```\n", "", []call{parisCall}, llm.FinishToolCalls},
		{"fence around two calls", "```xml\n" + w(paris) + "\n" + w(paris) + "\n```", "", []call{parisCall, parisCall}, llm.FinishToolCalls},
		{"two fenced calls", "```json\n" + w(paris) + "\n```\n```json\n" + w(paris) + "\n```", "", []call{parisCall, parisCall}, llm.FinishToolCalls},
		{"fence inside block", "<tool_call>\n```json\n" + `{"name":"get_weather","arguments":{"city":"Paris"}}` + "\n```\n</tool_call>", "", []call{parisCall}, llm.FinishToolCalls},
		{"ordinary code fence untouched", "Code:\n```go\nfmt.Println(\"<tool\")\n```\nEnd", "Code:\n```go\nfmt.Println(\"<tool\")\n```\nEnd", nil, llm.FinishStop},
		{"fence then text is not a call", "```json\n{\"a\": 1}\n```", "```json\n{\"a\": 1}\n```", nil, llm.FinishStop},
		{"missing closing tag", "Sure. " + `<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}`, "Sure. ", []call{parisCall}, llm.FinishToolCalls},
		{"missing closing tag and broken JSON is text", `Sure. <tool_call>{"name": "get_weather", "argu`, `Sure. <tool_call>{"name": "get_weather", "argu`, nil, llm.FinishStop},
		{"new block closes an unclosed one", `<tool_call>{"name": "get_time", "arguments": {}}` + "\n" + w(paris), "",
			[]call{{"get_time", "{}"}, parisCall}, llm.FinishToolCalls},
		{"broken unclosed block before a new block is text", `<tool_call>{"name": ` + w(paris), `<tool_call>{"name": `, []call{parisCall}, llm.FinishToolCalls},
		{"prose about the tags is text", "Use <tool_call> and </tool_call> tags.", "Use <tool_call> and </tool_call> tags.", nil, llm.FinishStop},
		{"fenced prose block is text", "```\n<tool_call>name?</tool_call>\n```", "```\n<tool_call>name?</tool_call>\n```", nil, llm.FinishStop},
		{"tags inside JSON strings", block("search", `{"query": "a </tool_call> b <tool_call> c"}`), "",
			[]call{{"search", `{"query":"a </tool_call> b <tool_call> c"}`}}, llm.FinishToolCalls},
		{"arguments as a string", `<tool_call>{"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}</tool_call>`, "", []call{parisCall}, llm.FinishToolCalls},
		{"parameters synonym", `<tool_call>{"name": "get_weather", "parameters": {"city": "Paris"}}</tool_call>`, "", []call{parisCall}, llm.FinishToolCalls},
		{"OpenAI shape", `<tool_call>{"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}</tool_call>`, "", []call{parisCall}, llm.FinishToolCalls},
		{"no arguments", `<tool_call>{"name": "get_time"}</tool_call>`, "", []call{{"get_time", "{}"}}, llm.FinishToolCalls},
		{"extra closing brace", `<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}}</tool_call>`, "", []call{parisCall}, llm.FinishToolCalls},
		{"missing closing brace", `<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}</tool_call>`, "", []call{parisCall}, llm.FinishToolCalls},
		{"invented tool result dropped", w(paris) + "\n<tool_result id=\"x\">sunny</tool_result>\nIt is sunny.", "", []call{parisCall}, llm.FinishToolCalls},
		{"invented tool response dropped", w(paris) + "<tool_response>{\"temp\": 18}</tool_response>", "", []call{parisCall}, llm.FinishToolCalls},
		{"namespaced name", block("functions.get_weather", paris), "", []call{parisCall}, llm.FinishToolCalls},
		{"tool_result text without a call is kept", "Write <tool_result> tags.", "Write <tool_result> tags.", nil, llm.FinishStop},
		{"unicode around", "Wetter für Paris 🌤 " + w(`{"city": "Zürich"}`) + " ✓", "Wetter für Paris 🌤  ✓",
			[]call{{"get_weather", `{"city":"Zürich"}`}}, llm.FinishToolCalls},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{len(tc.in) + 1, 1, 2, 3, 7, 13} {
				r := run(t, newReq(llm.ToolChoiceAuto, ""), textStream(splitEvery(tc.in, n)...), nil)
				if r.err != nil {
					t.Fatalf("pieces of %d: %v", n, r.err)
				}
				if r.text != tc.text || !slices.Equal(callsOf(r), tc.calls) || r.finish != tc.finish || r.finishes != 1 {
					t.Fatalf("pieces of %d:\n text %q\n want %q\n calls %v\n want  %v\n finish %q (%d), want %q",
						n, r.text, tc.text, callsOf(r), tc.calls, r.finish, r.finishes, tc.finish)
				}
			}
		})
	}
}

func TestDeltaShape(t *testing.T) {
	in := "Let me look.\n" + block("get_weather", paris) + block("search", `{"query":"`+strings.Repeat("ü", 700)+`"}`)
	r := run(t, newReq(llm.ToolChoiceAuto, ""), textStream(splitEvery(in, 5)...), nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	// Text first, then the calls, then one finish.
	lastText, firstCall := -1, -1
	for i, ev := range r.events {
		switch ev.Type {
		case llm.EventTextDelta:
			lastText = i
		case llm.EventToolCallDelta:
			if firstCall < 0 {
				firstCall = i
			}
		}
	}
	if lastText > firstCall || r.events[len(r.events)-1].Type != llm.EventFinish {
		t.Fatalf("event order: %+v", r.events)
	}
	idRE := regexp.MustCompile(`^call_[0-9A-Za-z]{24}$`)
	seen := map[int]bool{}
	args := map[int]string{}
	for _, d := range r.deltas {
		if !seen[d.Index] {
			seen[d.Index] = true
			if !idRE.MatchString(d.ID) || d.Name == "" || d.Arguments != "" {
				t.Fatalf("first delta of %d: %+v", d.Index, d)
			}
			if d.Index != len(seen)-1 {
				t.Fatalf("index %d out of order", d.Index)
			}
			continue
		}
		if d.ID != "" || d.Name != "" {
			t.Fatalf("continuation delta repeats id or name: %+v", d)
		}
		if len(d.Arguments) > toolcall.DefaultFragmentSize || !utf8.ValidString(d.Arguments) {
			t.Fatalf("fragment of %d bytes, valid UTF-8 %v", len(d.Arguments), utf8.ValidString(d.Arguments))
		}
		args[d.Index] += d.Arguments
	}
	if len(seen) != 2 || args[0] != `{"city":"Paris"}` || !json.Valid([]byte(args[1])) || len(args[1]) < 1400 {
		t.Fatalf("calls %v args %v", seen, args)
	}
	if r.calls[0].ID == r.calls[1].ID {
		t.Fatal("ids repeat")
	}
}

func TestIDsUnique(t *testing.T) {
	seen := map[string]bool{}
	in := strings.Repeat(block("get_time", "{}"), 50)
	for range 20 {
		r := run(t, newReq(llm.ToolChoiceAuto, ""), textStream(in), nil)
		if len(r.calls) != 50 {
			t.Fatalf("%d calls", len(r.calls))
		}
		for _, c := range r.calls {
			if seen[c.ID] {
				t.Fatalf("id %s repeated", c.ID)
			}
			seen[c.ID] = true
		}
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		name     string
		upstream []llm.Event
		want     llm.FinishReason
	}{
		{"stop becomes tool_calls", []llm.Event{{Type: llm.EventTextDelta, Text: block("get_time", "{}")}, {Type: llm.EventFinish, FinishReason: llm.FinishStop}}, llm.FinishToolCalls},
		{"length without calls stays", []llm.Event{{Type: llm.EventTextDelta, Text: "abc"}, {Type: llm.EventFinish, FinishReason: llm.FinishLength}}, llm.FinishLength},
		{"no finish event from upstream", []llm.Event{{Type: llm.EventTextDelta, Text: block("get_time", "{}")}}, llm.FinishToolCalls},
		{"no finish, no calls", []llm.Event{{Type: llm.EventTextDelta, Text: "abc"}}, llm.FinishStop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, newReq(llm.ToolChoiceAuto, ""), &fake{Events: tc.upstream}, nil)
			if r.err != nil || r.finish != tc.want || r.finishes != 1 {
				t.Fatalf("finish %q (%d) err %v, want %q", r.finish, r.finishes, r.err, tc.want)
			}
		})
	}
}

func TestPassThrough(t *testing.T) {
	usage := &llm.Usage{PromptTokens: 3}
	up := &fake{Events: []llm.Event{
		{Type: llm.EventReasoningDelta, Text: "thinking"},
		{Type: llm.EventTextDelta, Text: "Hi <tool"},
		{Type: llm.EventImage, Media: &llm.Media{URL: "https://x/y.png"}},
		{Type: llm.EventTextDelta, Text: "box"},
		{Type: llm.EventFinish, FinishReason: llm.FinishStop},
		{Type: llm.EventUsage, Usage: usage},
	}}
	r := run(t, newReq(llm.ToolChoiceAuto, ""), up, nil)
	var types []llm.EventType
	for _, ev := range r.events {
		types = append(types, ev.Type)
	}
	want := []llm.EventType{llm.EventReasoningDelta, llm.EventTextDelta, llm.EventImage, llm.EventTextDelta, llm.EventFinish, llm.EventUsage}
	if !slices.Equal(types, want) || r.text != "Hi <toolbox" || r.texts[0] != "Hi " {
		t.Fatalf("events %v text %q texts %q", types, r.text, r.texts)
	}
	if up.Closed != 1 {
		t.Fatalf("upstream closed %d times", up.Closed)
	}
}

func TestUpstreamErrorKeepsHeldText(t *testing.T) {
	boom := &gw.Error{Code: gw.CodeTransient, Message: "boom"}
	up := &fake{Events: []llm.Event{{Type: llm.EventTextDelta, Text: "Hi <tool_"}}, Err: boom}
	r := run(t, newReq(llm.ToolChoiceAuto, ""), up, nil)
	if r.text != "Hi <tool_" || !errors.Is(r.err, boom) {
		t.Fatalf("text %q err %v", r.text, r.err)
	}
}

// TestHoldBound checks after every upstream delta that all text received so
// far was emitted except a tail of at most MaxHold bytes that may begin the
// marker (MaxHoldFenced when it is a fence opener before the marker).
func TestHoldBound(t *testing.T) {
	inputs := []string{
		"The answer is 42. No tools needed here; a < b and b > c.",
		"<<<<<<<<<<<<<<<<<<<<<<<<<<<<",
		"almost <tool_cal but not quite <tool_ca <tool_c",
		"code ```json\n<tool_ca``` ```js\n```python\nprint(1)\n```",
		"```````````````````` ``` ``` `",
		"mixed 🌤 <tool 🌤 ```\n<t",
		"Checking.\n" + block("get_weather", paris) + "\nDone: result < 5 <tool_re",
	}
	for _, in := range inputs {
		for _, n := range []int{1, 2, 3, 5} {
			deltas := splitEvery(in, n)
			var got strings.Builder
			up := textStream(deltas...)
			up.OnRecv = func(i int) {
				if i > len(deltas) {
					return
				}
				sent := strings.Join(deltas[:i], "")
				if b := strings.Index(sent, "<tool_call>"); b >= 0 {
					return // inside and after a block the emission differs from the input
				}
				emitted := got.String()
				if !strings.HasPrefix(sent, emitted) {
					t.Fatalf("%q/%d: emitted %q is not a prefix of %q", in, n, emitted, sent)
				}
				held := sent[len(emitted):]
				if emitted == "" {
					held = strings.TrimLeft(held, " \t\r\n")
				}
				bound := toolcall.MaxHold
				if strings.Contains(held, "`") {
					bound = toolcall.MaxHoldFenced
				}
				if len(held) > bound {
					t.Fatalf("%q/%d: after delta %d, %d bytes held back: %q", in, n, i, len(held), held)
				}
			}
			_, wrap, _ := toolcall.New(toolcall.Options{}).Wrap(context.Background(), newReq(llm.ToolChoiceAuto, ""))
			st := wrap(up, nil)
			for {
				ev, err := st.Recv()
				if err != nil {
					break
				}
				if ev.Type == llm.EventTextDelta {
					got.WriteString(ev.Text)
				}
			}
			st.Close()
			if !strings.Contains(in, "<tool_call>") && got.String() != in {
				t.Fatalf("%q/%d: text %q", in, n, got.String())
			}
		}
	}
}

func TestToolChoice(t *testing.T) {
	weather := block("get_weather", paris)
	tests := []struct {
		name   string
		mode   llm.ToolChoiceMode
		tool   string
		answer string
		calls  []call
		err    string
	}{
		{"auto without call", llm.ToolChoiceAuto, "", "It is sunny.", nil, ""},
		{"auto with call", llm.ToolChoiceAuto, "", weather, []call{parisCall}, ""},
		{"required without call", llm.ToolChoiceRequired, "", "It is sunny.", nil, "model did not call a tool although tool_choice required one"},
		{"required with call", llm.ToolChoiceRequired, "", weather, []call{parisCall}, ""},
		{"named right tool", llm.ToolChoiceNamed, "get_weather", weather, []call{parisCall}, ""},
		{"named keeps one call", llm.ToolChoiceNamed, "get_weather", block("get_time", "{}") + weather + weather, []call{parisCall}, ""},
		{"named wrong tool", llm.ToolChoiceNamed, "get_time", weather, nil, `model called tool "get_weather" although tool_choice required "get_time"`},
		{"named without call", llm.ToolChoiceNamed, "get_time", "No.", nil, `model did not call tool "get_time" although tool_choice required it`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, newReq(tc.mode, tc.tool), textStream(tc.answer), nil)
			if tc.err != "" {
				if r.err == nil || r.err.Error() != tc.err || gw.ErrorCode(r.err) != gw.CodeBadModelOutput {
					t.Fatalf("err %v, want %q", r.err, tc.err)
				}
				return
			}
			if r.err != nil || !slices.Equal(callsOf(r), tc.calls) {
				t.Fatalf("calls %v err %v", callsOf(r), r.err)
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		req := newReq(llm.ToolChoiceNone, "")
		out, wrap, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), req)
		if err != nil || wrap != nil || out != req {
			t.Fatalf("none without history: %v %v %v", out == req, wrap != nil, err)
		}
	})
	t.Run("parallel off keeps the first call", func(t *testing.T) {
		req := newReq(llm.ToolChoiceAuto, "")
		req.ParallelToolCalls = false
		r := run(t, req, textStream(weather+block("get_time", "{}")), nil)
		if !slices.Equal(callsOf(r), []call{parisCall}) {
			t.Fatalf("calls %v", callsOf(r))
		}
	})
	t.Run("named tool not offered", func(t *testing.T) {
		_, _, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), newReq(llm.ToolChoiceNamed, "nope"))
		if gw.ErrorCode(err) != gw.CodeInvalidRequest {
			t.Fatalf("err %v", err)
		}
	})
}

func TestRepair(t *testing.T) {
	bad := `Let me check. <tool_call>{"name": "get_weather", "arguments": {"city": Paris}}</tool_call>`
	tests := []struct {
		name    string
		first   string
		second  *fake // nil: reopen fails
		calls   []call
		err     string
		inRetry string // appears in the correction message
	}{
		{"malformed JSON repaired", bad, textStream("Sorry! ", block("get_weather", paris)), []call{parisCall}, "", "could not be read"},
		{"malformed JSON not repaired", bad, textStream(`<tool_call>{"name": "get_weather", "arguments": {"city": 1}}</tool_call>`), nil,
			`model produced invalid arguments for tool "get_weather": at /city: expected string, got integer`, "not valid JSON"},
		{"repair without a call", bad, textStream("I cannot."), nil, "model produced an invalid tool call: the block is not valid JSON", ""},
		{"unknown tool", "Hm. " + block("get_wether", paris), textStream(block("get_wether", paris)), nil, `model called unknown tool "get_wether"`, "get_weather, get_time, search"},
		{"missing required", block("get_weather", `{"unit": "c"}`), textStream(block("get_weather", `{"unit": "c"}`)), nil,
			`model produced invalid arguments for tool "get_weather": missing required property "city"`, `"required":["city"]`},
		{"wrong type repaired", block("search", `{"query": "x", "limit": "3"}`), textStream(block("search", `{"query": "x", "limit": 3}`)),
			[]call{{"search", `{"query":"x","limit":3}`}}, "", "expected integer, got string"},
		{"unexpected property", block("get_weather", `{"city": "Paris", "country": "FR"}`), textStream(block("get_weather", paris)), []call{parisCall}, "", `unexpected property "country"`},
		{"enum", block("get_weather", `{"city": "Paris", "unit": "k"}`), textStream(block("get_weather", paris)), []call{parisCall}, "", `"k" is not one of "c", "f"`},
		{"one bad call of two repairs both", block("get_time", "{}") + block("get_weather", "{}"), textStream(block("get_time", "{}"), block("get_weather", paris)),
			[]call{{"get_time", "{}"}, parisCall}, "", "missing required"},
		{"reopen fails", bad, nil, nil, "rate limited", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := textStream(splitEvery(tc.first, 4)...)
			var got *llm.Request
			reopens := 0
			reopen := func(req *llm.Request) (llm.Stream, error) {
				reopens++
				got = req
				if first.Closed != 1 || first.Received() != len(first.Events) {
					t.Errorf("first attempt not drained and closed before the repair")
				}
				if tc.second == nil {
					return nil, &gw.Error{Code: gw.CodeRateLimited, Message: "rate limited"}
				}
				return tc.second, nil
			}
			r := run(t, newReq(llm.ToolChoiceAuto, ""), first, reopen)
			if reopens != 1 {
				t.Fatalf("%d repair requests", reopens)
			}
			// The correction request: the conversation, the model's answer, the correction.
			n := len(got.Messages)
			if got.Messages[n-2].Role != llm.RoleAssistant || got.Messages[n-2].Text() != tc.first ||
				got.Messages[n-1].Role != llm.RoleUser || !strings.Contains(got.Messages[n-1].Text(), tc.inRetry) {
				t.Fatalf("repair request:\n%s", joinTexts(got.Messages))
			}
			if tc.err != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", r.err, tc.err)
				}
			} else if r.err != nil || !slices.Equal(callsOf(r), tc.calls) || r.finish != llm.FinishToolCalls {
				t.Fatalf("calls %v finish %q err %v", callsOf(r), r.finish, r.err)
			}
			// Text of the first answer was streamed; the repair's text is not.
			if want := strings.SplitN(tc.first, "<tool_call>", 2)[0]; r.text != want {
				t.Fatalf("text %q, want %q", r.text, want)
			}
			if tc.second != nil && tc.second.Closed != 1 {
				t.Fatalf("repair stream closed %d times", tc.second.Closed)
			}
		})
	}

	t.Run("no reopen", func(t *testing.T) {
		r := run(t, newReq(llm.ToolChoiceAuto, ""), textStream(bad), nil)
		if gw.ErrorCode(r.err) != gw.CodeBadModelOutput || !strings.Contains(r.err.Error(), "not valid JSON") {
			t.Fatalf("err %v", r.err)
		}
	})
	t.Run("repairs disabled", func(t *testing.T) {
		_, wrap, _ := toolcall.New(toolcall.Options{MaxRepair: -1}).Wrap(context.Background(), newReq(llm.ToolChoiceAuto, ""))
		r := collect(t, wrap(textStream(bad), func(*llm.Request) (llm.Stream, error) {
			t.Fatal("reopen called")
			return nil, nil
		}))
		if r.err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("required repaired", func(t *testing.T) {
		r := run(t, newReq(llm.ToolChoiceRequired, ""), textStream("It is sunny."), func(req *llm.Request) (llm.Stream, error) {
			if !strings.Contains(req.LastUserText(), "you must call at least one") {
				t.Errorf("correction: %q", req.LastUserText())
			}
			return textStream(block("get_weather", paris)), nil
		})
		if r.err != nil || r.text != "It is sunny." || !slices.Equal(callsOf(r), []call{parisCall}) {
			t.Fatalf("text %q calls %v err %v", r.text, callsOf(r), r.err)
		}
	})
}
