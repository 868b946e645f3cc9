package gemini

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
)

// errorBody is google.rpc.Status as the Gemini API writes it.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// errorEnvelope is {"error": {...}}, also sent in-band on a stream.
type errorEnvelope struct {
	Error errorBody `json:"error"`
}

// Status is the google.rpc.Code name of an error with HTTP status code,
// as the Gemini API pairs them: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED,
// 403 PERMISSION_DENIED, 404 NOT_FOUND, 408 and 504 DEADLINE_EXCEEDED,
// 409 ABORTED, 429 RESOURCE_EXHAUSTED, 499 CANCELLED, 501 UNIMPLEMENTED,
// 502 and 503 UNAVAILABLE, other 5xx INTERNAL, other 4xx (405, 413, 422)
// INVALID_ARGUMENT (the request as sent cannot succeed).
func Status(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "INVALID_ARGUMENT"
}

// googleError converts e to Google's error body.
func googleError(e *gw.Error) errorBody {
	code := gw.HTTPStatus(e.Code)
	return errorBody{Code: code, Message: e.Message, Status: Status(code)}
}

// WriteError renders err as a Gemini API error: the status of
// gw.HTTPStatus, the body {"error":{"code","message","status"}}, and the
// retry headers (see wire.SetRetryHeaders). Errors that are not a
// *gw.Error get a generic message (see gw.AsError); causes are never
// shown. It is the one error renderer of the /v1beta routes; the server
// uses it for its own failures on them. It must be called before anything
// was written to w.
func WriteError(w http.ResponseWriter, err error) {
	e := gw.AsError(err)
	wire.SetRetryHeaders(w.Header(), e)
	b := googleError(e)
	writeJSON(w, b.Code, errorEnvelope{Error: b})
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	wire.WriteJSON(w, status, v, `{"error":{"code":500,"message":"internal error","status":"INTERNAL"}}`)
}

// invalid returns a 400 INVALID_ARGUMENT error about the field at param
// (a path like "contents[0].parts[1].inlineData"), worded as the Gemini
// API words them: "* GenerateContentRequest.<param>: <message>".
func invalid(param, format string, args ...any) *gw.Error {
	msg := fmt.Sprintf(format, args...)
	if param != "" {
		msg = "* GenerateContentRequest." + param + ": " + msg
	}
	return &gw.Error{Code: gw.CodeInvalidRequest, Param: param, Message: msg}
}

// bodyErrors words the errors of a JSON request body the way the Gemini
// API does.
var bodyErrors = wire.BodyErrors{
	TooLarge: func(limit int64) string {
		return fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", limit)
	},
	WrongType: func(te *json.UnmarshalTypeError) string {
		return fmt.Sprintf("Invalid JSON payload received. Invalid value at '%s': expected %s.", te.Field, wire.JSONKind(te.Type.String()))
	},
	Malformed: "Invalid JSON payload received. The body is not valid JSON.",
}
