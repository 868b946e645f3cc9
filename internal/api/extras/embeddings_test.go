package extras_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/provider/googleai"
	"github.com/sparkgw/spark/internal/simulator/googleaisim"
	"github.com/sparkgw/spark/internal/simulator/simcore"
	"github.com/tiktoken-go/tokenizer"
)

// embedServer runs the Google AI simulator and an extras handler using a
// googleai client with key.
func embedServer(t *testing.T, key string) (openai.Client, *simcore.Recorder) {
	t.Helper()
	rec := simcore.NewRecorder(0)
	mux := http.NewServeMux()
	googleaisim.New(googleaisim.Options{Recorder: rec}).Register(mux)
	sim := httptest.NewServer(mux)
	t.Cleanup(sim.Close)
	gc, err := googleai.New(googleai.Config{BaseURL: sim.URL, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	_, client := serve(t, extras.Options{Embedder: gc})
	return client, rec
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func TestEmbeddingsFloatAndBase64(t *testing.T) {
	client, rec := embedServer(t, "AIzaKey")
	ctx := t.Context()
	input := openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"The quick brown fox", "jumps over", "the lazy dog"}}

	fl, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Input: input, Model: openai.EmbeddingModelTextEmbedding3Small,
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
	})
	if err != nil {
		t.Fatal(err)
	}
	if fl.Object != "list" || fl.Model != "gemini-embedding-001" || len(fl.Data) != 3 {
		t.Fatalf("response %s", fl.RawJSON())
	}
	if fl.Usage.PromptTokens <= 0 || fl.Usage.TotalTokens != fl.Usage.PromptTokens {
		t.Errorf("usage %+v", fl.Usage)
	}
	for i, d := range fl.Data {
		if d.Index != int64(i) || d.Object != "embedding" {
			t.Errorf("item %d: index %d object %q", i, d.Index, d.Object)
		}
		// text-embedding-3-small implies its native 1536 dimensions.
		if len(d.Embedding) != 1536 {
			t.Errorf("item %d: %d dims, want 1536", i, len(d.Embedding))
		}
		if n := norm(d.Embedding); math.Abs(n-1) > 1e-4 {
			t.Errorf("item %d: norm %f, want unit length", i, n)
		}
	}
	if got := rec.Entries()[0].Facts["dimensions"]; got != 1536 {
		t.Errorf("upstream dimensions %v", got)
	}

	b64, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Input: input, Model: openai.EmbeddingModelTextEmbedding3Small,
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range b64.Data {
		raw := b64.Data[i].JSON.Embedding.Raw()
		if !strings.HasPrefix(raw, `"`) {
			t.Fatalf("base64 embedding is not a string: %.40s", raw)
		}
		a, b := fl.Data[i].Embedding, b64.Data[i].Embedding
		if len(a) != len(b) {
			t.Fatalf("item %d: %d vs %d dims", i, len(a), len(b))
		}
		for j := range a {
			// The float response prints float32 values; the base64 one
			// carries their exact bits.
			if float32(a[j]) != float32(b[j]) {
				t.Fatalf("item %d dim %d: float %v, base64 %v", i, j, a[j], b[j])
			}
		}
	}
}

func TestEmbeddingsModelsAndDimensions(t *testing.T) {
	client, rec := embedServer(t, "AIzaKey")
	ctx := t.Context()

	// Google names pass through; no dimensions means the model's default.
	r, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}, Model: "gemini-embedding-2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "gemini-embedding-2" || len(r.Data[0].Embedding) != 3072 {
		t.Errorf("model %q dims %d", r.Model, len(r.Data[0].Embedding))
	}
	// dimensions is passed upstream; truncated vectors are re-normalised.
	r, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}, Model: "text-embedding-3-large",
		Dimensions: openai.Int(256),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Data[0].Embedding) != 256 || math.Abs(norm(r.Data[0].Embedding)-1) > 1e-4 {
		t.Errorf("dims %d norm %f", len(r.Data[0].Embedding), norm(r.Data[0].Embedding))
	}
	es := rec.Entries()
	last := es[len(es)-1]
	if last.Facts["dimensions"] != 256 || last.Facts["model"] != "gemini-embedding-001" {
		t.Errorf("upstream facts %v", last.Facts)
	}
}

