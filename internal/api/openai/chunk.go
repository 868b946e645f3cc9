package openai

import (
	"strconv"
	"unicode/utf8"
)

// The fast path of chat.completion.chunk encoding. A plain content or
// reasoning delta, the bulk of every stream, is built from the stream's
// chunkHead, the escaped text and chunkTail instead of going through
// encoding/json. The bytes are identical to what streamer.send writes
// for the same chunk (field order of the chunk types, no HTML escaping).

// chunkTail closes a fast-path chunk: the delta, then a choice without
// logprobs or finish reason and no usage.
const chunkTail = `},"logprobs":null,"finish_reason":null}]}`

// chunkHead returns the bytes every fast-path chunk of one stream starts
// with: id, object, created, model and choices[0] up to the opening of its
// delta object.
func chunkHead(id string, created int64, model string) []byte {
	b := make([]byte, 0, 96+len(id)+len(model))
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, model)
	return append(b, `,"choices":[{"index":0,"delta":{`...)
}

// appendContentChunk appends the chunk of one content delta to dst.
func appendContentChunk(dst, head []byte, text string) []byte {
	dst = append(dst, head...)
	dst = append(dst, `"content":`...)
	dst = appendString(dst, text)
	return append(dst, chunkTail...)
}

// appendReasoningChunk appends the chunk of one reasoning delta to dst:
// reasoning_content, and reasoning too when mirror is set. text must not
// be empty (the fields are omitted then).
func appendReasoningChunk(dst, head []byte, text string, mirror bool) []byte {
	dst = append(dst, head...)
	dst = append(dst, `"reasoning_content":`...)
	dst = appendString(dst, text)
	if mirror {
		dst = append(dst, `,"reasoning":`...)
		dst = appendString(dst, text)
	}
	return append(dst, chunkTail...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json writes
// it with SetEscapeHTML(false): quote and backslash escaped, \b \f \n \r \t
// as such, other control characters as \u00XX, invalid UTF-8 bytes as
// \ufffd, U+2028 and U+2029 as \u2028 and \u2029, everything else (<, >
// and & included) unchanged.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
