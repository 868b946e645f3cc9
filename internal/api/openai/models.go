package openai

import (
	"fmt"
	"net/http"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

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

// listModels serves GET /v1/models in the shape the client family expects.
func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) error {
	models := wire.GrantedModels(r.Context(), h.b.Models(r.Context()))
	if wire.IsAnthropicClient(r) {
		page, err := wire.AnthropicModelPage(wire.WithClaudeNames(models), r)
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
	models := wire.GrantedModels(r.Context(), h.b.Models(r.Context()))
	if wire.IsAnthropicClient(r) {
		models = wire.WithClaudeNames(models)
	}
	for i := range models {
		if models[i].ID != id {
			continue
		}
		if wire.IsAnthropicClient(r) {
			writeJSON(w, http.StatusOK, wire.ToAnthropicModel(&models[i]))
		} else {
			writeJSON(w, http.StatusOK, toOpenAIModel(&models[i]))
		}
		return nil
	}
	id = wire.Truncate(id, wire.MaxModelBytes) // the echo stays short
	if wire.IsAnthropicClient(r) {
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
