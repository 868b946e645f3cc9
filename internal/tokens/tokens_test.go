package tokens

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
)

// A Counter fed in pieces gives the count of the whole text, with small
// batches so that many cuts happen.
func TestCounterMatchesCount(t *testing.T) {
	pieces := []string{"Hello", " world", ", ", "it's", " 12345", " x", "\n\n", "  ", "Paris", " is", " sunny",
		"über", " 東京", "タワー", " ", "a", "B", " C", "d", "'s", " don't", "🙂", "\t", "—", " ok.", "x y", "a  b", "\r\n"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var whole strings.Builder
		c := Counter{batch: 1 + rng.IntN(64)}
		for range rng.IntN(400) {
			p := pieces[rng.IntN(len(pieces))]
			whole.WriteString(p)
			c.Add(p)
		}
		if got, want := c.Total(), Count(whole.String()); got != want {
			t.Fatalf("round %d: Counter %d, Count %d (text %q)", round, got, want, whole.String())
		}
	}
}

// The Counter holds about one batch, not the whole text.
func TestCounterBounded(t *testing.T) {
	var c Counter
	for range 10000 {
		c.Add("the weather in Paris is mild ")
	}
	if len(c.buf) > DefaultCounterBatch+64 {
		t.Fatalf("holds %d bytes", len(c.buf))
	}
	if got, want := c.Total(), Count(strings.Repeat("the weather in Paris is mild ", 10000)); got != want {
		t.Fatalf("Counter %d, Count %d", got, want)
	}
	var empty Counter
	if empty.Total() != 0 {
		t.Fatal("empty counter")
	}
}

// Prompt counts what Count counts, also when its texts come from the cache.
func TestPromptCached(t *testing.T) {
	req := &llm.Request{
		Messages: []llm.Message{
			llm.TextMessage(llm.RoleSystem, "You are a helpful assistant."),
			llm.TextMessage(llm.RoleUser, "What is the weather in Paris?"),
			{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{Name: "get_weather", Arguments: `{"city":"Paris"}`}}}},
			{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{Content: "22°C, sunny"}}}},
		},
		Tools: []llm.Tool{{Name: "get_weather", Description: "Current weather.", Parameters: []byte(`{"type":"object"}`)}},
	}
	want := 3 + 4*perMessage + Count("You are a helpful assistant.") + Count("What is the weather in Paris?") +
		Count("get_weather") + Count(`{"city":"Paris"}`) + Count("22°C, sunny") +
		Count("get_weather") + Count("Current weather.") + Count(`{"type":"object"}`)
	for range 3 {
		if got := Prompt(req); got != want {
			t.Fatalf("Prompt = %d, want %d", got, want)
		}
	}
	if n := countPrompt("a different text"); n != Count("a different text") {
		t.Fatalf("countPrompt = %d", n)
	}
}
