package gemini

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
)

// DefaultEmbeddingModel is listed as the embedding model when
// Options.EmbeddingModel is empty.
const DefaultEmbeddingModel = "gemini-embedding-001"

// MaxBatchEmbedRequests is the Gemini API's cap on the requests of one
// batchEmbedContents call.
const MaxBatchEmbedRequests = 100

// MaxEmbeddingDimensions bounds outputDimensionality (the largest size of
// Google's embedding models).
const MaxEmbeddingDimensions = 3072

// noEmbedderMessage is the answer when no Embedder is configured.
const noEmbedderMessage = "embeddings need a Google AI API key: set GOOGLE_AI_API_KEY (a free key from https://aistudio.google.com/apikey); the web-app upstreams cannot embed"

// embedRequest is an EmbedContentRequest.
type embedRequest struct {
	Model                string       `json:"model"`
	Content              *wireContent `json:"content"`
	TaskType             string       `json:"taskType"`
	Title                string       `json:"title"`
	OutputDimensionality *int         `json:"outputDimensionality"`
}

type embedding struct {
	Values []float32 `json:"values"`
}

// text returns the text to embed: the content's text parts, joined.
func (er *embedRequest) text(param, model string) (string, int, error) {
	if er.Model != "" {
		m, err := modelName(er.Model, param+".model")
		if err != nil {
			return "", 0, err
		}
		if m != model {
			return "", 0, invalid(param+".model", "Model %s differs from the model in the URL (%s).", m, model)
		}
	}
	if er.Content == nil || len(er.Content.Parts) == 0 {
		return "", 0, invalid(param+".content", "content is not specified.")
	}
	var texts []string
	for i, p := range er.Content.Parts {
		if p.Text == nil {
			return "", 0, invalid(fmt.Sprintf("%s.content.parts[%d]", param, i), "only text parts can be embedded here.")
		}
		texts = append(texts, *p.Text)
	}
	dims := 0
	if d := er.OutputDimensionality; d != nil {
		if *d < 1 || *d > MaxEmbeddingDimensions {
			return "", 0, invalid(param+".outputDimensionality", "must be between 1 and %d, got %d.", MaxEmbeddingDimensions, *d)
		}
		dims = *d
	}
	return strings.Join(texts, "\n"), dims, nil
}

// embed runs the embedder over texts that all ask for dims.
func (h *Handler) embed(r *http.Request, model string, texts []string, dims int) ([][]float32, error) {
	if h.opts.Embedder == nil {
		return nil, &gw.Error{Code: gw.CodeUnavailable, Message: noEmbedderMessage}
	}
	vecs, err := h.opts.Embedder.Embed(r.Context(), model, texts, dims)
	if err != nil {
		return nil, err
	}
	if len(vecs) != len(texts) {
		return nil, gw.Errorf(gw.CodeUpstream, "the embedding upstream answered %d vectors for %d inputs", len(vecs), len(texts))
	}
	return vecs, nil
}

// embedContent serves :embedContent.
func (h *Handler) embedContent(w http.ResponseWriter, r *http.Request, model string) error {
	er, err := decodeRequest[embedRequest](h, w, r)
	if err != nil {
		return err
	}
	text, dims, err := er.text("", model)
	if err != nil {
		return err
	}
	vecs, err := h.embed(r, model, []string{text}, dims)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Embedding embedding `json:"embedding"`
	}{embedding{Values: vecs[0]}})
	return nil
}

// batchEmbedContents serves :batchEmbedContents: requests that ask for the
// same outputDimensionality are embedded together, the answers in request
// order.
func (h *Handler) batchEmbedContents(w http.ResponseWriter, r *http.Request, model string) error {
	type batchRequest struct {
		Requests []embedRequest `json:"requests"`
	}
	br, err := decodeRequest[batchRequest](h, w, r)
	if err != nil {
		return err
	}
	if len(br.Requests) == 0 {
		return invalid("requests", "requests is not specified.")
	}
	if len(br.Requests) > MaxBatchEmbedRequests {
		return invalid("requests", "at most %d requests are allowed in a batch, got %d.", MaxBatchEmbedRequests, len(br.Requests))
	}
	type group struct {
		texts []string
		at    []int
	}
	groups := map[int]*group{}
	var order []int
	for i := range br.Requests {
		text, dims, err := br.Requests[i].text(fmt.Sprintf("requests[%d]", i), model)
		if err != nil {
			return err
		}
		g := groups[dims]
		if g == nil {
			g = &group{}
			groups[dims] = g
			order = append(order, dims)
		}
		g.texts, g.at = append(g.texts, text), append(g.at, i)
	}
	out := make([]embedding, len(br.Requests))
	for _, dims := range order {
		g := groups[dims]
		vecs, err := h.embed(r, model, g.texts, dims)
		if err != nil {
			return err
		}
		for j, i := range g.at {
			out[i] = embedding{Values: vecs[j]}
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Embeddings []embedding `json:"embeddings"`
	}{out})
	return nil
}
