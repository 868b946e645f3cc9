package geminiweb_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/provider/geminiweb"
)

// diff feeds snapshots (the last one final) and returns the deltas.
func diff(snaps ...string) ([]string, *geminiweb.Differ) {
	var d geminiweb.Differ
	var out []string
	for i, s := range snaps {
		var delta string
		if i == len(snaps)-1 {
			delta = d.Final(s)
		} else {
			delta = d.Next(s)
		}
		out = append(out, delta)
	}
	return out, &d
}

func TestDifferArtefacts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		snaps []string
		want  string
	}{
		{"monotonic", []string{"He", "Hello", "Hello, world"}, "Hello, world"},
		{"trailing escape", []string{"snake", `snake\_`, "snake_case"}, "snake_case"},
		{"escaped star", []string{`a \*`, "a *b*"}, "a *b*"},
		{"lone backslash", []string{`path C:\`, `path C:\dir`}, `path C:\dir`},
		{"auto-closed fence", []string{"```go\nfmt.Pri\n```", "```go\nfmt.Println()\n```"}, "```go\nfmt.Println()\n```"},
		{"fence then text", []string{"x\n```", "x\ny"}, "x\ny"},
		{"placeholder", []string{"Here:\n\nhttp://googleuserc", "Here:\n\nhttp://googleusercontent.com/image_generation_content/0"}, "Here:\n\n"},
		{"placeholder mid text", []string{"a http://googleusercontent.com/card_content/1", "a http://googleusercontent.com/card_content/12 b"}, "a  b"},
		{"code execution block", []string{
			"Result:\n```python?code_reference&code_event_index=2\nprint(1",
			"Result:\n```python?code_reference&code_event_index=2\nprint(1)\n```\n1",
		}, "Result:\n1"},
		{"split surrogate", []string{"ok \uFFFD", "ok 🌍"}, "ok 🌍"},
		{"shrinking snapshot", []string{"abcdef", "abc", "abcdefgh"}, "abcdefgh"},
		{"empty", []string{"", ""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deltas, d := diff(tc.snaps...)
			if got := strings.Join(deltas, ""); got != tc.want {
				t.Fatalf("deltas %q join to %q, want %q", deltas, got, tc.want)
			}
			if d.Retractions() != 0 || d.Text() != tc.want {
				t.Errorf("retractions %d, text %q", d.Retractions(), d.Text())
			}
		})
	}
}

// A rewrite deeper than any known artefact cannot be taken back: it is
// counted, and the final text is sent from the first differing rune so no
// content is lost.
func TestDifferRetraction(t *testing.T) {
	deltas, d := diff("Hello wor", "Hello, world")
	if d.Retractions() != 1 {
		t.Fatalf("retractions %d", d.Retractions())
	}
	if deltas[0] != "Hello wor" || deltas[1] != ", world" {
		t.Fatalf("deltas %q", deltas)
	}
	// Rune safety when the difference starts inside a multi-byte rune.
	deltas, _ = diff("naïv", "naîve")
	for _, x := range deltas {
		if !utf8.ValidString(x) {
			t.Fatalf("delta %q splits a rune", x)
		}
	}
	if deltas[1] != "îve" {
		t.Errorf("deltas %q", deltas)
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"plain &amp; <b>": "plain &amp; <b>", // no HTML unescaping
		"a\xffb":          "a\uFFFDb",
		"x http://googleusercontent.com/video_gen_chip/0 y":      "x  y",
		"```python?code_stdout&code_event_index=3\n1\n```\nrest": "rest",
		"```python\nreal code\n```":                              "```python\nreal code\n```",
	} {
		if got := geminiweb.CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
}
