package provider_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider"
)

// Match.Echo names the model that serves a request, never a string only
// the client chose.
func TestMatchEcho(t *testing.T) {
	id := func(s string) llm.ModelInfo { return llm.ModelInfo{ID: s} }
	for _, tc := range []struct {
		name, requested string
		m               provider.Match
		want            string
	}{
		{"exact", "gpt-5.2", provider.Match{Model: id("gpt-5.2")}, "gpt-5.2"},
		{"dated Claude id", "claude-sonnet-4-5-20250929", provider.Match{Model: id("claude-sonnet-4-5"), Alias: "claude-sonnet-4-5"}, "claude-sonnet-4-5-20250929"},
		{"-latest", "claude-sonnet-4-5-latest", provider.Match{Model: id("claude-sonnet-4-5"), Alias: "claude-sonnet-4-5"}, "claude-sonnet-4-5"},
		{"dated alias of another model", "claude-gemini-3-flash-20250929", provider.Match{Model: id("gemini-3-flash"), Alias: "gemini-3-flash"}, "gemini-3-flash"},
		{"alias", "gpt-4o", provider.Match{Model: id("gemini-3-flash"), Alias: "gemini-3-flash"}, "gemini-3-flash"},
		{"catch-all", "anything", provider.Match{Model: id("anything"), Fallback: true, CatchAllID: "catch-all"}, "catch-all"},
		{"no catalog id", "m", provider.Match{}, "m"},
	} {
		if got := tc.m.Echo(tc.requested); got != tc.want {
			t.Errorf("%s: Echo(%q) = %q, want %q", tc.name, tc.requested, got, tc.want)
		}
	}
}
