package app

import (
	"context"

	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// chatBackend is the gateway as the chat front-ends see it: generated
// images come out as spark-signed proxy links (absolute, on the base URL the
// client used) instead of upstream URLs that need the account's cookies.
//
// It is also where a graceful shutdown reaches the chats in flight: each
// runs under a context the drainer can cancel at the shutdown deadline,
// and its client then gets the shutdown's error (drainingStream).
type chatBackend struct {
	gw     backend
	signer *imageproxy.Signer
	drain  *drainer // nil: not tracked
}

// backend is what every front-end needs from the gateway core.
type backend interface {
	Chat(ctx context.Context, req *llm.Request) (llm.Stream, error)
	Models(ctx context.Context) []llm.ModelInfo
}

func (b chatBackend) Models(ctx context.Context) []llm.ModelInfo { return b.gw.Models(ctx) }

func (b chatBackend) Chat(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return b.drain.chat(ctx, func(ctx context.Context) (llm.Stream, error) {
		st, err := b.gw.Chat(ctx, req)
		if err != nil {
			return nil, err
		}
		return &linkingStream{Stream: st, signer: b.signer, base: reqctx.BaseURL(ctx)}, nil
	})
}

// linkingStream rewrites the URLs of generated images into signed proxy
// links as they pass.
type linkingStream struct {
	llm.Stream
	signer *imageproxy.Signer
	base   string
}

var _ llm.BufferedStream = (*linkingStream)(nil)

// Buffered implements llm.BufferedStream: rewriting never waits, so the
// next event is ready exactly when the gateway's is.
func (s *linkingStream) Buffered() bool { return llm.Buffered(s.Stream) }

// Model implements llm.ModelReporter: the gateway's resolved model.
func (s *linkingStream) Model() string { return llm.ModelOf(s.Stream, "") }

func (s *linkingStream) Recv() (llm.Event, error) {
	ev, err := s.Stream.Recv()
	if err == nil && ev.Type == llm.EventImage && ev.Media != nil && ev.Media.URL != "" && ev.Media.Account != "" {
		ev.Media = s.link(ev.Media)
	}
	return ev, err
}

// link returns a copy of m whose URL is a signed proxy link.
func (s *linkingStream) link(m *llm.Media) *llm.Media {
	c := *m
	c.URL = s.base + s.signer.Mint(c.URL, c.Account, 0)
	return &c
}
