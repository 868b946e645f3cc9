// Package gemini is spark's Gemini API front-end (the native API of Google
// AI Studio, v1beta), for Gemini CLI and the google-genai SDKs: it serves
//
//	GET  /v1beta/models                              the model list (pageSize, pageToken)
//	GET  /v1beta/models/{model}                      one model
//	POST /v1beta/models/{model}:generateContent      one answer
//	POST /v1beta/models/{model}:streamGenerateContent  ?alt=sse: server-sent events; else a streamed JSON array
//	POST /v1beta/models/{model}:countTokens          the offline token estimate
//	POST /v1beta/models/{model}:embedContent         through the Google AI embeddings provider
//	POST /v1beta/models/{model}:batchEmbedContents   idem, several at once
//
// by translating GenerateContentRequest to and from the provider-neutral
// types of package llm. Errors are Google's envelope
// {"error":{"code","message","status"}} (see WriteError); the server
// writes its own failures (authentication, limits, unknown routes) on
// these routes in the same envelope (route.Google).
//
// A wildcard of http.ServeMux is a whole path segment, so
// "{model}:generateContent" cannot be a pattern: the POST route takes the
// whole segment and splits it at its last ':'; an unknown method is a
// Google 404.
package gemini

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/route"
)

// DefaultMaxBodyBytes bounds request bodies: 32 MiB, like spark's other
// chat front-ends (the Gemini API itself takes up to 20 MB inline).
const DefaultMaxBodyBytes = 32 << 20

// Backend answers chat requests and lists models (see wire.ChatBackend
// for the stream contract); the gateway service is one.
type Backend = wire.ChatBackend

// Embedder embeds texts (googleai.Client satisfies it). model is a Google
// model name; dimensions > 0 asks for truncated vectors. It returns one
// vector per input, in order, or a *gw.Error.
type Embedder interface {
	Embed(ctx context.Context, model string, inputs []string, dimensions int) ([][]float32, error)
}

// Options tunes a Handler. The zero value is usable.
type Options struct {
	// Embedder serves :embedContent and :batchEmbedContents. Nil makes
	// them answer 503 saying GOOGLE_AI_API_KEY is needed (pass a nil
	// interface, not a nil pointer).
	Embedder Embedder
	// EmbeddingModel is the embedding model the model list shows when an
	// Embedder is configured; empty means DefaultEmbeddingModel.
	EmbeddingModel string
	// Files resolves the fileData parts naming files uploaded through the
	// Files API (files/{id}); nil refuses them with a 400.
	Files wire.Files
	// MaxBodyBytes bounds request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Handler serves the Gemini API routes. It is safe for concurrent use.
type Handler struct {
	b    Backend
	opts Options
	log  *slog.Logger
}

// New returns a Handler answering chat from b.
func New(b Backend, opts Options) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.EmbeddingModel == "" {
		opts.EmbeddingModel = DefaultEmbeddingModel
	}
	return &Handler{b: b, opts: opts, log: wire.Logger(opts.Logger)}
}

// Routes returns the handler's routes: client-key class, Google errors,
// and the key also taken from x-goog-api-key or ?key= (GoogleKey).
func (h *Handler) Routes() []route.Route {
	r := func(pattern string, fn wire.HandlerFunc) route.Route {
		return route.Route{Pattern: pattern, Class: route.ClientKey, Dialect: route.Google, GoogleKey: true,
			MaxBody: h.opts.MaxBodyBytes, Handler: h.handle(fn)}
	}
	return []route.Route{
		r("GET /v1beta/models", h.listModels),
		r("GET /v1beta/models/{model}", h.getModel),
		r("POST /v1beta/models/{model}", h.method),
	}
}

// Register mounts Routes on mux under prefix ("" or like "/hf", no
// trailing slash) without the server's per-class steps (see route.Mount).
func (h *Handler) Register(mux *http.ServeMux, prefix string) {
	route.Mount(mux, prefix, h.Routes())
}

// handle adapts fn: a returned error is logged and rendered with
// WriteError.
func (h *Handler) handle(fn wire.HandlerFunc) http.Handler {
	return wire.Handle(h.log, "gemini", fn, WriteError)
}

// methods are the POST methods of a model, after its ':'.
var methods = map[string]func(h *Handler, w http.ResponseWriter, r *http.Request, model string) error{
	"generateContent": func(h *Handler, w http.ResponseWriter, r *http.Request, m string) error {
		return h.generate(w, r, m, false)
	},
	"streamGenerateContent": func(h *Handler, w http.ResponseWriter, r *http.Request, m string) error {
		return h.generate(w, r, m, true)
	},
	"countTokens":        (*Handler).countTokens,
	"embedContent":       (*Handler).embedContent,
	"batchEmbedContents": (*Handler).batchEmbedContents,
}

// method serves POST /v1beta/models/{model}:{method}.
func (h *Handler) method(w http.ResponseWriter, r *http.Request) error {
	seg := r.PathValue("model")
	i := strings.LastIndexByte(seg, ':')
	if i < 0 {
		return &gw.Error{Code: gw.CodeNotFound, Message: "Method not found: POST " + r.URL.Path + " names no method (expected models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent or :batchEmbedContents)."}
	}
	model, name := seg[:i], seg[i+1:]
	fn := methods[name]
	if fn == nil {
		return &gw.Error{Code: gw.CodeNotFound, Message: "Method not found: '" + wire.Truncate(name, 64) + "' (supported: generateContent, streamGenerateContent, countTokens, embedContent, batchEmbedContents)."}
	}
	model, err := modelName(model, "model")
	if err != nil {
		return err
	}
	return fn(h, w, r, model)
}

// modelName checks a model name of a path or body ("models/" stripped).
func modelName(name, param string) (string, error) {
	name = strings.TrimPrefix(name, "models/")
	if strings.TrimSpace(name) == "" {
		return "", invalid(param, "model is not specified.")
	}
	if len(name) > wire.MaxModelBytes {
		return "", invalid(param, "model name is too long: at most %d characters.", wire.MaxModelBytes)
	}
	return name, nil
}
