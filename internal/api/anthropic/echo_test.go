package anthropic_test

import (
	"testing"

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
