package llm_test

import (
	"slices"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
)

func TestFragments(t *testing.T) {
	tests := []struct {
		text string
		size int
		want []string
	}{
		{"", 4, nil},
		{"abc", 4, []string{"abc"}},
		{"abcdefgh", 4, []string{"abcd", "efgh"}},
		{"abcdefghi", 4, []string{"abcd", "efgh", "i"}},
		{"aé€b", 3, []string{"aé", "€", "b"}},                       // never cuts é (2 bytes) or € (3 bytes)
		{"€€", 2, []string{"\xe2\x82", "\xac", "\xe2\x82", "\xac"}}, // a rune longer than size is cut, later cuts still go between runes where they can
	}
	for _, tt := range tests {
		if got := llm.Fragments(tt.text, tt.size); !slices.Equal(got, tt.want) {
			t.Errorf("Fragments(%q, %d) = %q, want %q", tt.text, tt.size, got, tt.want)
		}
	}
}

func TestQuoteJSON(t *testing.T) {
	if got, want := llm.QuoteJSON(`a<b> & "c"`), `"a<b> & \"c\""`; got != want {
		t.Errorf("QuoteJSON = %s, want %s", got, want)
	}
}

func TestWithSystem(t *testing.T) {
	user := llm.TextMessage(llm.RoleUser, "hi")
	t.Run("no system message", func(t *testing.T) {
		in := []llm.Message{user}
		got := llm.WithSystem(in, "rules")
		if len(got) != 2 || got[0].Role != llm.RoleSystem || got[0].Text() != "rules" || got[1].Text() != "hi" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("appends to the first system message without changing the input", func(t *testing.T) {
		in := []llm.Message{llm.TextMessage(llm.RoleSystem, "be brief"), user, llm.TextMessage(llm.RoleSystem, "later")}
		got := llm.WithSystem(in, "rules")
		if len(got) != 3 || got[0].Text() != "be brief\n\nrules" || got[2].Text() != "later" {
			t.Fatalf("got %+v", got)
		}
		if in[0].Text() != "be brief" || len(in[0].Parts) != 1 {
			t.Errorf("input changed: %+v", in[0])
		}
	})
	t.Run("blank system message gets no separator", func(t *testing.T) {
		got := llm.WithSystem([]llm.Message{llm.TextMessage(llm.RoleSystem, " ")}, "rules")
		if got[0].Text() != " rules" {
			t.Errorf("got %q", got[0].Text())
		}
	})
}

func TestWithCorrection(t *testing.T) {
	sent := &llm.Request{Model: "m", Messages: make([]llm.Message, 1, 4)}
	sent.Messages[0] = llm.TextMessage(llm.RoleUser, "q")
	got := sent.WithCorrection("bad answer", "fix it")
	if got.Model != "m" || len(got.Messages) != 3 ||
		got.Messages[1].Role != llm.RoleAssistant || got.Messages[1].Text() != "bad answer" ||
		got.Messages[2].Role != llm.RoleUser || got.Messages[2].Text() != "fix it" {
		t.Fatalf("got %+v", got.Messages)
	}
	// The spare capacity of the sent request's slice is not written to.
	if len(sent.Messages) != 1 || sent.Messages[:2][1].Role != "" {
		t.Fatalf("the sent request changed: %+v", sent.Messages[:2])
	}
}
