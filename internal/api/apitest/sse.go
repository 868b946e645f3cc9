package apitest

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
)

// Frame is one server-sent event: its event name ("" when the frame has no
// event line) and its data.
type Frame struct {
	Event string
	Data  string
}

// ParseFrames splits a streamed body into frames and fails the test on the
// framing a real client trips over (docs/client-api-surface.md §0.4): a body
// that does not end with a blank line, a stray blank line, a line that is
// neither `event: ` nor `data: ` (comments and id:/retry: lines included), an
// event line after the data, a second event or data line in a frame, a frame
// without data, an unterminated frame.
func ParseFrames(t testing.TB, body string) []Frame {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Errorf("body does not end with a blank line: %q", tail(body))
	}
	var (
		out      []Frame
		cur      Frame
		lines    int
		hasEvent bool
		hasData  bool
	)
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if lines == 0 {
				t.Errorf("stray blank line after %d frames", len(out))
				continue
			}
			if !hasData {
				t.Errorf("frame %q without data", cur.Event)
			}
			out = append(out, cur)
			cur, lines, hasEvent, hasData = Frame{}, 0, false, false
		case strings.HasPrefix(line, "event: "):
			if hasEvent || hasData {
				t.Errorf("event line inside a frame: %q", line)
			}
			cur.Event, hasEvent = strings.TrimPrefix(line, "event: "), true
			lines++
		case strings.HasPrefix(line, "data: "):
			if hasData {
				t.Errorf("frame with two data lines: %q", line)
			}
			cur.Data, hasData = strings.TrimPrefix(line, "data: "), true
			lines++
		default:
			t.Errorf("unexpected SSE line %q (line %d of its frame)", line, lines+1)
		}
	}
	if err := sc.Err(); err != nil {
		t.Errorf("reading the body: %v", err)
	}
	if lines > 0 {
		t.Errorf("unterminated frame %q", cur.Event)
	}
	return out
}

// DataFrames parses an OpenAI Chat Completions stream: every frame is one
// `data: ` line and nothing else. It returns the data payloads.
func DataFrames(t testing.TB, body string) []string {
	t.Helper()
	var out []string
	for _, f := range ParseFrames(t, body) {
		if f.Event != "" {
			t.Errorf("frame with an event line %q (a chat stream has data lines only)", f.Event)
		}
		out = append(out, f.Data)
	}
	return out
}

// EventFrames parses a stream whose every frame is an `event: ` line and a
// `data: ` line carrying a JSON object whose "type" equals the event name
// (Anthropic Messages and OpenAI Responses streams).
func EventFrames(t testing.TB, body string) []Frame {
	t.Helper()
	frames := ParseFrames(t, body)
	for i, f := range frames {
		if f.Event == "" {
			t.Errorf("frame %d has no event line: %q", i, f.Data)
			continue
		}
		var v struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(f.Data), &v); err != nil {
			t.Errorf("frame %d (%s): data is not a JSON object: %v: %s", i, f.Event, err, f.Data)
			continue
		}
		if v.Type != f.Event {
			t.Errorf("frame %d: event %q carries data type %q", i, f.Event, v.Type)
		}
	}
	return frames
}

// tail is the end of s, for messages.
func tail(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}

// ReadUntil reads lines of a streamed body until one contains want and
// returns them (each with its newline); it fails t when the stream ends
// first.
func ReadUntil(t testing.TB, sc *bufio.Scanner, want string) string {
	t.Helper()
	var b strings.Builder
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), want) {
			return b.String()
		}
	}
	t.Fatalf("stream ended without %q:\n%s", want, b.String())
	return ""
}
