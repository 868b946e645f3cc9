package gateway_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/reqctx"
)

// The gateway fills the request's usage note: the model asked and served,
// the account, the first event's time and the tokens of the usage event.
func TestUsageNote(t *testing.T) {
	svc, _ := newService(func() *fakeStream {
		return &fakeStream{evs: []llm.Event{text("Hello "), {Type: llm.EventReasoningDelta, Text: "hm"}, text("there."),
			{Type: llm.EventFinish, FinishReason: llm.FinishStop}}}
	}, false)
	note := new(reqctx.Usage)
	ctx := reqctx.WithUsage(t.Context(), note)
	st, err := svc.Chat(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	if n := note.Note(); n.Model != "m" || n.ServedModel != "m" || n.AccountID != "acct_1" || !n.FirstEvent.IsZero() {
		t.Fatalf("note once the answer opened: %+v", n)
	}
	var usage *llm.Usage
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == llm.EventUsage {
			usage = ev.Usage
		}
	}
	st.Close()
	n := note.Note()
	if usage == nil || n.InputTokens != int64(usage.PromptTokens) || n.OutputTokens != int64(usage.CompletionTokens) ||
		n.ReasoningTokens != int64(usage.ReasoningTokens) || n.InputTokens == 0 || n.ReasoningTokens == 0 {
		t.Errorf("note tokens %d/%d/%d, usage event %+v", n.InputTokens, n.OutputTokens, n.ReasoningTokens, usage)
	}
	if n.FirstEvent.IsZero() || n.ErrorClass != "" {
		t.Errorf("note after the answer: %+v", n)
	}
}

// failingProvider refuses every attempt with err.
type failingProvider struct{ err error }

func (p failingProvider) Name() string                           { return "fake" }
func (p failingProvider) Models(context.Context) []llm.ModelInfo { return nil }
func (p failingProvider) Resolve(model string) (provider.Match, bool) {
	return provider.Match{Model: llm.ModelInfo{ID: "served-" + model, Kind: llm.KindChat}}, true
}
func (p failingProvider) Chat(context.Context, *gw.Account, *llm.Request) (llm.Stream, error) {
	return nil, p.err
}

// A request no account could answer notes the error code the client sees.
func TestUsageNoteOnFailure(t *testing.T) {
	svc := gateway.New(gateway.Options{
		Registry: provider.NewRegistry(failingProvider{&gw.Error{Code: gw.CodeLoggedOut, Message: "signed out"}}),
		Pool:     &fakePool{acct: gw.Account{ID: "acct_9", Provider: "fake"}},
	})
	note := new(reqctx.Usage)
	_, err := svc.Chat(reqctx.WithUsage(t.Context(), note), request())
	if err == nil {
		t.Fatal("Chat succeeded")
	}
	n := note.Note()
	if n.ErrorClass != string(gw.ErrorCode(err)) || n.ErrorClass == "" || n.AccountID != "acct_9" || n.ServedModel != "served-m" || n.Model != "m" {
		t.Errorf("note after a failure (%v): %+v", err, n)
	}
}
