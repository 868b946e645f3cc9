// Package googleaisim is a faithful simulator of the official Google AI
// (Generative Language) API's embeddings surface, written from
// docs/gemini-web-upstream.md §9 only: it never imports spark's
// adapter.
//
// It serves, under the real API's own paths:
//
//   - POST /v1beta/models/{model}:embedContent
//   - POST /v1beta/models/{model}:batchEmbedContents (at most 100 requests)
//   - GET  /v1beta/models and GET /v1beta/models/{model}
//
// Authentication is the `x-goog-api-key` header or the `key` query
// parameter. Key states: a missing key is 403 PERMISSION_DENIED; a key
// starting with `invalid` or `expired` is 400 INVALID_ARGUMENT ("API key not
// valid", reason API_KEY_INVALID); one starting with `denied` is 403
// PERMISSION_DENIED; one starting with `limited` is always 429
// RESOURCE_EXHAUSTED. Any other key works. The texts `sim:ratelimit` and
// `sim:unavailable` in an input answer 429 and 503.
//
// Embeddings are deterministic: a Gaussian vector seeded by a hash of the
// model and text, normalised to unit length at the model's full size (3072
// for gemini-embedding-001 and gemini-embedding-2*). outputDimensionality
// truncates it (Matryoshka), so smaller outputs are NOT unit length — as the
// real API documents. Retired models (text-embedding-004, embedding-001)
// answer 404 NOT_FOUND as the real API does since their shutdown.
//
// Every request is recorded in the shared simcore.Recorder with upstream
// "googleai" and the facts model, action, count, dimensions, task_type.
package googleaisim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// Upstream is the recorder's name for this simulator.
const Upstream = "googleai"

// MaxBatch is the real API's cap on requests per batchEmbedContents call.
const MaxBatch = 100

// maxBody bounds what the simulator reads of a request body.
const maxBody = 32 << 20

// model describes one simulated model.
type model struct {
	name        string
	displayName string
	dims        int // default (and maximum) output size
	truncatable bool
	taskTypes   bool
	inputTokens int
}

var models = []model{
	{"gemini-embedding-001", "Gemini Embedding 001", 3072, true, true, 2048},
	{"gemini-embedding-2", "Gemini Embedding 2", 3072, true, true, 8192},
	{"gemini-embedding-2-preview", "Gemini Embedding 2 Preview", 3072, true, true, 8192},
}

// retired models answer 404 like unknown ones (docs/gemini-web-upstream.md §9: expect them gone).
func lookup(name string) (model, bool) {
	for _, m := range models {
		if m.name == name {
			return m, true
		}
	}
	return model{}, false
}

var validTaskTypes = map[string]bool{
	"": true, "TASK_TYPE_UNSPECIFIED": true, "RETRIEVAL_QUERY": true, "RETRIEVAL_DOCUMENT": true,
	"SEMANTIC_SIMILARITY": true, "CLASSIFICATION": true, "CLUSTERING": true,
	"QUESTION_ANSWERING": true, "FACT_VERIFICATION": true, "CODE_RETRIEVAL_QUERY": true,
}

// Options configure a Server.
type Options struct {
	// Recorder receives one entry per request. Nil makes New create one.
	Recorder *simcore.Recorder
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// Server is the Google AI API simulator. It is stateless and safe for
// concurrent use.
type Server struct {
	rec *simcore.Recorder
	log *slog.Logger
}

// New returns a simulator configured by opts.
func New(opts Options) *Server {
	if opts.Recorder == nil {
		opts.Recorder = simcore.NewRecorder(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{rec: opts.Recorder, log: opts.Logger}
}

// Register mounts the simulator's paths on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/v1beta/models", s.handleList)
	mux.HandleFunc("/v1beta/models/{call}", s.handleModel)
}

// Google RPC error envelope.
type rpcError struct {
	Error rpcErrorBody `json:"error"`
}

type rpcErrorBody struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ") // the real API pretty-prints
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, status, msg string, details ...map[string]any) {
	writeJSON(w, code, rpcError{Error: rpcErrorBody{Code: code, Message: msg, Status: status, Details: details}})
}

// authenticate answers the key errors and reports whether to go on.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, h *simcore.Handle) bool {
	key := r.Header.Get("x-goog-api-key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch {
	case key == "":
		h.Set("key", "missing")
		writeErr(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
	case strings.HasPrefix(key, "invalid"), strings.HasPrefix(key, "expired"):
		h.Set("key", "invalid")
		writeErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
			map[string]any{
				"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
				"reason":   "API_KEY_INVALID",
				"domain":   "googleapis.com",
				"metadata": map[string]string{"service": "generativelanguage.googleapis.com"},
			})
	case strings.HasPrefix(key, "denied"):
		h.Set("key", "denied")
		writeErr(w, http.StatusForbidden, "PERMISSION_DENIED", "Your API key was reported as leaked. Please use another API key.")
	case strings.HasPrefix(key, "limited"):
		h.Set("key", "limited")
		s.rateLimited(w)
	default:
		return true
	}
	h.Finish(simcore.OutcomeRejected)
	return false
}

