package wire

import (
	"net/http"

	"github.com/sparkgw/spark/internal/gw"
)

// The OpenAI error shapes, which every front-end but the Anthropic one
// answers in (openai, responses, extras, media) and the server uses for
// its own failures on those routes.

// OpenAIErrorBody is the OpenAI error object. Param and Code are always present,
// null when unknown, as the OpenAI schema requires.
type OpenAIErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// OpenAIErrorEnvelope is the OpenAI error response, also the in-band
// error event of a Chat Completions stream.
type OpenAIErrorEnvelope struct {
	Error OpenAIErrorBody `json:"error"`
}

// OpenAIError converts e to the OpenAI error object. Only e.Message and
// e.Param reach the client, never e.Cause.
func OpenAIError(e *gw.Error) OpenAIErrorBody {
	typ, code := "server_error", string(e.Code)
	switch e.Code {
	case gw.CodeInvalidRequest:
		typ, code = "invalid_request_error", ""
	case gw.CodeModelMismatch, gw.CodeForbidden:
		typ = "invalid_request_error"
	case gw.CodeUnauthorized:
		typ, code = "invalid_request_error", "invalid_api_key"
	case gw.CodeNotFound:
		typ, code = "invalid_request_error", "not_found_error"
	case gw.CodeMethodNotAllowed, gw.CodeRequestTimeout:
		typ = "invalid_request_error"
	case gw.CodeModelNotFound, gw.CodeUnknownModel:
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
	b := OpenAIErrorBody{Message: e.Message, Type: typ}
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

// WriteOpenAIError renders err as an OpenAI error response: the status of
// gw.HTTPStatus, a JSON body {"error":{"message","type","param","code"}},
// the retry headers of SetRetryHeaders. Errors that are not a *gw.Error get
// a generic message (see gw.AsError); the cause of an error is never
// shown. It must be called before anything was written to w.
func WriteOpenAIError(w http.ResponseWriter, err error) {
	e := gw.AsError(err)
	if e == nil {
		e = &gw.Error{Code: gw.CodeInternal, Message: "internal error"}
	}
	NoteErrorClass(w, e.Code)
	SetRetryHeaders(w.Header(), e)
	WriteJSON(w, gw.HTTPStatus(e.Code), OpenAIErrorEnvelope{Error: OpenAIError(e)}, openAIFallback)
}

// NoteErrorClass tells the server the error code a request is answered
// with, for its usage record, when w is the server's writer (it then has a
// NoteErrorClass method); otherwise it does nothing.
func NoteErrorClass(w http.ResponseWriter, code gw.Code) {
	if n, ok := w.(interface{ NoteErrorClass(string) }); ok {
		n.NoteErrorClass(string(code))
	}
}

// openAIFallback is the OpenAI error body written when a response cannot
// be encoded.
const openAIFallback = `{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`
