package gemini

import (
	"encoding/json"
	"testing"
)

// TestSchemaConversion: Google's OpenAPI-subset Schema becomes JSON
// Schema; a JSON Schema only has uppercase type names lowered.
func TestSchemaConversion(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		openAPI        bool
	}{
		{"types and nesting", `{"type":"OBJECT","properties":{"a":{"type":"ARRAY","items":{"type":"INTEGER","format":"int32"}},"b":{"type":"BOOLEAN"}},"required":["a"]}`,
			`{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer","format":"int32"}},"b":{"type":"boolean"}},"required":["a"]}`, true},
		{"nullable with enum", `{"type":"STRING","nullable":true,"enum":["x"]}`, `{"type":["string","null"],"enum":["x",null]}`, true},
		{"nullable without type", `{"nullable":true,"description":"d"}`, `{"description":"d"}`, true},
		{"int64 as strings", `{"type":"ARRAY","minItems":"1","maxItems":"3","items":{"type":"STRING","maxLength":"10"}}`,
			`{"type":"array","minItems":1,"maxItems":3,"items":{"type":"string","maxLength":10}}`, true},
		{"anyOf and hints", `{"anyOf":[{"type":"STRING"},{"type":"NUMBER"}],"propertyOrdering":["a"],"example":{"type":"OBJECT"}}`,
			`{"anyOf":[{"type":"string"},{"type":"number"}]}`, true},
		{"unspecified type", `{"type":"TYPE_UNSPECIFIED","title":"t"}`, `{"title":"t"}`, true},
		{"enum values are data", `{"type":"STRING","enum":["OBJECT","STRING"]}`, `{"type":"string","enum":["OBJECT","STRING"]}`, true},
		{"JSON Schema: lowercase kept", `{"type":"object","properties":{"type":{"type":"string"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"type":{"type":"string"}},"additionalProperties":false}`, false},
		{"JSON Schema: uppercase lowered", `{"type":"OBJECT","$defs":{"n":{"type":["INTEGER","NULL"]}},"properties":{"x":{"$ref":"#/$defs/n"}}}`,
			`{"type":"object","$defs":{"n":{"type":["integer","null"]}},"properties":{"x":{"$ref":"#/$defs/n"}}}`, false},
		{"JSON Schema: nullable is not OpenAPI here", `{"type":"string","nullable":true}`, `{"type":"string","nullable":true}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := convertSchema(json.RawMessage(tc.in), tc.openAPI)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tc.want), &w)
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if string(gb) != string(wb) {
				t.Fatalf("got  %s\nwant %s", gb, wb)
			}
		})
	}
	for _, bad := range []string{`[1]`, `"OBJECT"`, `{`} {
		if _, err := convertSchema(json.RawMessage(bad), true); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// FuzzGenerateRequest: any body either converts or is refused with a
// client error; nothing panics.
func FuzzGenerateRequest(f *testing.F) {
	f.Add(`{"contents":[{"parts":[{"text":"q"}]}]}`)
	f.Add(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"parts":[{"functionResponse":{"name":"f","response":{"output":"x"}}}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","nullable":true,"properties":{"a":{"type":"ARRAY","items":{"type":"STRING"},"maxItems":"2"}}}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}}}`)
	f.Add(`{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}},{"fileData":{"fileUri":"data:text/plain,hi"}}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"OBJECT"},"thinkingConfig":{"includeThoughts":true,"thinkingBudget":-1}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var gr generateRequest
		if json.Unmarshal([]byte(body), &gr) != nil {
			return
		}
		if gr.validate() != nil {
			return
		}
		p, err := buildRequest(&gr, "m", fileRefs{})
		if err == nil && p.req.Model != "m" {
			t.Fatalf("model %q", p.req.Model)
		}
	})
}
