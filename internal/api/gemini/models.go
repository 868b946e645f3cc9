package gemini

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// Model list paging, as the Gemini API pages it.
const (
	// DefaultPageSize is the page size when the client gives none.
	DefaultPageSize = 50
	// MaxPageSize caps pageSize.
	MaxPageSize = 1000
)

// wireModel is a Model resource.
type wireModel struct {
	Name                       string   `json:"name"`
	BaseModelID                string   `json:"baseModelId"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	Description                string   `json:"description,omitempty"`
	InputTokenLimit            int      `json:"inputTokenLimit"`
	OutputTokenLimit           int      `json:"outputTokenLimit"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
	Thinking                   bool     `json:"thinking,omitempty"`
}

type modelList struct {
	Models        []wireModel `json:"models"`
	NextPageToken string      `json:"nextPageToken,omitempty"`
}

// Token limits spark reports: those of the Gemini models the upstreams
// serve (the web apps' own limits are not published).
const (
	inputTokenLimit  = 1048576
	outputTokenLimit = 65536
)

// models lists the chat models the backend serves, then the embedding
// model when an Embedder is configured.
func (h *Handler) models(r *http.Request) []wireModel {
	var out []wireModel
	seen := map[string]bool{}
	for _, m := range wire.GrantedModels(r.Context(), h.b.Models(r.Context())) {
		if m.Kind != llm.KindChat && m.Kind != "" || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		name := m.DisplayName
		if name == "" {
			name = m.ID
		}
		out = append(out, wireModel{
			Name: "models/" + m.ID, BaseModelID: m.ID, Version: "001", DisplayName: name, Description: m.Description,
			InputTokenLimit: inputTokenLimit, OutputTokenLimit: outputTokenLimit,
			SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens"},
			Thinking:                   true,
		})
	}
	if h.opts.Embedder != nil && !seen[h.opts.EmbeddingModel] && reqctx.GrantOf(r.Context()).AllowsModel(h.opts.EmbeddingModel) {
		out = append(out, wireModel{
			Name: "models/" + h.opts.EmbeddingModel, BaseModelID: h.opts.EmbeddingModel, Version: "001",
			DisplayName: h.opts.EmbeddingModel, Description: "Google AI embeddings",
			InputTokenLimit: 2048, OutputTokenLimit: 1,
			SupportedGenerationMethods: []string{"embedContent", "batchEmbedContents"},
		})
	}
	return out
}

// listModels serves GET /v1beta/models?pageSize=&pageToken=.
func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	size := DefaultPageSize
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return &gw.Error{Code: gw.CodeInvalidRequest, Param: "pageSize", Message: "Invalid value for pageSize: expected a non-negative integer."}
		}
		if n > 0 {
			size = min(n, MaxPageSize)
		}
	}
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		n, ok := decodePageToken(tok)
		if !ok {
			return &gw.Error{Code: gw.CodeInvalidRequest, Param: "pageToken", Message: "Invalid page token."}
		}
		start = n
	}
	all := h.models(r)
	start = min(start, len(all))
	end := min(start+size, len(all))
	page := modelList{Models: all[start:end]}
	if page.Models == nil {
		page.Models = []wireModel{}
	}
	if end < len(all) {
		page.NextPageToken = encodePageToken(end)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// Page tokens are opaque to clients: the offset of the next page.
func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset)))
}

func decodePageToken(tok string) (int, bool) {
	if len(tok) > 64 {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 'o' {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[1:]))
	return n, err == nil && n >= 0
}

// getModel serves GET /v1beta/models/{model}. A method suffix
// ("gemini-2.5-pro:generateContent") is a method, which takes POST.
func (h *Handler) getModel(w http.ResponseWriter, r *http.Request) error {
	seg := r.PathValue("model")
	if i := strings.LastIndexByte(seg, ':'); i >= 0 {
		if methods[seg[i+1:]] != nil {
			w.Header().Set("Allow", http.MethodPost)
			return &gw.Error{Code: gw.CodeMethodNotAllowed, Message: "Method " + seg[i+1:] + " takes POST."}
		}
		return &gw.Error{Code: gw.CodeNotFound, Message: "Method not found: '" + wire.Truncate(seg[i+1:], 64) + "'."}
	}
	name, err := modelName(seg, "name")
	if err != nil {
		return err
	}
	for _, m := range h.models(r) {
		if strings.EqualFold(m.BaseModelID, name) {
			writeJSON(w, http.StatusOK, m)
			return nil
		}
	}
	return errModelNotFound(name)
}
