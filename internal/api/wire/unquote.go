package wire

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// UnquoteString returns the string a JSON string literal raw (quotes
// included) denotes, and true, when raw is a well-formed JSON string of
// valid UTF-8; otherwise "" and false, and the caller falls back to
// encoding/json for its error. It gives exactly what json.Unmarshal into a
// string gives (an unpaired surrogate escape becomes U+FFFD), in one pass
// and without re-validating a document the request decoder has already
// checked: a long message costs one copy instead of a validation scan and
// an unquoting pass.
func UnquoteString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	// Most text needs no unescaping: one scan, one copy.
	if bytes.IndexByte(s, '\\') < 0 {
		if !literalRun(s) {
			return "", false
		}
		return string(s), true
	}
	b := make([]byte, 0, len(s))
	for len(s) > 0 {
		run := s
		j := bytes.IndexByte(s, '\\')
		if j >= 0 {
			run = s[:j]
		}
		if !literalRun(run) {
			return "", false
		}
		b = append(b, run...)
		if j < 0 {
			break
		}
		s = s[j:]
		if len(s) < 2 {
			return "", false
		}
		switch e := s[1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s[2:])
			if !ok {
				return "", false
			}
			s = s[6:]
			if utf16.IsSurrogate(r) {
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if r2, ok := hex4(s[2:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							s = s[6:]
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", false
		}
		s = s[2:]
	}
	return string(b), true
}

// literalRun reports whether s may stand unescaped inside a JSON string:
// valid UTF-8 without quotes or control characters.
func literalRun(s []byte) bool {
	for _, c := range s {
		if c < ' ' || c == '"' {
			return false
		}
	}
	return utf8.Valid(s)
}

// hex4 decodes the 4 hex digits at the start of s.
func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
