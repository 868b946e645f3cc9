package geminisim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// The reader must accept every real framed fixture (LEN in UTF-16 units,
// e entry = UTF-8 bytes), otherwise checking our own output with it proves
// nothing.
func TestReaderAcceptsFramedFixtures(t *testing.T) {
	for _, name := range []string{
		"streamgenerate_2023-03_bard_status7_framed.txt",
		"streamgenerate_2023-03_bard_er400_framed.txt",
		"streamgenerate_2023-06_bard_status8_framed.txt",
		"streamgenerate_2023-06_bard_status9_framed.txt",
		"streamgenerate_2023-07_bard_status13_framed.txt",
		"streamgenerate_2026_rejected_no_content_1096_framed.txt",
		"batchexecute_2026-03_CNgdBe_status7_framed.txt",
		"batchexecute_2026-01_jGArJ_my_stuff_media_framed.txt",
	} {
		t.Run(name, func(t *testing.T) {
			raw := fixture(t, name)
			var exp struct {
				FrameLengths []int `json:"frame_lengths"`
			}
			if err := json.Unmarshal(fixture(t, strings.TrimSuffix(name, ".txt")+".expected.json"), &exp); err != nil {
				t.Fatal(err)
			}
			b := parseBody(t, raw)
			if len(b.lens) != len(exp.FrameLengths) {
				t.Fatalf("frames %v, expected %v", b.lens, exp.FrameLengths)
			}
			for i := range b.lens {
				if b.lens[i] != exp.FrameLengths[i] {
					t.Fatalf("frames %v, expected %v", b.lens, exp.FrameLengths)
				}
			}
		})
	}
	for _, name := range []string{
		"streamgenerate_2024-10_status13_unframed.txt",
		"streamgenerate_2026-01_status4_unframed.txt",
		"streamgenerate_2026-01_tool_status_then_status2_unframed.txt",
	} {
		t.Run(name, func(t *testing.T) {
			b := parseBody(t, fixture(t, name))
			if b.framed || len(b.entries) < 3 {
				t.Fatalf("unframed fixture read as %+v", b)
			}
		})
	}
}

// A Chinese + emoji prompt: every LEN must count UTF-16 units (the reader
// fails otherwise), the e entry the UTF-8 bytes, and some frame must differ
// between the three ways of counting so the test is not vacuous.
func TestFramingCountsUTF16(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("alice")
	prompt := "User: 你好，世界 🌍🚀 naïve ß ok"
	resp, raw := e.generate(gen{prompt: prompt, cookie: cookie, at: at, hex: hexFlash})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	b := parseBody(t, raw)
	if !b.framed {
		t.Fatal("rt=c body is not framed")
	}
	// Independently recount each frame from the raw bytes.
	differs := false
	rest := strings.TrimPrefix(string(raw), ")]}'\n\n")
	for _, n := range b.lens {
		nl := strings.IndexByte(rest, '\n')
		rest = rest[nl:]
		end := strings.Index(rest[1:], "\n") + 2 // JSON never holds a raw newline
		chunk := rest[:end]
		rest = rest[end:]
		if utf8.RuneCountInString(chunk) != n || len(chunk) != n {
			differs = true
		}
	}
	if !differs {
		t.Fatal("no frame where UTF-16, rune and byte counts differ: the emoji did not reach the body")
	}
	ss := snaps(t, b)
	final := ss[len(ss)-1]
	mustContain(t, final.text, "你好，世界 🌍🚀 naïve ß ok")
	if final.status != 2 {
		t.Errorf("final candidate status %v, want 2", final.status)
	}
}

// The unframed form (no rt=c) is one JSON array holding every entry, like the
// single_array fixtures.
func TestUnframedSingleArray(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("bob")
	_, raw := e.generate(gen{prompt: "hello 🌍", cookie: cookie, at: at, unframed: true})
	b := parseBody(t, raw)
	if b.framed {
		t.Fatal("body without rt=c is framed")
	}
	fx := parseBody(t, fixture(t, "streamgenerate_2026-01_status4_unframed.txt"))
	// Same trailer shapes as the fixture: di then af.httprm last.
	assertTrailers(t, b.entries[len(b.entries)-2:])
	assertTrailers(t, fx.entries[len(fx.entries)-2:])
	ss := snaps(t, b)
	mustContain(t, ss[len(ss)-1].text, "hello 🌍")
}

