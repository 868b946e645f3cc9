package toolcall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The output protocol. A call is written as
//
//	<tool_call>{"name": "NAME", "arguments": {...}}</tool_call>
const (
	openTag   = "<tool_call>"
	closeTag  = "</tool_call>"
	resultTag = "<tool_res" // a model inventing tool results (<tool_result>, <tool_response>)
	fence     = "```"

	maxFenceLang  = 10 // "```javascript" is the longest fence opener recognised
	maxFenceSpace = 3  // whitespace between a fence opener and the marker
)

// MaxHold is the most ordinary text the parser holds back at the end of the
// text received so far: a possible beginning of "<tool_call>" (at most its
// length minus one). Text is held only while it is such a prefix; everything
// before it is emitted at once.
const MaxHold = len(openTag) - 1

// MaxCallBytes bounds one <tool_call> block. The model writes what the
// client's prompt asks for, so a block is client-controlled input: a larger
// one is a bad call (asked to be corrected) and the rest of the answer is
// ignored, instead of being buffered without end. 1 MiB holds any real
// call (a Write of a large file included).
const MaxCallBytes = 1 << 20

// MaxHoldFenced bounds the held text when it is a markdown fence opener
// directly followed by a possible marker beginning ("```json\n<tool_c"):
// the opener is held too, so that a fence around a call block can be removed
// instead of leaking an empty code block into the answer.
const MaxHoldFenced = len(fence) + maxFenceLang + maxFenceSpace + MaxHold

// pieceKind says what a scanner output piece holds.
type pieceKind uint8

const (
	pieceText pieceKind = iota + 1
	pieceCall
)

// piece is one output of the scanner: answer text or a call block.
type piece struct {
	kind pieceKind
	text string     // pieceText
	call parsedCall // pieceCall
}

// parsedCall is a call block as the model wrote it.
type parsedCall struct {
	name string          // tool name, when one could be read
	args json.RawMessage // compact JSON object (valid when err is nil)
	err  error           // why the block is no usable call (bad JSON, no name)
}

// scanner splits a model's streamed text into answer text and call blocks.
// It is fed text fragments in order and returns the pieces that are
// complete; finish flushes the rest at the end of the answer.
//
// Rules, in order of precedence:
//   - Ordinary text is emitted as soon as it arrives, except a tail that may
//     begin a marker (at most MaxHold bytes) or a fence opener followed by
//     such a beginning (at most MaxHoldFenced bytes).
//   - Whitespace-only text at the very start of the answer or right after a
//     call is held; it is dropped if a call follows (or, after a call, if the
//     answer ends) and emitted with the text otherwise.
//   - Inside a block, text is buffered until "</tool_call>". The block
//     content is scanned as JSON, so the tags inside a JSON string do not
//     end it. A new "<tool_call>" outside a string also ends an unclosed
//     block, and so does the end of the answer.
//   - A block whose content does not begin with "{" is not a call attempt
//     and is emitted as text, tags included. An unclosed block is a call only
//     if its content parses; otherwise it is emitted as text. A closed block
//     with broken JSON is a (bad) call, reported for repair.
//   - A markdown fence (three backticks, with or without a language tag
//     such as json) right before a block is removed together with the
//     closing fence after the block.
//   - After a call, "<tool_res" (<tool_result>, <tool_response>) marks the
//     model inventing the tool's answer: it and everything after it are
//     dropped.
type scanner struct {
	buf []byte // text mode: held text; block mode: block content so far

	inBlock   bool
	started   bool // answer text other than separator whitespace was emitted
	afterCall bool // the last piece was a call (its trailing whitespace is a separator)
	sawCall   bool
	fenceOpen bool // a fence opener was removed before a call; its closer is expected
	stopped   bool // the model started inventing tool results: ignore the rest

	// Block state.
	lead   string // text removed before the open tag (separator whitespace, fence opener)
	fenced bool   // lead ends with a fence opener
	bs     blockScan

	out []piece
}

// feed adds text and returns the pieces that became complete. The returned
// slice is valid until the next call.
func (s *scanner) feed(text string) []piece {
	s.out = s.out[:0]
	if s.stopped {
		return s.out
	}
	s.buf = append(s.buf, text...)
	s.scan()
	return s.out
}

