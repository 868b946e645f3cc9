package googleaisim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/simulator/googleaisim"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

func start(t *testing.T) (*httptest.Server, *simcore.Recorder) {
	rec := simcore.NewRecorder(0)
	mux := http.NewServeMux()
	googleaisim.New(googleaisim.Options{Recorder: rec}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rec
}

type answer struct {
	Status int
	Body   map[string]any
	Raw    string
}

func post(t *testing.T, url, key, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Raw: string(raw)}
	if err := json.Unmarshal(raw, &a.Body); err != nil {
		t.Fatalf("non-JSON answer %q", raw)
	}
	return a
}

func errOf(a answer) (int, string, string) {
	e, _ := a.Body["error"].(map[string]any)
	code, _ := e["code"].(float64)
	msg, _ := e["message"].(string)
	st, _ := e["status"].(string)
	return int(code), msg, st
}

func norm(vals []any) float64 {
	var s float64
	for _, v := range vals {
		f := v.(float64)
		s += f * f
	}
	return math.Sqrt(s)
}

func TestEmbedContent(t *testing.T) {
	srv, rec := start(t)
	u := srv.URL + "/v1beta/models/gemini-embedding-001:embedContent"
	a := post(t, u, "AIzaX", `{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"The quick brown fox"}]}}`)
	if a.Status != 200 {
		t.Fatalf("status %d %s", a.Status, a.Raw)
	}
	vals := a.Body["embedding"].(map[string]any)["values"].([]any)
	if len(vals) != 3072 || math.Abs(norm(vals)-1) > 1e-3 {
		t.Errorf("default: %d dims, norm %f", len(vals), norm(vals))
	}
	// Key in the query works too; truncation keeps the prefix, not unit length.
	b := post(t, u+"?key=AIzaX", "", `{"content":{"parts":[{"text":"The quick brown fox"}]},"outputDimensionality":768,"taskType":"SEMANTIC_SIMILARITY"}`)
	if b.Status != 200 {
		t.Fatalf("status %d %s", b.Status, b.Raw)
	}
	short := b.Body["embedding"].(map[string]any)["values"].([]any)
	if len(short) != 768 || norm(short) > 0.9 {
		t.Errorf("truncated: %d dims, norm %f", len(short), norm(short))
	}
	for i := range short {
		if short[i] != vals[i] {
			t.Fatal("truncation is not a prefix of the full embedding")
		}
	}
	es := rec.Entries()
	if len(es) != 2 || es[0].Upstream != "googleai" || es[0].Facts["model"] != "gemini-embedding-001" || es[1].Facts["dimensions"] != 768 {
		t.Errorf("recorded %+v", es)
	}
}

func TestBatch(t *testing.T) {
	srv, _ := start(t)
	u := srv.URL + "/v1beta/models/gemini-embedding-001:batchEmbedContents"
	reqs := func(n int, model string) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`{"model":%q,"content":{"parts":[{"text":"t%d"}]}}`, model, i))
		}
		return `{"requests":[` + strings.Join(parts, ",") + `]}`
	}
	a := post(t, u, "k", reqs(100, "models/gemini-embedding-001"))
	if a.Status != 200 || len(a.Body["embeddings"].([]any)) != 100 {
		t.Fatalf("100: %d %.200s", a.Status, a.Raw)
	}
	a = post(t, u, "k", reqs(101, "models/gemini-embedding-001"))
	if code, msg, st := errOf(a); a.Status != 400 || code != 400 || st != "INVALID_ARGUMENT" ||
		msg != "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch" {
		t.Errorf("101: %d %s", a.Status, a.Raw)
	}
	a = post(t, u, "k", reqs(2, "models/gemini-embedding-2"))
	if _, msg, _ := errOf(a); a.Status != 400 || !strings.Contains(msg, "requests[0].model") {
		t.Errorf("model mismatch: %d %s", a.Status, a.Raw)
	}
}

func TestErrors(t *testing.T) {
	srv, _ := start(t)
	u := srv.URL + "/v1beta/models/gemini-embedding-001:embedContent"
	body := `{"content":{"parts":[{"text":"x"}]}}`
	cases := []struct {
		name, url, key, body string
		status               int
		rpc                  string
		msg                  string
	}{
		{"missing key", u, "", body, 403, "PERMISSION_DENIED", "unregistered callers"},
		{"invalid key", u, "invalid-k", body, 400, "INVALID_ARGUMENT", "API key not valid"},
		{"limited key", u, "limited-k", body, 429, "RESOURCE_EXHAUSTED", "quota"},
		{"retired model", srv.URL + "/v1beta/models/text-embedding-004:embedContent", "k", body, 404, "NOT_FOUND", "models/text-embedding-004 is not found"},
		{"empty text", u, "k", `{"content":{"parts":[{"text":""}]}}`, 400, "INVALID_ARGUMENT", "required oneof"},
		{"dims", u, "k", `{"content":{"parts":[{"text":"x"}]},"outputDimensionality":5000}`, 400, "INVALID_ARGUMENT", "between 128 and 3072"},
		{"task type", u, "k", `{"content":{"parts":[{"text":"x"}]},"taskType":"NOPE"}`, 400, "INVALID_ARGUMENT", "task_type"},
		{"bad json", u, "k", `{`, 400, "INVALID_ARGUMENT", "Invalid JSON payload"},
		{"overloaded", u, "k", `{"content":{"parts":[{"text":"sim:unavailable"}]}}`, 503, "UNAVAILABLE", "overloaded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := post(t, c.url, c.key, c.body)
			code, msg, st := errOf(a)
			if a.Status != c.status || code != c.status || st != c.rpc || !strings.Contains(msg, c.msg) {
				t.Errorf("got %d %s", a.Status, a.Raw)
			}
		})
	}
}

func TestList(t *testing.T) {
	srv, _ := start(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1beta/models", nil)
	req.Header.Set("x-goog-api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Models []struct{ Name string } `json:"models"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 || len(out.Models) == 0 || out.Models[0].Name != "models/gemini-embedding-001" {
		t.Errorf("list: %d %+v", resp.StatusCode, out)
	}
}

func TestDeterministic(t *testing.T) {
	a := googleaisim.Embedding("m", "hello", 16)
	b := googleaisim.Embedding("m", "hello", 16)
	c := googleaisim.Embedding("m", "hello!", 16)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("not deterministic")
		}
	}
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Error("different texts embed the same")
	}
}
