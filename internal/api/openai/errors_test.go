package openai_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/gw"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		status      int
		body        string
		retryAfter  string
		shouldRetry string
	}{
		{"InvalidRequest", &gw.Error{Code: gw.CodeInvalidRequest, Message: "bad", Param: "messages"}, 400,
			`{"error":{"message":"bad","type":"invalid_request_error","param":"messages","code":null}}`, "", "false"},
		{"Unauthorized", gw.Errorf(gw.CodeUnauthorized, "Incorrect API key provided."), 401,
			`{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, "", "false"},
		{"ModelNotFound", gw.Errorf(gw.CodeModelNotFound, "The model `x` does not exist or you do not have access to it."), 404,
			`{"error":{"message":"The model ` + "`x`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`, "", "false"},
		{"UnknownModel", &gw.Error{Code: gw.CodeUnknownModel, Param: "model", Message: "no such image model"}, 400,
			`{"error":{"message":"no such image model","type":"invalid_request_error","param":"model","code":"model_not_found"}}`, "", "false"},
		{"TooLarge", gw.Errorf(gw.CodeTooLarge, "too big"), 413,
			`{"error":{"message":"too big","type":"invalid_request_error","param":null,"code":"request_too_large"}}`, "", "false"},
		{"ClientRateLimited", &gw.Error{Code: gw.CodeClientRateLimited, Message: "Rate limit reached", RetryAfter: 200 * time.Millisecond}, 429,
			`{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, "1", ""},
		{"Quota", &gw.Error{Code: gw.CodeQuotaExhausted, Message: "quota", RetryAfter: time.Hour}, 429,
			`{"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, "3600", ""},
		{"Wrapped", fmt.Errorf("serving: %w", &gw.Error{Code: gw.CodeUnavailable, Message: "Genspark is unavailable", Cause: errors.New("dial tcp: secret")}), 503,
			`{"error":{"message":"Genspark is unavailable","type":"server_error","param":null,"code":"upstream_unavailable"}}`, "", ""},
		{"UpstreamRejected", gw.Errorf(gw.CodeUpstreamRejected, "refused"), 502,
			`{"error":{"message":"refused","type":"server_error","param":null,"code":"upstream_rejected"}}`, "", "false"},
		{"Timeout", gw.Errorf(gw.CodeUpstreamTimeout, "slow"), 504,
			`{"error":{"message":"slow","type":"server_error","param":null,"code":"upstream_timeout"}}`, "", ""},
		{"MethodNotAllowed", gw.Errorf(gw.CodeMethodNotAllowed, "Method GET is not allowed"), 405,
			`{"error":{"message":"Method GET is not allowed","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}`, "", "false"},
		{"RequestTimeout", gw.Errorf(gw.CodeRequestTimeout, "too slow"), 408,
			`{"error":{"message":"too slow","type":"invalid_request_error","param":null,"code":"request_timeout"}}`, "", ""},
		{"NotImplemented", gw.Errorf(gw.CodeNotImplemented, "nope"), 501,
			`{"error":{"message":"nope","type":"invalid_request_error","param":null,"code":"not_implemented"}}`, "", "false"},
		{"PlainError", errors.New("db password wrong"), 500,
			`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`, "", ""},
		{"Nil", nil, 500,
			`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			openai.WriteError(rec, tt.err)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Body.String(); got != tt.body+"\n" {
				t.Errorf("body\n got %s\nwant %s", got, tt.body)
			}
			h := rec.Header()
			if h.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", h.Get("Content-Type"))
			}
			if h.Get("Retry-After") != tt.retryAfter || h.Get("X-Should-Retry") != tt.shouldRetry {
				t.Errorf("Retry-After %q X-Should-Retry %q", h.Get("Retry-After"), h.Get("X-Should-Retry"))
			}
		})
	}
}
