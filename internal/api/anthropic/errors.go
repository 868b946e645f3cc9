package anthropic

import (
	"net/http"

	"github.com/sparkgw/spark/internal/api/wire"
)

// WriteError renders err as an Anthropic error response: the status of
// gw.HTTPStatus, the body {"type":"error","error":{"type","message"},
// "request_id"}, a request-id header, retry-after (whole seconds, rounded
// up) and retry-after-ms when the error says when to retry, and
// x-should-retry: false for failures a retry cannot fix. Errors that are not
// a *gw.Error get a generic message (see gw.AsError); causes are never
// shown.
//
// Error types by status: 400 invalid_request_error, 401
// authentication_error, 403 permission_error, 404 not_found_error, 413
// request_too_large, 429 rate_limit_error, 500 and 502 api_error, 503
// overloaded_error (see wire.AnthropicErrorType), 504 timeout_error.
//
// It is the one error renderer of the Anthropic routes; the server uses it
// for authentication and limit failures on them. It must be called before
// anything was written to w. The request id is taken from the request-id
// header the server middleware set (a fresh one is made otherwise).
func WriteError(w http.ResponseWriter, err error) { wire.WriteAnthropicError(w, err) }

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	wire.WriteJSON(w, status, v, `{"type":"error","error":{"type":"api_error","message":"internal error"}}`)
}
