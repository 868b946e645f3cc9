// Package gw holds spark's domain vocabulary shared by every layer: the one
// error type with its codes, and the account record. It imports nothing
// internal.
package gw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code classifies a failure. Front-ends map it to a status and an error
// envelope; the account pool maps it to a rest period.
type Code string

// Error codes. Client-side codes first, then upstream conditions.
const (
	CodeInvalidRequest    Code = "invalid_request"     // 400: bad body or parameter
	CodeUnauthorized      Code = "unauthorized"        // 401: missing or wrong API key
	CodeForbidden         Code = "forbidden"           // 403
	CodeNotFound          Code = "not_found"           // 404: unknown route or object
	CodeModelNotFound     Code = "model_not_found"     // 404: unknown model
	CodeMethodNotAllowed  Code = "method_not_allowed"  // 405: known route, other method
	CodeRequestTimeout    Code = "request_timeout"     // 408: body not received in time
	CodeUnknownModel      Code = "unknown_model"       // 400: a model this endpoint cannot serve (OpenAI code model_not_found)
	CodeTooLarge          Code = "too_large"           // 413: body or upload too large
	CodeClientRateLimited Code = "client_rate_limited" // 429: spark's own per-IP/per-key limit
	CodeNotImplemented    Code = "not_implemented"     // 501
	CodeCanceled          Code = "canceled"            // 499: the client went away
	CodeInternal          Code = "internal"            // 500: a bug or unknown failure

	CodeRateLimited      Code = "rate_limited"              // upstream limited this account
	CodeQuotaExhausted   Code = "quota_exhausted"           // upstream quota used up (daily)
	CodeNoAccounts       Code = "no_accounts"               // every candidate account is resting or busy: 429, retry later
	CodeLoggedOut        Code = "logged_out"                // cookie no longer signed in
	CodeChallenged       Code = "challenged"                // anti-bot challenge (Cloudflare)
	CodeIPBlocked        Code = "ip_blocked"                // upstream blocked the egress IP
	CodeUnavailable      Code = "upstream_unavailable"      // upstream down
	CodeTransient        Code = "upstream_transient"        // retryable upstream hiccup
	CodeProtocolChanged  Code = "upstream_protocol_changed" // upstream answered in an unknown format
	CodeUpstream         Code = "upstream_error"            // other upstream failure
	CodeUpstreamTimeout  Code = "upstream_timeout"          // upstream too slow
	CodeAttestation      Code = "attestation_required"      // upstream demands what spark will not forge
	CodeModelMismatch    Code = "model_mismatch"            // upstream served another model
	CodeUpstreamRejected Code = "upstream_rejected"         // upstream refused this content
	CodeBadModelOutput   Code = "invalid_model_output"      // the model's answer broke spark's protocol (tool calls)
)

// CodeNoAccountsConfigured: no usable account exists for the provider (none
// configured, or every one logged out and waiting for a new cookie). A
// configuration problem no retry fixes, unlike CodeNoAccounts (every
// account resting: 429 with Retry-After): 503 with x-should-retry: false.
const CodeNoAccountsConfigured Code = "no_accounts_configured"

// Error is a failure with a client-visible code and message. Message never
// contains secrets or prompts; Cause (logged, never shown) may hold detail.
type Error struct {
	Code       Code
	Message    string
	Param      string        // request field at fault, if any
	RetryAfter time.Duration // when retrying can succeed, if known
	Provider   string        // upstream that failed, if any
	Cause      error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with message msg and a private cause.
func Wrap(code Code, cause error, msg string) *Error {
	return &Error{Code: code, Message: msg, Cause: cause}
}

// AsError returns err as an *Error: the one inside err's chain, a
// CodeCanceled error for context cancellation, or CodeInternal with a
// generic message (internals never leak).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Code: CodeCanceled, Message: "request canceled by the client", Cause: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeUpstreamTimeout, Message: "upstream timed out", Cause: err}
	}
	return &Error{Code: CodeInternal, Message: "internal error", Cause: err}
}

// ErrorCode returns the code of err (see AsError).
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	return AsError(err).Code
}

// HTTPStatus is the status a front-end answers with for code.
func HTTPStatus(code Code) int {
	switch code {
	case CodeInvalidRequest, CodeUnknownModel:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound, CodeModelNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeRequestTimeout:
		return http.StatusRequestTimeout
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeClientRateLimited, CodeRateLimited, CodeQuotaExhausted, CodeNoAccounts:
		return http.StatusTooManyRequests
	case CodeNotImplemented:
		return http.StatusNotImplemented
	case CodeCanceled:
		return 499
	case CodeUnavailable, CodeLoggedOut, CodeIPBlocked, CodeChallenged, CodeAttestation, CodeNoAccountsConfigured:
		return http.StatusServiceUnavailable
	case CodeUpstreamTimeout:
		return http.StatusGatewayTimeout
	case CodeTransient, CodeProtocolChanged, CodeUpstream, CodeUpstreamRejected, CodeModelMismatch, CodeBadModelOutput:
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// Failover reports whether a failure of one account may succeed on another:
// the account's own condition (limits, login, IP) or a transient upstream
// hiccup. Client errors and protocol changes are not retried.
func Failover(code Code) bool {
	switch code {
	case CodeRateLimited, CodeQuotaExhausted, CodeLoggedOut, CodeChallenged,
		CodeIPBlocked, CodeTransient, CodeUnavailable, CodeUpstreamTimeout, CodeModelMismatch:
		return true
	}
	return false
}
