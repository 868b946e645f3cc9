package gemini_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/gemini"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

type fakeBackend = apitest.FakeBackend

var (
	text      = apitest.Text
	reasoning = apitest.Reasoning
	finish    = apitest.Finish
	toolDelta = apitest.ToolDelta
)

func usage(p, c, r int) llm.Event { return apitest.Usage(p, c, r) }

// newServer serves a Handler for b on a loopback test server, with the key
// id "key-1" in the request context as the server middleware sets it.
func newServer(t *testing.T, b gemini.Backend, opts gemini.Options) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	gemini.New(b, opts).Register(mux, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := reqctx.WithRequestID(reqctx.WithKeyID(r.Context(), "key-1"), "req_test")
		mux.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request and returns the response and its body.
func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// response is a GenerateContentResponse as a client decodes it.
type response struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []part `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
		Index        int    `json:"index"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		TotalTokenCount      int `json:"totalTokenCount"`
		ThoughtsTokenCount   int `json:"thoughtsTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string    `json:"modelVersion"`
	ResponseID   string    `json:"responseId"`
	Error        *apiError `json:"error"`
}

type part struct {
	Text         *string `json:"text"`
	Thought      bool    `json:"thought"`
	FunctionCall *struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
}

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// decode decodes one response, failing on anything else.
func decode(t *testing.T, body string) response {
	t.Helper()
	var r response
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("not a GenerateContentResponse (%v): %s", err, body)
	}
	return r
}

// googleError decodes a Google error envelope, failing on anything else.
func googleError(t *testing.T, body string) apiError {
	t.Helper()
	var env struct {
		Error *apiError `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Error == nil || env.Error.Message == "" || env.Error.Status == "" || env.Error.Code == 0 {
		t.Fatalf("not a Google error envelope (%v): %s", err, body)
	}
	return *env.Error
}

// sseChunks parses an alt=sse body: every event must be one "data: " line
// followed by a blank line.
func sseChunks(t *testing.T, body string) []response {
	t.Helper()
	var out []response
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	blank := true
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if blank {
				t.Fatalf("stray blank line in %q", body)
			}
			blank = true
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || !blank {
			t.Fatalf("unexpected line %q in %q", line, body)
		}
		blank = false
		out = append(out, decode(t, data))
	}
	if !blank {
		t.Fatalf("body does not end with a blank line: %q", body)
	}
	return out
}

// answerText joins the non-thought text of chunks.
func answerText(chunks ...response) (text, thoughts string) {
	var a, b strings.Builder
	for _, c := range chunks {
		for _, cand := range c.Candidates {
			for _, p := range cand.Content.Parts {
				if p.Text == nil {
					continue
				}
				if p.Thought {
					b.WriteString(*p.Text)
				} else {
					a.WriteString(*p.Text)
				}
			}
		}
	}
	return a.String(), b.String()
}

const hello = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
