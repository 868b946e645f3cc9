package openai

import (
	"net/http"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
)

// errorBody is the OpenAI error object. Param and Code are always present,
// null when unknown, as the OpenAI schema requires.
type errorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// errorEnvelope is the OpenAI error response, also used as the in-band
// error event of a Chat Completions stream.
type errorEnvelope struct {
	Error errorBody `json:"error"`
}

// openAIError converts e to the OpenAI error object. Only e.Message and
// e.Param reach the client, never e.Cause.
func openAIError(e *gw.Error) errorBody {
	typ, code := "server_error", string(e.Code)
	switch e.Code {
	case gw.CodeInvalidRequest:
		typ, code = "invalid_request_error", ""
	case gw.CodeModelMismatch, gw.CodeForbidden:
		typ = "invalid_request_error"
	case gw.CodeUnauthorized:
		typ, code = "invalid_request_error", "invalid_api_key"
	case gw.CodeNotFound:
		typ, code = "invalid_request_error", ""
	case gw.CodeMethodNotAllowed, gw.CodeRequestTimeout:
		typ = "invalid_request_error"
	case gw.CodeModelNotFound:
		typ, code = "invalid_request_error", "model_not_found"
	case gw.CodeTooLarge:
		typ, code = "invalid_request_error", "request_too_large"
	case gw.CodeClientRateLimited, gw.CodeRateLimited, gw.CodeNoAccounts:
		typ, code = "requests", "rate_limit_exceeded"
	case gw.CodeQuotaExhausted:
		typ, code = "insufficient_quota", "insufficient_quota"
	case gw.CodeNotImplemented:
		typ, code = "invalid_request_error", "not_implemented"
	case gw.CodeInternal, "":
		code = ""
	}
	b := errorBody{Message: e.Message, Type: typ}
	if b.Message == "" {
		b.Message = http.StatusText(gw.HTTPStatus(e.Code))
	}
	if e.Param != "" {
		p := e.Param
		b.Param = &p
	}
	if code != "" {
		b.Code = &code
	}
	return b
}

// WriteError renders err as an OpenAI error response: the status of
// gw.HTTPStatus, a JSON body {"error":{"message","type","param","code"}},
// Retry-After (whole seconds, rounded up) and retry-after-ms when the error
// says when to retry, and x-should-retry: false for failures a retry cannot
// fix. Errors that are not a *gw.Error get a generic message (see gw.AsError);
// the cause of an error is never shown. It is the one error renderer of the
// OpenAI routes; the server uses it for authentication and limit failures
// on them. It must be called before anything was written to w.
func WriteError(w http.ResponseWriter, err error) {
	e := gw.AsError(err)
	if e == nil {
		e = &gw.Error{Code: gw.CodeInternal, Message: "internal error"}
	}
	wire.SetRetryHeaders(w.Header(), e)
	writeJSON(w, gw.HTTPStatus(e.Code), errorEnvelope{Error: openAIError(e)})
}

// anthropicErrorEnvelope is the Anthropic error response.
type anthropicErrorEnvelope struct {
	Type  string             `json:"type"`
	Error anthropicErrorBody `json:"error"`
}

type anthropicErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// writeAnthropicError renders err in the Anthropic envelope, for /v1/models
// requests made by Anthropic clients (Claude Code model discovery).
func writeAnthropicError(w http.ResponseWriter, err error) {
	e := gw.AsError(err)
	wire.SetRetryHeaders(w.Header(), e)
	writeJSON(w, gw.HTTPStatus(e.Code), anthropicErrorEnvelope{Type: "error",
		Error: anthropicErrorBody{Type: wire.AnthropicErrorType(e.Code), Message: e.Message}})
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	wire.WriteJSON(w, status, v, `{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
}
