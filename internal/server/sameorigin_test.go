package server_test

import (
	"net/http"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/server"
)

type forbiddingAuth struct{}

func (forbiddingAuth) Authenticate(*http.Request) (string, bool, error) {
	return "", false, &gw.Error{Code: gw.CodeForbidden, Message: "admins only"}
}

// TestAuthenticatorForbiddenIs403: a valid credential without the route's
// rights (a user on an admin route) is refused 403, not 401 or 500.
func TestAuthenticatorForbiddenIs403(t *testing.T) {
	s := tableServer(t, server.Options{Admin: forbiddingAuth{}})
	w := request(t, s, "POST", "/admin/keys", nil)
	if w.Code != http.StatusForbidden {
		t.Fatalf("forbidden credential: %d %s", w.Code, w.Body.String())
	}
	if _, _, msg := envelope(t, w); msg != "admins only" {
		t.Fatalf("message %q", msg)
	}
}

// TestCrossOriginStateChangeRefused: a browser's cross-origin POST to a
// session, admin or public route is refused 403 before authentication;
// reads, same-origin requests and client-key routes (no ambient cookie)
// pass.
func TestCrossOriginStateChangeRefused(t *testing.T) {
	s := tableServer(t, server.Options{Keys: keys{"sk-1": "key1"}, Admin: headerAuth{"a", "admin1"}, Session: headerAuth{"s", "user1"},
		PublicURL: "https://spark.example.com"})
	for _, tt := range []struct {
		name         string
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"cross-site admin POST", "POST", "/admin/keys", map[string]string{"X-Test-Credential": "a", "Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign Origin admin POST", "POST", "/admin/keys", map[string]string{"X-Test-Credential": "a", "Origin": "https://evil.example"}, 403},
		{"same-origin admin POST", "POST", "/admin/keys", map[string]string{"X-Test-Credential": "a", "Sec-Fetch-Site": "same-origin"}, 200},
		{"PUBLIC_URL origin admin POST", "POST", "/admin/keys", map[string]string{"X-Test-Credential": "a", "Origin": "https://spark.example.com"}, 200},
		{"non-browser admin POST", "POST", "/admin/keys", map[string]string{"X-Test-Credential": "a"}, 200},
		{"cross-site session GET", "GET", "/dashboard/api/me", map[string]string{"X-Test-Credential": "s", "Sec-Fetch-Site": "cross-site"}, 200},
		{"cross-site client-key POST", "POST", "/v1/chat/completions", map[string]string{"Authorization": "Bearer sk-1", "Sec-Fetch-Site": "cross-site"}, 200},
	} {
		w := request(t, s, tt.method, tt.path, tt.hdr)
		if w.Code != tt.want {
			t.Errorf("%s: %d %s", tt.name, w.Code, w.Body.String())
		}
		if tt.want == 403 {
			envelope(t, w)
		}
	}
}
