package simcore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/jsonschema"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// MinimalInstance's values are valid against their schemas (checked with
// a full validator).
func TestMinimalInstanceIsValid(t *testing.T) {
	schemas := []string{
		`{"type":"object","properties":{"name":{"type":"string","minLength":2},"age":{"type":"integer","minimum":18},"nick":{"type":"string"}},"required":["name","age"],"additionalProperties":false}`,
		`{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","enum":["a","b"]},"minItems":2}},"required":["tags"]}`,
		`{"$defs":{"p":{"type":"object","properties":{"x":{"type":"number","exclusiveMinimum":0}},"required":["x"]}},"type":"object","properties":{"p":{"$ref":"#/$defs/p"}},"required":["p"]}`,
		`{"type":"object","properties":{"v":{"anyOf":[{"type":"null"},{"type":"string"}]},"k":{"const":"fixed"},"b":{"type":["boolean","null"]}},"required":["v","k","b"]}`,
		`{"type":"object","properties":{"n":{"type":"integer","maximum":-5}},"required":["n"]}`,
		`{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"type":"object","properties":{"b":{"type":"boolean"}},"required":["b"]}]}`,
		`{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"minItems":2}`,
		`{"type":"object"}`,
	}
	for _, s := range schemas {
		v := simcore.MinimalInstance(json.RawMessage(s))
		sch, err := jsonschema.Compile(json.RawMessage(s))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if err := sch.ValidateJSON(context.Background(), v); err != nil {
			t.Errorf("MinimalInstance(%s) = %s: %v", s, v, err)
		}
	}
}

func TestAnswerSchema(t *testing.T) {
	text := "System: rules\n\nJSON Schema of the answer:\n```json-schema\n{\"type\":\"object\"}\n```\nUser: hi"
	got, ok := simcore.AnswerSchema(text)
	if !ok || string(got) != `{"type":"object"}` {
		t.Fatalf("AnswerSchema = %s %v", got, ok)
	}
	for _, none := range []string{"no fence", "```json\n{}\n```", "```json-schema\nnot json\n```", "```json-schema\n{\"a\":1}"} {
		if _, ok := simcore.AnswerSchema(none); ok {
			t.Errorf("AnswerSchema(%q) found a schema", none)
		}
	}
}

func TestSimJSONDirective(t *testing.T) {
	d := simcore.ParseDirectives(`Extract it. sim:json {"name": "Ada", "langs": ["en", "fr"]} thanks`)
	if string(d.JSON) != `{"name":"Ada","langs":["en","fr"]}` {
		t.Fatalf("JSON = %s", d.JSON)
	}
	if d := simcore.ParseDirectives(`sim:json {broken`); d.JSON != nil {
		t.Fatalf("malformed value taken: %s", d.JSON)
	}
	ans := simcore.JSONAnswer(json.RawMessage(`{"a":1}`))
	if !strings.HasPrefix(ans, "Here is") || !strings.Contains(ans, "```json\n{\n  \"a\": 1\n}\n```") {
		t.Fatalf("JSONAnswer = %q", ans)
	}
}
