package genspark

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is the ask stream's JSON decoder: one pass over the payload that
// validates it exactly as encoding/json would (a payload json.Decoder rejects
// is rejected here too, and the other way round: see the differential test
// and fuzz target) and picks out the few top-level keys the parser needs,
// without building a map per event. Strings without escapes are sliced
// (one allocation for the copy, none for common type and field names);
// strings with escapes are unquoted as encoding/json does (invalid UTF-8 and
// lone surrogates become U+FFFD).

// maxNestingDepth is encoding/json's bound on nested arrays and objects in
// one value; a deeper value is a syntax error there, so it is here.
const maxNestingDepth = 10000

// span is a value's position in the payload; end == 0 means absent.
type span struct{ start, end int }

func (s span) ok() bool { return s.end > 0 }

// Indexes of the top-level keys decodeEvent picks out.
const (
	keyType = iota
	keyID
	keyMessageID
	keyFieldName
	keyFieldValue
	keyDelta
	keyRole
	keyContent
	keyAction
	keySessionState
	keyStatus
	keyMessage
	numKeys
)

// knownKey maps a top-level key to its index, or -1.
func knownKey[T string | []byte](k T) int {
	switch string(k) {
	case "type":
		return keyType
	case "id":
		return keyID
	case "message_id":
		return keyMessageID
	case "field_name":
		return keyFieldName
	case "field_value":
		return keyFieldValue
	case "delta":
		return keyDelta
	case "role":
		return keyRole
	case "content":
		return keyContent
	case "action":
		return keyAction
	case "session_state":
		return keySessionState
	case "status":
		return keyStatus
	case "message":
		return keyMessage
	}
	return -1
}

// decodeEvent decodes one payload (with or without its `data: ` prefix).
// With full set it also fills Keys and Fields (copies). Without, it leaves
// out what the stream parser does not need on every event: Keys, Fields,
// MessageID, and Content, which is decoded on demand (UpstreamEvent.content:
// message_result carries the whole answer, needed only when nothing was
// streamed); the raw values in the result (FieldValue, SessionState) then
// alias payload and are valid only until payload is reused.
func decodeEvent(payload []byte, full bool) (ev UpstreamEvent, ok bool) {
	p, _ := cutData(bytes.TrimSpace(payload))
	if len(p) == 0 || p[0] != '{' {
		return ev, false
	}
	var spans [numKeys]span
	if full {
		ev.Fields = map[string]json.RawMessage{}
	}
	i := skipWS(p, 1)
	if i < len(p) && p[i] == '}' {
		// Empty object; anything after the closing brace is ignored, as
		// json.Decoder stops reading there.
	} else {
		for {
			if i >= len(p) || p[i] != '"' {
				return UpstreamEvent{}, false
			}
			kEnd, kPlain, ok := scanString(p, i)
			if !ok {
				return UpstreamEvent{}, false
			}
			kRaw := p[i:kEnd]
			i = skipWS(p, kEnd)
			if i >= len(p) || p[i] != ':' {
				return UpstreamEvent{}, false
			}
			i = skipWS(p, i+1)
			vStart := i
			if i, ok = skipValue(p, i); !ok {
				return UpstreamEvent{}, false
			}
			var key string
			idx := -1
			if kPlain {
				idx = knownKey(kRaw[1 : len(kRaw)-1])
				if full {
					key = string(kRaw[1 : len(kRaw)-1])
				}
			} else {
				key, _ = unquote(kRaw)
				idx = knownKey(key)
			}
			if idx >= 0 {
				spans[idx] = span{vStart, i}
			}
			if full {
				if _, dup := ev.Fields[key]; !dup {
					ev.Keys = append(ev.Keys, key)
				}
				ev.Fields[key] = json.RawMessage(bytes.Clone(p[vStart:i]))
			}
			i = skipWS(p, i)
			if i >= len(p) {
				return UpstreamEvent{}, false
			}
			if p[i] == ',' {
				i = skipWS(p, i+1)
				continue
			}
			if p[i] == '}' {
				break
			}
			return UpstreamEvent{}, false
		}
	}
	raw := func(k int) []byte {
		if !spans[k].ok() {
			return nil
		}
		return p[spans[k].start:spans[k].end]
	}
	ev.Type = internString(raw(keyType))
	ev.ID, _ = jsonString(raw(keyID))
	if full {
		ev.MessageID, _ = jsonString(raw(keyMessageID))
		ev.Content, _ = jsonString(raw(keyContent))
	} else {
		ev.contentRaw = raw(keyContent)
	}
	ev.FieldName = internString(raw(keyFieldName))
	ev.Delta, _ = jsonString(raw(keyDelta))
	ev.hasDelta = spans[keyDelta].ok()
	ev.Role = internString(raw(keyRole))
	if a := raw(keyAction); a != nil {
		ev.ActionType, _ = jsonString(objectField(a, "type"))
	}
	ev.FieldValue = raw(keyFieldValue)
	ev.SessionState = raw(keySessionState)
	ev.status = raw(keyStatus)
	ev.message = raw(keyMessage)
	if full {
		// Public results must not alias the caller's buffer.
		ev.FieldValue = bytes.Clone(ev.FieldValue)
		ev.SessionState = bytes.Clone(ev.SessionState)
		ev.status = bytes.Clone(ev.status)
		ev.message = bytes.Clone(ev.message)
	}
	return ev, true
}

