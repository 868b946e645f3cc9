package openai_test

import (
	"encoding/json"
	"testing"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/llm"
)

func modelBackend() *fakeBackend {
	return &fakeBackend{List: []llm.ModelInfo{
		{ID: "claude-sonnet-4-5", DisplayName: "Claude Sonnet 4.5", OwnedBy: "genspark", Created: 1759104000},
		{ID: "fal-ai/flux-2", OwnedBy: "genspark", Kind: llm.KindImage, InternalID: "flux-2", Description: "images"},
		{ID: "gpt-5.1", InternalID: "gpt-5.1"},
	}}
}

func TestModelsOpenAIShape(t *testing.T) {
	srv := newServer(t, modelBackend(), "", openai.Options{})
	res, body := get(t, srv, "/v1/models", "Authorization", "Bearer k", "OpenAI-Organization", "")
	want := `{"object":"list","data":[` +
		`{"id":"claude-sonnet-4-5","object":"model","created":1759104000,"owned_by":"genspark","display_name":"Claude Sonnet 4.5"},` +
		`{"id":"fal-ai/flux-2","object":"model","created":0,"owned_by":"genspark","display_name":"fal-ai/flux-2","internal_id":"flux-2","description":"images"},` +
		`{"id":"gpt-5.1","object":"model","created":0,"owned_by":"spark","display_name":"gpt-5.1"}]}` + "\n"
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || body != want {
		t.Errorf("%d %q\n got %s\nwant %s", res.StatusCode, res.Header.Get("Content-Type"), body, want)
	}
	for _, path := range []string{"/v1/models/fal-ai%2Fflux-2", "/v1/models/fal-ai/flux-2", "/v1/models/fal-ai%2fflux-2"} {
		res, body = get(t, srv, path)
		want = `{"id":"fal-ai/flux-2","object":"model","created":0,"owned_by":"genspark","display_name":"fal-ai/flux-2","internal_id":"flux-2","description":"images"}` + "\n"
		if res.StatusCode != 200 || body != want {
			t.Errorf("%s: %d %s", path, res.StatusCode, body)
		}
	}
	res, body = get(t, srv, "/v1/models/openai%2Fgpt-4o")
	want = `{"error":{"message":"The model ` + "`openai/gpt-4o`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}` + "\n"
	if res.StatusCode != 404 || body != want {
		t.Errorf("not found: %d %s", res.StatusCode, body)
	}
}

func TestModelsAnthropicShape(t *testing.T) {
	srv := newServer(t, modelBackend(), "", openai.Options{})
	tests := []struct {
		name, path string
		hdr        []string
		status     int
		want       string
	}{
		{"All", "/v1/models?beta=true", []string{"anthropic-version", "2023-06-01"}, 200,
			`{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},` +
				`{"type":"model","id":"fal-ai/flux-2","display_name":"fal-ai/flux-2","created_at":"1970-01-01T00:00:00Z"},` +
				`{"type":"model","id":"gpt-5.1","display_name":"gpt-5.1","created_at":"1970-01-01T00:00:00Z"}],` +
				`"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"gpt-5.1"}`},
		{"ClaudeCodeDiscovery", "/v1/models?limit=1000", []string{"x-api-key", "k"}, 200,
			`{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},` +
				`{"type":"model","id":"fal-ai/flux-2","display_name":"fal-ai/flux-2","created_at":"1970-01-01T00:00:00Z"},` +
				`{"type":"model","id":"gpt-5.1","display_name":"gpt-5.1","created_at":"1970-01-01T00:00:00Z"}],` +
				`"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"gpt-5.1"}`},
		{"FirstPage", "/v1/models?limit=1", []string{"x-api-key", "k"}, 200,
			`{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":true,"first_id":"claude-sonnet-4-5","last_id":"claude-sonnet-4-5"}`},
		{"AfterID", "/v1/models?limit=1&after_id=claude-sonnet-4-5", []string{"x-api-key", "k"}, 200,
			`{"data":[{"type":"model","id":"fal-ai/flux-2","display_name":"fal-ai/flux-2","created_at":"1970-01-01T00:00:00Z"}],"has_more":true,"first_id":"fal-ai/flux-2","last_id":"fal-ai/flux-2"}`},
		{"LastPage", "/v1/models?limit=2&after_id=fal-ai%2Fflux-2", []string{"x-api-key", "k"}, 200,
			`{"data":[{"type":"model","id":"gpt-5.1","display_name":"gpt-5.1","created_at":"1970-01-01T00:00:00Z"}],"has_more":false,"first_id":"gpt-5.1","last_id":"gpt-5.1"}`},
		{"BeforeID", "/v1/models?limit=1&before_id=gpt-5.1", []string{"x-api-key", "k"}, 200,
			`{"data":[{"type":"model","id":"fal-ai/flux-2","display_name":"fal-ai/flux-2","created_at":"1970-01-01T00:00:00Z"}],"has_more":true,"first_id":"fal-ai/flux-2","last_id":"fal-ai/flux-2"}`},
		{"UnknownAfterID", "/v1/models?after_id=nope", []string{"x-api-key", "k"}, 200,
			`{"data":[],"has_more":false,"first_id":null,"last_id":null}`},
		{"BadLimit", "/v1/models?limit=5000", []string{"anthropic-version", "2023-06-01"}, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"limit: must be an integer between 1 and 1000"}}`},
		{"One", "/v1/models/fal-ai%2Fflux-2", []string{"anthropic-version", "2023-06-01"}, 200,
			`{"type":"model","id":"fal-ai/flux-2","display_name":"fal-ai/flux-2","created_at":"1970-01-01T00:00:00Z"}`},
		{"NotFound", "/v1/models/claude-nope", []string{"anthropic-version", "2023-06-01"}, 404,
			`{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, srv, tt.path, tt.hdr...)
			if res.StatusCode != tt.status || body != tt.want+"\n" {
				t.Errorf("%d\n got %s\nwant %s", res.StatusCode, body, tt.want)
			}
			if !json.Valid([]byte(body)) || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("not JSON: %q %s", res.Header.Get("Content-Type"), body)
			}
		})
	}
}
