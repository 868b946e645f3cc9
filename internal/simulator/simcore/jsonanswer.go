package simcore

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// SchemaFence is the info string of the fenced block in which a request
// gives the JSON Schema of the answer it wants (docs/simulators.md):
//
//	```json-schema
//	{"type":"object","properties":{...},"required":[...]}
//	```
//
// A simulated model that finds such a block anywhere in the request's text
// (system prompt included) answers with a minimal instance of the schema,
// as a model following the instruction would.
const SchemaFence = "json-schema"

// maxSchemaBytes bounds the schema a simulator reads.
const maxSchemaBytes = 1 << 20

// AnswerSchema returns the JSON Schema of the first ```json-schema block of
// text, or false when there is none (or it is not JSON).
func AnswerSchema(text string) (json.RawMessage, bool) {
	open := "```" + SchemaFence + "\n"
	i := strings.Index(text, open)
	if i < 0 {
		return nil, false
	}
	body := text[i+len(open):]
	j := strings.Index(body, "\n```")
	if j < 0 || j > maxSchemaBytes {
		return nil, false
	}
	raw := bytes.TrimSpace([]byte(body[:j]))
	if !json.Valid(raw) {
		return nil, false
	}
	return raw, true
}

// JSONAnswer is the simulated model's answer carrying value (sim:json, or
// a minimal instance of the requested schema): a sentence, then the value
// pretty-printed in a ```json fence.
func JSONAnswer(value json.RawMessage) string {
	var buf bytes.Buffer
	if json.Indent(&buf, value, "", "  ") != nil {
		buf.Reset()
		buf.Write(value)
	}
	return "Here is the JSON you asked for:\n\n```json\n" + buf.String() + "\n```"
}

// MinimalInstance returns a small value valid against schema: for an
// object its required properties (recursively), for an array its
// minItems items, the first of an enum or a const, the first branch of
// anyOf/oneOf, every allOf branch merged, references within the document
// followed, numbers at their minimum, strings of their minLength. It
// covers the schemas clients send for structured outputs; what it does not
// understand becomes null.
func MinimalInstance(schema json.RawMessage) json.RawMessage {
	var root any
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	if dec.Decode(&root) != nil {
		return json.RawMessage("null")
	}
	g := instanceGen{root: root}
	out, err := json.Marshal(g.of(root, 0))
	if err != nil {
		return json.RawMessage("null")
	}
	return out
}

type instanceGen struct{ root any }

// maxInstanceDepth bounds recursion (a schema may refer to itself).
const maxInstanceDepth = 32

func (g instanceGen) of(s any, depth int) any {
	obj, ok := s.(map[string]any)
	if !ok || depth > maxInstanceDepth {
		return nil
	}
	if ref, ok := obj["$ref"].(string); ok {
		if target, ok := g.resolve(ref); ok {
			return g.of(target, depth+1)
		}
	}
	if v, ok := obj["const"]; ok {
		return v
	}
	if e, ok := obj["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if v, ok := obj["default"]; ok {
		return v
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if bs, ok := obj[k].([]any); ok && len(bs) > 0 {
			return g.of(bs[0], depth+1)
		}
	}
	if bs, ok := obj["allOf"].([]any); ok && len(bs) > 0 {
		merged := map[string]any{}
		for _, b := range bs {
			if m, ok := g.of(b, depth+1).(map[string]any); ok {
				for k, v := range m {
					merged[k] = v
				}
			}
		}
		return merged
	}
	typ := obj["type"]
	if ts, ok := typ.([]any); ok {
		typ = nil
		for _, t := range ts { // prefer a non-null type
			if t != "null" {
				typ = t
				break
			}
		}
		if typ == nil && len(ts) > 0 {
			typ = ts[0]
		}
	}
	if typ == nil {
		if _, ok := obj["properties"]; ok {
			typ = "object"
		} else if _, ok := obj["items"]; ok {
			typ = "array"
		}
	}
	switch typ {
	case "object":
		out := map[string]any{}
		props, _ := obj["properties"].(map[string]any)
		req, _ := obj["required"].([]any)
		names := make([]string, 0, len(req))
		for _, r := range req {
			if n, ok := r.(string); ok {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out[n] = g.of(props[n], depth+1)
		}
		return out
	case "array":
		n := 0
		if m, ok := obj["minItems"].(json.Number); ok {
			if v, err := m.Int64(); err == nil && v > 0 {
				n = int(min(v, 16))
			}
		}
		out := make([]any, 0, n)
		for i := range n {
			item := obj["items"]
			if pi, ok := obj["prefixItems"].([]any); ok && i < len(pi) {
				item = pi[i]
			}
			out = append(out, g.of(item, depth+1))
		}
		return out
	case "string":
		n := 0
		if m, ok := obj["minLength"].(json.Number); ok {
			if v, err := m.Int64(); err == nil && v > 0 {
				n = int(min(v, 1024))
			}
		}
		return strings.Repeat("a", n)
	case "integer", "number":
		for _, k := range []string{"minimum", "exclusiveMinimum"} {
			if m, ok := obj[k].(json.Number); ok {
				if v, err := m.Float64(); err == nil {
					if k == "exclusiveMinimum" {
						v++
					}
					if typ == "integer" {
						return int64(v)
					}
					return v
				}
			}
		}
		if m, ok := obj["maximum"].(json.Number); ok {
			if v, err := m.Float64(); err == nil && v < 0 {
				return int64(v)
			}
		}
		return 0
	case "boolean":
		return false
	}
	return nil
}

// resolve follows a reference inside the document ("#", "#/$defs/x",
// "#/definitions/x"; JSON Pointer escapes honoured).
func (g instanceGen) resolve(ref string) (any, bool) {
	p, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	cur := g.root
	for tok := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}
