package anthropic_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// The front-end doubles of every API package's tests (internal/api/apitest),
// under the short names these tests use.
type (
	fakeBackend = apitest.FakeBackend
	fakeStream  = apitest.FakeStream
	frame       = apitest.Frame
)

var (
	newFakeStream = apitest.NewFakeStream
	waitClosed    = apitest.WaitClosed
	text          = apitest.Text
	reasoning     = apitest.Reasoning
	finish        = apitest.Finish
	toolDelta     = apitest.ToolDelta
	sseFrames     = apitest.EventFrames
)

// usage is a usage event without reasoning tokens.
func usage(p, c int) llm.Event { return apitest.Usage(p, c, 0) }

// newServer serves a Handler for b on a loopback test server. Requests
// carry the key id "key-1" and the request id "req_test" as the server
// middleware would set them.
func newServer(t *testing.T, b anthropic.Backend, opts anthropic.Options) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	anthropic.New(b, opts).Register(mux, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := reqctx.WithRequestID(reqctx.WithKeyID(r.Context(), "key-1"), "req_test")
		mux.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns an official SDK client for srv (no retries).
func newClient(srv *httptest.Server) sdk.Client {
	return sdk.NewClient(
		option.WithBaseURL(srv.URL),
		option.WithAPIKey("sk-ant-test"),
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
	req.Header.Set("anthropic-version", "2023-06-01")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
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

// postInBubble serves one POST /v1/messages inside a testing/synctest
// bubble: the handler, its keepalive timers and the backend's waits run on
// the bubble's fake clock, so a test of keepalives sees exactly the pings
// that fit, whatever the machine's load. synctest.Test also fails if a
// goroutine of the request outlives it.
func postInBubble(t *testing.T, b anthropic.Backend, opts anthropic.Options, body string) (status int, out string) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		mux := http.NewServeMux()
		anthropic.New(b, opts).Register(mux, "")
		req := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		ctx := reqctx.WithRequestID(reqctx.WithKeyID(req.Context(), "key-1"), "req_test")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req.WithContext(ctx))
		status, out = rec.Code, rec.Body.String()
	})
	return status, out
}

// userMsg is a one-message conversation for SDK calls.
func userMsg(s string) []sdk.MessageParam {
	return []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock(s))}
}

// mustJSON decodes s into a generic value.
func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	return v
}
