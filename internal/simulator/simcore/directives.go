// Package simcore holds what every upstream simulator shares: the `sim:`
// directive language of docs/simulators.md, the account states encoded in cookie
// values, and the log of received requests served at /_sim/requests.
//
// Answers in JSON (docs/simulators.md §2.1): `sim:json VALUE` makes the
// simulated model answer VALUE in a sentence and a ```json fence
// (JSONAnswer); without it, a request that gives the JSON Schema of the
// answer in a ```json-schema fenced block (AnswerSchema) is answered with a
// minimal valid instance of that schema (MinimalInstance), the same way.
//
// It imports nothing from spark's gateway side: simulators are written from the
// upstream specs, never from the adapters they fake.
package simcore

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// ToolCall is one tool invocation requested with `sim:tool NAME {json}`.
type ToolCall struct {
	Name      string          // tool name
	Arguments json.RawMessage // JSON object given after the name ({} when omitted)
}

// Directives are the `sim:` instructions found in the last user message.
type Directives struct {
	Think       bool          // sim:think — reasoning first
	Long        int           // sim:long N — N text deltas (0 = default)
	Slow        time.Duration // sim:slow MS — pause between deltas
	Image       bool          // sim:image — a generated image
	Video       bool          // sim:video — a generated video
	Tools       []ToolCall    // sim:tool NAME {json} — the model calls tools
	RateLimit   bool          // sim:ratelimit
	Quota       bool          // sim:quota
	Cloudflare  bool          // sim:cloudflare
	Unavailable bool          // sim:unavailable
	Drop        bool          // sim:drop — connection drops mid-stream
	Downgrade   bool          // sim:downgrade — a different model is served
	// JSON is the value of `sim:json VALUE`: the model answers with it in
	// a sentence and a ```json fence (see JSONAnswer). nil without it.
	JSON json.RawMessage
}

// MaxLong bounds sim:long so a typo cannot make a simulator stream forever.
const MaxLong = 100000

// MaxSlow bounds sim:slow per delta.
const MaxSlow = time.Minute

// ParseDirectives scans text for `sim:` directives. Unknown directives and
// malformed arguments are ignored: the simulator then behaves as if the word
// were ordinary text.
func ParseDirectives(text string) Directives {
	var d Directives
	rest := text
	for {
		i := strings.Index(rest, "sim:")
		if i < 0 {
			return d
		}
		rest = rest[i+len("sim:"):]
		name, after := cutWord(rest)
		switch name {
		case "think":
			d.Think = true
		case "image":
			d.Image = true
		case "video":
			d.Video = true
		case "ratelimit":
			d.RateLimit = true
		case "quota":
			d.Quota = true
		case "cloudflare":
			d.Cloudflare = true
		case "unavailable":
			d.Unavailable = true
		case "drop":
			d.Drop = true
		case "downgrade":
			d.Downgrade = true
		case "long":
			if n, ok := intArg(after); ok && n > 0 {
				d.Long = min(n, MaxLong)
			}
		case "slow":
			if n, ok := intArg(after); ok && n >= 0 {
				d.Slow = min(time.Duration(n)*time.Millisecond, MaxSlow)
			}
		case "tool":
			if tc, ok := toolArg(after); ok {
				d.Tools = append(d.Tools, tc)
			}
		case "json":
			if v, ok := jsonArg(after); ok {
				d.JSON = v
			}
		}
	}
}

// cutWord returns the leading run of letters of s and the remainder.
func cutWord(s string) (word, rest string) {
	n := 0
	for n < len(s) && (s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z') {
		n++
	}
	return strings.ToLower(s[:n]), s[n:]
}

// intArg parses the integer that follows a directive after spaces.
func intArg(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t")
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	v, err := strconv.Atoi(s[:n])
	return v, err == nil
}

// jsonArg parses the JSON value (object, array, string, ...) that follows
// a directive after spaces, compacted.
func jsonArg(s string) (json.RawMessage, bool) {
	s = strings.TrimLeft(s, " \t\n")
	dec := json.NewDecoder(strings.NewReader(s))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

// toolArg parses `NAME {json}` (the JSON object is optional).
func toolArg(s string) (ToolCall, bool) {
	s = strings.TrimLeft(s, " \t")
	n := 0
	for n < len(s) && s[n] != ' ' && s[n] != '\t' && s[n] != '\n' && s[n] != '{' {
		n++
	}
	if n == 0 {
		return ToolCall{}, false
	}
	tc := ToolCall{Name: s[:n], Arguments: json.RawMessage(`{}`)}
	s = strings.TrimLeft(s[n:], " \t")
	if strings.HasPrefix(s, "{") {
		dec := json.NewDecoder(strings.NewReader(s))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == nil {
			var obj map[string]any
			if json.Unmarshal(raw, &obj) == nil {
				compact, _ := json.Marshal(obj)
				tc.Arguments = compact
			}
		}
	}
	return tc, true
}

// AccountState is what a simulated upstream does with an account, decided by
// the cookie value that identifies it (docs/simulators.md: `limited…`, `expired…`).
type AccountState int

const (
	// AccountOK serves normally.
	AccountOK AccountState = iota
	// AccountLimited is always rate-limited.
	AccountLimited
	// AccountExpired is logged out.
	AccountExpired
)

// StateOf classifies an account by its identifying cookie value.
func StateOf(cookieValue string) AccountState {
	switch {
	case strings.HasPrefix(cookieValue, "limited"):
		return AccountLimited
	case strings.HasPrefix(cookieValue, "expired"):
		return AccountExpired
	default:
		return AccountOK
	}
}

// CookieValue returns the value of the named cookie in a Cookie header, or "".
func CookieValue(header, name string) string {
	for part := range strings.SplitSeq(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return v
		}
	}
	return ""
}
