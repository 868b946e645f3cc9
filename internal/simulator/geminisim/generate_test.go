package geminisim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// textSnaps are the candidate texts of the frames that carry one.
func textSnaps(ss []snap) []string {
	var out []string
	for _, s := range ss {
		if s.hasCand && s.text != "" {
			out = append(out, s.text)
		}
	}
	return out
}

// tolerantDiff turns cumulative snapshots into deltas the way a careful
// client does: trailing Markdown escapes and an unclosed trailing fence are
// held back, non-prefix snapshots are skipped, the final snapshot settles it.
func tolerantDiff(t *testing.T, snapsText []string) string {
	t.Helper()
	emitted := ""
	for i, s := range snapsText {
		if i < len(snapsText)-1 {
			for _, art := range []string{`\_`, `\*`, "\\`", "\n```"} {
				s = strings.TrimSuffix(s, art)
			}
		}
		if strings.HasPrefix(s, emitted) {
			emitted = s
		} else if i == len(snapsText)-1 {
			t.Fatalf("final snapshot does not extend what was emitted:\n%q\n%q", emitted, s)
		}
	}
	return emitted
}

// naiveDiff assumes every snapshot extends the previous one.
func naiveDiff(snapsText []string) string {
	var out strings.Builder
	prev := ""
	for _, s := range snapsText {
		if len(s) > len(prev) {
			out.WriteString(s[len(prev):])
		}
		prev = s
	}
	return out.String()
}

func TestCumulativeSnapshots(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("erin")
	turn := "Tell me about 北京 and 🎉 party_time"
	prompt := "System: be brief\nUser: earlier question\nAssistant: earlier answer\nUser: " + turn + "\nAssistant:"
	_, raw := e.generate(gen{prompt: prompt, cookie: cookie, at: at, hex: hexFlash})
	ss := snaps(t, parseBody(t, raw))
	texts := textSnaps(ss)
	if len(texts) < 5 {
		t.Fatalf("%d text frames, want at least 5", len(texts))
	}
	final := texts[len(texts)-1]
	mustContain(t, final, turn)
	if strings.Contains(final, "earlier question") {
		t.Error("the answer echoes an older turn")
	}
	// Snapshots are cumulative: each is (after artefact cleanup) a prefix of the final.
	if got := tolerantDiff(t, texts); got != final {
		t.Fatalf("tolerant differ got %q, want %q", got, final)
	}
	// ... and deliberately not always prefix-monotonic: a naive differ breaks.
	if naiveDiff(texts) == final {
		t.Fatal("naive differ reconstructs the text: no non-monotonic artefact was streamed")
	}
	sawEscape, sawFence, sawEmojiCut := false, false, false
	for _, s := range texts[:len(texts)-1] {
		sawEscape = sawEscape || strings.HasSuffix(s, `\_`)
		sawFence = sawFence || strings.HasSuffix(s, "\n```")
		sawEmojiCut = sawEmojiCut || strings.HasSuffix(s, "🎉") || strings.HasSuffix(s, "北")
	}
	if !sawEscape || !sawFence || !sawEmojiCut {
		t.Errorf("escape %v fence %v cut after non-ASCII %v", sawEscape, sawFence, sawEmojiCut)
	}
	// The first frame only carries ids (no candidates yet).
	if ss[0].hasCand || dig(ss[0].inner, 1, 0) == nil {
		t.Errorf("first frame %v", ss[0].inner)
	}
	ent := e.lastEntry("gemini")
	if ent.Outcome != simcore.OutcomeCompleted || ent.Facts["prompt"] != prompt || ent.Facts["at_ok"] != true {
		t.Errorf("entry %+v", ent)
	}
	// A normal answer also ends with a 1096 entry after its content.
	if c := parseBody(t, raw).errorCodes(); len(c) != 1 || c[0] != 1096 {
		t.Errorf("trailer codes %v, want [1096]", c)
	}
}

