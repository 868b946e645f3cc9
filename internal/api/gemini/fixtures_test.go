package gemini_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/gemini"
	"github.com/sparkgw/spark/internal/llm"
)

// TestGeminiCLIFixtures replays Gemini CLI 0.61.0's requests: each is
// accepted and converted (system instruction, tools, the write_file round
// trip with the CLI's ids), and answered as the CLI needs: SSE chunks for
// the turns, one JSON response for the routing classifier.
func TestGeminiCLIFixtures(t *testing.T) {
	requests := apitest.LoadGeminiCLIRequests(t, "testdata/gemini-cli-0.61.0-requests.json")
	if len(requests) != 4 {
		t.Fatalf("%d requests in the capture, want 4", len(requests))
	}
	for i, fr := range requests {
		t.Run(fr.Scenario, func(t *testing.T) {
			b := &fakeBackend{Events: []llm.Event{reasoning("plan"), text("done"), finish(llm.FinishStop), usage(100, 5, 1)}}
			srv := newServer(t, b, gemini.Options{})
			body, _ := json.Marshal(fr.Body)
			resp, out := do(t, fr.Method, srv.URL+fr.Path+fr.Query, string(body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d: %s", resp.StatusCode, out)
			}
			var chunks []response
			if fr.Query == "?alt=sse" {
				chunks = sseChunks(t, out)
			} else {
				chunks = []response{decode(t, out)}
			}
			last := chunks[len(chunks)-1]
			text, thoughts := answerText(chunks...)
			if text != "done" || thoughts != "plan" || last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata == nil {
				t.Fatalf("answer %q thoughts %q: %s", text, thoughts, out)
			}
			req := b.LastRequest(t)
			model := strings.TrimSuffix(strings.TrimPrefix(fr.Path, "/v1beta/models/"), ":"+strings.SplitN(fr.Path, ":", 2)[1])
			if req.Model != model || req.Messages[0].Role != llm.RoleSystem || !req.Reasoning || req.ReasoningEffort != "high" {
				t.Fatalf("model %q (want %q), first role %s, reasoning %v %q", req.Model, model, req.Messages[0].Role, req.Reasoning, req.ReasoningEffort)
			}
			if want := declarations(fr.Body); len(req.Tools) != want || (i < 3 && want < 8) {
				t.Fatalf("%d tools, want %d", len(req.Tools), want)
			}
			switch i {
			case 2:
				n := len(req.Messages)
				call, result := req.Messages[n-2], req.Messages[n-1]
				if call.Role != llm.RoleAssistant || call.Parts[0].ToolCall.ID != "write_file_1796581035811_0" || call.Parts[0].ToolCall.Name != "write_file" ||
					result.Role != llm.RoleTool || result.Parts[0].ToolResult.CallID != "write_file_1796581035811_0" ||
					!strings.HasPrefix(result.Parts[0].ToolResult.Content, "Successfully created") {
					t.Fatalf("round trip: %+v / %+v", call.Parts[0].ToolCall, result.Parts[0].ToolResult)
				}
			case 3:
				if req.Output == nil || req.Output.Kind != llm.OutputJSONSchema || !strings.Contains(string(req.Output.Schema), `"type":"integer"`) {
					t.Fatalf("classifier output format: %+v", req.Output)
				}
			}
		})
	}
}

// declarations counts the function declarations of a request body.
func declarations(body map[string]any) int {
	n := 0
	tools, _ := body["tools"].([]any)
	for _, tool := range tools {
		decls, _ := tool.(map[string]any)["functionDeclarations"].([]any)
		n += len(decls)
	}
	return n
}
