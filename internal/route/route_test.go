package route_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sparkgw/spark/internal/route"
)

// TestDialectFor: the one decision of which envelope a client reads.
func TestDialectFor(t *testing.T) {
	tests := []struct {
		name     string
		declared route.Dialect
		hdr      map[string]string
		want     route.Dialect
		path     string // "" is /v1/models
	}{
		{"by client, plain", route.ByClient, nil, route.OpenAI, ""},
		{"by client, bearer", route.ByClient, map[string]string{"Authorization": "Bearer k"}, route.OpenAI, ""},
		{"by client, anthropic-version", route.ByClient, map[string]string{"Anthropic-Version": "2023-06-01"}, route.Anthropic, ""},
		{"by client, x-api-key", route.ByClient, map[string]string{"X-Api-Key": "k"}, route.Anthropic, ""},
		{"by client, empty x-api-key", route.ByClient, map[string]string{"X-Api-Key": ""}, route.Anthropic, ""},
		{"openai stays", route.OpenAI, map[string]string{"Anthropic-Version": "2023-06-01"}, route.OpenAI, ""},
		{"anthropic stays", route.Anthropic, nil, route.Anthropic, ""},
		{"google stays", route.Google, nil, route.Google, "/v1/models"},
		{"by client, under /v1beta", route.ByClient, map[string]string{"X-Api-Key": "k"}, route.Google, "/v1beta/nothing:here"},
		{"by client, /v1beta itself", route.ByClient, nil, route.Google, "/v1beta"},
		{"by client, /v1betax is not the Gemini API", route.ByClient, nil, route.OpenAI, "/v1betax/models"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/v1/models"
			}
			r := httptest.NewRequest("GET", path, nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			if got := tc.declared.For(r); got != tc.want {
				t.Fatalf("%s, want %s", got, tc.want)
			}
		})
	}
}

func TestClassValid(t *testing.T) {
	var zero route.Class
	if zero.Valid() || (route.Metrics + 1).Valid() {
		t.Fatal("the zero class or one past the last is valid")
	}
	for _, c := range []route.Class{route.Public, route.ClientKey, route.SignedLink, route.Session, route.Admin, route.Metrics} {
		if !c.Valid() {
			t.Errorf("%s not valid", c)
		}
	}
}

// TestMount serves routes on a plain mux under a prefix.
func TestMount(t *testing.T) {
	mux := http.NewServeMux()
	route.Mount(mux, "/hf", []route.Route{{Pattern: "POST /v1/x/{id}", Class: route.ClientKey,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.PathValue("id"))) })}})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/hf/v1/x/42", nil))
	if w.Code != 200 || w.Body.String() != "42" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
}
