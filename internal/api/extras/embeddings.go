package extras

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/tokens"
	"github.com/tiktoken-go/tokenizer"
)

// noEmbedderMessage is the answer when no Embedder is configured.
const noEmbedderMessage = "embeddings need a Google AI API key: set GOOGLE_AI_API_KEY (a free key from https://aistudio.google.com/apikey); the web-app upstreams cannot embed"

type embeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

type embeddingsResponse struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingsUsage `json:"usage"`
}

type embeddingItem struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32 or a base64 string
}

type embeddingsUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// openAIEmbeddingDims are the native sizes of OpenAI's embedding models. A
// client naming one most likely sized its vector store for it, so spark asks
// the Google model for that many dimensions unless the client says otherwise.
var openAIEmbeddingDims = map[string]int{
	"text-embedding-3-small": 1536,
	"text-embedding-3-large": 3072,
	"text-embedding-ada-002": 1536,
}

// resolveEmbeddingModel maps the client's model name to a Google model and
// the dimensions implied by an OpenAI name (0 = the model's default).
func (h *Handler) resolveEmbeddingModel(name string) (string, int) {
	name = strings.TrimPrefix(strings.TrimSpace(name), "models/")
	if name == "" {
		return h.opts.DefaultEmbeddingModel, 0
	}
	if dims, ok := openAIEmbeddingDims[name]; ok {
		// Only Matryoshka models can change their size.
		if strings.HasPrefix(h.opts.DefaultEmbeddingModel, "gemini-embedding") {
			return h.opts.DefaultEmbeddingModel, dims
		}
		return h.opts.DefaultEmbeddingModel, 0
	}
	if strings.HasPrefix(name, "text-embedding-3") || strings.HasPrefix(name, "text-embedding-ada") ||
		strings.HasPrefix(name, "text-similarity-") || strings.HasPrefix(name, "text-search-") {
		return h.opts.DefaultEmbeddingModel, 0
	}
	return name, 0
}

func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request) error {
	var req embeddingsRequest
	if err := h.decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := wire.CheckModelName("model", strings.TrimSpace(req.Model)); err != nil {
		return err
	}
	if err := wire.CheckLength("encoding_format", req.EncodingFormat, maxEnumBytes); err != nil {
		return err
	}
	texts, promptTokens, err := parseEmbeddingInput(req.Input)
	if err != nil {
		return err
	}
	format := strings.ToLower(strings.TrimSpace(req.EncodingFormat))
	switch format {
	case "", "float", "base64":
	default:
		return invalid("encoding_format", "Invalid value for 'encoding_format': %q. Supported values are: 'float' and 'base64'.", req.EncodingFormat)
	}
	model, dims := h.resolveEmbeddingModel(req.Model)
	if req.Dimensions != nil {
		if *req.Dimensions < 1 {
			return invalid("dimensions", "Invalid value for 'dimensions': must be at least 1.")
		}
		if *req.Dimensions > MaxEmbeddingDimensions {
			return invalid("dimensions", "Invalid value for 'dimensions': at most %d.", MaxEmbeddingDimensions)
		}
		dims = *req.Dimensions
	}
	if h.opts.Embedder == nil {
		w.Header().Set("X-Should-Retry", "false")
		return &gw.Error{Code: gw.CodeUnavailable, Message: noEmbedderMessage}
	}
	vecs, err := h.opts.Embedder.Embed(r.Context(), model, texts, dims)
	if err != nil {
		if e := gw.AsError(err); e.Code == gw.CodeUnavailable && e.RetryAfter == 0 {
			// Configuration problems (no key, key rejected) do not heal by
			// retrying in a second.
			w.Header().Set("X-Should-Retry", "false")
		}
		return err
	}
	if len(vecs) != len(texts) {
		return &gw.Error{Code: gw.CodeProtocolChanged, Message: "the embedding upstream returned the wrong number of vectors"}
	}
	resp := embeddingsResponse{Object: "list", Model: model, Data: make([]embeddingItem, len(vecs)),
		Usage: embeddingsUsage{PromptTokens: promptTokens, TotalTokens: promptTokens}}
	for i, v := range vecs {
		normalize(v)
		var emb any = v
		if format == "base64" {
			emb = encodeBase64(v)
		}
		resp.Data[i] = embeddingItem{Object: "embedding", Index: i, Embedding: emb}
	}
	return writeJSON(w, http.StatusOK, resp)
}

// normalize scales v to unit length in place. OpenAI embeddings are unit
// length and clients compute cosine similarity as a dot product; Google's
// truncated (outputDimensionality) vectors are not normalized.
func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return
	}
	n := math.Sqrt(s)
	if math.Abs(n-1) < 1e-7 {
		return
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
}

