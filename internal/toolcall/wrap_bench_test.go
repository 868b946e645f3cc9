package toolcall_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/toolcall"
)

// BenchmarkWrap is the per-request cost of the emulation before the
// upstream is asked: tool schemas compiled, the tool prompt rendered.
func BenchmarkWrap(b *testing.B) {
	const tools = `[{"name":"get_weather","description":"Current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}},` +
		`{"name":"get_time","description":"Current local time in a time zone.","parameters":{"type":"object","properties":{"tz":{"type":"string"}},"required":["tz"]}}]`
	var ts []llm.Tool
	if err := json.Unmarshal([]byte(tools), &ts); err != nil {
		b.Fatal(err)
	}
	req := &llm.Request{Model: "m", Tools: ts, ParallelToolCalls: true,
		Messages: []llm.Message{llm.TextMessage(llm.RoleUser, "What is the weather in Paris? Answer at length.")}}
	e := toolcall.New(toolcall.Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.Wrap(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
