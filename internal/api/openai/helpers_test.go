package openai_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/reqctx"
)

// The front-end doubles of every API package's tests (internal/api/apitest),
// under the short names these tests use.
type (
	fakeBackend = apitest.FakeBackend
	fakeStream  = apitest.FakeStream
)

var (
	newFakeStream = apitest.NewFakeStream
	waitClosed    = apitest.WaitClosed
	text          = apitest.Text
	reasoning     = apitest.Reasoning
	finish        = apitest.Finish
	usage         = apitest.Usage
	toolDelta     = apitest.ToolDelta
	sseData       = apitest.DataFrames
)

// newServer serves a Handler for b under prefix on a loopback test server.
// Requests carry the key id "key-1" as the server middleware would set it.
func newServer(t *testing.T, b openai.Backend, prefix string, opts openai.Options) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	openai.New(b, opts).Register(mux, prefix)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(reqctx.WithKeyID(r.Context(), "key-1")))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns an official SDK client for srv (no retries).
func newClient(srv *httptest.Server, prefix string) oai.Client {
	return oai.NewClient(
		option.WithBaseURL(srv.URL+prefix+"/v1/"),
		option.WithAPIKey("sk-test"),
		option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()),
	)
}

// post sends a raw JSON request and returns the response with its body read.
func post(t *testing.T, srv *httptest.Server, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, srv, req)
}

// get sends a GET request with optional header pairs.
func get(t *testing.T, srv *httptest.Server, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, srv, req)
}

func do(t *testing.T, srv *httptest.Server, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}
