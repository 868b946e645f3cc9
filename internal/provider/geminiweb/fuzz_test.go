package geminiweb_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/provider/geminiweb"
)

// FuzzFrames checks the frame reader: it never panics or overruns its bound
// on arbitrary bodies, and it reads back exactly what a well-formed body
// (framed with UTF-16 LEN, or the single-array form) carries.
func FuzzFrames(f *testing.F) {
	f.Add([]byte(")]}'\n\n38\n[[\"wrb.fr\",null,null,null,null,[7]]]\n25\n[[\"e\",4,null,null,130]]\n"), "héllo 🌍|world")
	f.Add([]byte(")]}'\n\n[[\"wrb.fr\",null,null,null,null,[13]],[\"di\",405]]"), "你好，世界")
	f.Add([]byte("5\n[1]\n"), "a|b|c")
	f.Add([]byte(")]}'\n\n99999999999\n"), "")
	f.Add([]byte(")]}'\n\n4\n[\xf0\x9f\x8c\n"), "🌍🌍|🌍")
	f.Fuzz(func(t *testing.T, body []byte, text string) {
		// Arbitrary bodies: terminate without panic, within the bound.
		const bound = 1 << 12
		fr := geminiweb.NewFrameReader(bytes.NewReader(body), bound)
		for i := 0; ; i++ {
			fm, err := fr.Next()
			if err != nil {
				break
			}
			for _, e := range fm.Entries {
				if len(e) > bound || !json.Valid(e) {
					t.Fatalf("entry %q", e)
				}
			}
			if i > len(body)+1 {
				t.Fatal("reader does not progress")
			}
		}
		// Round trip of well-formed bodies built from text.
		text = strings.ToValidUTF8(text, "")
		pieces := strings.Split(text, "|")
		var framed, single strings.Builder
		framed.WriteString(")]}'\n\n")
		single.WriteString(")]}'\n\n[")
		for i, p := range pieces {
			js, _ := json.Marshal([][]any{{"wrb.fr", nil, p}})
			n := len(utf16.Encode([]rune(string(js)))) + 2
			framed.WriteString(strconv.Itoa(n) + "\n" + string(js) + "\n")
			if i > 0 {
				single.WriteString(",")
			}
			e, _ := json.Marshal([]any{"wrb.fr", nil, p})
			single.Write(e)
		}
		single.WriteString("]")
		for form, b := range map[string]string{"framed": framed.String(), "single": single.String()} {
			fr := geminiweb.NewFrameReader(strings.NewReader(b), 0)
			var got []string
			for {
				fm, err := fr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v on %q", form, err, b)
				}
				for _, raw := range fm.Entries {
					e, err := geminiweb.ParseEntry(raw)
					if err != nil || !e.HasPayload {
						t.Fatalf("%s: entry %s: %v", form, raw, err)
					}
					got = append(got, e.Payload)
				}
			}
			if strings.Join(got, "|") != text || len(got) != len(pieces) {
				t.Fatalf("%s: read %q, want %q", form, got, pieces)
			}
		}
	})
}

// artefacts are the tails Gemini puts on unfinished snapshots.
var artefacts = []string{"", `\_`, `\*`, "\\`", "\n```", `\`, "http://googleusercontent.com/image_gen", "http://goog", "\uFFFD", "\n`"}

// FuzzSnapshotDiff checks the snapshot differ. Snapshots are built from
// the final text: rune-aligned prefixes, each with one of Gemini's artefacts
// appended, or (odd plan bytes) arbitrary rewrites. Deltas never split a
// rune and nothing panics; when the snapshots end consistent (plain final
// text, artefacts only at the tail) the deltas join to exactly the final
// text; and whenever the differ reports no retraction the same holds.
func FuzzSnapshotDiff(f *testing.F) {
	f.Add("Hello, world", []byte{3, 1, 7, 4, 9, 2})
	f.Add("你好，世界 🌍🚀 naïve ß ok", []byte{2, 0, 5, 3, 1, 8, 6, 2})
	f.Add("snake_case and *stars*", []byte{4, 2, 4, 1})
	f.Add("```go\nx := 1\n```\ndone", []byte{1, 5, 2, 9, 255})
	f.Add("a\\_b http://googleusercontent.com/card_content/1 c", []byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, final string, plan []byte) {
		if len(plan) > 64 {
			plan = plan[:64]
		}
		final = strings.ToValidUTF8(final, "")
		runes := []rune(final)
		plain := !strings.ContainsAny(final, "\\`\uFFFD") && !strings.Contains(final, "googleusercontent")
		var d geminiweb.Differ
		var joined strings.Builder
		arbitrary := false
		cut := 0
		for i := 0; i+1 < len(plan); i += 2 {
			var snap string
			if plan[i]%5 == 4 && len(runes) > 0 {
				// A rewrite: some other text of similar length.
				arbitrary = true
				n := int(plan[i+1]) % (len(runes) + 1)
				snap = string(runes[len(runes)-n:]) + string(runes[:n])
			} else {
				if len(runes) > 0 {
					cut = min(len(runes), cut+int(plan[i])%7)
				}
				snap = string(runes[:cut]) + artefacts[int(plan[i+1])%len(artefacts)]
			}
			delta := d.Next(snap)
			if !utf8.ValidString(delta) {
				t.Fatalf("delta %q splits a rune", delta)
			}
			joined.WriteString(delta)
		}
		delta := d.Final(final)
		if !utf8.ValidString(delta) {
			t.Fatalf("final delta %q splits a rune", delta)
		}
		joined.WriteString(delta)
		if joined.String() != d.Text() {
			t.Fatalf("deltas join to %q, Text() is %q", joined.String(), d.Text())
		}
		want := geminiweb.CleanText(final)
		if plain && !arbitrary {
			if joined.String() != final || d.Retractions() != 0 {
				t.Fatalf("consistent snapshots of %q joined to %q (%d retractions)", final, joined.String(), d.Retractions())
			}
		}
		if d.Retractions() == 0 && joined.String() != want {
			t.Fatalf("no retraction reported but deltas join to %q, want %q", joined.String(), want)
		}
	})
}