func assertTrailers(t *testing.T, es []any) {
	t.Helper()
	di, _ := es[0].([]any)
	af, _ := es[1].([]any)
	if len(di) != 2 || di[0] != "di" {
		t.Fatalf("di entry %v", es[0])
	}
	if _, ok := di[1].(float64); !ok {
		t.Fatalf("di entry %v", di)
	}
	if len(af) != 4 || af[0] != "af.httprm" {
		t.Fatalf("af.httprm entry %v", es[1])
	}
	if _, ok := af[2].(string); !ok {
		t.Fatalf("af.httprm id is not a string: %v", af)
	}
}

// Error bodies have the fixture's shape: the rejected-1096 fixture and our
// 1037 answer are read by the same code, frame for frame.
func TestErrorBodyMatchesFixtureShape(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("limited-carol")
	_, raw := e.generate(gen{prompt: "hi", cookie: cookie, at: at})
	mine := parseBody(t, raw)
	fx := parseBody(t, fixture(t, "streamgenerate_2026_rejected_no_content_1096_framed.txt"))
	if len(mine.frames) != len(fx.frames) {
		t.Fatalf("frames: mine %d, fixture %d", len(mine.frames), len(fx.frames))
	}
	for i := range fx.frames {
		if len(mine.frames[i]) != len(fx.frames[i]) {
			t.Fatalf("frame %d: mine %v, fixture %v", i, mine.frames[i], fx.frames[i])
		}
	}
	if c := fx.errorCodes(); len(c) != 1 || c[0] != 1096 {
		t.Fatalf("fixture codes %v", c)
	}
	if c := mine.errorCodes(); len(c) != 1 || c[0] != 1037 {
		t.Fatalf("codes %v, want [1037]", c)
	}
	if len(mine.inners(t)) != 0 {
		t.Fatal("an error body carries content")
	}
	assertTrailers(t, mine.frames[1])
}

// Our content entries have the 2025-10 fixture's layout: a 3-element
// wrb.fr entry, ids at [1], rcid/text/thoughts/language in the candidate.
func TestContentEntryMatchesFixtureLayout(t *testing.T) {
	var fxEntry []any
	if err := json.Unmarshal(fixture(t, "streamgenerate_2025-10_content_entry_text_and_thoughts.txt"), &fxEntry); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	cookie, at := e.signedIn("dave")
	_, raw := e.generate(gen{prompt: "a = b sim:think", cookie: cookie, at: at})
	b := parseBody(t, raw)
	var mine []any
	for _, en := range b.entries {
		if a, _ := en.([]any); len(a) >= 3 && a[0] == "wrb.fr" && a[2] != nil {
			mine = a
		}
	}
	if len(mine) != len(fxEntry) || mine[1] != nil {
		t.Fatalf("entry shape %d %v, fixture %d", len(mine), mine[1], len(fxEntry))
	}
	// Both inner strings escape "=" as \u003d, as Google does.
	if !strings.Contains(fxEntry[2].(string), `\u003d`) || !strings.Contains(mine[2].(string), `\u003d`) {
		t.Error(`inner payload does not escape "=" as \u003d`)
	}
	for _, entry := range [][]any{fxEntry, mine} {
		var in []any
		if err := json.Unmarshal([]byte(entry[2].(string)), &in); err != nil {
			t.Fatal(err)
		}
		cid, _ := dig(in, 1, 0).(string)
		rid, _ := dig(in, 1, 1).(string)
		rcid, _ := dig(in, 4, 0, 0).(string)
		text, _ := dig(in, 4, 0, 1, 0).(string)
		thoughts, _ := dig(in, 4, 0, 37, 0, 0).(string)
		lang, _ := dig(in, 4, 0, 9).(string)
		if !strings.HasPrefix(cid, "c_") || !strings.HasPrefix(rid, "r_") || !strings.HasPrefix(rcid, "rc_") {
			t.Errorf("ids %q %q %q", cid, rid, rcid)
		}
		if text == "" || thoughts == "" || lang != "en" {
			t.Errorf("text %d bytes, thoughts %d bytes, lang %q", len(text), len(thoughts), lang)
		}
	}
}
