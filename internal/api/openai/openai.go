// Package openai is spark's OpenAI-compatible front-end: it serves
// POST /v1/chat/completions and GET /v1/models[/{model}] by translating the
// OpenAI wire format to and from the provider-neutral types of package llm.
//
// The wire rules follow what the official SDKs and common clients (n8n,
// Open WebUI, NextChat, LangChain) actually parse; see
// docs/client-api-surface.md §0, §1 and §4.2. Authentication,
// CORS, route aliasing and rate limits are the server middleware's job.
package openai

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/route"
)

// DefaultMaxBodyBytes is the default request body limit (32 MiB, as the
// Anthropic API): enough for a few inline images or a PDF.
const DefaultMaxBodyBytes = 32 << 20

// Backend answers chat requests and lists models (see wire.ChatBackend
// for the stream contract); the gateway service is one.
type Backend = wire.ChatBackend

// Options tunes a Handler. The zero value is usable.
type Options struct {
	// MaxBodyBytes limits request bodies; larger ones get 413.
	// Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MirrorReasoning also sends reasoning text as delta.reasoning /
	// message.reasoning (OpenRouter/Ollama style) besides the default
	// reasoning_content (DeepSeek/vLLM style, the most widely read field).
	// Off by default: a client reading both fields would show it twice.
	MirrorReasoning bool
	// Logger receives diagnostics (mid-stream failures, clients that went
	// away). Nil discards them.
	Logger *slog.Logger
	// KeepAlive, when positive, keeps a streamed structured answer
	// (response_format json_schema or json_object) alive while it is
	// gathered and validated: if the backend has not answered after
	// KeepAlive, the stream starts and an empty content chunk follows
	// every KeepAlive (see wire.AwaitChat). Zero disables it.
	KeepAlive time.Duration
	// Files resolves the file ids of "file" content parts (the Files
	// API); nil refuses them with a 400.
	Files wire.Files
}

// Handler serves the OpenAI-compatible routes. It is safe for concurrent use.
type Handler struct {
	b    Backend
	opts Options
	log  *slog.Logger
}

// New returns a Handler answering from b.
func New(b Backend, opts Options) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &Handler{b: b, opts: opts, log: wire.Logger(opts.Logger)}
}

// Routes returns the handler's routes, all of the client-key class:
//
//	POST /v1/chat/completions           (OpenAI errors)
//	GET  /v1/models                     (OpenAI or Anthropic, by client)
//	GET  /v1/models/{model...}          (OpenAI or Anthropic, by client)
//
// Model ids may contain "/" (fal-ai/flux-2), sent raw or as %2F.
func (h *Handler) Routes() []route.Route {
	return []route.Route{
		{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Dialect: route.OpenAI,
			MaxBody: h.opts.MaxBodyBytes, Handler: h.handle(h.chatCompletions, route.OpenAI)},
		{Pattern: "GET /v1/models", Class: route.ClientKey, Dialect: route.ByClient,
			Handler: h.handle(h.listModels, route.ByClient)},
		{Pattern: "GET /v1/models/{model...}", Class: route.ClientKey, Dialect: route.ByClient,
			Handler: h.handle(h.getModel, route.ByClient)},
	}
}

// Register mounts Routes on mux under prefix ("" or like "/hf", no
// trailing slash) without the server's per-class steps (see route.Mount).
func (h *Handler) Register(mux *http.ServeMux, prefix string) {
	route.Mount(mux, prefix, h.Routes())
}

// handle adapts fn, rendering its error in dialect d: OpenAI, or for
// route.ByClient the envelope the request's client family expects (chosen
// anew for every request).
func (h *Handler) handle(fn wire.HandlerFunc, d route.Dialect) http.Handler {
	if d == route.OpenAI {
		return wire.Handle(h.log, "openai", fn, WriteError)
	}
	openAI := wire.Handle(h.log, "openai", fn, WriteError)
	anthropic := wire.Handle(h.log, "openai", fn, writeAnthropicError)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.For(r) == route.Anthropic {
			anthropic.ServeHTTP(w, r)
			return
		}
		openAI.ServeHTTP(w, r)
	})
}
