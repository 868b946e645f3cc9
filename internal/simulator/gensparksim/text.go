package gensparksim

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// Default delta shape: a few words per delta, and never more than
// maxDeltaRunes runes (so text without spaces, e.g. Chinese, still streams
// in several pieces).
const (
	wordsPerDelta = 3
	maxDeltaRunes = 24
	minDeltas     = 3 // even a short echo streams in several pieces
	toolDeltaRune = 7 // tool-call text: short pieces that cut markers and JSON
)

// filler pads a `sim:long N` answer so every one of the N deltas has text.
var filler = strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua")

// chatAnswer builds the deterministic answer for a chat ask and splits it
// into answer deltas. The deltas concatenate to the answer exactly and split
// text only on rune boundaries.
//
//   - default: "You said: <last user text>", a few words per delta;
//   - sim:tool: one `<tool_call>{"name": "NAME", "arguments": {…}}</tool_call>`
//     per call (joined by "\n"), cut into short pieces at awkward places;
//   - sim:json VALUE: VALUE in a sentence and a ```json fence
//     (simcore.JSONAnswer); without it, when the request gives the JSON
//     Schema of the answer (schema, from a ```json-schema block), a minimal
//     instance of the schema the same way;
//   - sim:long N: exactly N deltas (the echo is padded with filler words when
//     it is too short to give every delta a few characters).
func chatAnswer(lastUser string, d simcore.Directives, schema json.RawMessage) (string, []string) {
	if len(d.Tools) > 0 {
		calls := make([]string, len(d.Tools))
		for i, tc := range d.Tools {
			calls[i] = `<tool_call>{"name": ` + jsonString(tc.Name) + `, "arguments": ` + string(tc.Arguments) + `}</tool_call>`
		}
		text := strings.Join(calls, "\n")
		if d.Long > 0 {
			return text, splitEven(text, d.Long)
		}
		return text, splitFixed(text, toolDeltaRune)
	}
	if v := d.JSON; v != nil || schema != nil {
		if v == nil {
			v = simcore.MinimalInstance(schema)
		}
		text := simcore.JSONAnswer(v)
		if d.Long > 0 {
			return text, splitEven(text, d.Long)
		}
		return text, splitFixed(text, maxDeltaRunes)
	}
	answer := "You said: " + lastUser
	if d.Long > 0 {
		if n, need := utf8.RuneCountInString(answer), 3*d.Long; n < need {
			var b strings.Builder
			b.WriteString(answer)
			for i := 0; n < need; i++ {
				w := filler[i%len(filler)]
				b.WriteByte(' ')
				b.WriteString(w)
				n += 1 + len(w) // filler words are ASCII
			}
			answer = b.String()
		}
		return answer, splitEven(answer, d.Long)
	}
	deltas := splitWords(answer, wordsPerDelta, maxDeltaRunes)
	if len(deltas) < minDeltas {
		deltas = splitEven(answer, minDeltas)
	}
	return answer, deltas
}

// thinkText is the deterministic reasoning streamed for sim:think, and its
// deltas.
func thinkText(lastUser string) (string, []string) {
	t := "Let me think about this. The user wrote " +
		strconv.Itoa(utf8.RuneCountInString(lastUser)) +
		" characters, so I will repeat them back verbatim."
	return t, splitWords(t, wordsPerDelta, maxDeltaRunes)
}

// splitWords cuts s after every `words` space-separated words, and further
// into pieces of at most maxRunes runes.
func splitWords(s string, words, maxRunes int) []string {
	var out []string
	tokens := strings.SplitAfter(s, " ")
	for i := 0; i < len(tokens); i += words {
		group := strings.Join(tokens[i:min(i+words, len(tokens))], "")
		out = append(out, splitFixed(group, maxRunes)...)
	}
	return out
}

// splitFixed cuts s into pieces of n runes (the last may be shorter).
func splitFixed(s string, n int) []string {
	var out []string
	for s != "" {
		i, count := 0, 0
		for i < len(s) && count < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			count++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// splitEven cuts s into exactly n non-empty pieces of nearly equal rune
// counts; when s has fewer than n runes it gives one piece per rune.
func splitEven(s string, n int) []string {
	starts := make([]int, 0, len(s))
	for i := range s {
		starts = append(starts, i)
	}
	runes := len(starts)
	if runes == 0 {
		return nil
	}
	n = min(n, runes)
	out := make([]string, n)
	for k := range n {
		a := starts[k*runes/n]
		b := len(s)
		if k+1 < n {
			b = starts[(k+1)*runes/n]
		}
		out[k] = s[a:b]
	}
	return out
}