// objectField returns the raw value of key in the JSON object raw (the
// last one when the key repeats, keys compared after unquoting), or nil
// when raw is not an object or lacks the key. It reads only the object's
// top level: no map is built.
func objectField(raw []byte, key string) []byte {
	p := bytes.TrimSpace(raw)
	if len(p) == 0 || p[0] != '{' {
		return nil
	}
	var found []byte
	i := skipWS(p, 1)
	if i < len(p) && p[i] == '}' {
		return nil
	}
	for {
		if i >= len(p) || p[i] != '"' {
			return nil
		}
		kEnd, kPlain, ok := scanString(p, i)
		if !ok {
			return nil
		}
		k := p[i+1 : kEnd-1]
		match := kPlain && string(k) == key
		if !kPlain {
			s, _ := unquote(p[i:kEnd])
			match = s == key
		}
		i = skipWS(p, kEnd)
		if i >= len(p) || p[i] != ':' {
			return nil
		}
		i = skipWS(p, i+1)
		vStart := i
		if i, ok = skipValue(p, i); !ok {
			return nil
		}
		if match {
			found = p[vStart:i]
		}
		i = skipWS(p, i)
		if i >= len(p) {
			return nil
		}
		switch p[i] {
		case ',':
			i = skipWS(p, i+1)
		case '}':
			return found
		default:
			return nil
		}
	}
}

// internString is jsonString for values that repeat on every event (event
// types, field names, roles): the common ones are returned without
// allocating.
func internString(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		switch string(raw[1 : len(raw)-1]) {
		case "message_field_delta":
			return "message_field_delta"
		case "message_field":
			return "message_field"
		case "message_result":
			return "message_result"
		case "project_start":
			return "project_start"
		case "project_field":
			return "project_field"
		case "session_state.answer":
			return "session_state.answer"
		case "session_state.answerthink":
			return "session_state.answerthink"
		case "session_state.status":
			return "session_state.status"
		case "_updatetime":
			return "_updatetime"
		case "content":
			return "content"
		case "status":
			return "status"
		case "assistant":
			return "assistant"
		}
	}
	s, _ := jsonString(raw)
	return s
}

// jsonString decodes raw when it is a JSON string.
func jsonString(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	end, plain, ok := scanString(raw, 0)
	if !ok || end != len(raw) {
		return "", false
	}
	if plain {
		return string(raw[1 : len(raw)-1]), true
	}
	return unquote(raw)
}

// isSpace is encoding/json's whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(p []byte, i int) int {
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	return i
}

