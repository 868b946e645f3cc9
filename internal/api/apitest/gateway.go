package apitest

import (
	"context"
	"io"

	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider"
)

// Gateway returns the real gateway (package gateway) over one scripted
// provider with one account: every request is answered with Events, for
// front-end tests of what the gateway does to an answer (REASONING_HIDE
// with hideReasoning, the usage it counts). It serves the front-ends'
// Backend interface.
func Gateway(hideReasoning bool, events ...llm.Event) *gateway.Service {
	return gateway.New(gateway.Options{
		Registry:      provider.NewRegistry(scripted{events}),
		Pool:          onePool{},
		HideReasoning: hideReasoning,
	})
}

// scripted is a provider that serves every model with the same events.
type scripted struct{ events []llm.Event }

func (scripted) Name() string { return "scripted" }

func (scripted) Models(context.Context) []llm.ModelInfo {
	return []llm.ModelInfo{{ID: "m", Kind: llm.KindChat}}
}

func (scripted) Resolve(model string) (provider.Match, bool) {
	return provider.Match{Model: llm.ModelInfo{ID: model, Kind: llm.KindChat}}, true
}

func (p scripted) Chat(context.Context, *gw.Account, *llm.Request) (llm.Stream, error) {
	return &sliceStream{events: p.events}, nil
}

// sliceStream replays events, then io.EOF.
type sliceStream struct {
	events []llm.Event
	next   int
}

func (s *sliceStream) Recv() (llm.Event, error) {
	if s.next >= len(s.events) {
		return llm.Event{}, io.EOF
	}
	s.next++
	return s.events[s.next-1], nil
}

func (s *sliceStream) Close() error { return nil }

// onePool leases the same account to every request.
type onePool struct{}

func (onePool) Acquire(context.Context, pool.Request) (pool.Lease, error) { return lease{}, nil }

type lease struct{}

var account = gw.Account{ID: "acct_test", Provider: "scripted"}

func (lease) Account() *gw.Account { a := account; return &a }
func (lease) Release(error)        {}
