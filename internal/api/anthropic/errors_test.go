package anthropic_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/gw"
)

func TestWriteError(t *testing.T) {
	cases := []struct {
		err         error
		status      int
		typ         string
		noRetry     bool
		retryAfter  string
		msgContains string
	}{
		{gw.Errorf(gw.CodeInvalidRequest, "messages: bad"), 400, "invalid_request_error", true, "", "messages: bad"},
		{gw.Errorf(gw.CodeUnauthorized, "invalid x-api-key"), 401, "authentication_error", true, "", "invalid x-api-key"},
		{gw.Errorf(gw.CodeForbidden, "no"), 403, "permission_error", true, "", "no"},
		{gw.Errorf(gw.CodeModelNotFound, "model: foo"), 404, "not_found_error", true, "", "model: foo"},
		{gw.Errorf(gw.CodeNotFound, ""), 404, "not_found_error", true, "", "Not Found"},
		{gw.Errorf(gw.CodeTooLarge, "too big"), 413, "request_too_large", true, "", "too big"},
		{&gw.Error{Code: gw.CodeClientRateLimited, Message: "slow", RetryAfter: 1500 * time.Millisecond}, 429, "rate_limit_error", false, "2", "slow"},
		{gw.Errorf(gw.CodeQuotaExhausted, "quota"), 429, "rate_limit_error", false, "", "quota"},
		{gw.Errorf(gw.CodeNotImplemented, "nope"), 501, "invalid_request_error", true, "", "nope"},
		{gw.Errorf(gw.CodeInternal, "bug"), 500, "api_error", false, "", "bug"},
		{gw.Errorf(gw.CodeUpstream, "bad upstream"), 502, "api_error", false, "", "bad upstream"},
		{gw.Errorf(gw.CodeProtocolChanged, "changed"), 502, "api_error", true, "", "changed"},
		{gw.Errorf(gw.CodeUnavailable, "down"), 503, "overloaded_error", false, "", "down"},
		{gw.Errorf(gw.CodeLoggedOut, "logged out"), 503, "overloaded_error", false, "", "logged out"},
		{gw.Errorf(gw.CodeAttestation, "attest"), 503, "api_error", true, "", "attest"},
		{gw.Errorf(gw.CodeUpstreamTimeout, "slow upstream"), 504, "timeout_error", false, "", "slow upstream"},
		{errors.New("secret internal detail"), 500, "api_error", false, "", "internal error"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		w.Header().Set("Request-Id", "req_abc")
		anthropic.WriteError(w, c.err)
		var body errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: %v", c.err, err)
		}
		if w.Code != c.status || body.Type != "error" || body.Error.Type != c.typ || !strings.Contains(body.Error.Message, c.msgContains) {
			t.Errorf("%v: %d %+v, want %d %s", c.err, w.Code, body, c.status, c.typ)
		}
		if strings.Contains(w.Body.String(), "secret") {
			t.Errorf("cause leaked: %s", w.Body.String())
		}
		if body.RequestID != "req_abc" || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%v: request id %q, content type %q", c.err, body.RequestID, w.Header().Get("Content-Type"))
		}
		if got := w.Header().Get("X-Should-Retry") == "false"; got != c.noRetry {
			t.Errorf("%v: x-should-retry false = %v", c.err, got)
		}
		if got := w.Header().Get("Retry-After"); got != c.retryAfter {
			t.Errorf("%v: retry-after = %q", c.err, got)
		}
	}

	// Without a request id from the middleware one is made.
	w := httptest.NewRecorder()
	anthropic.WriteError(w, gw.Errorf(gw.CodeUnauthorized, "x"))
	var body errorBody
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if id := w.Header().Get("Request-Id"); !strings.HasPrefix(id, "req_") || body.RequestID != id {
		t.Errorf("request id header %q, body %q", id, body.RequestID)
	}
}
