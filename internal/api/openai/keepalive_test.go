package openai_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

const structuredBody = `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`

// While a structured answer is gathered, the stream starts and empty
// content chunks keep it alive; then the JSON follows.
func TestStructuredStreamKeepAlive(t *testing.T) {
	gate := make(chan struct{})
	b := apitest.GatedBackend(gate, []llm.Event{text(`{"a":1}`), finish(llm.FinishStop), usage(1, 1, 0)}, nil)
	srv := newServer(t, b, "", openai.Options{KeepAlive: time.Millisecond})
	res, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(structuredBody))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	apitest.ReadUntil(t, sc, `"delta":{"role":"assistant","content":""}`)
	apitest.ReadUntil(t, sc, `"delta":{"content":""}`) // a keepalive, before any answer
	close(gate)
	rest := apitest.ReadUntil(t, sc, "[DONE]")
	if !strings.Contains(rest, `"delta":{"content":"{\"a\":1}"}`) || strings.Contains(rest, `"role"`) {
		t.Fatalf("after the keepalives: %s", rest)
	}
}

// A failure before the stream started is a real HTTP error; after the
// keepalives began, it is an in-band error event.
func TestStructuredStreamErrors(t *testing.T) {
	bad := &gw.Error{Code: gw.CodeBadModelOutput, Message: "model did not answer in the requested format"}
	closed := make(chan struct{})
	close(closed)
	srv := newServer(t, apitest.GatedBackend(closed, nil, bad), "", openai.Options{KeepAlive: time.Hour})
	res, body := post(t, srv, "/v1/chat/completions", structuredBody)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "requested format") {
		t.Fatalf("before the stream: %d %s", res.StatusCode, body)
	}

	gate := make(chan struct{})
	srv = newServer(t, apitest.GatedBackend(gate, nil, bad), "", openai.Options{KeepAlive: time.Millisecond})
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(structuredBody))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	apitest.ReadUntil(t, sc, `"delta":{"content":""}`)
	close(gate)
	if rest := apitest.ReadUntil(t, sc, `"error"`); !strings.Contains(rest, "requested format") {
		t.Fatalf("in-band error: %s", rest)
	}
}