func TestThinkBeforeText(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("frank")
	_, raw := e.generate(gen{prompt: "why? sim:think", cookie: cookie, at: at})
	ss := snaps(t, parseBody(t, raw))
	var phase int // 0 before, 1 thoughts, 2 text
	var lastThoughts string
	for _, s := range ss {
		if !s.hasCand {
			continue
		}
		switch {
		case s.text == "" && s.thoughts != "":
			if phase > 1 {
				t.Fatal("thoughts-only frame after text started")
			}
			if !strings.HasPrefix(s.thoughts, lastThoughts) {
				t.Fatal("thoughts are not cumulative")
			}
			phase, lastThoughts = 1, s.thoughts
		case s.text != "":
			if phase == 0 {
				t.Fatal("text before thoughts")
			}
			if s.thoughts != lastThoughts {
				t.Fatal("thoughts changed while the text grows")
			}
			phase = 2
		}
	}
	if phase != 2 || lastThoughts == "" {
		t.Fatalf("phase %d thoughts %q", phase, lastThoughts)
	}
}

func TestLongAndSlow(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("gina")
	_, raw := e.generate(gen{prompt: "count sim:long 40 sim:slow 1", cookie: cookie, at: at})
	ss := snaps(t, parseBody(t, raw))
	texts := textSnaps(ss)
	// 40 growth frames plus the completion frame.
	if len(texts) != 41 {
		t.Fatalf("%d text frames, want 41", len(texts))
	}
	for i := 1; i < 40; i++ {
		if texts[i] == texts[i-1] {
			t.Fatalf("frame %d repeats frame %d: %q", i, i-1, texts[i])
		}
	}
	if got := tolerantDiff(t, texts); got != texts[40] || texts[39] != texts[40] {
		t.Fatalf("reconstructed %q, final %q", got, texts[40])
	}
}

func TestModelHeaderAndDowngrade(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("hank")
	cases := []struct {
		name, prompt, hex string
		thinking          int
		wantServed        string
		wantName          string
	}{
		{"pro", "hi", hexPro, 1, hexPro, "3.1 Pro"},
		{"pro downgraded", "hi sim:downgrade", hexPro, 1, hexFlash, "3.6 Flash"},
		{"flash downgraded", "hi sim:downgrade", hexFlash, 1, hexLite, "3.1 Flash-Lite"},
		{"pro extended", "hi", hexPro, 2, hexPro, "3.1 Pro Extended"},
		{"no header = account default", "hi", "", 0, hexFlash, "3.6 Flash"},
		{"alias of paid pro", "hi", "e6fa609c3fa255c0", 1, hexPro, "3.1 Pro"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, raw := e.generate(gen{prompt: c.prompt, cookie: cookie, at: at, hex: c.hex, thinking: c.thinking})
			ss := snaps(t, parseBody(t, raw))
			last := ss[len(ss)-1]
			if last.model != c.wantServed || last.name != c.wantName {
				t.Fatalf("served %q %q, want %q %q", last.model, last.name, c.wantServed, c.wantName)
			}
			ent := e.lastEntry("gemini")
			if ent.Facts["model"] != c.hex || ent.Facts["served_model"] != c.wantServed {
				t.Fatalf("facts model %v served %v", ent.Facts["model"], ent.Facts["served_model"])
			}
			if c.hex != "" && !strings.Contains(ent.Facts["model_header"].(string), c.hex) {
				t.Fatalf("model_header %v", ent.Facts["model_header"])
			}
		})
	}
	// G1 (5 elements) and G2 layouts select the model too.
	for _, hdr := range []string{
		`[1,null,null,null,"9d8ca3786ebdfbea"]`,
		`[1,null,null,null,"9d8ca3786ebdfbea",null,null,0,[4],null,null,null,1]`,
	} {
		_, raw := e.generate(gen{prompt: "hi", cookie: cookie, at: at, header: hdr})
		ss := snaps(t, parseBody(t, raw))
		if m := ss[len(ss)-1].model; m != hexPro {
			t.Fatalf("header %s served %q", hdr, m)
		}
		if ent := e.lastEntry("gemini"); ent.Facts["model_header"] != hdr {
			t.Fatalf("model_header %v", ent.Facts["model_header"])
		}
	}
}

