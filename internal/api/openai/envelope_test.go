package openai_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/api/openai"
)

// TestModelsErrorEnvelopePerRequest checks that the error envelope of the
// models routes is chosen for each request: an Anthropic client's failure
// must not make later OpenAI clients get the Anthropic envelope (nor the
// reverse).
func TestModelsErrorEnvelopePerRequest(t *testing.T) {
	srv := newServer(t, modelBackend(), "", openai.Options{})
	const (
		anthropicWant = `{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}` + "\n"
		openAIPrefix  = `{"error":{"message":`
	)
	for i := range 2 {
		res, body := get(t, srv, "/v1/models/claude-nope", "anthropic-version", "2023-06-01")
		if res.StatusCode != 404 || body != anthropicWant {
			t.Errorf("round %d, Anthropic client: %d %s", i, res.StatusCode, body)
		}
		res, body = get(t, srv, "/v1/models/claude-nope")
		if res.StatusCode != 404 || !strings.HasPrefix(body, openAIPrefix) {
			t.Errorf("round %d, OpenAI client: %d %s", i, res.StatusCode, body)
		}
	}
	// Concurrent failures of both families (the race detector watches the
	// handler's state).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				_, body := get(t, srv, "/v1/models/claude-nope", "x-api-key", "k")
				if body != anthropicWant {
					t.Errorf("concurrent Anthropic client: %s", body)
				}
				return
			}
			_, body := get(t, srv, "/v1/models/claude-nope")
			if !strings.HasPrefix(body, openAIPrefix) {
				t.Errorf("concurrent OpenAI client: %s", body)
			}
		})
	}
	wg.Wait()
}
