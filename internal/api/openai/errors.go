package openai

import (
	"net/http"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
)

// WriteError renders err as an OpenAI error response: the status of
// gw.HTTPStatus, a JSON body {"error":{"message","type","param","code"}},
// Retry-After (whole seconds, rounded up) and retry-after-ms when the error
// says when to retry, and x-should-retry: false for failures a retry cannot
// fix. Errors that are not a *gw.Error get a generic message (see gw.AsError);
// the cause of an error is never shown. It is the one error renderer of the
// OpenAI routes; the server uses it for authentication and limit failures
// on them. It must be called before anything was written to w.
func WriteError(w http.ResponseWriter, err error) { wire.WriteOpenAIError(w, err) }

// writeAnthropicError renders err in the Anthropic envelope (without a
// request id, which only the Anthropic routes carry), for /v1/models
// requests made by Anthropic clients (Claude Code model discovery).
func writeAnthropicError(w http.ResponseWriter, err error) {
	e := gw.AsError(err)
	wire.SetRetryHeaders(w.Header(), e)
	wire.WriteJSON(w, gw.HTTPStatus(e.Code), wire.AnthropicErrorEnvelope{Type: "error", Error: wire.AnthropicError(e)},
		`{"type":"error","error":{"type":"api_error","message":"internal error"}}`)
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	wire.WriteJSON(w, status, v, `{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
}
