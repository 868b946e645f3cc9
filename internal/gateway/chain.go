package gateway

import (
	"context"

	"github.com/sparkgw/spark/internal/llm"
)

// wrapFunc is what a StreamWrapper's Wrap returns to wrap one attempt.
type wrapFunc = llm.WrapFunc

// Chain composes stream wrappers: the first is the outermost. Each adapts
// the request the previous one produced, and each sees the stream the next
// one produced, so Chain(structured, toolcall) lets the structured-output
// emulator see tool calls already recognised. A repair request of an outer
// wrapper goes through the inner wrappers again, as the original request
// did. Nil wrappers are skipped.
func Chain(ws ...StreamWrapper) StreamWrapper {
	var c chain
	for _, w := range ws {
		if w != nil {
			c = append(c, w)
		}
	}
	return c
}

type chain []StreamWrapper

// Wrap implements StreamWrapper.
func (c chain) Wrap(ctx context.Context, req *llm.Request) (*llm.Request, wrapFunc, error) {
	if len(c) == 0 {
		return req, nil, nil
	}
	out, outer, err := c[0].Wrap(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	rest := c[1:]
	send, inner, err := rest.Wrap(ctx, out)
	if err != nil {
		return nil, nil, err
	}
	if outer == nil {
		return send, inner, nil
	}
	return send, func(st llm.Stream, reopen func(*llm.Request) (llm.Stream, error)) llm.Stream {
		if inner != nil {
			st = inner(st, reopen)
		}
		var reopenOuter func(*llm.Request) (llm.Stream, error)
		if reopen != nil {
			reopenOuter = func(r *llm.Request) (llm.Stream, error) {
				send, w, err := rest.Wrap(ctx, r)
				if err != nil {
					return nil, err
				}
				st, err := reopen(send)
				if err != nil || w == nil {
					return st, err
				}
				return w(st, reopen), nil
			}
		}
		return outer(st, reopenOuter)
	}, nil
}
