package jsonschema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

var lenient = Options{Lenient: true}

func TestValidateMessages(t *testing.T) {
	const claudeRead = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
		"properties":{"file_path":{"type":"string","description":"The absolute path"},"offset":{"type":"number"},"limit":{"type":"number"}},
		"required":["file_path"]}`
	const refs = `{"type":"object","properties":{"items":{"type":"array","items":{"$ref":"#/$defs/item"},"minItems":1}},
		"$defs":{"item":{"type":"object","properties":{"id":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"},"uniqueItems":true}},"required":["id"]}}}`
	tests := []struct {
		name, schema, args, want string
		strict                   bool
	}{
		{"ok", claudeRead, `{"file_path":"/a","limit":10}`, "", false},
		{"missing required", claudeRead, `{"limit":10}`, `missing required property "file_path"`, false},
		{"missing two", `{"required":["b","a"]}`, `{}`, `missing required properties "b", "a"`, false},
		{"wrong type", claudeRead, `{"file_path":3}`, `at /file_path: expected string, got integer`, false},
		{"additional", claudeRead, `{"file_path":"/a","x":1}`, `unexpected property "x"`, false},
		{"not an object", claudeRead, `[]`, `expected object, got array`, false},
		{"integer accepts 2.0", `{"type":"integer"}`, `2.0`, "", false},
		{"integer rejects 2.5", `{"type":"integer"}`, `2.5`, "expected integer, got number", false},
		{"type list", `{"type":["string","null"]}`, `null`, "", false},
		{"nullable", `{"type":"object","properties":{"a":{"type":"string","nullable":true}}}`, `{"a":null}`, "", false},
		{"nullable strict", `{"type":"object","properties":{"a":{"type":"string","nullable":true}}}`, `{"a":null}`, "at /a: expected string, got null", true},
		{"nullable only null", `{"type":"string","nullable":true}`, `1`, "expected string, got integer", false},
		{"enum", `{"enum":["a",1,null]}`, `1.0`, "", false},
		{"enum miss", `{"enum":["a","b"]}`, `"c"`, `value "c" is not one of "a", "b"`, false},
		{"const", `{"const":{"a":[1]}}`, `{"a":[1]}`, "", false},
		{"const miss", `{"const":"x"}`, `"y"`, `value must be "x"`, false},
		{"refs ok", refs, `{"items":[{"id":1,"tags":["x","y"]}]}`, "", false},
		{"refs nested error", refs, `{"items":[{"id":1},{"id":"2"}]}`, `at /items/1/id: expected integer, got string`, false},
		{"first error in document order", refs, `{"items":[{"id":"1"},{"id":"2"}]}`, `at /items/0/id: expected integer, got string`, false},
		{"min items", refs, `{"items":[]}`, `at /items: array has fewer than 1 items`, false},
		{"unique", refs, `{"items":[{"id":1,"tags":["x","x"]}]}`, `at /items/0/tags: array items 0 and 1 are equal but must be unique`, false},
		{"anyOf", `{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `true`, "value matches none of the 2 allowed forms (first: expected string, got boolean)", false},
		{"anyOf with nullable branch", `{"anyOf":[{"type":"string","nullable":true},{"type":"integer"}]}`, `null`, "", false},
		{"oneOf lenient", `{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `1`, "", false},
		{"oneOf strict", `{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `1`, "value matches more than one of the allowed forms (0 and 1) but must match exactly one", true},
		{"oneOf none", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, `true`, "value matches none of the 2 allowed forms (first: expected string, got boolean)", false},
		{"allOf", `{"allOf":[{"required":["a"]},{"required":["b"]}]}`, `{"a":1}`, `missing required property "b"`, false},
		{"bounds", `{"type":"object","properties":{"n":{"minimum":1,"exclusiveMaximum":5},"s":{"maxLength":2}}}`, `{"n":5}`, `at /n: value 5 must be less than 5`, false},
		{"minimum fraction", `{"minimum":1.5}`, `1`, `value 1 is less than the minimum 1.5`, false},
		{"rune length", `{"maxLength":2}`, `"ün"`, "", false},
		{"pattern", `{"pattern":"^[a-z]+$"}`, `"Ab"`, `string does not match pattern "^[a-z]+$"`, false},
		{"bad pattern ignored", `{"pattern":"(?<=a)b"}`, `"b"`, "", false},
		{"tuple items", `{"prefixItems":[{"type":"string"}],"items":false}`, `["a",1]`, `at /1: no value is allowed here`, false},
		{"draft-07 tuple", `{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"string"}],"additionalItems":false}`, `["a",1]`, `array has 1 more items than allowed`, false},
		{"formats not asserted", `{"type":"object","properties":{"u":{"type":"string","format":"uri"},"e":{"format":"email"}}}`, `{"u":"not a uri","e":"x"}`, "", false},
		{"formats not asserted in draft-07", `{"$schema":"http://json-schema.org/draft-07/schema#","format":"uri"}`, `"relative"`, "", false},
		{"not", `{"not":{"type":"string"}}`, `"x"`, `value matches the schema under "not", which it must not`, false},
		{"if then", `{"if":{"properties":{"k":{"const":"a"}}},"then":{"required":["x"]}}`, `{"k":"a"}`, `missing required property "x"`, false},
		{"unknown keywords ignored", `{"type":"object","x-foo":{"type":"string"}}`, `{}`, "", false},
		{"false schema", `false`, `{}`, "no value is allowed here", false},
		{"escaped pointer", `{"type":"object","properties":{"a/b":{"type":"string"}}}`, `{"a/b":1}`, `at /a~1b: expected string, got integer`, false},
		{"unknown $schema ignored", `{"$schema":"https://example.com/my-dialect","type":"string"}`, `1`, "expected string, got integer", false},
		{"anchor", `{"$defs":{"a":{"$anchor":"pt","type":"integer"}},"properties":{"x":{"$ref":"#pt"}}}`, `{"x":"s"}`, "at /x: expected integer, got string", false},
		{"meta-schema reference", `{"properties":{"s":{"$ref":"https://json-schema.org/draft/2020-12/schema"}}}`, `{"s":{"type":"string"}}`, "", true},
		{"not JSON", `{}`, `{"a":`, "the value is not valid JSON: unexpected EOF", false},
		{"huge exponent", `{"properties":{"n":{"minimum":0}}}`, `{"n":1e10000000}`, "at /n: number 1e10000000 is too large or too precise to check (at most 128 characters, exponent within ±400)", false},
		{"huge exponent below a schema without numbers", `{}`, `[1e-999999999]`, "at /0: number 1e-999999999 is too large or too precise to check (at most 128 characters, exponent within ±400)", false},
		{"long number", `{}`, `{"n":` + strings.Repeat("9", 200) + `}`, "at /n: number 9999999999999999999999999999999999999999 is too large or too precise to check (at most 128 characters, exponent within ±400)", false},
		{"large but fine number", `{"maximum":1e300}`, `1e299`, "", false},
		{"value too deep", `{}`, strings.Repeat("[", 65) + strings.Repeat("]", 65), "the value is nested more than 64 levels deep", false},
		{"value at the depth limit", `{}`, strings.Repeat("[", 64) + strings.Repeat("]", 64), "", false},
		{"draft-04 keywords without $schema", `{"properties":{"n":{"minimum":1,"exclusiveMinimum":true}}}`, `{"n":1}`, "at /n: value 1 must be greater than 1", false},
		{"draft-07 tuple without $schema", `{"items":[{"type":"string"}],"additionalItems":false}`, `["a",1]`, "array has 1 more items than allowed", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := lenient
			if tc.strict {
				opts = Options{}
			}
			s, err := opts.Compile(json.RawMessage(tc.schema))
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			err = s.ValidateJSON(context.Background(), []byte(tc.args))
			got := ""
			if err != nil {
				got = err.Error()
				var verr *ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("error %v is no *ValidationError", err)
				}
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	deep := strings.Repeat(`{"items":`, 70) + `{}` + strings.Repeat(`}`, 70)
	var chain strings.Builder
	chain.WriteString(`{"$ref":"#/$defs/a0","$defs":{`)
	for i := range 300 {
		fmt.Fprintf(&chain, `"a%d":{"$ref":"#/$defs/a%d"},`, i, i+1)
	}
	chain.WriteString(`"a300":{"type":"string"}}}`)
	many := `{"enum":[` + strings.Repeat(`1,`, 30_000) + `1]}`
	tests := []struct {
		name, schema, want string
		opts               Options
	}{
		{"allOf ref loop", `{"allOf":[{"$ref":"#"},{"$ref":"#"}]}`, "the schema loops: # applies itself", lenient},
		{"direct ref loop", `{"$ref":"#"}`, "the schema loops", lenient},
		{"loop through defs", `{"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/b"}]},"b":{"not":{"$ref":"#/$defs/a"}}},"properties":{"x":{"$ref":"#/$defs/a"}}}`, "the schema loops", lenient},
		{"long ref chain", chain.String(), "chains of $ref, allOf, anyOf and oneOf longer than 256", lenient},
		{"remote ref", `{"properties":{"a":{"$ref":"https://example.com/s.json"}}}`, `refers to "https://example.com/s.json", which is outside it`, lenient},
		{"file ref", `{"$ref":"file:///etc/passwd"}`, `the schema refers to "file:///etc/passwd", which is outside it`, lenient},
		{"relative ref", `{"$ref":"other.json#/x"}`, `refers to "other.json", which is outside it`, lenient},
		{"id based ref", `{"$id":"https://example.com/root.json","$ref":"other.json"}`, `refers to "https://example.com/other.json", which is outside it`, lenient},
		{"unknown $schema strict", `{"$schema":"https://example.com/dialect"}`, `refers to "https://example.com/dialect"`, Options{}},
		{"too deep", deep, "nested more than 64 levels deep", lenient},
		{"too many values", many, "more than 20000 JSON values", lenient},
		{"too large", `{"description":"` + strings.Repeat("x", 600<<10) + `"}`, "more than the limit of 524288", lenient},
		{"bad pattern strict", `{"pattern":"(?<=a)b"}`, "not a regular expression Go's RE2 accepts", Options{}},
		{"not JSON", `{"type":`, "not valid JSON", lenient},
		{"trailing data", `{} {}`, "not valid JSON", lenient},
		{"array", `[1]`, "must be a JSON object", lenient},
		{"invalid keyword value", `{"type":"object","properties":{"a":{"minLength":"x"}}}`, "the schema is invalid at #/properties/a/minLength", lenient},
		{"draft-04 keywords strict", `{"minimum":1,"exclusiveMinimum":true}`, "the schema is invalid at #/exclusiveMinimum", Options{}},
		{"unknown type name", `{"type":"int"}`, "the schema is invalid at #/type", lenient},
		{"dangling local ref", `{"$ref":"#/$defs/missing"}`, "cannot be compiled", lenient},
		{"huge exponent", `{"minimum":1E+9999999}`, "the schema is refused: number 1E+9999999 is too large", lenient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.opts.Compile(json.RawMessage(tc.schema))
			if err == nil {
				t.Fatalf("compiled: %v", s)
			}
			if !strings.HasPrefix(err.Error(), "the schema ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
