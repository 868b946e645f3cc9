package anthropic_test

import (
	"context"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/llm"
)

// A Message, and message_start of a stream, name the model the backend's
// stream reports (the gateway's resolved model: for a dated Claude id the
// dated id, as the Anthropic API echoes it), not the name the client sent;
// a stream that reports none echoes the requested name.
func TestMessageEchoesTheResolvedModel(t *testing.T) {
	for _, tc := range []struct {
		name, reported, want string
		stream               bool
	}{
		{"message, resolved", "served-model", "served-model", false},
		{"message_start, resolved", "served-model", "served-model", true},
		{"message, none reported", "", "client-name", false},
		{"message_start, none reported", "", "client-name", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{Model: tc.reported, Events: []llm.Event{text("hi"), finish(llm.FinishStop), usage(3, 1)}}
			srv := newServer(t, b, anthropic.Options{})
			body := `{"model":"client-name","max_tokens":64,"messages":[{"role":"user","content":"hi"}]`
			if tc.stream {
				body += `,"stream":true`
			}
			res, out := post(t, srv, "/v1/messages", body+"}")
			if res.StatusCode != 200 {
				t.Fatalf("%d %s", res.StatusCode, out)
			}
			apitest.CheckEchoedModel(t, out, "model", tc.want)
		})
	}
}

// When the backend takes longer than the ping interval to answer,
// message_start (sent to start the stream and its pings) can only name the
// requested model; a backend that answers first lets it name the resolved
// one. On the bubble's clock the order is exact.
func TestMessageStartBeforeTheBackendAnsweredNamesTheRequestedModel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
		want  string
	}{
		{"backend answers first", 0, "served-model"},
		{"pings start first", 25 * time.Millisecond, "client-name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
				if tc.delay > 0 {
					timer := time.NewTimer(tc.delay)
					defer timer.Stop()
					select {
					case <-timer.C:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				s := newFakeStream(ctx, []llm.Event{text("hi"), finish(llm.FinishStop), usage(1, 1)}, nil)
				s.ModelName = "served-model"
				return s, nil
			}}
			status, out := postInBubble(t, b, anthropic.Options{PingInterval: 10 * time.Millisecond},
				`{"model":"client-name","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
			if status != 200 {
				t.Fatalf("%d %s", status, out)
			}
			apitest.CheckEchoedModel(t, out, "model", tc.want)
		})
	}
}
