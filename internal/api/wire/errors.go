package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sparkgw/spark/internal/gw"
)

// ShouldNotRetry reports whether retrying the same request cannot succeed,
// so that SDKs (which retry 408, 409, 429 and 5xx by default; Claude Code up
// to ten times) are told "x-should-retry: false" and do not bill the user
// several times for a deterministic failure: the other 4xx, and the
// failures of codes a retry cannot fix (not implemented, refused by the
// upstream, upstream protocol changed, attestation required, no account
// configured).
func ShouldNotRetry(code gw.Code) bool {
	switch code {
	case gw.CodeNotImplemented, gw.CodeUpstreamRejected, gw.CodeProtocolChanged, gw.CodeAttestation, gw.CodeNoAccountsConfigured:
		return true
	}
	s := gw.HTTPStatus(code)
	return s >= 400 && s < 500 && s != http.StatusRequestTimeout &&
		s != http.StatusConflict && s != http.StatusTooManyRequests
}

// SetRetryHeaders sets the retry headers of an error response for e, as
// both the OpenAI and the Anthropic SDKs read them: Retry-After (whole
// seconds, rounded up) and Retry-After-Ms when e says when to retry, and
// X-Should-Retry: false when ShouldNotRetry.
func SetRetryHeaders(h http.Header, e *gw.Error) {
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(e.RetryAfter.Seconds())), 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(int64((e.RetryAfter+time.Millisecond-1)/time.Millisecond), 10))
	}
	if ShouldNotRetry(e.Code) {
		h.Set("X-Should-Retry", "false")
	}
}

// AnthropicErrorType is the Anthropic error type for a failure with code
// (https://docs.claude.com/en/api/errors), by its status (gw.HTTPStatus):
// 400, 405 and 422 invalid_request_error, 401 authentication_error, 403
// permission_error, 404 not_found_error, 413 request_too_large, 429
// rate_limit_error, 408 (a body not received in time) and 504
// timeout_error, 503 (and 529) overloaded_error, any other api_error.
//
// 502 (an upstream failed or answered badly) is api_error, Anthropic's
// "unexpected internal error". 503 (no upstream account can serve now:
// down, logged out, challenged, IP blocked) is overloaded_error, which
// Claude Code and the SDKs treat as "capacity, retry later" exactly like
// Anthropic's own 529; the status stays 503 so proxies, logs and health
// checks see a standard code. Attestation failures and "no account
// configured" are 503 too but permanent until an operator acts, so they are
// api_error (and x-should-retry: false). Not implemented (501) is invalid_request_error:
// a feature this gateway does not offer.
func AnthropicErrorType(code gw.Code) string {
	switch code {
	case gw.CodeNotImplemented:
		return "invalid_request_error"
	case gw.CodeAttestation, gw.CodeNoAccountsConfigured:
		return "api_error"
	}
	switch gw.HTTPStatus(code) {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUnprocessableEntity:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return "timeout_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	return "api_error"
}

// WriteJSON writes v as a JSON response (HTML characters not escaped, one
// line ending in a newline) with status, Content-Type application/json and
// Content-Length. If v cannot be encoded (only unsupported values fail, and
// the response types have none), it writes fallback, a JSON document in
// the caller's error envelope, with status 500 instead.
func WriteJSON(w http.ResponseWriter, status int, v any, fallback string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(fallback + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
