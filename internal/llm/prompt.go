package llm

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// WithSystem returns msgs with text added to the first system message (after
// a blank line when that message already has text), or with a new system
// message in front. msgs itself is not modified. The emulators (tool calls,
// structured outputs) use it to add their instructions to a request.
func WithSystem(msgs []Message, text string) []Message {
	out := slices.Clone(msgs)
	for i, m := range out {
		if m.Role != RoleSystem {
			continue
		}
		if strings.TrimSpace(m.Text()) != "" {
			text = "\n\n" + text
		}
		parts := append(slices.Clip(m.Parts), Part{Type: PartText, Text: text})
		out[i] = Message{Role: m.Role, Name: m.Name, Parts: parts}
		return out
	}
	return append([]Message{TextMessage(RoleSystem, text)}, out...)
}

// QuoteJSON returns s as a JSON string literal without HTML escaping, the
// way prompts show names and values to a model.
func QuoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimSuffix(buf.String(), "\n")
}

// Fragments splits text into pieces of at most size bytes, cutting only
// between runes (a rune longer than size is cut inside; size must be
// positive). The emulators use it to stream a gathered value in deltas.
func Fragments(text string, size int) []string {
	var out []string
	for len(text) > size {
		cut := size
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		if cut == 0 {
			cut = size
		}
		out = append(out, text[:cut])
		text = text[cut:]
	}
	if text != "" {
		out = append(out, text)
	}
	return out
}

// WithCorrection returns a copy of r whose conversation goes on with the
// model's answer and a user message asking for a correction; r and its
// messages are not modified.
func (r *Request) WithCorrection(answer, correction string) *Request {
	out := *r
	out.Messages = append(slices.Clip(r.Messages),
		TextMessage(RoleAssistant, answer),
		TextMessage(RoleUser, correction))
	return &out
}
