package gw_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
)

func TestAsError(t *testing.T) {
	inner := &gw.Error{Code: gw.CodeRateLimited, Message: "limited"}
	tests := []struct {
		name    string
		err     error
		code    gw.Code
		message string
	}{
		{"wrapped gw error", fmt.Errorf("attempt 2: %w", inner), gw.CodeRateLimited, "limited"},
		{"cancel", fmt.Errorf("read: %w", context.Canceled), gw.CodeCanceled, "request canceled by the client"},
		{"deadline", context.DeadlineExceeded, gw.CodeUpstreamTimeout, "upstream timed out"},
		{"unknown hides detail", errors.New("dial tcp 10.1.2.3: secret detail"), gw.CodeInternal, "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := gw.AsError(tc.err)
			if e.Code != tc.code || e.Message != tc.message {
				t.Fatalf("got %s %q", e.Code, e.Message)
			}
		})
	}
	if gw.AsError(nil) != nil || gw.ErrorCode(nil) != "" {
		t.Fatal("nil error must stay nil")
	}
}

func TestStatusAndFailover(t *testing.T) {
	tests := []struct {
		code     gw.Code
		status   int
		failover bool
	}{
		{gw.CodeInvalidRequest, http.StatusBadRequest, false},
		{gw.CodeUnauthorized, http.StatusUnauthorized, false},
		{gw.CodeModelNotFound, http.StatusNotFound, false},
		{gw.CodeUnknownModel, http.StatusBadRequest, false},
		{gw.CodeTooLarge, http.StatusRequestEntityTooLarge, false},
		{gw.CodeMethodNotAllowed, http.StatusMethodNotAllowed, false},
		{gw.CodeRequestTimeout, http.StatusRequestTimeout, false},
		{gw.CodeNoAccounts, http.StatusTooManyRequests, false},
		{gw.CodeNoAccountsConfigured, http.StatusServiceUnavailable, false},
		{gw.CodeRateLimited, http.StatusTooManyRequests, true},
		{gw.CodeQuotaExhausted, http.StatusTooManyRequests, true},
		{gw.CodeLoggedOut, http.StatusServiceUnavailable, true},
		{gw.CodeChallenged, http.StatusServiceUnavailable, true},
		{gw.CodeIPBlocked, http.StatusServiceUnavailable, true},
		{gw.CodeTransient, http.StatusBadGateway, true},
		{gw.CodeModelMismatch, http.StatusBadGateway, true},
		{gw.CodeProtocolChanged, http.StatusBadGateway, false},
		{gw.CodeBadModelOutput, http.StatusBadGateway, false},
		{gw.CodeUpstreamTimeout, http.StatusGatewayTimeout, true},
		{gw.CodeNotImplemented, http.StatusNotImplemented, false},
		{gw.CodeInternal, http.StatusInternalServerError, false},
	}
	for _, tc := range tests {
		if got := gw.HTTPStatus(tc.code); got != tc.status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", tc.code, got, tc.status)
		}
		if got := gw.Failover(tc.code); got != tc.failover {
			t.Errorf("Failover(%s) = %v, want %v", tc.code, got, tc.failover)
		}
	}
}

func TestErrorStringKeepsCauseOutOfMessage(t *testing.T) {
	e := gw.Wrap(gw.CodeUpstream, errors.New("cause detail"), "upstream failed")
	if e.Message != "upstream failed" || e.Error() != "upstream failed: cause detail" || !errors.Is(e, e.Cause) {
		t.Fatalf("%q / %q", e.Message, e.Error())
	}
}
