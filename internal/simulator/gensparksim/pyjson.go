package gensparksim

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Genspark's backend is a Python service: its JSON is what `json.dumps`
// writes with the default separators (`", "` between items, `": "` between a
// key and its value), and its keys come in the order the server built them.
// Both matter to clients (docs/genspark-upstream.md §2.2: the reference proxy only looks at
// payloads starting with the literal `{"id":` or `{"message_id":`), so the
// simulator writes JSON by hand in a fixed key order instead of using
// encoding/json (which sorts map keys and writes compact separators).

// raw is an already encoded JSON value, written verbatim.
type raw string

// kv is one key of an ordered JSON object.
type kv struct {
	k string
	v any
}

// obj encodes an ordered object with Python separators.
func obj(pairs ...kv) raw {
	var b strings.Builder
	writeObj(&b, pairs)
	return raw(b.String())
}

func writeObj(b *strings.Builder, pairs []kv) {
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteString(", ")
		}
		writeString(b, p.k)
		b.WriteString(": ")
		writeValue(b, p.v)
	}
	b.WriteByte('}')
}

// writeValue encodes the few Go types the simulator emits.
func writeValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case raw:
		b.WriteString(string(v))
	case string:
		writeString(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case []kv:
		writeObj(b, v)
	case []string:
		b.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeString(b, s)
		}
		b.WriteByte(']')
	case []raw:
		b.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(string(s))
		}
		b.WriteByte(']')
	default:
		panic("gensparksim: unsupported JSON value type")
	}
}

// writeString writes s as a JSON string literal. Non-ASCII text stays raw
// UTF-8 (Python's ensure_ascii=False); quotes, backslashes and control
// characters are escaped; invalid UTF-8 becomes U+FFFD so the output is
// always valid JSON.
func writeString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				b.WriteString(`\"`)
			case c == '\\':
				b.WriteString(`\\`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\b':
				b.WriteString(`\b`)
			case c == '\f':
				b.WriteString(`\f`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\ufffd`)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// jsonString returns s encoded as a JSON string literal.
func jsonString(s string) string {
	var b strings.Builder
	writeString(&b, s)
	return b.String()
}
