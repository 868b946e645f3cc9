package anthropic

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sparkgw/spark/internal/gw"
)

// errorEnvelope is the Anthropic error response (ErrorResponse of the SDKs),
// also the data of an in-band "event: error" frame.
type errorEnvelope struct {
	Type      string    `json:"type"` // always "error"
	Error     errorBody `json:"error"`
	RequestID string    `json:"request_id,omitempty"`
}

type errorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Anthropic error types (https://docs.claude.com/en/api/errors).
const (
	errInvalidRequest = "invalid_request_error"
	errAuthentication = "authentication_error"
	errPermission     = "permission_error"
	errNotFound       = "not_found_error"
	errTooLarge       = "request_too_large"
	errRateLimit      = "rate_limit_error"
	errAPI            = "api_error"
	errTimeout        = "timeout_error"
	errOverloaded     = "overloaded_error"
)

// errorType is the Anthropic error type for a failure with code and status.
//
// 502 (an upstream failed or answered badly) is api_error, Anthropic's
// "unexpected internal error". 503 (no upstream account can serve now: down,
// logged out, challenged, IP blocked) is overloaded_error, which Claude Code
// and the SDKs treat as "capacity, retry later" exactly like Anthropic's own
// 529; the status stays 503 so proxies, logs and health checks see a
// standard code. Attestation failures are 503 too but permanent until an
// operator acts, so they are api_error (and x-should-retry: false).
func errorType(code gw.Code, status int) string {
	switch code {
	case gw.CodeNotImplemented:
		return errInvalidRequest // a feature this gateway does not offer
	case gw.CodeAttestation:
		return errAPI
	}
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return errInvalidRequest
	case http.StatusUnauthorized:
		return errAuthentication
	case http.StatusForbidden:
		return errPermission
	case http.StatusNotFound:
		return errNotFound
	case http.StatusRequestEntityTooLarge:
		return errTooLarge
	case http.StatusTooManyRequests:
		return errRateLimit
	case http.StatusGatewayTimeout:
		return errTimeout
	case http.StatusServiceUnavailable, 529:
		return errOverloaded
	}
	return errAPI
}

// wireError converts e to the Anthropic error object. Only e.Message reaches
// the client, never e.Cause.
func wireError(e *gw.Error) errorBody {
	status := gw.HTTPStatus(e.Code)
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "error"
		}
	}
	return errorBody{Type: errorType(e.Code, status), Message: msg}
}

// shouldNotRetry reports whether retrying the same request cannot succeed,
// so SDKs (which retry 408, 409, 429 and 5xx by default; Claude Code up to
// ten times) are told "x-should-retry: false" and do not bill the user
// several times for a deterministic failure.
func shouldNotRetry(code gw.Code) bool {
	switch code {
	case gw.CodeNotImplemented, gw.CodeUpstreamRejected, gw.CodeProtocolChanged, gw.CodeAttestation:
		return true
	}
	s := gw.HTTPStatus(code)
	return s >= 400 && s < 500 && s != http.StatusRequestTimeout &&
		s != http.StatusConflict && s != http.StatusTooManyRequests
}

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
// overloaded_error (see errorType), 504 timeout_error.
//
// It is the one error renderer of the Anthropic routes; the server uses it
// for authentication and limit failures on them. It must be called before
// anything was written to w. The request id is taken from the request-id
// header the server middleware set (a fresh one is made otherwise).
func WriteError(w http.ResponseWriter, err error) {
	e := gw.AsError(err)
	if e == nil {
		e = &gw.Error{Code: gw.CodeInternal, Message: "internal error"}
	}
	h := w.Header()
	id := h.Get("Request-Id")
	if id == "" {
		id = newRequestID()
		h.Set("Request-Id", id)
	}
	writeErrorHeaders(h, e)
	writeJSON(w, gw.HTTPStatus(e.Code), errorEnvelope{Type: "error", Error: wireError(e), RequestID: id})
}

// writeErrorHeaders sets the retry headers for e.
func writeErrorHeaders(h http.Header, e *gw.Error) {
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(e.RetryAfter.Seconds())), 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(int64((e.RetryAfter+time.Millisecond-1)/time.Millisecond), 10))
	}
	if shouldNotRetry(e.Code) {
		h.Set("X-Should-Retry", "false")
	}
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only unsupported values fail, and the response types have none.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"type":"error","error":{"type":"api_error","message":"internal error"}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
