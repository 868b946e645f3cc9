package openai_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/llm"
)

// Completions and every chunk of a stream name the model the backend's
// stream reports (the gateway's resolved model), not the name the client
// sent; a stream that reports none echoes the requested name.
func TestAnswersEchoTheResolvedModel(t *testing.T) {
	for _, tc := range []struct {
		name, reported, want string
		stream               bool
	}{
		{"completion, resolved", "served-model", "served-model", false},
		{"chunks, resolved", "served-model", "served-model", true},
		{"completion, none reported", "", "client-name", false},
		{"chunks, none reported", "", "client-name", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{Model: tc.reported, Events: []llm.Event{text("hi"), finish(llm.FinishStop), usage(3, 1, 0)}}
			srv := newServer(t, b, "", openai.Options{})
			body := `{"model":"client-name","messages":[{"role":"user","content":"hi"}]`
			if tc.stream {
				body += `,"stream":true`
			}
			res, out := post(t, srv, "/v1/chat/completions", body+"}")
			if res.StatusCode != 200 {
				t.Fatalf("%d %s", res.StatusCode, out)
			}
			apitest.CheckEchoedModel(t, out, "model", tc.want)
		})
	}
}
