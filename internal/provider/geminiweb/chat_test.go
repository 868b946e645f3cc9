package geminiweb_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// utf16Len is the JavaScript length of s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// simAnswer is the exact text the simulator answers a turn with (default
// frames, no attachment, no directive that changes the text).
func simAnswer(turn, served string) string {
	return turn + "\n\n— Gemini web simulator, answering as " + served + "; sim_echo ok." +
		"\n\n```text\n" + fmt.Sprintf("runes=%d utf16=%d bytes=%d", utf8.RuneCountInString(turn), utf16Len(turn), len(turn)) + "\n```"
}

func TestStreamFlash(t *testing.T) {
	e := newEnv(t)
	r := e.ok(account("alice"), userReq("gemini-3-flash", "Ping"))
	if got, want := r.answer.Text, simAnswer("Ping", "3.6 Flash"); got != want {
		t.Fatalf("text\n got %q\nwant %q", got, want)
	}
	if n := countType(r.events, llm.EventTextDelta); n < 3 {
		t.Errorf("only %d text deltas: not streamed", n)
	}
	if r.answer.FinishReason != llm.FinishStop {
		t.Errorf("finish %q", r.answer.FinishReason)
	}
	en := e.last(genPath)
	for k, want := range map[string]string{
		"model": hexFlash, "at_ok": "true", "signed_in": "true", "request_uuid_match": "true",
		"header_mode": "1", "header_thinking": "1", "capacity": "1", "capacity_field": "12",
		"prompt": "Ping", "cid": "", "served_model": hexFlash, "q_rt": "c", "lang": "en",
		"turn_index": "0", "inner_mode": "1", "inner_thinking": "1",
	} {
		if got := fact(en, k); got != want {
			t.Errorf("fact %s = %q, want %q", k, got, want)
		}
	}
	if fact(en, "q_bl") == "" || fact(en, "q_reqid") == "" || fact(en, "q_f.sid") == "" {
		t.Errorf("query facts %v", en.Facts)
	}
	var hdr []any
	if err := json.Unmarshal([]byte(fact(en, "model_header")), &hdr); err != nil || len(hdr) != 17 {
		t.Fatalf("model header %q: %v", fact(en, "model_header"), err)
	}
	if u, _ := hdr[16].(string); u == "" || u != strings.ToUpper(u) {
		t.Errorf("client uuid %v", hdr[16])
	}
	if s := e.p.Stats(); s.ModelMismatches != 0 || s.Retractions != 0 {
		t.Errorf("stats %+v", s)
	}
	// The same facts through the simulator's public log.
	resp, err := http.Get(e.srv.URL + "/_sim/requests?upstream=gemini")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var log struct {
		Requests []simcore.Entry `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range log.Requests {
		if strings.HasSuffix(en.Path, genPath) {
			found = true
			if fact(en, "model") != hexFlash || fact(en, "new_cid") == "" || fact(en, "cid") != "" {
				t.Errorf("/_sim/requests facts %v", en.Facts)
			}
		}
	}
	if !found {
		t.Error("/_sim/requests has no StreamGenerate entry")
	}
}

func TestStreamPro(t *testing.T) {
	e := newEnv(t)
	r := e.ok(account("bob"), userReq("gemini-3-pro", "Explain entropy briefly."))
	mustContain(t, r.answer.Text, "answering as 3.1 Pro;")
	en := e.last(genPath)
	if fact(en, "model") != hexPro || fact(en, "header_mode") != "3" || fact(en, "served_model_name") != "3.1 Pro" {
		t.Errorf("facts %v", en.Facts)
	}
}

func TestExtendedThinkingHeader(t *testing.T) {
	e := newEnv(t)
	req := userReq("gemini-3-pro", "think hard")
	req.ReasoningEffort = "high"
	e.ok(account("erin"), req)
	en := e.last(genPath)
	if fact(en, "header_thinking") != "2" || fact(en, "inner_thinking") != "2" || fact(en, "served_model_name") != "3.1 Pro Extended" {
		t.Errorf("facts %v", en.Facts)
	}
}

func TestThinking(t *testing.T) {
	e := newEnv(t)
	turn := "Why is the sky blue? sim:think"
	r := e.ok(account("carol"), userReq("gemini-3-flash", turn))
	if r.answer.Text != simAnswer(turn, "3.6 Flash") {
		t.Fatalf("text %q", r.answer.Text)
	}
	want := fmt.Sprintf("**Reading the request**\n\nThe last user turn has %d characters (%d UTF-16 units).\n\n\n**Planning the reply**\n\nI'll echo it back verbatim and add a short code block with its lengths.",
		utf8.RuneCountInString(turn), utf16Len(turn))
	if r.answer.Reasoning != want {
		t.Fatalf("reasoning\n got %q\nwant %q", r.answer.Reasoning, want)
	}
	if countType(r.events, llm.EventReasoningDelta) < 2 {
		t.Error("reasoning was not streamed")
	}
	firstText := -1
	for i, ev := range r.events {
		if ev.Type == llm.EventTextDelta && firstText < 0 {
			firstText = i
		}
		if ev.Type == llm.EventReasoningDelta && firstText >= 0 {
			t.Fatal("reasoning after text")
		}
	}
}

// Non-ASCII and astral text cut across frames (the simulator cuts just after
// the first astral and the first non-ASCII rune) and LEN counted in UTF-16
// units, plus the `\_` and "\n```" snapshot artefacts, reassemble exactly.
func TestUnicodeReassembly(t *testing.T) {
	e := newEnv(t)
	for _, turn := range []string{
		"你好，世界 🌍🚀 naïve ß ok snake_case",
		"👩‍👩‍👧‍👦 family, ẞ, ﬁ ligature, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and \\_escaped\\_ *stars*",
		"😀",
		"é sim:long 12",
	} {
		r := e.ok(account("dora"), userReq("gemini-3-flash", turn))
		if strings.Contains(turn, "sim:long") {
			mustContain(t, r.answer.Text, turn)
			if !strings.HasSuffix(r.answer.Text, "\n```") || strings.Count(r.answer.Text, "```") != 2 {
				t.Errorf("fence artefacts left in %q", r.answer.Text)
			}
			continue
		}
		if got, want := r.answer.Text, simAnswer(turn, "3.6 Flash"); got != want {
			t.Fatalf("turn %q\n got %q\nwant %q", turn, got, want)
		}
	}
	if s := e.p.Stats(); s.Retractions != 0 {
		t.Errorf("retractions %d", s.Retractions)
	}
}

func TestLongAnswerManyFrames(t *testing.T) {
	e := newEnv(t)
	r := e.ok(account("lena"), userReq("gemini-3-flash", "count sim:long 300"))
	if n := countType(r.events, llm.EventTextDelta); n < 200 {
		t.Errorf("%d deltas for 300 frames", n)
	}
	mustContain(t, r.answer.Text, "Counting: 1 2 3")
}

func TestImageEvent(t *testing.T) {
	e := newEnv(t)
	r := e.ok(account("ivan"), userReq("gemini-3-flash", "draw a cat sim:image"))
	if len(r.answer.Images) != 1 {
		t.Fatalf("images %+v", r.answer.Images)
	}
	en := e.last(genPath)
	if r.answer.Images[0].URL != fact(en, "image_url") || !strings.Contains(r.answer.Images[0].URL, "/gg-dl/") {
		t.Errorf("image %q, recorded %q", r.answer.Images[0].URL, fact(en, "image_url"))
	}
	if strings.Contains(r.answer.Text, "googleusercontent.com") {
		t.Errorf("placeholder left in text %q", r.answer.Text)
	}
	mustContain(t, r.answer.Text, "Here is the image you asked for:")
	if r.answer.Images[0].Account != "acct-ivan" {
		t.Errorf("image account %q", r.answer.Images[0].Account)
	}
	// The image is fetched with the account's cookies at every hop.
	req, _ := http.NewRequest(http.MethodGet, r.answer.Images[0].URL+"=s0", nil)
	req.Header.Set("Cookie", e.p.ImageCookieHeader(account("ivan")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("image fetch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestSearchToolStatus(t *testing.T) {
	e := newEnv(t)
	r := e.ok(account("sid"), userReq("gemini-3-flash", "news sim:search"))
	mustContain(t, r.answer.Text, "news sim:search")
}

// A conversation is flattened into one prompt with role lines; the last
// user turn is what follows the last line beginning "User:".
func TestFlattenedConversation(t *testing.T) {
	e := newEnv(t)
	req := &llm.Request{Model: "gemini-3-flash", Messages: []llm.Message{
		llm.TextMessage(llm.RoleSystem, "Be terse."),
		llm.TextMessage(llm.RoleUser, "What is 2+2?"),
		{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Type: llm.PartText, Text: "Let me compute."},
			{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1", Name: "calc", Arguments: `{"expr":"2+2"}`}},
		}},
		{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "call_1", Name: "calc", Content: "4"}}}},
		llm.TextMessage(llm.RoleUser, "And 3+3?\nThanks."),
	}}
	r := e.ok(account("fay"), req)
	mustContain(t, r.answer.Text, "And 3+3?\nThanks.")
	en := e.last(genPath)
	want := "System: Be terse.\n\nUser: What is 2+2?\n\nAssistant: Let me compute.\n" +
		`<tool_call>{"name": "calc", "arguments": {"expr":"2+2"}}</tool_call>` +
		"\n\nUser: <tool_result id=\"call_1\" name=\"calc\">\n4\n</tool_result>\n\nUser: And 3+3?\nThanks."
	if got := fact(en, "prompt"); got != want {
		t.Fatalf("prompt\n got %q\nwant %q", got, want)
	}
	if got := fact(en, "last_user_turn"); got != "And 3+3?\nThanks." {
		t.Errorf("last user turn %q", got)
	}
}

func TestToolCallText(t *testing.T) {
	e := newEnv(t)
	r := e.ok(account("gus"), userReq("gemini-3-flash", `weather please sim:tool get_weather {"city":"Paris"}`))
	if r.answer.Text != `<tool_call>{"name": "get_weather", "arguments": {"city":"Paris"}}</tool_call>` {
		t.Errorf("text %q", r.answer.Text)
	}
}
