package apitest

import (
	"encoding/json"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
)

// RequestBytes is the size of everything a client's body put into req, the
// work a backend is given: the model name, every message's name and parts
// (text, tool calls and results, media bytes, URLs and names), the tool
// definitions, the stop strings and the output schema. The request
// decoders' fuzz targets bound it by the size of the body (see WorkBound).
func RequestBytes(req *llm.Request) int {
	n := len(req.Model) + len(req.ReasoningEffort)
	for _, m := range req.Messages {
		n += len(m.Name)
		for _, p := range m.Parts {
			n += len(p.Text)
			if c := p.ToolCall; c != nil {
				n += len(c.ID) + len(c.Name) + len(c.Arguments)
			}
			if r := p.ToolResult; r != nil {
				n += len(r.CallID) + len(r.Name) + len(r.Content)
			}
			if md := p.Media; md != nil {
				n += len(md.MIMEType) + len(md.Name) + len(md.Data) + len(md.URL)
			}
		}
	}
	for _, t := range req.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	n += len(req.ToolChoice.Name)
	for _, s := range req.Stop {
		n += len(s)
	}
	if o := req.Output; o != nil {
		n += len(o.Name) + len(o.Description) + len(o.Schema)
	}
	if g := req.Generation; g != nil {
		n += len(g.AspectRatio) + len(g.Size) + len(g.Quality) + len(g.Style)
	}
	return n
}

// WorkBound is the most RequestBytes a body of bodyLen bytes may produce:
// decoding only shrinks what it reads (base64, escapes), so four times the
// body leaves room for what a front-end adds (ids it mints, a prompt
// template, a fixed instruction), and 4 KiB for the fixed part of that.
func WorkBound(bodyLen int) int { return 4*bodyLen + 4<<10 }

// CheckWork fails t unless req is proportional to a body of bodyLen bytes:
// RequestBytes(req) ≤ WorkBound(bodyLen), and no more messages, parts or
// tools than the body has bytes (each takes at least one).
func CheckWork(t testing.TB, req *llm.Request, bodyLen int) {
	t.Helper()
	CheckWorkAbove(t, req, bodyLen, 0)
}

// CheckWorkAbove is CheckWork for a front-end that adds a fixed part of
// its own to every request (a prompt, an output schema): fixed bytes on top
// of WorkBound(bodyLen) are allowed.
func CheckWorkAbove(t testing.TB, req *llm.Request, bodyLen, fixed int) {
	t.Helper()
	if n, bound := RequestBytes(req), WorkBound(bodyLen)+fixed; n > bound {
		t.Fatalf("a body of %d bytes gave the backend a request of %d bytes (bound %d)", bodyLen, n, bound)
	}
	parts := 0
	for _, m := range req.Messages {
		parts += len(m.Parts)
	}
	if len(req.Messages) > bodyLen || parts > bodyLen || len(req.Tools) > bodyLen {
		t.Fatalf("a body of %d bytes gave the backend %d messages, %d parts, %d tools", bodyLen, len(req.Messages), parts, len(req.Tools))
	}
}

// CheckOpenAIAnswer fails t unless a request's answer is a 200, or a 4xx
// with the OpenAI error envelope {"error":{"message","type","param","code"}}:
// all four keys present, message and type non-empty strings.
func CheckOpenAIAnswer(t testing.TB, status int, body []byte) {
	t.Helper()
	if status == 200 {
		return
	}
	var env struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		t.Fatalf("status %d with body %.300q: not an OpenAI error envelope", status, body)
	}
	for _, k := range []string{"message", "type"} {
		var s string
		if err := json.Unmarshal(env.Error[k], &s); err != nil || s == "" {
			t.Fatalf("status %d: error.%s is not a non-empty string: %.300q", status, k, body)
		}
	}
	for _, k := range []string{"param", "code"} {
		if _, ok := env.Error[k]; !ok {
			t.Fatalf("status %d: error.%s is missing: %.300q", status, k, body)
		}
	}
	if status < 400 || status >= 500 {
		t.Fatalf("status %d for a client's request: %.300q", status, body)
	}
}