func TestEmbeddingsTokenArrays(t *testing.T) {
	client, _ := embedServer(t, "AIzaKey")
	ctx := t.Context()
	codec, err := tokenizer.Get(tokenizer.Cl100kBase)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"hello world", "Grüße aus Köln"}
	var arrays [][]int64
	for _, s := range texts {
		ids, _, err := codec.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		a := make([]int64, len(ids))
		for i, id := range ids {
			a[i] = int64(id)
		}
		arrays = append(arrays, a)
	}
	byText, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts}, Model: "text-embedding-ada-002",
	})
	if err != nil {
		t.Fatal(err)
	}
	byTokens, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: arrays}, Model: "text-embedding-ada-002",
	})
	if err != nil {
		t.Fatal(err)
	}
	single, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: arrays[0]}, Model: "text-embedding-ada-002",
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		a, b := byText.Data[i].Embedding, byTokens.Data[i].Embedding
		for j := range a {
			if a[j] != b[j] {
				t.Fatalf("text %d: token input embeds differently from the text", i)
			}
		}
	}
	if single.Data[0].Embedding[0] != byText.Data[0].Embedding[0] || len(single.Data) != 1 {
		t.Error("single token array embeds differently")
	}
	if byTokens.Usage.PromptTokens != int64(len(arrays[0])+len(arrays[1])) {
		t.Errorf("usage %d", byTokens.Usage.PromptTokens)
	}

	_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{999999999}}, Model: "text-embedding-ada-002",
	})
	apiErr(t, err, 400, "not in the cl100k_base vocabulary")
}

func TestEmbeddingsErrors(t *testing.T) {
	client, _ := embedServer(t, "AIzaKey")
	ctx := t.Context()
	str := func(s string) openai.EmbeddingNewParamsInputUnion {
		return openai.EmbeddingNewParamsInputUnion{OfString: openai.String(s)}
	}

	_, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Input: str(""), Model: "text-embedding-3-small"})
	apiErr(t, err, 400, "empty string")

	many := make([]string, 2049)
	for i := range many {
		many[i] = "x"
	}
	_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: many}, Model: "text-embedding-3-small"})
	apiErr(t, err, 400, "at most 2048")

	_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Input: str("x"), Model: "text-embedding-3-small", EncodingFormat: "hex"})
	apiErr(t, err, 400, "encoding_format")

	_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Input: str("x"), Model: "text-embedding-004"})
	e := apiErr(t, err, 404, "text-embedding-004")
	if e.Code != "model_not_found" {
		t.Errorf("code %q", e.Code)
	}

	_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Input: str("x"), Model: "gemini-embedding-001", Dimensions: openai.Int(64)})
	apiErr(t, err, 400, "output_dimensionality must be between 128 and 3072")

	limited, _ := embedServer(t, "limited-key")
	var resp *http.Response
	_, err = limited.Embeddings.New(ctx, openai.EmbeddingNewParams{Input: str("x"), Model: "text-embedding-3-small"}, option.WithResponseInto(&resp))
	apiErr(t, err, 429, "rate limit")
	if resp == nil || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After missing")
	}

	bad, _ := embedServer(t, "invalid-key")
	_, err = bad.Embeddings.New(ctx, openai.EmbeddingNewParams{Input: str("x"), Model: "text-embedding-3-small"})
	apiErr(t, err, 503, "GOOGLE_AI_API_KEY")

	for name, opts := range map[string]extras.Options{
		"nil embedder": {},
		"empty key":    {Embedder: mustGoogle(t, "")},
	} {
		t.Run(name, func(t *testing.T) {
			_, c := serve(t, opts)
			var resp *http.Response
			_, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Input: str("x"), Model: "text-embedding-3-small"}, option.WithResponseInto(&resp))
			apiErr(t, err, 503, "GOOGLE_AI_API_KEY")
			if resp == nil || resp.Header.Get("X-Should-Retry") != "false" {
				t.Error("x-should-retry: false missing")
			}
		})
	}
}

func mustGoogle(t *testing.T, key string) *googleai.Client {
	c, err := googleai.New(googleai.Config{BaseURL: "http://127.0.0.1:1", APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type fixedEmbedder struct{ err error }

func (f fixedEmbedder) Embed(context.Context, string, []string, int) ([][]float32, error) {
	return nil, f.err
}

func TestBodyLimit(t *testing.T) {
	url, client := serve(t, extras.Options{Embedder: fixedEmbedder{err: gw.Errorf(gw.CodeInternal, "unreached")}, MaxBodyBytes: 100})
	_, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String(strings.Repeat("x", 200))}, Model: "m",
	})
	apiErr(t, err, 413, "too large")
	resp, err := http.Post(url+"/v1/embeddings", "application/json", strings.NewReader(`{"input": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// A null input item is refused, not embedded as "" or as token id 0.
func TestEmbeddingsNullItems(t *testing.T) {
	client, rec := embedServer(t, "AIzaKey")
	for _, body := range []string{
		`{"model":"text-embedding-3-small","input":[null]}`,
		`{"model":"text-embedding-3-small","input":["a",null]}`,
		`{"model":"text-embedding-3-small","input":[[1,2],null]}`,
	} {
		_, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{}, option.WithRequestBody("application/json", []byte(body)))
		if e := apiErr(t, err, 400, "cannot be null"); e.Param != "input" {
			t.Errorf("%s: param %q", body, e.Param)
		}
	}
	if n := len(rec.Entries()); n != 0 {
		t.Fatalf("%d upstream calls for refused inputs", n)
	}
}
