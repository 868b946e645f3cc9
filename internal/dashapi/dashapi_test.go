package dashapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/dashapi"
	"github.com/sparkgw/spark/internal/gw"
)

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		RPM  int    `json:"rpm"`
	}
	for _, tt := range []struct {
		name, ctype, in string
		status          int // 0: accepted
		code            string
	}{
		{"ok", "application/json", `{"name":"k","rpm":3}`, 0, ""},
		{"no content type", "", `{"name":"k"}`, 0, ""},
		{"form", "text/plain", `{"name":"k"}`, 400, "invalid_content_type"},
		{"unknown field", "application/json", `{"nam":"k"}`, 400, "unknown_field"},
		{"wrong type", "application/json", `{"rpm":"3"}`, 400, "invalid_rpm"},
		{"two objects", "application/json", `{"name":"a"}{"name":"b"}`, 400, "invalid_json"},
		{"not JSON", "application/json", `{"name":`, 400, "invalid_json"},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", 100) + `"}`, 413, "too_large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/x", strings.NewReader(tt.in))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 64)
			var b body
			err := dashapi.DecodeJSON(r, &b)
			var ae *dashapi.Error
			switch {
			case tt.status == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.status != 0 && (!errors.As(err, &ae) || ae.Status != tt.status || ae.Code != tt.code):
				t.Fatalf("error %#v, want %d %s", err, tt.status, tt.code)
			}
		})
	}
}

func TestFail(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, tt := range []struct {
		name       string
		err        error
		status     int
		code, typ  string
		retryAfter string
	}{
		{"dashboard error", &dashapi.Error{Status: 429, Type: gw.CodeClientRateLimited, Code: "too_many_attempts", Message: "Slow down.", RetryAfter: 1500 * time.Millisecond},
			429, "too_many_attempts", "client_rate_limited", "2"},
		{"gateway error", &gw.Error{Code: gw.CodeNotFound, Message: "No such thing."}, 404, "not_found", "not_found", ""},
		{"internal", errors.New("disk on fire at /var/secret"), 500, "internal", "internal", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			dashapi.Fail(log, w, httptest.NewRequest("GET", "/api/x", nil), tt.err)
			var env struct {
				Error struct{ Message, Type, Code string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || w.Code != tt.status || env.Error.Code != tt.code || env.Error.Type != tt.typ {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(w.Body.String(), "/var/secret") {
				t.Error("an internal error's text reached the client")
			}
		})
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Error("the internal error was not logged")
	}
}

func TestClientIP(t *testing.T) {
	for _, tt := range []struct {
		name        string
		trust       bool
		xff, realIP string
		want        string
	}{
		{"remote address", false, "203.0.113.9", "", "192.0.2.1"},
		{"forwarded, trusted", true, "203.0.113.9, 10.0.0.1", "", "203.0.113.9"},
		{"forwarded IPv6", true, " 2001:db8::1 ", "", "2001:db8::1"},
		{"real ip", true, "", "198.51.100.7", "198.51.100.7"},
		{"garbage forwarded falls back", true, "not-an-ip", "", "192.0.2.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "192.0.2.1:5555"
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if tt.realIP != "" {
				r.Header.Set("X-Real-IP", tt.realIP)
			}
			if got := dashapi.ClientIP(r, tt.trust); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}
