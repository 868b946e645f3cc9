package toolcall

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
)

// TestCompactSchemaCached: a schema seen before renders as the first time,
// and a schema that is not JSON still renders as the empty object schema.
func TestCompactSchemaCached(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"{ \"type\" : \"object\",\n  \"properties\": {\"a\": {\"type\": \"string\", \"description\": \"x  y\"}} }", `{"type":"object","properties":{"a":{"type":"string","description":"x  y"}}}`},
		{`{"type":"object"}`, `{"type":"object"}`},
		{`{"type":`, `{"type":"object","properties":{}}`},
		{``, `{"type":"object","properties":{}}`},
	} {
		for i := range 2 {
			if got := compactSchema(json.RawMessage(tc.raw)); got != tc.want {
				t.Errorf("compactSchema(%q) #%d = %s, want %s", tc.raw, i+1, got, tc.want)
			}
		}
	}
}

// BenchmarkRenderSystem128 renders the tool section for 128 tools, resent
// unchanged as agents do.
func BenchmarkRenderSystem128(b *testing.B) {
	var tools []toolInfo
	for i := range 128 {
		tools = append(tools, toolInfo{Tool: llm.Tool{Name: fmt.Sprintf("inventory_tool_%03d", i), Description: "Looks up records of one kind.",
			Parameters: json.RawMessage(fmt.Sprintf(`{"type": "object", "properties": {"id": {"type": "string", "description": "Record id %d"}, "limit": {"type": "integer", "minimum": 1, "maximum": 100}, "fields": {"type": "array", "items": {"type": "string"}}, "mode": {"type": "string", "enum": ["fast", "full"]}}, "required": ["id"]}`, i))}})
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = renderSystem(tools, llm.ToolChoice{}, true)
	}
}
