package responses_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/apitest"
	resp "github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

const structuredBody = `{"model":"m","stream":true,"input":"x","text":{"format":{"type":"json_object"}}}`

// While a structured answer is gathered, the stream starts
// (response.created, response.in_progress) and SSE comments keep it alive;
// the JSON then follows, and a failure after that is response.failed.
func TestStructuredStreamKeepAlive(t *testing.T) {
	gate := make(chan struct{})
	e := newEnv(t, apitest.GatedBackend(gate, events(text(`{"a":1}`), done(llm.FinishStop)), nil), resp.Options{KeepAlive: time.Millisecond})
	res, err := http.Post(e.srv.URL+"/v1/responses", "application/json", strings.NewReader(structuredBody))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	head := apitest.ReadUntil(t, sc, ": keepalive")
	if !strings.Contains(head, "event: response.created") || !strings.Contains(head, "event: response.in_progress") {
		t.Fatalf("before the keepalive: %s", head)
	}
	close(gate)
	rest := apitest.ReadUntil(t, sc, "event: response.completed")
	if !strings.Contains(rest, `"delta":"{\"a\":1}"`) || strings.Contains(rest, "response.created") {
		t.Fatalf("after the keepalives: %s", rest)
	}

	bad := &gw.Error{Code: gw.CodeBadModelOutput, Message: "model did not answer in the requested format"}
	gate2 := make(chan struct{})
	e = newEnv(t, apitest.GatedBackend(gate2, nil, bad), resp.Options{KeepAlive: time.Millisecond})
	res2, err := http.Post(e.srv.URL+"/v1/responses", "application/json", strings.NewReader(structuredBody))
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	sc = bufio.NewScanner(res2.Body)
	apitest.ReadUntil(t, sc, ": keepalive")
	close(gate2)
	apitest.ReadUntil(t, sc, "event: response.failed")
	sc.Scan()
	if !strings.Contains(sc.Text(), "requested format") {
		t.Fatalf("response.failed: %s", sc.Text())
	}

	// Before the stream started: a real HTTP error.
	open := make(chan struct{})
	close(open)
	e = newEnv(t, apitest.GatedBackend(open, nil, bad), resp.Options{KeepAlive: time.Hour})
	r3, body := e.post(t, "/v1/responses", structuredBody)
	if r3.StatusCode != http.StatusBadGateway || !strings.Contains(body, "requested format") {
		t.Fatalf("before the stream: %d %s", r3.StatusCode, body)
	}
}