// finish ends the answer and returns the remaining pieces.
func (s *scanner) finish() []piece {
	s.out = s.out[:0]
	for !s.stopped && s.inBlock {
		s.finishBlock()
		s.scan()
	}
	if s.stopped {
		return s.out
	}
	held := string(s.buf)
	s.buf = nil
	if s.afterCall {
		rest := strings.TrimLeft(held, spaces)
		if rest == "" || (s.fenceOpen && rest == fence) {
			return s.out // separator whitespace (and the closing fence) after a call
		}
	}
	s.emit(held)
	return s.out
}

// scan processes s.buf as far as possible.
func (s *scanner) scan() {
	for !s.stopped {
		if s.inBlock {
			if !s.scanBlock() {
				return
			}
			continue
		}
		if !s.scanText() {
			return
		}
	}
}

// scanText handles text mode. It reports whether it entered a block (or
// changed state so that scanning must go on).
func (s *scanner) scanText() bool {
	// s.buf is the held tail plus the new delta (and separator whitespace).
	b := string(s.buf)
	sep := !s.started || s.afterCall // leading whitespace is a separator
	lead := 0
	if sep {
		lead = len(b) - len(strings.TrimLeft(b, spaces))
	}
	if s.afterCall && s.fenceOpen {
		rest := b[lead:]
		switch {
		case len(rest) <= len(fence) && strings.HasPrefix(fence, rest):
			return false // need more text to tell a closing fence
		case strings.HasPrefix(rest, fence) && !isLangChar(rest[len(fence)]):
			s.buf = []byte(rest[len(fence):])
			s.fenceOpen = false
			return true
		}
	}
	idx := strings.Index(b, openTag)
	if s.sawCall {
		if r := strings.Index(b, resultTag); r >= 0 && (idx < 0 || r < idx) {
			if pre := b[:r]; !(sep && isSpace(pre)) {
				s.emit(pre)
			}
			s.buf, s.stopped = nil, true
			return false
		}
	}
	if idx < 0 {
		cut := len(b) - s.holdLen(b)
		if sep && isSpace(b[:cut]) {
			return false // keep separator whitespace and the held tail
		}
		s.emit(b[:cut])
		s.buf = []byte(b[cut:])
		return false
	}
	before := b[:idx]
	n := fenceOpenerSuffix(before)
	pre, lead2 := before[:len(before)-n], before[len(before)-n:]
	if sep && isSpace(pre) {
		pre, lead2 = "", before
	}
	s.emit(pre)
	s.inBlock, s.lead, s.fenced = true, lead2, n > 0
	s.buf = []byte(b[idx+len(openTag):])
	s.bs = blockScan{}
	return true
}

// emit outputs answer text.
func (s *scanner) emit(t string) {
	if t == "" {
		return
	}
	if n := len(s.out); n > 0 && s.out[n-1].kind == pieceText {
		s.out[n-1].text += t
	} else {
		s.out = append(s.out, piece{kind: pieceText, text: t})
	}
	s.started, s.afterCall, s.fenceOpen = true, false, false
}

// holdLen returns the length of the longest tail of b that may begin a
// marker: a prefix of "<tool_call>", after a call of "<tool_res", or a
// fence opener followed by a prefix of "<tool_call>".
func (s *scanner) holdLen(b string) int {
	best := 0
	for k := min(len(b), MaxHold); k > 0; k-- {
		if strings.HasPrefix(openTag, b[len(b)-k:]) {
			best = k
			break
		}
	}
	if s.sawCall {
		for k := min(len(b), len(resultTag)-1); k > best; k-- {
			if strings.HasPrefix(resultTag, b[len(b)-k:]) {
				best = k
				break
			}
		}
	}
	for p := max(0, len(b)-MaxHoldFenced); p < len(b)-best; p++ {
		if b[p] == '`' && isFenceMarkerPrefix(b[p:]) {
			return len(b) - p
		}
	}
	return best
}

// isFenceMarkerPrefix reports whether t is a prefix of a fence opener
// followed by the marker: "```" lang{0,10} space{0,3} "<tool_call>".
func isFenceMarkerPrefix(t string) bool {
	if len(t) <= len(fence) {
		return strings.HasPrefix(fence, t)
	}
	if !strings.HasPrefix(t, fence) {
		return false
	}
	i := len(fence)
	for i < len(t) && isLangChar(t[i]) {
		i++
		if i-len(fence) > maxFenceLang {
			return false
		}
	}
	for j := 0; i < len(t) && isSpaceByte(t[i]); j++ {
		if j == maxFenceSpace {
			return false
		}
		i++
	}
	return strings.HasPrefix(openTag, t[i:])
}

