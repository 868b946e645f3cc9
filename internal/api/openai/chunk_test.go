package openai

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// stringCases are strings whose JSON encoding has every kind of escape.
var stringCases = []string{
	"",
	"hello ",
	"日本語のテキスト 🙂",
	`say "hi" \ back\slash`,
	"line\nbreak\r\ttab\b\f",
	"\x00\x01\x1f\x7f",
	"<b>a & b</b> -> x",
	"sep\u2028para\u2029end",
	"bad \xff utf8 \xe2\x80 cut \xc3",
	"\xed\xa0\x80 surrogate",
	strings.Repeat("long text without escapes ", 40),
}

// jsonString is s as encoding/json writes it with SetEscapeHTML(false),
// the encoder settings of streamer.
func jsonString(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// encodeChunk is c as streamer.send encodes it.
func encodeChunk(t testing.TB, enc *json.Encoder, buf *bytes.Buffer, c *chunk) []byte {
	t.Helper()
	buf.Reset()
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), jsonString(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, encoding/json: %s", s, got, want)
		}
	})
}

func TestFastChunkMatchesEncoder(t *testing.T) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	ids := []struct {
		id      string
		created int64
		model   string
	}{
		{"chatcmpl-ABC123", 1700000000, "gpt-4o"},
		{"chatcmpl-x", 0, `m<o>d&e"l\` + "\u2028\xff"},
		{"chatcmpl-y", -5, "日本"},
	}
	for _, c := range ids {
		head := chunkHead(c.id, c.created, c.model)
		for _, text := range stringCases[1:] { // deltas are never empty
			ck := chunk{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model,
				Choices: []chunkChoice{{Delta: chunkDelta{Content: &text}}}}
			if got, want := appendContentChunk(nil, head, text), encodeChunk(t, enc, &buf, &ck); !bytes.Equal(got, want) {
				t.Errorf("content chunk of %q:\n fast %s\n json %s", text, got, want)
			}
			for _, mirror := range []bool{false, true} {
				ck.Choices[0].Delta = chunkDelta{ReasoningContent: text}
				if mirror {
					ck.Choices[0].Delta.Reasoning = text
				}
				if got, want := appendReasoningChunk(nil, head, text, mirror), encodeChunk(t, enc, &buf, &ck); !bytes.Equal(got, want) {
					t.Errorf("reasoning chunk of %q (mirror %v):\n fast %s\n json %s", text, mirror, got, want)
				}
			}
		}
	}
}

// BenchmarkChunkEncoding compares one content chunk built by the fast path
// with the same chunk through encoding/json, as streamer.send does it.
func BenchmarkChunkEncoding(b *testing.B) {
	const id, created, model = "chatcmpl-ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1700000000, "claude-sonnet-4-5"
	text := "Hello, this is a typical \"delta\" of streamed text.\n"
	b.Run("fast", func(b *testing.B) {
		head := chunkHead(id, created, model)
		var line []byte
		b.ReportAllocs()
		for b.Loop() {
			line = appendContentChunk(line[:0], head, text)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		var ch [1]chunkChoice
		c := chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model}
		s := text
		b.ReportAllocs()
		for b.Loop() {
			ch[0] = chunkChoice{}
			ch[0].Delta.Content = &s
			c.Choices = ch[:]
			encodeChunk(b, enc, &buf, &c)
		}
	})
}