// errorOf runs one generate call and returns its status and Bard codes.
func errorOf(t *testing.T, e *env, g gen) (int, []int, body) {
	t.Helper()
	resp, raw := e.generate(g)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, body{}
	}
	b := parseBody(t, raw)
	var codes []int
	for _, c := range b.errorCodes() {
		if c != 1096 || len(b.inners(t)) == 0 {
			codes = append(codes, c)
		}
	}
	return resp.StatusCode, codes, b
}

func TestErrorCodes(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("ivan")
	limited, limitedAt := e.signedIn("limited-ivan")
	cases := []struct {
		name   string
		g      gen
		status int
		code   int
	}{
		{"limited account", gen{prompt: "hi", cookie: limited, at: limitedAt}, 200, 1037},
		{"ratelimit", gen{prompt: "hi sim:ratelimit", cookie: cookie, at: at}, 200, 1037},
		{"quota", gen{prompt: "hi sim:quota", cookie: cookie, at: at}, 200, 1037},
		{"unavailable", gen{prompt: "hi sim:unavailable", cookie: cookie, at: at}, 200, 1013},
		{"code 1050", gen{prompt: "hi sim:code 1050", cookie: cookie, at: at}, 200, 1050},
		{"code 1052", gen{prompt: "hi sim:code 1052", cookie: cookie, at: at}, 200, 1052},
		{"code 1060", gen{prompt: "hi sim:code 1060", cookie: cookie, at: at}, 200, 1060},
		{"code 1155", gen{prompt: "hi sim:code 1155", cookie: cookie, at: at}, 200, 1155},
		{"unknown model hex", gen{prompt: "hi", cookie: cookie, at: at, hex: "0123456789abcdef"}, 200, 1052},
		{"deprecated model hex", gen{prompt: "hi", cookie: cookie, at: at, hex: "f299729663a2343f"}, 200, 1052},
		{"malformed model header", gen{prompt: "hi", cookie: cookie, at: at, header: "[1,"}, 200, 1052},
		{"wrong at", gen{prompt: "hi", cookie: cookie, at: "AJ-wrong:1"}, 400, 0},
		{"missing at", gen{prompt: "hi", cookie: cookie}, 400, 0},
		{"expired cookie with a stale at", gen{prompt: "hi", cookie: account("expired-ivan"), at: at}, 400, 0},
		{"cloudflare", gen{prompt: "hi sim:cloudflare", cookie: cookie, at: at}, 302, 0},
		{"code 429", gen{prompt: "hi sim:code 429", cookie: cookie, at: at}, 429, 0},
		{"code 400", gen{prompt: "hi sim:code 400", cookie: cookie, at: at}, 400, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, codes, b := errorOf(t, e, c.g)
			if status != c.status {
				t.Fatalf("status %d, want %d", status, c.status)
			}
			if c.code != 0 {
				if len(codes) != 1 || codes[0] != c.code {
					t.Fatalf("codes %v, want [%d]", codes, c.code)
				}
				if len(b.inners(t)) != 0 {
					t.Fatal("error body carries content")
				}
			}
			ent := e.lastEntry("gemini")
			if ent.Outcome != simcore.OutcomeRejected {
				t.Fatalf("outcome %q", ent.Outcome)
			}
			if c.code != 0 && ent.Facts["error_code"] != c.code {
				t.Fatalf("error_code fact %v", ent.Facts["error_code"])
			}
		})
	}
	// The 400 body is the "er" form of the 2023 fixture.
	resp, raw := e.generate(gen{prompt: "hi", cookie: cookie})
	if resp.StatusCode != 400 {
		t.Fatal(resp.StatusCode)
	}
	mine := parseBody(t, raw)
	fx := parseBody(t, fixture(t, "streamgenerate_2023-03_bard_er400_framed.txt"))
	if got, want := len(mine.frames[0]), len(fx.frames[0]); got != want || dig(mine.entries[0], 0) != "er" || dig(mine.entries[0], 5) != float64(400) {
		t.Fatalf("er body %v, fixture %v", mine.entries, fx.entries)
	}
	// The IP block redirects to /sorry, which answers 429.
	resp, _ = e.generate(gen{prompt: "sim:cloudflare", cookie: cookie, at: at})
	loc := resp.Header.Get("Location")
	if !strings.Contains(loc, "/sorry/index?continue=") {
		t.Fatalf("Location %q", loc)
	}
	resp, _ = e.get(strings.TrimPrefix(loc, e.srv.URL), "")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("/sorry status %d", resp.StatusCode)
	}
}

