package toolcall_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/toolcall"
)

// bufferedFake is a fake whose events before ready count as received.
type bufferedFake struct {
	*fake
	ready int
}

func (f *bufferedFake) Buffered() bool { return f.Received() < f.ready && f.Received() < len(f.Events) }

// Buffered reports text that is ready, not text held back as a possible
// call, and is false before the finish event (which may start a repair).
func TestBuffered(t *testing.T) {
	up := &bufferedFake{fake: textStream("Hello ", "world. ", "<", `tool_call>{"name": "get_time", "arguments": {}}</tool_call>`), ready: 3}
	_, wrap, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), newReq(llm.ToolChoiceAuto, ""))
	if err != nil {
		t.Fatal(err)
	}
	st := wrap(up, nil)
	recv := func(want string) {
		t.Helper()
		ev, err := st.Recv()
		if err != nil || ev.Text != want {
			t.Fatalf("Recv = %+v, %v; want %q", ev, err, want)
		}
	}
	recv("Hello ")
	if !llm.Buffered(st) {
		t.Fatal("ready text not reported")
	}
	recv("world. ")
	if llm.Buffered(st) {
		t.Fatal(`"<" is held back, yet reported`)
	}
	up.ready = len(up.Events) // the block and the finish arrive
	ev, err := st.Recv()
	if err != nil || ev.Type != llm.EventToolCallDelta {
		t.Fatalf("Recv = %+v, %v; want the call", ev, err)
	}
	if !llm.Buffered(st) {
		t.Fatal("queued call deltas not reported")
	}
}

// Asking Buffered between events, whatever the upstream has ready, changes
// nothing in what the client receives, repairs included.
func TestBufferedKeepsOutput(t *testing.T) {
	valid := block("get_weather", `{"city": "Paris"}`)
	scripts := map[string]func() *fake{
		"text": func() *fake { return textStream("Hello", " world", ".") },
		"call split": func() *fake {
			return textStream(append([]string{"Let me check. "}, splitEvery(valid+" done", 3)...)...)
		},
		"two calls": func() *fake { return textStream("a ", valid, " b ", block("get_time", `{"tz": "UTC"}`)) },
		"invalid then repaired": func() *fake {
			return textStream("x ", block("get_weather", `{"town": "Paris"}`))
		},
		"reasoning and usage": func() *fake {
			f := textStream("a", valid)
			f.Events = append([]llm.Event{{Type: llm.EventReasoningDelta, Text: "hmm"}}, f.Events...)
			f.Events = append(f.Events, llm.Event{Type: llm.EventUsage, Usage: &llm.Usage{PromptTokens: 3}})
			return f
		},
		"no finish": func() *fake { f := textStream("a", "<tool"); f.Events = f.Events[:2]; return f },
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for name, script := range scripts {
		reopen := func(*llm.Request) (llm.Stream, error) {
			return &bufferedFake{fake: textStream(valid), ready: 1}, nil
		}
		want := run(t, newReq(llm.ToolChoiceAuto, ""), script(), reopen)
		for round := range 50 {
			up := &bufferedFake{fake: script(), ready: rng.IntN(8)}
			_, wrap, err := toolcall.New(toolcall.Options{}).Wrap(context.Background(), newReq(llm.ToolChoiceAuto, ""))
			if err != nil {
				t.Fatal(err)
			}
			st := wrap(up, reopen)
			var got []llm.Event
			for {
				for rng.IntN(2) == 0 {
					llm.Buffered(st)
					up.ready += rng.IntN(2)
				}
				ev, err := st.Recv()
				if err != nil {
					break
				}
				got = append(got, ev)
			}
			if len(got) != len(want.events) {
				t.Fatalf("%s round %d: %d events, want %d", name, round, len(got), len(want.events))
			}
			for i := range got {
				g, w := got[i], want.events[i]
				if g.ToolCall != nil && w.ToolCall != nil {
					gc, wc := *g.ToolCall, *w.ToolCall
					gc.ID, wc.ID = "", "" // random ids
					if gc != wc {
						t.Fatalf("%s round %d: event %d call %+v, want %+v", name, round, i, gc, wc)
					}
					continue
				}
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("%s round %d: event %d = %+v, want %+v", name, round, i, g, w)
				}
			}
		}
	}
}
