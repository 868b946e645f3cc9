package extras_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/llm"
)

// recordingEmbedder answers every Embed with one small vector per input
// and keeps what it was asked.
type recordingEmbedder struct {
	mu     sync.Mutex
	calls  int
	inputs []string
	dims   int
}

func (e *recordingEmbedder) Embed(_ context.Context, _ string, inputs []string, dims int) ([][]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	e.inputs = append(e.inputs, inputs...)
	e.dims = dims
	out := make([][]float32, len(inputs))
	for i := range out {
		out[i] = []float32{0.6, 0.8}
	}
	return out, nil
}

// maxTokenExpansion bounds how much embeddings input sent as token ids
// grows when decoded: the longest cl100k_base token is 128 bytes and has a
// five-digit id (6 bytes with its comma), about 21 bytes of text per byte.
const maxTokenExpansion = 22

// TestEmbeddingTokenLimits: arrays of token-id inputs are held to OpenAI's
// caps, 8192 tokens per input and 300,000 per request, before they are
// decoded (a 32 MiB body of the id of a 128-byte token decoded to 700 MB of
// text). A single token array is an array of at most MaxEmbeddingInputs
// items already.
func TestEmbeddingTokenLimits(t *testing.T) {
	ids := func(n int) string { // "hello" and n-1 times 128 spaces
		return "[15339" + strings.Repeat(",58040", n-1) + "]"
	}
	arrays := func(count, each int) string {
		a := make([]string, count)
		for i := range a {
			a[i] = ids(each)
		}
		return "[" + strings.Join(a, ",") + "]"
	}
	for _, tc := range []struct {
		name, input string
		status      int
		param       string
	}{
		{"an input at the cap", arrays(2, extras.MaxEmbeddingInputTokens), 200, ""},
		{"an input over the cap", arrays(2, extras.MaxEmbeddingInputTokens+1), 400, "input[0]"},
		{"the request at the cap", arrays(extras.MaxEmbeddingRequestTokens/7500, 7500), 200, ""},
		{"the request over the cap", arrays(extras.MaxEmbeddingRequestTokens/7500+1, 7500), 400, "input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emb := &recordingEmbedder{}
			mux := http.NewServeMux()
			extras.New(extras.Options{Embedder: emb}).Register(mux, "")
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/embeddings", strings.NewReader(`{"input":`+tc.input+`}`)))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %.300s", w.Code, tc.status, w.Body.String())
			}
			if tc.status == 200 {
				if emb.calls != 1 {
					t.Errorf("%d embedder calls", emb.calls)
				}
				return
			}
			var env struct {
				Error struct {
					Param string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Param != tc.param {
				t.Errorf("error %.300s, want one about %s", w.Body.String(), tc.param)
			}
			if emb.calls != 0 {
				t.Errorf("the embedder was called")
			}
		})
	}
}

// FuzzJSONRequest feeds arbitrary bodies to POST /v1/embeddings and POST
// /v1/moderations (moderation): the handler must not panic; it answers 200
// or a 4xx OpenAI error envelope; and its work is bounded by the body:
// embeddings ask the embedder at most once, for at most
// MaxEmbeddingInputs texts of at most apitest.WorkBound bytes together and
// at most MaxEmbeddingDimensions dimensions; moderations ask the chat
// model at most once per input (the model answers with valid scores, so
// no retry is due), at most MaxModerationInputs times, each time with a
// request of at most apitest.WorkBound bytes.
func FuzzJSONRequest(f *testing.F) {
	const png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
	for _, seed := range []struct {
		body       string
		moderation bool
	}{
		{`{"model":"text-embedding-3-small","input":"hello"}`, false},
		{`{"model":"text-embedding-3-large","input":["a","b"],"encoding_format":"base64","dimensions":256}`, false},
		{`{"model":"gemini-embedding-001","input":[9906,1917]}`, false},
		{`{"input":[[9906,1917],[15339]],"encoding_format":"float"}`, false},
		{`{"input":[[100257,100276]]}`, false},
		{`{"input":"","dimensions":0}`, false},
		{`{"input":"x"} garbage`, false},
		{`{"input":"I want to hurt them"}`, true},
		{`{"model":"omni-moderation-latest","input":["a","b","c"]}`, true},
		{`{"input":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"` + png + `"}},{"type":"image_url","image_url":{"url":"https://x.example/a.png"}}]}`, true},
		{`{"input":[{"type":"image_url","image_url":{"url":"data:text/html;base64,PGI+"}}]}`, true},
		{`{"input":["","  "]}`, true},
		{`null`, true},
	} {
		f.Add([]byte(seed.body), seed.moderation)
	}
	scores := `{"harassment":0.1,"hate":0,"violence":0.7}`
	// A moderation's chat request carries a fixed instruction and output
	// schema of its own: measured once on a one-byte input, it is allowed on
	// top of the bound.
	fixed := func() int {
		chat := &fakeChat{reply: func(*llm.Request, int) (string, error) { return scores, nil }}
		mux := http.NewServeMux()
		extras.New(extras.Options{Chat: chat, DefaultChatModel: "m"}).Register(mux, "")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/moderations", strings.NewReader(`{"input":"x"}`)))
		reqs := chat.requests()
		if w.Code != http.StatusOK || len(reqs) != 1 {
			f.Fatalf("an empty moderation: %d, %d chat calls: %s", w.Code, len(reqs), w.Body)
		}
		return apitest.RequestBytes(reqs[0])
	}()
	f.Fuzz(func(t *testing.T, body []byte, moderation bool) {
		chat := &fakeChat{reply: func(*llm.Request, int) (string, error) { return scores, nil }}
		emb := &recordingEmbedder{}
		mux := http.NewServeMux()
		extras.New(extras.Options{Chat: chat, Embedder: emb, DefaultChatModel: "m", MaxBodyBytes: 1 << 20}).Register(mux, "")
		path := "/v1/embeddings"
		if moderation {
			path = "/v1/moderations"
		}
		w := apitest.PostJSON(mux, path, body)
		apitest.CheckOpenAIAnswer(t, w.Code, w.Body.Bytes())

		if emb.calls > 1 {
			t.Fatalf("one request made %d embedder calls", emb.calls)
		}
		if n := len(emb.inputs); n > extras.MaxEmbeddingInputs {
			t.Fatalf("the embedder got %d inputs", n)
		}
		if n, bound := len(strings.Join(emb.inputs, "")), maxTokenExpansion*apitest.WorkBound(len(body)); n > bound {
			t.Fatalf("a body of %d bytes gave the embedder %d bytes of text (bound %d)", len(body), n, bound)
		}
		if emb.dims < 0 || emb.dims > extras.MaxEmbeddingDimensions {
			t.Fatalf("the embedder was asked for %d dimensions", emb.dims)
		}

		reqs := chat.requests()
		if n := len(reqs); n > extras.MaxModerationInputs || n > len(body) {
			t.Fatalf("one moderation request of %d bytes made %d chat calls", len(body), n)
		}
		for _, r := range reqs {
			apitest.CheckWorkAbove(t, r, len(body), fixed)
		}
	})
}