func TestAnonymousSession(t *testing.T) {
	e := newEnv(t)
	for _, cookie := range []string{"", account("expired-jack"), "__Secure-1PSID=jack"} {
		_, raw := e.generate(gen{prompt: "hi 🌍", cookie: cookie, hex: hexPro})
		ss := snaps(t, parseBody(t, raw))
		last := ss[len(ss)-1]
		if last.model != hexLite {
			t.Fatalf("cookie %q: anonymous session served %q, want Flash-Lite", cookie, last.model)
		}
		mustContain(t, last.text, "hi 🌍")
		if ent := e.lastEntry("gemini"); ent.Facts["signed_in"] != false || ent.Facts["at_ok"] != true {
			t.Fatalf("facts %v", ent.Facts)
		}
	}
	// Attachments need a signed-in session: 1100.
	_, codes, _ := errorOf(t, e, gen{prompt: "hi", files: []any{[]any{[]any{"/contrib_service/ttl_1d/1x"}, "a.txt"}}})
	if len(codes) != 1 || codes[0] != 1100 {
		t.Fatalf("codes %v, want [1100]", codes)
	}
}

func TestContinuation(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("kate")
	_, raw := e.generate(gen{prompt: "first", cookie: cookie, at: at, hex: hexPro})
	ss := snaps(t, parseBody(t, raw))
	last := ss[len(ss)-1]
	cid, rid := dig(last.inner, 1, 0).(string), dig(last.inner, 1, 1).(string)
	rcid := dig(last.inner, 4, 0, 0).(string)
	token, _ := dig(last.inner, 25).(string)
	if token == "" {
		t.Fatal("final frame has no context token at [25]")
	}
	for _, s := range ss[:len(ss)-1] {
		if dig(s.inner, 25) != nil {
			t.Fatal("context token before the final frame")
		}
	}
	meta := []any{cid, rid, rcid, nil, nil, nil, nil, nil, nil, token}
	_, raw = e.generate(gen{prompt: "second", cookie: cookie, at: at, hex: hexPro, meta: meta})
	ss2 := snaps(t, parseBody(t, raw))
	l2 := ss2[len(ss2)-1]
	if dig(l2.inner, 1, 0) != cid || dig(l2.inner, 1, 1) == rid || dig(l2.inner, 4, 0, 0) == rcid {
		t.Fatalf("continuation ids %v / %v", dig(l2.inner, 1), dig(l2.inner, 4, 0, 0))
	}
	ent := e.lastEntry("gemini")
	if ent.Facts["cid"] != cid || ent.Facts["rid"] != rid || ent.Facts["rcid"] != rcid || ent.Facts["context_token"] != token {
		t.Fatalf("facts %v", ent.Facts)
	}
	// Switching model inside the chat: 1050.
	_, codes, _ := errorOf(t, e, gen{prompt: "third", cookie: cookie, at: at, hex: hexFlash, meta: meta})
	if len(codes) != 1 || codes[0] != 1050 {
		t.Fatalf("codes %v, want [1050]", codes)
	}
}

func TestToolCalls(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("liam")
	_, raw := e.generate(gen{prompt: `User: weather? sim:tool get_weather {"city": "Paris"} sim:tool get_time`, cookie: cookie, at: at})
	texts := textSnaps(snaps(t, parseBody(t, raw)))
	want := `<tool_call>{"name": "get_weather", "arguments": {"city":"Paris"}}</tool_call>` + "\n" +
		`<tool_call>{"name": "get_time", "arguments": {}}</tool_call>`
	if final := texts[len(texts)-1]; final != want {
		t.Fatalf("final %q, want %q", final, want)
	}
	if len(texts) < 3 || tolerantDiff(t, texts) != want {
		t.Fatalf("tool text does not grow across frames: %q", texts)
	}
}