// fenceOpenerSuffix returns the length of the fence opener that b ends with
// ("```" lang{0,10} space{0,3}), or 0.
func fenceOpenerSuffix(b string) int {
	i := len(b)
	for j := 0; j < maxFenceSpace && i > 0 && isSpaceByte(b[i-1]); j++ {
		i--
	}
	for j := 0; j < maxFenceLang && i > 0 && isLangChar(b[i-1]); j++ {
		i--
	}
	if i >= len(fence) && b[i-len(fence):i] == fence {
		return len(b) - (i - len(fence))
	}
	return 0
}

// blockScan is the incremental state of a scan over a block's content.
type blockScan struct {
	pos   int
	phase blockPhase
	stack []byte // open brackets of the JSON value
	inStr bool
	esc   bool
}

type blockPhase uint8

const (
	phasePre   blockPhase = iota // before the JSON value
	phaseFence                   // inside a fence opener before the JSON value
	phaseJSON                    // inside the JSON value
	phaseAfter                   // after the JSON value, or content that is not JSON
)

// scanBlock scans block content for its end. It reports whether the block
// ended (and was turned into pieces).
func (s *scanner) scanBlock() bool {
	if len(s.buf) > MaxCallBytes {
		s.tooLarge()
		return false
	}
	b, st := s.buf, &s.bs
	for ; st.pos < len(b); st.pos++ {
		c := b[st.pos]
		if st.inStr {
			switch {
			case st.esc:
				st.esc = false
			case c == '\\':
				st.esc = true
			case c == '"':
				st.inStr = false
			}
			continue
		}
		if c == '<' {
			rest := b[st.pos:]
			switch {
			case bytes.HasPrefix(rest, []byte(closeTag)):
				s.endBlock(string(b[:st.pos]), true, b[st.pos+len(closeTag):])
				return true
			case bytes.HasPrefix(rest, []byte(openTag)):
				s.endBlock(string(b[:st.pos]), false, rest)
				return true
			case len(rest) < len(closeTag) && (strings.HasPrefix(closeTag, string(rest)) || strings.HasPrefix(openTag, string(rest))):
				return false // a tag may be arriving
			}
		}
		switch st.phase {
		case phasePre:
			switch {
			case c == '{':
				st.phase, st.stack = phaseJSON, append(st.stack, '}')
			case c == '`':
				st.phase = phaseFence
			case !isSpaceByte(c):
				st.phase = phaseAfter
			}
		case phaseFence:
			switch {
			case c == '{':
				st.phase, st.stack = phaseJSON, append(st.stack, '}')
			case c != '`' && !isLangChar(c) && !isSpaceByte(c):
				st.phase = phaseAfter
			}
		case phaseJSON:
			switch c {
			case '"':
				st.inStr = true
			case '{':
				st.stack = append(st.stack, '}')
			case '[':
				st.stack = append(st.stack, ']')
			case '}', ']':
				if n := len(st.stack); n > 0 {
					st.stack = st.stack[:n-1]
					if n == 1 {
						st.phase = phaseAfter
					}
				}
			}
		}
	}
	return false
}

// tooLarge ends a block that outgrew MaxCallBytes as a bad call and
// ignores the rest of the answer.
func (s *scanner) tooLarge() {
	s.out = append(s.out, piece{kind: pieceCall, call: parsedCall{
		err: fmt.Errorf("the <tool_call> block is larger than %d bytes", MaxCallBytes)}})
	s.inBlock, s.lead, s.fenced, s.bs, s.buf = false, "", false, blockScan{}, nil
	s.sawCall, s.afterCall, s.stopped = true, true, true
}

// finishBlock ends a block at the end of the answer. A closing tag the JSON
// scan skipped (inside a string that never ended) still closes it.
func (s *scanner) finishBlock() {
	if i := bytes.Index(s.buf, []byte(closeTag)); i >= 0 {
		s.endBlock(string(s.buf[:i]), true, s.buf[i+len(closeTag):])
		return
	}
	s.endBlock(string(s.buf), false, nil)
}

