package toolcall_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/toolcall"
)

// fuzzVocab lets the fuzzer write protocol fragments with single control
// bytes (tab, newline and carriage return stay themselves).
var fuzzVocab = map[byte]string{
	0x01: "<tool_call>",
	0x02: "</tool_call>",
	0x03: `{"name": "get_weather", "arguments": {"city": "Paris"}}`,
	0x04: "```json\n",
	0x05: "```",
	0x06: `{"name": "get_time"}`,
	0x07: `"`,
	0x08: "<tool_result>",
	0x0b: `{"name": "search", "arguments": "{\"query\": \"q\"}"}`,
	0x0c: "\\",
	0x0e: `{"name": "nope", "arguments": {}}`,
	0x0f: "{",
	0x10: "}",
	0x11: `"arguments": `,
}

func expand(data string) string {
	var b strings.Builder
	for i := 0; i < len(data); i++ {
		if v, ok := fuzzVocab[data[i]]; ok {
			b.WriteString(v)
			continue
		}
		b.WriteByte(data[i])
	}
	return b.String()
}

// outcome is what a split-independent run must agree on.
type outcome struct {
	text   string
	calls  []call
	err    string
	finish llm.FinishReason
}

// feed runs the parser over deltas. When checkHold is set it asserts after
// every delta that at most the hold bound of text is held back.
func feed(t *testing.T, req *llm.Request, deltas []string, checkHold bool) outcome {
	t.Helper()
	_, wrap, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	up := textStream(deltas...)
	if checkHold {
		all := strings.Join(deltas, "")
		ends := make([]int, len(deltas)+1) // ends[i]: bytes in deltas[:i]
		for i, d := range deltas {
			ends[i+1] = ends[i] + len(d)
		}
		up.OnRecv = func(i int) {
			if i > len(deltas) {
				return
			}
			sent := all[:ends[i]]
			emitted := got.String()
			if !strings.HasPrefix(sent, emitted) {
				t.Fatalf("emitted %q is not a prefix of the input %q", emitted, sent)
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
				t.Fatalf("after delta %d, %d bytes held back: %q", i, len(held), held)
			}
		}
	}
	st := wrap(up, nil)
	defer st.Close()
	var o outcome
	var acc llm.Accumulator
	for {
		ev, err := st.Recv()
		if err != nil {
			if err.Error() != "EOF" {
				o.err = err.Error()
			}
			break
		}
		if ev.Type == llm.EventTextDelta {
			got.WriteString(ev.Text)
		}
		if ev.Type == llm.EventToolCallDelta && (ev.ToolCall.ID != "") != (ev.ToolCall.Name != "") {
			t.Fatalf("delta with only one of id and name: %+v", ev.ToolCall)
		}
		acc.Add(ev)
	}
	a := acc.Answer()
	o.text, o.finish = a.Text, a.FinishReason
	for _, c := range a.ToolCalls {
		o.calls = append(o.calls, call{c.Name, c.Arguments})
	}
	return o
}

// randomSplit cuts s at random places, sometimes inside UTF-8 sequences.
func randomSplit(s string, rng *rand.Rand) []string {
	var out []string
	for len(s) > 0 {
		n := 1 + rng.IntN(min(len(s), 1+rng.IntN(16)))
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"Hello, world.",
		"Let me check.\n\x01\x03\x02\nDone.",
		"\x04\x01\x03\x02\n\x05",
		"\x01\x03\x02\x01\x06\x02\x01\x0b\x02",
		"a < b <tool_ca \x05go\nx\n\x05",
		"\x01\x03",
		"\x01{\"name\": \"get_weather\", \"arguments\": {\"city\": \"a\x02b\"}}\x02",
		"\x01\x0e\x02",
		"\x01 not json \x02 tail",
		"\x01\x03\x02\x08 invented",
		"\x01{\"name\": \"get_weather\", \x11{\"city\": 1}\x02",
		"\x01\x0f\x07name\x07: \x07get_time\x07\x10\x10\x02",
		"  \n\t",
	} {
		f.Add(s, uint64(len(s)))
	}
	f.Fuzz(fuzzBody)
}

// fuzzBody checks one input: no panic; the same result however the text is
// split into deltas (one delta, random pieces, single bytes); emitted calls
// name offered tools and carry valid JSON objects; without calls nothing of
// the text is lost or changed; and text without a marker is never held back
// beyond the bound after any delta.
func fuzzBody(t *testing.T, data string, seed uint64) {
	if len(data) > 2048 {
		return
	}
	in := expand(data)
	if len(in) > 4096 {
		return
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	req := newReq(llm.ToolChoiceAuto, "")
	switch seed % 5 {
	case 1:
		req.ToolChoice.Mode = llm.ToolChoiceRequired
	case 2:
		req.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceNamed, Name: "get_weather"}
	case 3:
		req.ParallelToolCalls = false
	}
	plain := !strings.Contains(in, "<tool_call>")

	whole := feed(t, req, []string{in}, false)
	for _, deltas := range [][]string{randomSplit(in, rng), splitEvery(in, 1)} {
		got := feed(t, req, deltas, plain)
		if got.text != whole.text || !slices.Equal(got.calls, whole.calls) || got.err != whole.err || got.finish != whole.finish {
			t.Fatalf("split changes the result:\n split %q\n got  %+v\n whole %+v", deltas, got, whole)
		}
	}

	names := map[string]bool{"get_weather": true, "get_time": true, "search": true}
	for _, c := range whole.calls {
		var obj map[string]any
		if !names[c.name] || json.Unmarshal([]byte(c.args), &obj) != nil || obj == nil {
			t.Fatalf("bad call emitted: %+v", c)
		}
	}
	if len(whole.calls) > 0 && whole.finish != llm.FinishToolCalls {
		t.Fatalf("finish %q with calls", whole.finish)
	}
	// Without calls (and without an error) no text is lost or changed.
	if whole.err == "" && len(whole.calls) == 0 && whole.text != in &&
		req.ToolChoice.Mode == llm.ToolChoiceAuto {
		t.Fatalf("text changed without calls:\n in  %q\n out %q", in, whole.text)
	}
	if plain && req.ToolChoice.Mode == llm.ToolChoiceAuto && (whole.err != "" || whole.text != in) {
		t.Fatalf("plain text not passed through: %+v", whole)
	}
}
