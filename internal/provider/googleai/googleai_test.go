package googleai_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/provider/googleai"
	"github.com/sparkgw/spark/internal/simulator"
	"github.com/sparkgw/spark/internal/simulator/googleaisim"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// startSim runs the whole spark simulator (proving googleaisim is mounted).
func startSim(t *testing.T) (*httptest.Server, *simcore.Recorder) {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return srv, sim.Requests
}

func newClient(t *testing.T, base, key string) *googleai.Client {
	t.Helper()
	c, err := googleai.New(googleai.Config{BaseURL: base, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func googleEntries(rec *simcore.Recorder) []simcore.Entry {
	var out []simcore.Entry
	for _, e := range rec.Entries() {
		if e.Upstream == googleaisim.Upstream {
			out = append(out, e)
		}
	}
	return out
}

func TestBatching(t *testing.T) {
	srv, rec := startSim(t)
	c := newClient(t, srv.URL, "AIzaTestKey")
	inputs := make([]string, 250)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("document number %d", i)
	}
	vecs, err := c.Embed(t.Context(), "gemini-embedding-001", inputs, 768)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 250 {
		t.Fatalf("%d vectors", len(vecs))
	}
	for i, v := range vecs {
		want := googleaisim.Embedding("gemini-embedding-001", inputs[i], 3072)[:768]
		if len(v) != 768 {
			t.Fatalf("vector %d has %d dims", i, len(v))
		}
		for j := range v {
			if v[j] != want[j] {
				t.Fatalf("vector %d differs from the simulator's embedding of its input (order lost?)", i)
			}
		}
	}
	entries := googleEntries(rec)
	if len(entries) != 3 {
		t.Fatalf("%d upstream calls, want 3", len(entries))
	}
	counts := map[int]int{}
	for _, e := range entries {
		if e.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" || e.Method != http.MethodPost {
			t.Errorf("call %s %s", e.Method, e.Path)
		}
		if e.Header["X-Goog-Api-Key"] != "AIzaTestKey" || strings.Contains(e.Query, "key=") {
			t.Errorf("key not sent in the header only: header %q query %q", e.Header["X-Goog-Api-Key"], e.Query)
		}
		if e.Facts["dimensions"] != 768 {
			t.Errorf("dimensions fact = %v", e.Facts["dimensions"])
		}
		if e.Outcome != simcore.OutcomeCompleted {
			t.Errorf("outcome %q", e.Outcome)
		}
		counts[e.Facts["count"].(int)]++
	}
	if counts[100] != 2 || counts[50] != 1 {
		t.Errorf("batch sizes %v, want two of 100 and one of 50", counts)
	}
}

func TestSingleAndDefaults(t *testing.T) {
	srv, rec := startSim(t)
	c := newClient(t, srv.URL+"/v1beta/", "k")
	vecs, err := c.Embed(t.Context(), "models/gemini-embedding-001", []string{"hello"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 1 || len(vecs[0]) != 3072 {
		t.Fatalf("got %d vectors of %d dims", len(vecs), len(vecs[0]))
	}
	es := googleEntries(rec)
	if len(es) != 1 || es[0].Path != "/v1beta/models/gemini-embedding-001:embedContent" {
		t.Fatalf("calls: %+v", es)
	}
	if strings.Contains(es[0].Body, "outputDimensionality") || strings.Contains(es[0].Body, "taskType") {
		t.Errorf("unset options sent: %s", es[0].Body)
	}
	// Empty model means the default model.
	if _, err := c.Embed(t.Context(), "", []string{"x"}, 0); err != nil {
		t.Fatal(err)
	}
	if got := googleEntries(rec)[1].Facts["model"]; got != googleai.DefaultModel {
		t.Errorf("model %v", got)
	}
}

func TestTaskType(t *testing.T) {
	srv, rec := startSim(t)
	c, err := googleai.New(googleai.Config{BaseURL: srv.URL, APIKey: "k", TaskType: "RETRIEVAL_DOCUMENT"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Embed(t.Context(), "gemini-embedding-2", []string{"a", "b"}, 1536); err != nil {
		t.Fatal(err)
	}
	if got := googleEntries(rec)[0].Facts["task_type"]; got != "RETRIEVAL_DOCUMENT" {
		t.Errorf("task type %v", got)
	}
}

func TestErrorMapping(t *testing.T) {
	srv, rec := startSim(t)
	cases := []struct {
		name, key, model string
		input            string
		dims             int
		code             gw.Code
		msg              string
		retry            time.Duration
	}{
		{"limited key", "limited-1", "gemini-embedding-001", "x", 0, gw.CodeRateLimited, "rate limit or quota", 30 * time.Second},
		{"invalid key", "invalid-1", "gemini-embedding-001", "x", 0, gw.CodeUnavailable, "rejected the configured GOOGLE_AI_API_KEY (API key not valid", 0},
		{"denied key", "denied-1", "gemini-embedding-001", "x", 0, gw.CodeUnavailable, "GOOGLE_AI_API_KEY", 0},
		{"retired model", "k", "text-embedding-004", "x", 0, gw.CodeModelNotFound, "`text-embedding-004` does not exist", 0},
		{"chat model", "k", "gemini-2.5-flash", "x", 0, gw.CodeModelNotFound, "gemini-2.5-flash", 0},
		{"bad dimensions", "k", "gemini-embedding-001", "x", 64, gw.CodeInvalidRequest, "output_dimensionality must be between 128 and 3072", 0},
		{"upstream overloaded", "k", "gemini-embedding-001", "sim:unavailable", 0, gw.CodeUnavailable, "temporarily unavailable", 0},
		{"upstream rate limit", "k", "gemini-embedding-001", "sim:ratelimit", 0, gw.CodeRateLimited, "retry later", 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, srv.URL, tc.key)
			_, err := c.Embed(t.Context(), tc.model, []string{tc.input, tc.input + " again"}, tc.dims)
			var e *gw.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *gw.Error", err)
			}
			if e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("got %s %q, want %s containing %q", e.Code, e.Message, tc.code, tc.msg)
			}
			if e.RetryAfter != tc.retry {
				t.Errorf("retry after %s, want %s", e.RetryAfter, tc.retry)
			}
			if strings.Contains(e.Message, tc.key) && len(tc.key) > 1 {
				t.Errorf("message leaks the key: %q", e.Message)
			}
		})
	}

	t.Run("no key", func(t *testing.T) {
		rec.Reset()
		c := newClient(t, srv.URL, "")
		if c.Configured() {
			t.Error("Configured with no key")
		}
		_, err := c.Embed(t.Context(), "", []string{"x"}, 0)
		if e := gw.AsError(err); e.Code != gw.CodeUnavailable || !strings.Contains(e.Message, "GOOGLE_AI_API_KEY") {
			t.Errorf("got %v", err)
		}
		if n := len(googleEntries(rec)); n != 0 {
			t.Errorf("%d upstream calls without a key", n)
		}
	})
}

func TestProtocolAndTransportErrors(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, ":embedContent") {
			_, _ = w.Write([]byte(`<html>oops</html>`))
			return
		}
		_, _ = w.Write([]byte(`{"embeddings":[{"values":[0.1]}]}`)) // one for two texts
	}))
	defer bad.Close()
	c := newClient(t, bad.URL, "k")
	for _, in := range [][]string{{"one"}, {"one", "two"}} {
		_, err := c.Embed(t.Context(), "", in, 0)
		if got := gw.ErrorCode(err); got != gw.CodeProtocolChanged {
			t.Errorf("%d inputs: code %s (%v)", len(in), got, err)
		}
	}

	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	_, err := newClient(t, url, "k").Embed(t.Context(), "", []string{"x"}, 0)
	if e := gw.AsError(err); e.Code != gw.CodeUnavailable || !strings.Contains(e.Message, "cannot reach") {
		t.Errorf("got %v", err)
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leaving
		<-r.Context().Done()
	}))
	defer slow.Close()
	sc, _ := googleai.New(googleai.Config{BaseURL: slow.URL, APIKey: "k", Timeout: 100 * time.Millisecond})
	_, err = sc.Embed(t.Context(), "", []string{"x"}, 0)
	if got := gw.ErrorCode(err); got != gw.CodeUpstreamTimeout {
		t.Errorf("slow upstream: %s (%v)", got, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = sc.Embed(ctx, "", []string{"x"}, 0)
	if got := gw.ErrorCode(err); got != gw.CodeCanceled {
		t.Errorf("cancelled: %s (%v)", got, err)
	}

	if _, err := googleai.New(googleai.Config{BaseURL: "ftp://x"}); err == nil {
		t.Error("bad base URL accepted")
	}
}
