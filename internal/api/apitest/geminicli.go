package apitest

import (
	"encoding/json"
	"os"
	"testing"
)

// GeminiCLIRequest is one request of the Gemini CLI capture
// (internal/api/gemini/testdata/gemini-cli-0.61.0-requests.json).
type GeminiCLIRequest struct {
	Scenario string            `json:"scenario"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    string            `json:"query"`
	Headers  map[string]string `json:"headers"`
	Body     map[string]any    `json:"body"`
}

// LoadGeminiCLIRequests reads the Gemini CLI capture at path and restores
// the tool schemas the capture shortened to a list of property names (each
// becomes a string property of an object schema), as the capture's README
// says.
func LoadGeminiCLIRequests(t testing.TB, path string) []GeminiCLIRequest {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Requests []GeminiCLIRequest `json:"requests"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Requests {
		tools, _ := r.Body["tools"].([]any)
		for _, tool := range tools {
			decls, _ := tool.(map[string]any)["functionDeclarations"].([]any)
			for _, d := range decls {
				schema, _ := d.(map[string]any)["parametersJsonSchema"].(map[string]any)
				if names, ok := schema["properties"].([]any); ok {
					props := map[string]any{}
					for _, n := range names {
						props[n.(string)] = map[string]any{"type": "string"}
					}
					schema["properties"], schema["type"] = props, "object"
				}
			}
		}
	}
	return c.Requests
}
