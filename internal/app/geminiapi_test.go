package app_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/config"
)

// gemini sends a raw request to the gateway's Gemini API with the key in
// x-goog-api-key (as Gemini CLI sends it; "" sends none).
func (h *harness) gemini(method, path, key, body string) (*http.Response, string) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Goog-Api-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// googleEnvelope decodes a Google error envelope, failing the test when
// body is anything else.
func googleEnvelope(t *testing.T, body string) (code int, status, message string) {
	t.Helper()
	var env struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Error == nil || env.Error.Status == "" || env.Error.Message == "" {
		t.Fatalf("not a Google error envelope: %s", body)
	}
	return env.Error.Code, env.Error.Status, env.Error.Message
}

const geminiHello = `{"contents":[{"role":"user","parts":[{"text":"hello there"}]}]}`

// TestGeminiAPIAuthAndServerErrors: the key is taken from x-goog-api-key,
// ?key= or Authorization, and every error the server itself writes under
// /v1beta (401, 404, 405, 413, 429) is Google's envelope.
func TestGeminiAPIAuthAndServerErrors(t *testing.T) {
	h := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie; c.KeyRateLimit = 1000 })
	path := "/v1beta/models/gemini-2.5-pro:generateContent"
	if resp, body := h.gemini("POST", path, testKey, geminiHello); resp.StatusCode != 200 || !strings.Contains(body, "hello there") {
		t.Fatalf("x-goog-api-key: %d %s", resp.StatusCode, body)
	}
	if resp, body := h.gemini("POST", path+"?key="+testKey, "", geminiHello); resp.StatusCode != 200 {
		t.Fatalf("?key=: %d %s", resp.StatusCode, body)
	}
	if resp, body := h.post(path, testKey, geminiHello); resp.StatusCode != 200 {
		t.Fatalf("Authorization: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		name, method, path, key string
		status                  int
		gstatus                 string
	}{
		{"no key", "POST", path, "", 401, "UNAUTHENTICATED"},
		{"wrong key", "POST", path, "sk-wrong", 401, "UNAUTHENTICATED"},
		{"wrong ?key=", "POST", path + "?key=sk-wrong", "", 401, "UNAUTHENTICATED"},
		{"unknown path", "GET", "/v1beta/tunedModels", testKey, 404, "NOT_FOUND"},
		{"unknown method", "POST", "/v1beta/models/gemini-2.5-pro:predict", testKey, 404, "NOT_FOUND"},
		{"wrong method", "DELETE", "/v1beta/models", testKey, 405, "INVALID_ARGUMENT"},
		{"unknown model", "GET", "/v1beta/models/no-such-model", testKey, 404, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.gemini(tc.method, tc.path, tc.key, geminiHello)
			code, status, _ := googleEnvelope(t, body)
			if resp.StatusCode != tc.status || code != tc.status || status != tc.gstatus {
				t.Fatalf("%d %s: %s", resp.StatusCode, status, body)
			}
		})
	}
	t.Run("body too large", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(h.url, "http://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nX-Goog-Api-Key: "+testKey+
			"\r\nContent-Type: application/json\r\nContent-Length: 40000000\r\n\r\n{")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if code, _, _ := googleEnvelope(t, string(b)); resp.StatusCode != 413 || code != 413 {
			t.Fatalf("%d: %s", resp.StatusCode, b)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		h2 := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie; c.KeyRateLimit = 1 })
		h2.gemini("GET", "/v1beta/models", testKey, "")
		resp, body := h2.gemini("GET", "/v1beta/models", testKey, "")
		if code, status, _ := googleEnvelope(t, body); resp.StatusCode != 429 || code != 429 || status != "RESOURCE_EXHAUSTED" {
			t.Fatalf("%d: %s", resp.StatusCode, body)
		}
	})
}

// cliRequests reads Gemini CLI 0.61.0's captured requests, kept with the
// front-end's test data (see internal/api/gemini/testdata/README.md).
func cliRequests(t *testing.T) []apitest.GeminiCLIRequest {
	return apitest.LoadGeminiCLIRequests(t, "../api/gemini/testdata/gemini-cli-0.61.0-requests.json")
}

// TestGeminiCLIFixturesThroughSimulators replays Gemini CLI's captured
// requests through the whole gateway with only a Gemini web account: the
// CLI's model names (gemini-3.8-flash, gemini-3.5-flash-lite) resolve to
// the web app's models, every turn answers 200 with a valid SSE stream,
// and the first yolo turn, whose prompt carries a sim:tool directive,
// calls write_file.
func TestGeminiCLIFixturesThroughSimulators(t *testing.T) {
	h := start(t, geminiOnly)
	for i, fr := range cliRequests(t) {
		t.Run(fr.Scenario, func(t *testing.T) {
			if i == 1 { // the elided prompt of the tool scenario
				contents := fr.Body["contents"].([]any)
				parts := contents[0].(map[string]any)["parts"].([]any)
				parts[1] = map[string]any{"text": `Write it. sim:tool write_file {"file_path":"/tmp/gm-out.txt","content":"nonce42"}`}
			}
			body, _ := json.Marshal(fr.Body)
			before := len(h.generates())
			resp, out := h.gemini("POST", fr.Path+fr.Query, testKey, string(body))
			if resp.StatusCode != 200 {
				t.Fatalf("%d: %s", resp.StatusCode, out)
			}
			if len(h.generates()) != before+1 {
				t.Fatalf("the Gemini web simulator got %d chat requests, want 1", len(h.generates())-before)
			}
			var chunks []string
			if fr.Query == "?alt=sse" {
				if !strings.HasSuffix(out, "\n\n") {
					t.Fatalf("stream does not end with a blank line: %q", out)
				}
				for ev := range strings.SplitSeq(strings.TrimSuffix(out, "\n\n"), "\n\n") {
					data, ok := strings.CutPrefix(ev, "data: ")
					if !ok || strings.Contains(data, "\n") {
						t.Fatalf("bad event %q", ev)
					}
					chunks = append(chunks, data)
				}
			} else {
				chunks = []string{out}
			}
			var last struct {
				Candidates []struct {
					Content struct {
						Role  string
						Parts []struct {
							Text         string
							FunctionCall *struct {
								Name string
								Args map[string]string
							}
						}
					}
					FinishReason string
				}
				UsageMetadata *struct{ PromptTokenCount, TotalTokenCount int }
			}
			for _, c := range chunks {
				if err := json.Unmarshal([]byte(c), &last); err != nil || len(last.Candidates) != 1 || last.Candidates[0].Content.Role != "model" {
					t.Fatalf("chunk %s", c)
				}
			}
			if last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata == nil || last.UsageMetadata.PromptTokenCount == 0 {
				t.Fatalf("last chunk: %s", chunks[len(chunks)-1])
			}
			if i == 1 {
				var call *struct {
					Name string
					Args map[string]string
				}
				for _, p := range last.Candidates[0].Content.Parts {
					if p.FunctionCall != nil {
						call = p.FunctionCall
					}
				}
				if call == nil || call.Name != "write_file" || call.Args["content"] != "nonce42" {
					t.Fatalf("no write_file call: %s", out)
				}
			}
		})
	}
}