func (s *Server) rateLimited(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "30")
	writeErr(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
		"You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
		map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"})
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	h := s.rec.Start(r, Upstream, nil)
	h.Set("action", "list")
	if r.Method != http.MethodGet {
		writeErr(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "Method not allowed.")
		h.Finish(simcore.OutcomeRejected)
		return
	}
	if !s.authenticate(w, r, h) {
		return
	}
	out := make([]map[string]any, 0, len(models))
	for _, m := range models {
		out = append(out, modelJSON(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": out})
	h.Finish(simcore.OutcomeCompleted)
}

func modelJSON(m model) map[string]any {
	return map[string]any{
		"name": "models/" + m.name, "version": "001", "displayName": m.displayName,
		"description": "Obtain a distributed representation of a text.", "inputTokenLimit": m.inputTokens,
		"outputTokenLimit": 1, "supportedGenerationMethods": []string{"embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"},
	}
}

func notFound(w http.ResponseWriter, name, method string) {
	msg := fmt.Sprintf("models/%s is not found for API version v1beta, or is not supported for %s. Call ListModels to see the list of available models and their supported methods.", name, method)
	writeErr(w, http.StatusNotFound, "NOT_FOUND", msg)
}

type content struct {
	Parts []struct {
		Text       *string         `json:"text"`
		InlineData json.RawMessage `json:"inlineData"`
	} `json:"parts"`
}

type embedRequest struct {
	Model                string   `json:"model"`
	Content              *content `json:"content"`
	TaskType             string   `json:"taskType"`
	Title                string   `json:"title"`
	OutputDimensionality *int     `json:"outputDimensionality"`
}

type values struct {
	Values []float32 `json:"values"`
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	}
	h := s.rec.Start(r, Upstream, body)
	call := r.PathValue("call")
	name, action, hasAction := strings.Cut(call, ":")
	h.Set("model", name)
	h.Set("action", action)
	if !hasAction {
		if r.Method != http.MethodGet {
			writeErr(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "Method not allowed.")
			h.Finish(simcore.OutcomeRejected)
			return
		}
		if !s.authenticate(w, r, h) {
			return
		}
		m, ok := lookup(name)
		if !ok {
			writeErr(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("models/%s is not found for API version v1beta.", name))
			h.Finish(simcore.OutcomeRejected)
			return
		}
		writeJSON(w, http.StatusOK, modelJSON(m))
		h.Finish(simcore.OutcomeCompleted)
		return
	}
	if action != "embedContent" && action != "batchEmbedContents" {
		writeErr(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
		h.Finish(simcore.OutcomeRejected)
		return
	}
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "Method not allowed.")
		h.Finish(simcore.OutcomeRejected)
		return
	}
	if !s.authenticate(w, r, h) {
		return
	}
	if len(body) > maxBody {
		writeErr(w, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", "Request payload size exceeds the limit: 33554432 bytes.")
		h.Finish(simcore.OutcomeRejected)
		return
	}
	m, ok := lookup(name)
	if !ok {
		notFound(w, name, action)
		h.Finish(simcore.OutcomeRejected)
		return
	}
	var reqs []embedRequest
	prefix := "EmbedContentRequest"
	if action == "embedContent" {
		var one embedRequest
		if err := json.Unmarshal(body, &one); err != nil {
			writeErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+jsonProblem(err))
			h.Finish(simcore.OutcomeRejected)
			return
		}
		if one.Model != "" && strings.TrimPrefix(one.Model, "models/") != name {
			writeErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "* EmbedContentRequest.model: the model in the request body must match the model in the URL")
			h.Finish(simcore.OutcomeRejected)
			return
		}
		reqs = []embedRequest{one}
	} else {
		var batch struct {
			Requests []embedRequest `json:"requests"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			writeErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+jsonProblem(err))
			h.Finish(simcore.OutcomeRejected)
			return
		}
		h.Set("count", len(batch.Requests))
		if len(batch.Requests) == 0 {
			writeErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: contents is not specified")
			h.Finish(simcore.OutcomeRejected)
			return
		}
		if len(batch.Requests) > MaxBatch {
			writeErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch")
			h.Finish(simcore.OutcomeRejected)
			return
		}
		for i, rq := range batch.Requests {
			if strings.TrimPrefix(rq.Model, "models/") != name {
				writeErr(w, http.StatusBadRequest, "INVALID_ARGUMENT",
					fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].model: model must be the same as the batch request model (models/%s)", i, name))
				h.Finish(simcore.OutcomeRejected)
				return
			}
		}
		reqs = batch.Requests
		prefix = "BatchEmbedContentsRequest.requests[%d]"
	}
	if len(reqs) > 0 {
		if d := reqs[0].OutputDimensionality; d != nil {
			h.Set("dimensions", *d)
		}
		h.Set("task_type", reqs[0].TaskType)
	}
	h.Set("count", len(reqs))

	out := make([]values, len(reqs))
	for i, rq := range reqs {
		where := prefix
		if strings.Contains(prefix, "%d") {
			where = fmt.Sprintf(prefix, i)
		}
		text, problem := checkRequest(m, rq)
		if problem != "" {
			writeErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "* "+where+"."+problem)
			h.Finish(simcore.OutcomeRejected)
			return
		}
		d := simcore.ParseDirectives(text)
		switch {
		case d.RateLimit || d.Quota:
			s.rateLimited(w)
			h.Finish(simcore.OutcomeRejected)
			return
		case d.Unavailable:
			writeErr(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The model is overloaded. Please try again later.")
			h.Finish(simcore.OutcomeRejected)
			return
		}
		dims := m.dims
		if rq.OutputDimensionality != nil {
			dims = *rq.OutputDimensionality
		}
		out[i] = values{Values: Embedding(m.name, text, m.dims)[:dims]}
	}
	if action == "embedContent" {
		writeJSON(w, http.StatusOK, map[string]any{"embedding": out[0]})
	} else {
		writeJSON(w, http.StatusOK, map[string]any{"embeddings": out})
	}
	s.log.Debug("googleaisim: embedded", "model", name, "action", action, "count", len(reqs))
	h.Finish(simcore.OutcomeCompleted)
}

// checkRequest validates one embed request and returns its text, or the
// field problem in the real API's wording.
func checkRequest(m model, rq embedRequest) (string, string) {
	if rq.Content == nil || len(rq.Content.Parts) == 0 {
		return "", "content: contents is not specified"
	}
	var b strings.Builder
	for _, p := range rq.Content.Parts {
		if p.Text != nil {
			b.WriteString(*p.Text)
		}
	}
	text := b.String()
	if strings.TrimSpace(text) == "" {
		return "", "content.parts[0].data: required oneof field 'data' must have one initialized field"
	}
	if !validTaskTypes[rq.TaskType] {
		return "", fmt.Sprintf("task_type: invalid value %q", rq.TaskType)
	}
	if rq.Title != "" && rq.TaskType != "RETRIEVAL_DOCUMENT" {
		return "", "title: title is only supported for RETRIEVAL_DOCUMENT tasks"
	}
	if d := rq.OutputDimensionality; d != nil {
		if !m.truncatable {
			return "", "output_dimensionality: output_dimensionality is not supported by this model"
		}
		if *d < 128 || *d > m.dims {
			return "", fmt.Sprintf("output_dimensionality: output_dimensionality must be between 128 and %d, got %d", m.dims, *d)
		}
	}
	// A rough token estimate (four bytes per token), as the real API
	// rejects over-long inputs for these models.
	if len(text)/4 > m.inputTokens*4 {
		return "", fmt.Sprintf("content: input is too long; the limit is %d tokens", m.inputTokens)
	}
	return text, ""
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("Invalid value at '%s' (%s)", te.Field, te.Value)
	}
	return "Unknown name or malformed JSON."
}

// Embedding returns the simulator's deterministic full-size embedding of
// text under modelName: unit length at dims. Truncations of it are what the
// API returns for smaller outputDimensionality values.
func Embedding(modelName, text string, dims int) []float32 {
	sum := sha256.Sum256([]byte(modelName + "\x00" + text))
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
	v := make([]float64, dims)
	var norm float64
	for i := range v {
		v[i] = rng.NormFloat64()
		norm += v[i] * v[i]
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	for i := range v {
		out[i] = float32(v[i] / norm)
	}
	return out
}
