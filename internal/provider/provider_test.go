package provider_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
)

// fake serves a fixed list of names, optionally everything as a fallback.
type fake struct {
	name     string
	models   []string
	fallback bool
}

func (f fake) Name() string { return f.name }
func (f fake) Models(context.Context) []llm.ModelInfo {
	var out []llm.ModelInfo
	for _, m := range f.models {
		out = append(out, llm.ModelInfo{ID: m, Kind: llm.KindChat, OwnedBy: f.name})
	}
	return out
}
func (f fake) Resolve(model string) (provider.Match, bool) {
	if slices.Contains(f.models, model) {
		return provider.Match{Model: llm.ModelInfo{ID: model}}, true
	}
	if f.fallback {
		return provider.Match{Model: llm.ModelInfo{ID: model}, Fallback: true}, true
	}
	return provider.Match{}, false
}
func (f fake) Chat(context.Context, *gw.Account, *llm.Request) (llm.Stream, error) { return nil, nil }

// aliasing is a fake that serves Claude names under its own models, with
// the Gemini web provider's rule.
type aliasing struct{ fake }

func (aliasing) Aliases(model string) []string { return geminiweb.ClaudeAliases(model) }

func TestResolve(t *testing.T) {
	genspark := fake{name: "genspark", models: []string{"claude-sonnet-4-5", "claude-opus-4-1", "gpt-5.2"}, fallback: true}
	gemini := aliasing{fake{name: "geminiweb", models: []string{"gemini-3-pro", "gemini-3-flash", "gpt-4o"}}}
	both := provider.NewRegistry(genspark, gemini)
	geminiOnly := provider.NewRegistry(gemini)
	gensparkOnly := provider.NewRegistry(genspark)
	tests := []struct {
		name     string
		reg      *provider.Registry
		model    string
		provider string
		served   string
	}{
		{"exact genspark", both, "gpt-5.2", "genspark", "gpt-5.2"},
		{"exact gemini wins over a fallback", both, "gpt-4o", "geminiweb", "gpt-4o"},
		{"dated claude id served by its real model", both, "claude-sonnet-4-5-20250929", "genspark", "claude-sonnet-4-5"},
		{"claude-gemini prefix", both, "claude-gemini-3-pro", "geminiweb", "gemini-3-pro"},
		{"opus tier", geminiOnly, "claude-opus-4-5-20251101", "geminiweb", "gemini-3-pro"},
		{"haiku tier", geminiOnly, "claude-3-5-haiku-20241022", "geminiweb", "gemini-3-flash"},
		{"sonnet tier before the MoA fallback", both, "claude-sonnet-9", "geminiweb", "gemini-3-flash"},
		{"unknown goes to the fallback", both, "mystery", "genspark", "mystery"},
		{"no provider aliases claude names: the fallback", gensparkOnly, "claude-sonnet-9", "genspark", "claude-sonnet-9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, m, err := tc.reg.Resolve(context.Background(), tc.model)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != tc.provider || m.Model.ID != tc.served {
				t.Fatalf("%s served by %s as %s", tc.model, p.Name(), m.Model.ID)
			}
			if aliased := tc.served != tc.model && !m.Fallback; aliased != (m.Alias == tc.served) {
				t.Fatalf("%s: alias %q, want %q", tc.model, m.Alias, tc.served)
			}
		})
	}
	_, _, err := geminiOnly.Resolve(context.Background(), "mystery")
	if gw.ErrorCode(err) != gw.CodeInvalidRequest || !strings.Contains(err.Error(), "gemini-3-flash") {
		t.Fatalf("unknown model on a Gemini-only registry: %v", err)
	}
	if _, _, err := both.Resolve(context.Background(), " "); gw.ErrorCode(err) != gw.CodeInvalidRequest {
		t.Fatalf("empty model: %v", err)
	}
}
