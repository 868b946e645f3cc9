package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// The Gemini API takes schemas in two forms: Schema, its OpenAPI 3.0
// subset (function "parameters", "responseSchema": uppercase types such as
// "OBJECT", "nullable", 64-bit integers as strings, "propertyOrdering"),
// and plain JSON Schema ("parametersJsonSchema", "responseJsonSchema"), in
// which clients also send uppercase types (Gemini CLI's classifier does,
// and the API accepts it). Both become JSON Schema here, the form
// llm.Tool.Parameters and llm.OutputFormat.Schema hold.

// errSchema reports a schema that is not a JSON object.
var errSchema = errors.New("schema must be a JSON object")

// openAPISchema converts a Schema (OpenAPI subset) to JSON Schema.
func openAPISchema(raw json.RawMessage) (json.RawMessage, error) {
	return convertSchema(raw, true)
}

// jsonSchema normalises a JSON Schema: uppercase type names are lowered.
func jsonSchema(raw json.RawMessage) (json.RawMessage, error) {
	return convertSchema(raw, false)
}

func convertSchema(raw json.RawMessage, openAPI bool) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errSchema
	}
	out, err := json.Marshal(convertNode(m, openAPI))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// typeNames maps the Schema type enum to JSON Schema types
// (TYPE_UNSPECIFIED drops the keyword).
var typeNames = map[string]string{
	"STRING": "string", "NUMBER": "number", "INTEGER": "integer", "BOOLEAN": "boolean",
	"ARRAY": "array", "OBJECT": "object", "NULL": "null", "TYPE_UNSPECIFIED": "",
}

// int64Keywords are the Schema fields that proto JSON writes as strings.
var int64Keywords = map[string]bool{
	"minItems": true, "maxItems": true, "minLength": true, "maxLength": true,
	"minProperties": true, "maxProperties": true,
}

// Keywords whose values are schemas, maps of schemas or lists of schemas.
var (
	schemaKeywords = map[string]bool{
		"items": true, "not": true, "additionalProperties": true, "contains": true, "if": true,
		"then": true, "else": true, "propertyNames": true, "unevaluatedProperties": true, "unevaluatedItems": true,
	}
	schemaMapKeywords  = map[string]bool{"properties": true, "patternProperties": true, "$defs": true, "definitions": true, "dependentSchemas": true}
	schemaListKeywords = map[string]bool{"anyOf": true, "oneOf": true, "allOf": true, "prefixItems": true, "items": true}
)

// convertNode converts one schema object. Keywords that hold subschemas
// are walked; others are kept as they are (an "enum" or "default" value is
// data, not a schema). The walk is bounded by the request decoder's depth
// limit.
func convertNode(m map[string]any, openAPI bool) map[string]any {
	out := make(map[string]any, len(m))
	nullable := false
	for k, v := range m {
		switch {
		case k == "type":
			out[k] = convertType(v)
			if s, ok := out[k].(string); ok && s == "" {
				delete(out, k)
			}
		case openAPI && k == "nullable":
			nullable, _ = v.(bool)
		case openAPI && (k == "propertyOrdering" || k == "example"):
			// Presentation hints with no JSON Schema meaning.
		case openAPI && int64Keywords[k]:
			out[k] = int64Value(v)
		case schemaMapKeywords[k]:
			if sub, ok := v.(map[string]any); ok {
				conv := make(map[string]any, len(sub))
				for name, s := range sub {
					conv[name] = convertAny(s, openAPI)
				}
				out[k] = conv
			} else {
				out[k] = v
			}
		case schemaListKeywords[k]:
			if list, ok := v.([]any); ok {
				conv := make([]any, len(list))
				for i, s := range list {
					conv[i] = convertAny(s, openAPI)
				}
				out[k] = conv
			} else {
				out[k] = convertAny(v, openAPI)
			}
		case schemaKeywords[k]:
			out[k] = convertAny(v, openAPI)
		default:
			out[k] = v
		}
	}
	if nullable {
		switch t := out["type"].(type) {
		case string:
			out["type"] = []any{t, "null"}
		case nil:
		default:
		}
		if e, ok := out["enum"].([]any); ok {
			out["enum"] = append(e, nil)
		}
	}
	return out
}

// convertAny converts a value in a schema position: objects are schemas,
// anything else (true, false) stays.
func convertAny(v any, openAPI bool) any {
	if m, ok := v.(map[string]any); ok {
		return convertNode(m, openAPI)
	}
	return v
}

// convertType lowers the Schema type names in a "type" value (a string or
// a list of strings).
func convertType(v any) any {
	switch t := v.(type) {
	case string:
		if n, ok := typeNames[strings.ToUpper(t)]; ok && t == strings.ToUpper(t) {
			return n
		}
		return t
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				if c := convertType(s); c != "" {
					out = append(out, c)
				}
				continue
			}
			out = append(out, e)
		}
		return out
	}
	return v
}

// int64Value turns a proto JSON int64 written as a string into a number.
func int64Value(v any) any {
	if s, ok := v.(string); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return json.Number(strconv.FormatInt(n, 10))
		}
	}
	return v
}

// encodeBase64 encodes inline answer bytes.
func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
