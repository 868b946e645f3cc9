package wire_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
)

func TestShouldNotRetryAndAnthropicErrorType(t *testing.T) {
	tests := []struct {
		code      gw.Code
		noRetry   bool
		anthropic string
	}{
		{gw.CodeInvalidRequest, true, "invalid_request_error"},
		{gw.CodeUnauthorized, true, "authentication_error"},
		{gw.CodeForbidden, true, "permission_error"},
		{gw.CodeNotFound, true, "not_found_error"},
		{gw.CodeModelNotFound, true, "not_found_error"},
		{gw.CodeUnknownModel, true, "invalid_request_error"},
		{gw.CodeTooLarge, true, "request_too_large"},
		{gw.CodeMethodNotAllowed, true, "invalid_request_error"},
		{gw.CodeRequestTimeout, false, "timeout_error"},
		{gw.CodeCanceled, true, "api_error"}, // 499
		{gw.CodeClientRateLimited, false, "rate_limit_error"},
		{gw.CodeRateLimited, false, "rate_limit_error"},
		{gw.CodeQuotaExhausted, false, "rate_limit_error"},
		{gw.CodeNoAccounts, false, "rate_limit_error"},
		{gw.CodeNoAccountsConfigured, true, "api_error"},
		{gw.CodeNotImplemented, true, "invalid_request_error"},
		{gw.CodeInternal, false, "api_error"},
		{"", false, "api_error"},
		{gw.CodeUnavailable, false, "overloaded_error"},
		{gw.CodeLoggedOut, false, "overloaded_error"},
		{gw.CodeChallenged, false, "overloaded_error"},
		{gw.CodeIPBlocked, false, "overloaded_error"},
		{gw.CodeAttestation, true, "api_error"},
		{gw.CodeUpstreamTimeout, false, "timeout_error"},
		{gw.CodeTransient, false, "api_error"},
		{gw.CodeUpstream, false, "api_error"},
		{gw.CodeProtocolChanged, true, "api_error"},
		{gw.CodeUpstreamRejected, true, "api_error"},
		{gw.CodeModelMismatch, false, "api_error"},
		{gw.CodeBadModelOutput, false, "api_error"},
	}
	for _, tt := range tests {
		if got := wire.ShouldNotRetry(tt.code); got != tt.noRetry {
			t.Errorf("ShouldNotRetry(%q) = %v", tt.code, got)
		}
		if got := wire.AnthropicErrorType(tt.code); got != tt.anthropic {
			t.Errorf("AnthropicErrorType(%q) = %q, want %q", tt.code, got, tt.anthropic)
		}
	}
}

func TestSetRetryHeaders(t *testing.T) {
	tests := []struct {
		name                    string
		e                       *gw.Error
		retryAfter, ms, noRetry string
	}{
		{"RoundedUp", &gw.Error{Code: gw.CodeClientRateLimited, RetryAfter: 200 * time.Millisecond}, "1", "200", ""},
		{"MillisRoundedUp", &gw.Error{Code: gw.CodeRateLimited, RetryAfter: 1500*time.Millisecond + time.Microsecond}, "2", "1501", ""},
		{"Hour", &gw.Error{Code: gw.CodeQuotaExhausted, RetryAfter: time.Hour}, "3600", "3600000", ""},
		{"NoRetry", &gw.Error{Code: gw.CodeInvalidRequest}, "", "", "false"},
		{"Retryable", &gw.Error{Code: gw.CodeUnavailable}, "", "", ""},
		{"AllResting", &gw.Error{Code: gw.CodeNoAccounts, RetryAfter: 30 * time.Second}, "30", "30000", ""},
		{"NoneConfigured", &gw.Error{Code: gw.CodeNoAccountsConfigured}, "", "", "false"},
	}
	for _, tt := range tests {
		h := http.Header{}
		wire.SetRetryHeaders(h, tt.e)
		if h.Get("Retry-After") != tt.retryAfter || h.Get("Retry-After-Ms") != tt.ms || h.Get("X-Should-Retry") != tt.noRetry {
			t.Errorf("%s: %v", tt.name, h)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	const fallback = `{"error":"internal"}`
	tests := []struct {
		name   string
		status int
		v      any
		want   string
		wantSt int
	}{
		{"Object", http.StatusCreated, map[string]any{"a": "<b>&"}, `{"a":"<b>&"}` + "\n", http.StatusCreated},
		{"Unsupported", http.StatusOK, map[string]any{"c": make(chan int)}, fallback + "\n", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		wire.WriteJSON(rec, tt.status, tt.v, fallback)
		if rec.Code != tt.wantSt || rec.Body.String() != tt.want {
			t.Errorf("%s: %d %q", tt.name, rec.Code, rec.Body.String())
		}
		h := rec.Header()
		if h.Get("Content-Type") != "application/json" || h.Get("Content-Length") != itoa(len(tt.want)) {
			t.Errorf("%s: headers %v", tt.name, h)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
