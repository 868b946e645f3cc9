package jsonschema

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzCompileValidate compiles arbitrary schema bytes and validates
// arbitrary instance bytes. Whatever the input: no panic escapes, compiling
// respects the size limits, and a validation ends within its step budget
// (or reports that it ran out), with every evaluation that recursed paid
// for.
func FuzzCompileValidate(f *testing.F) {
	seeds := [][2]string{
		{`{"allOf":[{"$ref":"#"},{"$ref":"#"}]}`, `{}`},
		{`{"properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}`, nested(30)},
		{dagSchema(30), `{}`},
		{`{"type":"object","properties":{"city":{"type":"string","pattern":"^[A-Z]"}},"required":["city"]}`, `{"city":"paris"}`},
		{`{"items":{"enum":[1,2,3]},"uniqueItems":true}`, `[1,2,2,4]`},
		{`{"$defs":{"n":{"$dynamicAnchor":"n","properties":{"c":{"items":{"$dynamicRef":"#n"}}}}},"$ref":"#/$defs/n"}`, `{"c":[{"c":[{}]}]}`},
		{`{"oneOf":[{"type":"number"},{"type":"integer"}],"nullable":true}`, `null`},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"string"}],"additionalItems":{"$ref":"#"}}`, `["a",["b",[]]]`},
		{`{"if":{"minimum":3},"then":{"multipleOf":2},"else":{"not":{"const":1}}}`, `5`},
		{`{"minimum":0,"multipleOf":0.001}`, `[1e999,1e400,12345678901234567890.5]`},
		{`{"patternProperties":{"^a":{"type":"integer"},"(?<=x)":false},"propertyNames":{"maxLength":3},"unevaluatedProperties":false}`, `{"ab":1,"xyz":2}`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	lim := Limits{MaxBytes: 16 << 10, MaxNodes: 2000, MaxDepth: 32, MaxSteps: 5000}
	f.Fuzz(func(t *testing.T, schema, value string) {
		for _, opts := range []Options{{Limits: lim, Lenient: true}, {Limits: lim}} {
			s, err := opts.Compile(json.RawMessage(schema))
			if err != nil {
				if !strings.HasPrefix(err.Error(), "the schema ") {
					t.Fatalf("compile error %q does not say what is wrong with the schema", err)
				}
				continue
			}
			if len(schema) > lim.MaxBytes || s.nodes > lim.MaxNodes {
				t.Fatalf("compiled a schema of %d bytes, %d values", len(schema), s.nodes)
			}
			err = s.ValidateJSON(context.Background(), []byte(value))
			inst := <-s.idle
			s.idle <- inst
			if inst.evals > inst.steps {
				t.Fatalf("%d evaluations but %d steps charged", inst.evals, inst.steps)
			}
			var verr *ValidationError
			switch {
			case errors.Is(err, ErrBudgetExceeded):
				if inst.steps <= lim.MaxSteps {
					t.Fatalf("budget error after %d steps", inst.steps)
				}
			case err == nil || errors.As(err, &verr):
				if inst.steps > lim.MaxSteps {
					t.Fatalf("ran %d steps, over the budget of %d", inst.steps, lim.MaxSteps)
				}
			case strings.HasPrefix(err.Error(), "the validator failed"):
				t.Logf("library defect handled: %v", err) // recovered, the process goes on
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
	})
}