// scanString validates the JSON string starting at p[i] == '"' and returns
// the index after its closing quote. plain reports a string that needs no
// unquoting: no escapes and valid UTF-8.
func scanString(p []byte, i int) (end int, plain, ok bool) {
	i++
	plain = true
	ascii := true
	start := i
	for i < len(p) {
		for i < len(p) && !strSpecial[p[i]] {
			i++ // the usual bytes, in a tight loop
		}
		if i >= len(p) {
			break
		}
		c := p[i]
		switch {
		case c == '"':
			if !ascii && plain && !utf8.Valid(p[start:i]) {
				plain = false
			}
			return i + 1, plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(p) {
				return 0, false, false
			}
			switch p[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(p) || !isHex(p[i+2]) || !isHex(p[i+3]) || !isHex(p[i+4]) || !isHex(p[i+5]) {
					return 0, false, false
				}
				i += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			i++
		}
	}
	return 0, false, false
}

// strSpecial marks the bytes scanString looks at: the quote, the
// backslash, control characters and non-ASCII bytes.
var strSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber validates the JSON number starting at p[i].
func scanNumber(p []byte, i int) (int, bool) {
	if p[i] == '-' {
		i++
	}
	switch {
	case i >= len(p):
		return 0, false
	case p[i] == '0':
		i++
	case '1' <= p[i] && p[i] <= '9':
		for i < len(p) && isDigit(p[i]) {
			i++
		}
	default:
		return 0, false
	}
	if i < len(p) && p[i] == '.' {
		i++
		if i >= len(p) || !isDigit(p[i]) {
			return 0, false
		}
		for i < len(p) && isDigit(p[i]) {
			i++
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if i >= len(p) || !isDigit(p[i]) {
			return 0, false
		}
		for i < len(p) && isDigit(p[i]) {
			i++
		}
	}
	return i, true
}

// scanScalar validates a string, number or literal at p[i].
func scanScalar(p []byte, i int) (int, bool) {
	switch c := p[i]; {
	case c == '"':
		end, _, ok := scanString(p, i)
		return end, ok
	case c == '-' || isDigit(c):
		return scanNumber(p, i)
	case c == 't':
		return literal(p, i, "true")
	case c == 'f':
		return literal(p, i, "false")
	case c == 'n':
		return literal(p, i, "null")
	}
	return 0, false
}

func literal(p []byte, i int, lit string) (int, bool) {
	if len(p)-i >= len(lit) && string(p[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return 0, false
}

// objectKey validates `"key" :` at p[i] (after whitespace) and returns the
// index of the value (whitespace skipped).
func objectKey(p []byte, i int) (int, bool) {
	if i >= len(p) || p[i] != '"' {
		return 0, false
	}
	end, _, ok := scanString(p, i)
	if !ok {
		return 0, false
	}
	i = skipWS(p, end)
	if i >= len(p) || p[i] != ':' {
		return 0, false
	}
	return skipWS(p, i+1), true
}

// skipValue validates the JSON value starting at p[i] (no leading
// whitespace) and returns the index after it. Nesting is walked with an
// explicit stack, so deep input cannot exhaust the goroutine stack.
func skipValue(p []byte, i int) (int, bool) {
	var small [16]byte
	stack := small[:0] // '{' or '[' per open container
	var ok bool
	for {
		// A value starts at p[i].
		if i >= len(p) {
			return 0, false
		}
		switch c := p[i]; c {
		case '{', '[':
			if len(stack)+1 > maxNestingDepth {
				return 0, false
			}
			i = skipWS(p, i+1)
			if i < len(p) && p[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				i++
				break
			}
			stack = append(stack, c)
			if c == '{' {
				if i, ok = objectKey(p, i); !ok {
					return 0, false
				}
			}
			continue
		default:
			if i, ok = scanScalar(p, i); !ok {
				return 0, false
			}
		}
		// A value ended at i: close containers until one continues.
		for {
			if len(stack) == 0 {
				return i, true
			}
			i = skipWS(p, i)
			if i >= len(p) {
				return 0, false
			}
			top := stack[len(stack)-1]
			if p[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if p[i] != ',' {
				return 0, false
			}
			i = skipWS(p, i+1)
			if top == '{' {
				if i, ok = objectKey(p, i); !ok {
					return 0, false
				}
			}
			break
		}
	}
}

// unquote decodes a validated JSON string literal the way encoding/json
// does: escapes resolved, invalid UTF-8 bytes and unpaired surrogates
// replaced by U+FFFD.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	var b strings.Builder
	b.Grow(len(s))
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			r++
			if r >= len(s) {
				return "", false
			}
			switch s[r] {
			case '"', '\\', '/', '\'':
				b.WriteByte(s[r])
				r++
			case 'b':
				b.WriteByte('\b')
				r++
			case 'f':
				b.WriteByte('\f')
				r++
			case 'n':
				b.WriteByte('\n')
				r++
			case 'r':
				b.WriteByte('\r')
				r++
			case 't':
				b.WriteByte('\t')
				r++
			case 'u':
				rr := getu4(s[r-1:])
				if rr < 0 {
					return "", false
				}
				r += 5
				if utf16.IsSurrogate(rr) {
					rr1 := getu4(s[r:])
					if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
						r += 6
						b.WriteRune(dec)
						break
					}
					rr = utf8.RuneError
				}
				b.WriteRune(rr)
			default:
				return "", false
			}
		case c == '"', c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b.WriteRune(rr)
		}
	}
	return b.String(), true
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
