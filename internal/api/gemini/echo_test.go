package gemini_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/gemini"
	"github.com/sparkgw/spark/internal/llm"
)

// modelVersion, in an answer and in every chunk of a stream, is the model
// the backend's stream reports (the gateway's resolved model), not the name
// in the URL; a stream that reports none echoes the requested name.
func TestModelVersionIsTheResolvedModel(t *testing.T) {
	for _, tc := range []struct {
		name, reported, want, method string
	}{
		{"answer, resolved", "served-model", "served-model", "generateContent"},
		{"stream, resolved", "served-model", "served-model", "streamGenerateContent?alt=sse"},
		{"answer, none reported", "", "client-name", "generateContent"},
		{"stream, none reported", "", "client-name", "streamGenerateContent?alt=sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{Model: tc.reported, Events: []llm.Event{text("hi"), finish(llm.FinishStop), usage(3, 1, 0)}}
			srv := newServer(t, b, gemini.Options{})
			res, out := do(t, "POST", srv.URL+"/v1beta/models/client-name:"+tc.method, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
			if res.StatusCode != 200 {
				t.Fatalf("%d %s", res.StatusCode, out)
			}
			apitest.CheckEchoedModel(t, out, "modelVersion", tc.want)
		})
	}
}
