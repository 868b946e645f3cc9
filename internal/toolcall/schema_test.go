package toolcall

import (
	"encoding/json"
	"testing"
)

func TestSchema(t *testing.T) {
	const claudeRead = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
		"properties":{"file_path":{"type":"string","description":"The absolute path"},"offset":{"type":"number"},"limit":{"type":"number"}},
		"required":["file_path"]}`
	const refs = `{"type":"object","properties":{"items":{"type":"array","items":{"$ref":"#/$defs/item"},"minItems":1}},
		"$defs":{"item":{"type":"object","properties":{"id":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"},"uniqueItems":true}},"required":["id"]}}}`
	const cyclic = `{"$ref":"#"}`
	tests := []struct {
		name, schema, args, want string
	}{
		{"ok", claudeRead, `{"file_path":"/a","limit":10}`, ""},
		{"missing required", claudeRead, `{"limit":10}`, `missing required property "file_path"`},
		{"wrong type", claudeRead, `{"file_path":3}`, `at /file_path: expected string, got integer`},
		{"additional", claudeRead, `{"file_path":"/a","x":1}`, `unexpected property "x"`},
		{"not an object", claudeRead, `[]`, `expected object, got array`},
		{"integer accepts 2.0", `{"type":"integer"}`, `2.0`, ""},
		{"integer rejects 2.5", `{"type":"integer"}`, `2.5`, "expected integer, got number"},
		{"type list", `{"type":["string","null"]}`, `null`, ""},
		{"nullable", `{"type":"string","nullable":true}`, `null`, ""},
		{"enum", `{"enum":["a",1,null]}`, `1.0`, ""},
		{"enum miss", `{"enum":["a","b"]}`, `"c"`, `value "c" is not one of "a", "b"`},
		{"const", `{"const":{"a":[1]}}`, `{"a":[1]}`, ""},
		{"refs ok", refs, `{"items":[{"id":1,"tags":["x","y"]}]}`, ""},
		{"refs nested error", refs, `{"items":[{"id":1},{"id":"2"}]}`, `at /items/1/id: expected integer, got string`},
		{"min items", refs, `{"items":[]}`, `at /items: array has fewer than 1 items`},
		{"unique", refs, `{"items":[{"id":1,"tags":["x","x"]}]}`, `at /items/0/tags: array items 0 and 1 are equal but must be unique`},
		{"cyclic ref terminates", cyclic, `{}`, ""},
		{"anyOf", `{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `true`, "value matches none of the 2 allowed forms (first: expected string, got boolean)"},
		{"oneOf lenient", `{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `1`, ""},
		{"allOf", `{"allOf":[{"required":["a"]},{"required":["b"]}]}`, `{"a":1}`, `missing required property "b"`},
		{"bounds", `{"type":"object","properties":{"n":{"minimum":1,"exclusiveMaximum":5},"s":{"maxLength":2}}}`, `{"n":5}`, `at /n: value 5 must be less than 5`},
		{"rune length", `{"maxLength":2}`, `"ün"`, ""},
		{"pattern", `{"pattern":"^[a-z]+$"}`, `"Ab"`, `string does not match pattern "^[a-z]+$"`},
		{"bad pattern ignored", `{"pattern":"(?<=a)b"}`, `"b"`, ""},
		{"tuple items", `{"prefixItems":[{"type":"string"}],"items":false}`, `["a",1]`, `at /1: no value is allowed here`},
		{"unknown keywords ignored", `{"type":"object","format":"x","if":{},"not":{}}`, `{}`, ""},
		{"unknown type ignored", `{"type":"int"}`, `"x"`, ""},
		{"false schema", `false`, `{}`, "no value is allowed here"},
		{"escaped pointer", `{"type":"object","properties":{"a/b":{"type":"string"}}}`, `{"a/b":1}`, `at /a~1b: expected string, got integer`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := compileSchema(json.RawMessage(tc.schema))
			if s == nil {
				t.Fatal("schema did not compile")
			}
			err := s.validate([]byte(tc.args))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, raw := range []string{"", "null", "[1]", "{bad"} {
		if compileSchema(json.RawMessage(raw)) != nil {
			t.Errorf("schema %q compiled", raw)
		}
	}
	var none *schema
	if none.validate([]byte(`{"x":1}`)) != nil {
		t.Error("nil schema rejects")
	}
}

// Patterns are compiled with the schema, not per validation.
func TestSchemaPatternsCompiledOnce(t *testing.T) {
	s := compileSchema(json.RawMessage(`{"type":"object","properties":{
		"a":{"type":"string","pattern":"^[a-z]+$"},
		"b":{"type":"array","items":{"anyOf":[{"pattern":"^x"},{"pattern":"(?<=y)"}]}},
		"pattern":{"type":"string"}}}`))
	if len(s.patterns) != 3 || s.patterns["^[a-z]+$"] == nil || s.patterns["^x"] == nil {
		t.Fatalf("patterns %v", s.patterns)
	}
	if re, ok := s.patterns["(?<=y)"]; !ok || re != nil {
		t.Fatalf("an invalid pattern is %v, %v; want nil, true", re, ok)
	}
	if err := s.validate([]byte(`{"a":"abc","b":["xa","q"],"pattern":"any"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.validate([]byte(`{"a":"aB"}`)); err == nil {
		t.Fatal("pattern not checked")
	}
}

func BenchmarkSchemaValidatePattern(b *testing.B) {
	s := compileSchema(json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","pattern":"^[A-Z][a-z]+( [A-Z][a-z]+)*$"}},"required":["city"]}`))
	args := []byte(`{"city":"New York"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.validate(args); err != nil {
			b.Fatal(err)
		}
	}
}
