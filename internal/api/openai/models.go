package openai

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/route"
)

// maxAnthropicPage is the largest page the Anthropic models API serves; it
// is also spark's default page size, because Claude Code asks for
// limit=1000 and other Anthropic clients rarely page at all (the real API
// defaults to 20).
const maxAnthropicPage = 1000

// openAIModel is one entry of the OpenAI models list, with spark's extras.
type openAIModel struct {
	ID          string `json:"id"`
	Object      string `json:"object"`
	Created     int64  `json:"created"`
	OwnedBy     string `json:"owned_by"`
	DisplayName string `json:"display_name"`
	InternalID  string `json:"internal_id,omitempty"`
	Description string `json:"description,omitempty"`
}

type openAIModelList struct {
	Object string        `json:"object"`
	Data   []openAIModel `json:"data"`
}

// anthropicModel is one entry of the Anthropic models list.
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

type anthropicModelList struct {
	Data    []anthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID *string          `json:"first_id"`
	LastID  *string          `json:"last_id"`
}

// anthropicClient reports whether r comes from an Anthropic SDK (or Claude
// Code), which parses only the Anthropic shapes of /v1/models.
func anthropicClient(r *http.Request) bool {
	return route.ByClient.For(r) == route.Anthropic
}

// listModels serves GET /v1/models in the shape the client family expects.
func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) error {
	models := h.b.Models(r.Context())
	if anthropicClient(r) {
		page, err := anthropicPage(withClaudeNames(models), r)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, page)
		return nil
	}
	list := openAIModelList{Object: "list", Data: make([]openAIModel, 0, len(models))}
	for i := range models {
		list.Data = append(list.Data, toOpenAIModel(&models[i]))
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// getModel serves GET /v1/models/{model...}. The mux has already decoded
// %2F, so ids with slashes arrive whole.
func (h *Handler) getModel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("model")
	if id == "" {
		return h.listModels(w, r)
	}
	models := h.b.Models(r.Context())
	if anthropicClient(r) {
		models = withClaudeNames(models)
	}
	for i := range models {
		if models[i].ID != id {
			continue
		}
		if anthropicClient(r) {
			writeJSON(w, http.StatusOK, toAnthropicModel(&models[i]))
		} else {
			writeJSON(w, http.StatusOK, toOpenAIModel(&models[i]))
		}
		return nil
	}
	if anthropicClient(r) {
		return &gw.Error{Code: gw.CodeModelNotFound, Message: "model: " + id}
	}
	return &gw.Error{Code: gw.CodeModelNotFound,
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", id)}
}

// toOpenAIModel converts m to the OpenAI shape.
func toOpenAIModel(m *llm.ModelInfo) openAIModel {
	o := openAIModel{
		ID:          m.ID,
		Object:      "model",
		Created:     m.Created,
		OwnedBy:     m.OwnedBy,
		DisplayName: m.DisplayName,
		Description: m.Description,
	}
	if o.OwnedBy == "" {
		o.OwnedBy = "spark"
	}
	if o.DisplayName == "" {
		o.DisplayName = m.ID
	}
	if m.InternalID != m.ID {
		o.InternalID = m.InternalID
	}
	return o
}

// toAnthropicModel converts m to the Anthropic shape.
func toAnthropicModel(m *llm.ModelInfo) anthropicModel {
	a := anthropicModel{
		Type:        "model",
		ID:          m.ID,
		DisplayName: m.DisplayName,
		CreatedAt:   time.Unix(m.Created, 0).UTC().Format(time.RFC3339),
	}
	if a.DisplayName == "" {
		a.DisplayName = m.ID
	}
	return a
}

// anthropicPage selects the page of models asked for by the limit,
// after_id and before_id query parameters (Anthropic cursor paging).
func anthropicPage(models []llm.ModelInfo, r *http.Request) (anthropicModelList, error) {
	q := r.URL.Query()
	limit := maxAnthropicPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAnthropicPage {
			return anthropicModelList{}, &gw.Error{Code: gw.CodeInvalidRequest, Param: "limit",
				Message: fmt.Sprintf("limit: must be an integer between 1 and %d", maxAnthropicPage)}
		}
		limit = n
	}
	index := func(id string) int {
		for i := range models {
			if models[i].ID == id {
				return i
			}
		}
		return -1
	}
	lo, hi := 0, len(models) // candidate window [lo, hi)
	fromEnd := false
	if id := q.Get("after_id"); id != "" {
		lo = index(id) + 1
		if lo == 0 {
			lo = len(models)
		}
	}
	if id := q.Get("before_id"); id != "" {
		hi = index(id)
		if hi < 0 {
			hi = 0
		}
		fromEnd = q.Get("after_id") == ""
	}
	if hi < lo {
		hi = lo
	}
	var page anthropicModelList
	start, end := lo, hi
	if end-start > limit {
		if fromEnd {
			start = end - limit
		} else {
			end = start + limit
		}
		page.HasMore = true
	}
	page.Data = make([]anthropicModel, 0, end-start)
	for i := start; i < end; i++ {
		page.Data = append(page.Data, toAnthropicModel(&models[i]))
	}
	if n := len(page.Data); n > 0 {
		first, last := page.Data[0].ID, page.Data[n-1].ID
		page.FirstID, page.LastID = &first, &last
	}
	return page, nil
}

// withClaudeNames adds a claude-<slug> twin of every Gemini chat model, as
// the Gemini gateway seed lists them for Anthropic clients: Claude Code only
// offers ids that contain "claude", and the registry maps claude-gemini-X
// back to X.
func withClaudeNames(models []llm.ModelInfo) []llm.ModelInfo {
	out := models
	for _, m := range models {
		if (m.Kind == llm.KindChat || m.Kind == "") && strings.HasPrefix(m.ID, "gemini-") {
			twin := m
			twin.ID = "claude-" + m.ID
			if m.DisplayName != "" {
				twin.DisplayName = "Gemini " + strings.TrimPrefix(m.DisplayName, "Gemini ") + " (as Claude)"
			}
			twin.InternalID = m.ID
			out = append(out[:len(out):len(out)], twin)
		}
	}
	return out
}