func TestVideoIsText(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("mona")
	_, raw := e.generate(gen{prompt: "a cat video sim:video", cookie: cookie, at: at})
	ss := snaps(t, parseBody(t, raw))
	mustContain(t, ss[len(ss)-1].text, "video generation is not supported")
}

func TestPromptTruncation(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("nina")
	long := "User: " + strings.Repeat("x", 140000) + "\nUser: the tail"
	_, raw := e.generate(gen{prompt: long, cookie: cookie, at: at})
	ss := snaps(t, parseBody(t, raw))
	if strings.Contains(ss[len(ss)-1].text, "the tail") {
		t.Fatal("text beyond 130000 bytes was read")
	}
	if ent := e.lastEntry("gemini"); ent.Facts["prompt_truncated"] != true {
		t.Fatal("prompt_truncated not recorded")
	}
}

func TestDrop(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("olga")
	resp, err := e.client.Do(e.genRequest(context.Background(), gen{prompt: "bye sim:drop", cookie: cookie, at: at}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("a dropped stream was read to a clean end")
	}
	if ent := e.lastEntry("gemini"); ent.Outcome != simcore.OutcomeDropped {
		t.Fatalf("outcome %q", ent.Outcome)
	}
}

func TestCancellation(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("paul")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := e.client.Do(e.genRequest(ctx, gen{prompt: "sim:long 100 sim:slow 200", cookie: cookie, at: at}))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := io.ReadAtLeast(resp.Body, buf, 10); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	_, err = e.rec.Wait(wctx, func(es []simcore.Entry) bool {
		return len(es) > 0 && es[len(es)-1].Outcome == simcore.OutcomeCancelled
	})
	if err != nil {
		t.Fatalf("cancellation not recorded: %v (%+v)", err, e.rec.Entries())
	}
}

func TestFactsRecorded(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("quinn")
	hdr := modelHeader(hexPro, 1)
	e.generate(gen{prompt: "facts", cookie: cookie, at: at, header: hdr})
	ent := e.lastEntry("gemini")
	for k, want := range map[string]any{
		"model_header": hdr, "model": hexPro, "at_ok": true, "prompt": "facts", "files": 0,
		"served_model": hexPro, "cid": "", "rid": "", "rcid": "", "request_uuid_match": true,
	} {
		if got := ent.Facts[k]; got != want {
			t.Errorf("fact %s = %v (%T), want %v", k, got, got, want)
		}
	}
	if ent.Upstream != "gemini" || ent.Path != genPath || !strings.Contains(ent.Query, "rt=c") {
		t.Errorf("entry %s %s %s", ent.Upstream, ent.Path, ent.Query)
	}
}

// G1 (short inner array) and G2 (69 slots, HanaokaYuzu file shape) requests
// are accepted, also under the /u/N multi-account prefix.
func TestOlderRequestShapes(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("rhea")
	_, ref := e.uploadMultipart("a.txt", "text/plain", []byte("attached text"))
	g2 := make([]any, 69)
	g2[0] = []any{"G2 prompt ✓", 0, nil, []any{[]any{[]any{ref}, "a.txt"}}}
	g2[1] = []any{"en"}
	g2[2] = []any{"", "", ""}
	g2[68] = 2
	for _, tc := range []struct {
		name, path string
		inner      any
		want       string
	}{
		{"G1", genPath, []any{[]any{"G1 prompt ✓"}, nil, []any{"", "", ""}}, "G1 prompt ✓"},
		{"G2 /u/1", "/u/1" + genPath, g2, "G2 prompt ✓"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _ := json.Marshal(tc.inner)
			freq, _ := json.Marshal([]any{nil, string(in)})
			form := url.Values{"at": {at}, "f.req": {string(freq)}}
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+tc.path+"?rt=c&_reqid=1", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
			req.Header.Set("Cookie", cookie)
			resp, raw := e.do(req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			ss := snaps(t, parseBody(t, raw))
			mustContain(t, ss[len(ss)-1].text, tc.want)
		})
	}
	if ent := e.lastEntry("gemini"); ent.Facts["files"] != 1 || ent.Facts["authuser"] != "1" {
		t.Fatalf("facts %v", ent.Facts)
	}
}
