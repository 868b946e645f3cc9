package responses_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	resp "github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/llm"
)

// The response object (answered whole, and in every event of a stream)
// names the model the backend's stream reports (the gateway's resolved
// model), not the name the client sent; a stream that reports none echoes
// the requested name.
func TestResponseEchoesTheResolvedModel(t *testing.T) {
	for _, tc := range []struct {
		name, reported, want string
		stream               bool
	}{
		{"response, resolved", "served-model", "served-model", false},
		{"stream, resolved", "served-model", "served-model", true},
		{"response, none reported", "", "client-name", false},
		{"stream, none reported", "", "client-name", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{Model: tc.reported, Events: []llm.Event{text("hi"), finish(llm.FinishStop), usage(3, 1, 0)}}
			e := newEnv(t, b, resp.Options{})
			body := `{"model":"client-name","input":"hi","store":false`
			if tc.stream {
				body += `,"stream":true`
			}
			res, out := e.post(t, "/v1/responses", body+"}")
			if res.StatusCode != 200 {
				t.Fatalf("%d %s", res.StatusCode, out)
			}
			apitest.CheckEchoedModel(t, out, "model", tc.want)
		})
	}
}