// encodeBase64 packs v as little-endian IEEE-754 float32 values, 4 bytes per
// dimension, no header (what openai-node and openai-python decode).
func encodeBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// parseEmbeddingInput accepts a string, an array of strings, an array of
// token ids or an array of token-id arrays. Token ids are decoded with the
// cl100k_base vocabulary, which is what clients that tokenize for OpenAI's
// embedding models (LangChain's OpenAIEmbeddings does by default) use. It
// returns the texts and the prompt token count.
func parseEmbeddingInput(raw json.RawMessage) ([]string, int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, 0, invalid("input", "Missing required parameter: 'input'.")
	}
	bad := invalid("input", "Invalid type for 'input': expected a string, an array of strings, an array of integers or an array of integer arrays.")
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, 0, bad
		}
		if s == "" {
			return nil, 0, invalid("input", "'input' cannot be an empty string.")
		}
		return []string{s}, tokens.Count(s), nil
	}
	if raw[0] != '[' {
		return nil, 0, bad
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, 0, bad
	}
	if len(items) == 0 {
		return nil, 0, invalid("input", "'input' cannot be an empty array.")
	}
	if len(items) > MaxEmbeddingInputs {
		return nil, 0, invalid("input", "'input' has %d items; at most %d are allowed per request.", len(items), MaxEmbeddingInputs)
	}
	for i, it := range items {
		// null would decode as the empty string or as token id 0 and be
		// embedded as if the client had sent it.
		if wire.IsNull(it) {
			return nil, 0, invalid("input", "'input[%d]' cannot be null.", i)
		}
	}
	first := bytes.TrimSpace(items[0])
	switch {
	case len(first) > 0 && first[0] == '"':
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return nil, 0, invalid("input", "Invalid type for 'input': all items must be strings.")
		}
		n := 0
		for i, s := range ss {
			if s == "" {
				return nil, 0, invalid("input", "'input[%d]' cannot be an empty string.", i)
			}
			n += tokens.Count(s)
		}
		return ss, n, nil
	case len(first) > 0 && first[0] == '[':
		var arrays [][]int64
		if err := json.Unmarshal(raw, &arrays); err != nil {
			return nil, 0, invalid("input", "Invalid type for 'input': all items must be arrays of integers.")
		}
		n := 0
		for _, ids := range arrays {
			n += len(ids)
		}
		if n > MaxEmbeddingRequestTokens {
			return nil, 0, invalid("input", "'input' has %d tokens in all; at most %d are allowed per request.", n, MaxEmbeddingRequestTokens)
		}
		texts := make([]string, len(arrays))
		for i, ids := range arrays {
			s, err := decodeTokens(ids, i)
			if err != nil {
				return nil, 0, err
			}
			texts[i] = s
		}
		return texts, n, nil
	default:
		var ids []int64
		if err := json.Unmarshal(raw, &ids); err != nil {
			return nil, 0, bad
		}
		s, err := decodeTokens(ids, -1)
		if err != nil {
			return nil, 0, err
		}
		return []string{s}, len(ids), nil
	}
}

var (
	cl100kOnce sync.Once
	cl100k     tokenizer.Codec
)

func cl100kCodec() tokenizer.Codec {
	cl100kOnce.Do(func() {
		c, err := tokenizer.Get(tokenizer.Cl100kBase)
		if err == nil {
			// Chunked token arrays may split a multi-byte character.
			c.SetErrorMode(tokenizer.ErrorModeReplace)
			cl100k = c
		}
	})
	return cl100k
}

// decodeTokens turns token ids back into text (index < 0: a single array).
func decodeTokens(ids []int64, index int) (string, error) {
	param := "input"
	if index >= 0 {
		param = "input[" + strconv.Itoa(index) + "]"
	}
	if len(ids) == 0 {
		return "", invalid(param, "'%s' cannot be an empty array.", param)
	}
	if len(ids) > MaxEmbeddingInputTokens {
		return "", invalid(param, "'%s' has %d tokens; at most %d are allowed per input.", param, len(ids), MaxEmbeddingInputTokens)
	}
	codec := cl100kCodec()
	if codec == nil {
		return "", invalid(param, "token arrays are not supported; send the input as text")
	}
	u := make([]uint, len(ids))
	for i, id := range ids {
		if id < 0 {
			return "", invalid(param, "'%s' contains an invalid token id %d.", param, id)
		}
		u[i] = uint(id)
	}
	s, err := codec.Decode(u)
	if err != nil {
		return "", &gw.Error{Code: gw.CodeInvalidRequest, Param: param, Cause: err,
			Message: "'" + param + "' contains token ids that are not in the cl100k_base vocabulary; send the input as text"}
	}
	if strings.TrimSpace(s) == "" {
		return "", invalid(param, "'%s' decodes to empty text.", param)
	}
	return s, nil
}
