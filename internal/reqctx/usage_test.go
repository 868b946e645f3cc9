package reqctx_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/reqctx"
)

func TestUsageNote(t *testing.T) {
	if reqctx.UsageOf(context.Background()) != nil {
		t.Fatal("empty context carries a usage note")
	}
	// A nil note (usage accounting off) takes every call.
	var none *reqctx.Usage
	none.SetModels("m", "s")
	none.SetAccount("a")
	none.AddTokens(1, 2, 3)
	none.MarkFirstEvent(time.Now())
	none.SetErrorClass("internal")
	if none.Note() != (reqctx.UsageNote{}) {
		t.Fatal("a nil note holds something")
	}

	u := new(reqctx.Usage)
	ctx := reqctx.WithUsage(context.Background(), u)
	if reqctx.UsageOf(ctx) != u {
		t.Fatal("UsageOf does not return the note put in")
	}
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			u.AddTokens(1, 10, 100)
			u.MarkFirstEvent(first.Add(time.Duration(i+1) * time.Second))
		})
	}
	wg.Wait()
	u.MarkFirstEvent(first)
	u.MarkFirstEvent(first.Add(-time.Hour).Add(2 * time.Hour))
	u.SetModels("gpt", "gpt-served")
	u.SetAccount("acct_1")
	u.SetErrorClass("rate_limited")
	u.SetErrorClass("") // no class: kept
	n := u.Note()
	if n.InputTokens != 8 || n.OutputTokens != 80 || n.ReasoningTokens != 800 {
		t.Errorf("tokens %d/%d/%d, want the sums 8/80/800", n.InputTokens, n.OutputTokens, n.ReasoningTokens)
	}
	if n.FirstEvent.Before(first.Add(time.Second)) || n.FirstEvent.After(first.Add(8*time.Second)) {
		t.Errorf("first event %v: want the earliest of the first marks only", n.FirstEvent)
	}
	if n.Model != "gpt" || n.ServedModel != "gpt-served" || n.AccountID != "acct_1" || n.ErrorClass != "rate_limited" {
		t.Errorf("note %+v", n)
	}
}
