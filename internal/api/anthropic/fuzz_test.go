package anthropic_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/llm"
)

// FuzzRequest feeds arbitrary bodies to both routes: the handler must not
// panic and must answer 200 or a 4xx Anthropic error envelope.
func FuzzRequest(f *testing.F) {
	// Small seeds only: the fuzzer minimizes every new interesting input,
	// which takes long for the 20 kB captures (TestClaudeCodeFixtures
	// covers those). The first count_tokens capture is 1 kB.
	raw, err := os.ReadFile("testdata/claude-code-2.1.330-count-tokens-request-first.json")
	if err != nil {
		f.Fatal(err)
	}
	var c capture
	if err := json.Unmarshal(raw, &c); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(c.Body), true)
	f.Add([]byte(`{"model":"m","max_tokens":9,"stream":true,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":""},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"r"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}},{"name":"g","input_schema":{"type":"object"},"defer_loading":true}],"tool_choice":{"type":"auto"}}`), false)
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}]}`), false)
	f.Add([]byte(`{"model":"m","max_tokens":5,"stop_sequences":["a"],"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":"{}"}]}]}`), false)
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"content","content":[{"type":"image","source":{"type":"url","url":"https://x.example/a.png"}}]}}]}]}`), true)

	b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
		return newFakeStream(ctx, []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1)}, nil), nil
	}}
	mux := http.NewServeMux()
	anthropic.New(b, anthropic.Options{MaxBodyBytes: 1 << 20}).Register(mux, "")
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		path := "/v1/messages"
		if count {
			path += "/count_tokens"
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body))))
		switch {
		case w.Code == 200:
		case w.Code >= 400 && w.Code < 500:
			var e errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Type != "error" || e.Error.Type == "" || e.Error.Message == "" {
				t.Fatalf("status %d with body %q", w.Code, w.Body.String())
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	})
}

// FuzzStopSequences checks the front-end's stop sequences against a
// reference: the text, however split into deltas, is cut before the
// earliest occurrence of either sequence.
func FuzzStopSequences(f *testing.F) {
	f.Add("Hello world! STOP more", []byte{3, 9, 15}, "STOP", "END")
	f.Add("aaab", []byte{1, 2}, "aab", "x")
	f.Add("naïve résumé", []byte{3, 8}, "résumé", "ï")
	f.Add("abc", []byte{}, "c", "abc")

	b := &fakeBackend{}
	mux := http.NewServeMux()
	anthropic.New(b, anthropic.Options{}).Register(mux, "")
	f.Fuzz(func(t *testing.T, full string, cuts []byte, s1, s2 string) {
		if !utf8.ValidString(full) || !utf8.ValidString(s1) || !utf8.ValidString(s2) || s1 == "" || s2 == "" {
			t.Skip()
		}
		if len(s1) > wire.MaxStopBytes || len(s2) > wire.MaxStopBytes {
			t.Skip() // refused with a 400 (TestRequestErrors covers it)
		}
		var evs []llm.Event
		prev := 0
		for _, c := range cuts {
			at := prev + int(c)
			if at > len(full) {
				break
			}
			evs = append(evs, text(full[prev:at]))
			prev = at
		}
		evs = append(evs, text(full[prev:]), finish(llm.FinishStop), usage(1, 1))
		want, wantSeq := full, ""
		for _, s := range []string{s1, s2} {
			if i := strings.Index(full, s); i >= 0 && (wantSeq == "" || i < len(want)) {
				want, wantSeq = full[:i], s
			}
		}

		stops, _ := json.Marshal([]string{s1, s2})
		req := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(
			`{"model":"m","max_tokens":5,"stop_sequences":`+string(stops)+`,"messages":[{"role":"user","content":"x"}]}`))
		w := httptest.NewRecorder()
		b.ChatFn = func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
			return newFakeStream(ctx, evs, nil), nil
		}
		mux.ServeHTTP(w, req)
		var msg struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &msg); err != nil {
			t.Fatalf("%d %s", w.Code, w.Body.String())
		}
		var got string
		for _, c := range msg.Content {
			got += c.Text
		}
		gotSeq := ""
		if msg.StopSequence != nil {
			gotSeq = *msg.StopSequence
		}
		if got != want || gotSeq != wantSeq {
			t.Fatalf("text %q seq %q, want %q %q", got, gotSeq, want, wantSeq)
		}
		if (wantSeq != "") != (msg.StopReason == "stop_sequence") {
			t.Fatalf("stop_reason %q", msg.StopReason)
		}
	})
}