// endBlock classifies a finished block and continues in text mode with rest.
func (s *scanner) endBlock(content string, closed bool, rest []byte) {
	lead, fenced, stack, inStr := s.lead, s.fenced, s.bs.stack, s.bs.inStr
	s.inBlock, s.lead, s.fenced, s.bs = false, "", false, blockScan{}
	s.buf = rest

	var unclosed []byte
	if closed && !inStr {
		unclosed = stack
	}
	call, isJSON := parseBlock(content, unclosed)
	if !isJSON || (!closed && call.err != nil) {
		// Not a call: give back the text exactly as written.
		t := lead + openTag + content
		if closed {
			t += closeTag
		}
		s.emit(t)
		return
	}
	s.out = append(s.out, piece{kind: pieceCall, call: call})
	s.sawCall, s.afterCall, s.fenceOpen = true, true, s.fenceOpen || fenced
}

// parseBlock reads a block's content. isJSON is false when the content does
// not even start like a JSON object (prose that mentions the tags). When
// unclosed lists the brackets a closed block left open, closing them is tried
// before giving up.
func parseBlock(content string, unclosed []byte) (call parsedCall, isJSON bool) {
	t := strings.Trim(content, spaces)
	if strings.HasPrefix(t, fence) {
		t = strings.TrimLeft(t[len(fence):], "`")
		t = strings.TrimLeftFunc(t, func(r rune) bool { return r < 128 && isLangChar(byte(r)) })
		t = strings.Trim(t, spaces)
		t = strings.Trim(strings.TrimSuffix(t, fence), spaces)
	}
	if !strings.HasPrefix(t, "{") {
		return parsedCall{}, false
	}
	obj, err := decodeObject(t)
	if err != nil && len(unclosed) > 0 {
		fixed := []byte(t)
		for i := len(unclosed) - 1; i >= 0; i-- {
			fixed = append(fixed, unclosed[i])
		}
		if o, err2 := decodeObject(string(fixed)); err2 == nil {
			obj, err = o, nil
		}
	}
	if err != nil {
		return parsedCall{err: fmt.Errorf("the block is not valid JSON: %v", err)}, true
	}
	name, args, err := callFields(obj, 0)
	return parsedCall{name: name, args: args, err: err}, true
}

// decodeObject decodes the first JSON object of t; trailing text (a stray
// brace, a closing fence) is ignored.
func decodeObject(t string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(t))
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("expected a JSON object")
	}
	return obj, nil
}

// callFields extracts the tool name and the arguments object. Besides the
// protocol's {"name", "arguments"} it accepts "parameters", "args" or
// "input" for the arguments, arguments given as a JSON string holding an
// object, and the OpenAI shape {"type": "function", "function": {...}}.
func callFields(obj map[string]json.RawMessage, depth int) (string, json.RawMessage, error) {
	if f, ok := obj["function"]; ok && depth == 0 {
		if inner, err := decodeObject(string(f)); err == nil {
			return callFields(inner, depth+1)
		}
	}
	var name string
	for _, k := range [...]string{"name", "tool", "tool_name", "function"} {
		if raw, ok := obj[k]; ok {
			if json.Unmarshal(raw, &name) == nil && name != "" {
				break
			}
		}
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", nil, errors.New(`the block has no "name"`)
	}
	var raw json.RawMessage
	for _, k := range [...]string{"arguments", "parameters", "args", "input"} {
		if r, ok := obj[k]; ok {
			raw = r
			break
		}
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return name, nil, fmt.Errorf(`"arguments" is not valid JSON: %v`, err)
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			raw = nil
		} else if !json.Valid(raw) {
			return name, nil, errors.New(`"arguments" is a string that does not hold a JSON object`)
		}
	}
	if len(raw) == 0 || string(raw) == "null" {
		return name, json.RawMessage("{}"), nil
	}
	if raw[0] != '{' {
		return name, nil, errors.New(`"arguments" is not a JSON object`)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return name, nil, fmt.Errorf(`"arguments" is not valid JSON: %v`, err)
	}
	return name, json.RawMessage(buf.Bytes()), nil
}

const spaces = " \t\r\n"

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isSpace(s string) bool { return strings.Trim(s, spaces) == "" }

// isLangChar reports whether c may appear in a fence's language tag.
func isLangChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '+' || c == '.'
}
