// Package anthropic is spark's Anthropic-compatible front-end: it serves
// POST /v1/messages and POST /v1/messages/count_tokens by translating the
// Anthropic Messages wire format to and from the provider-neutral types of
// package llm, so that Claude Code and the Anthropic SDKs work unchanged.
//
// The wire rules follow what the official SDKs and Claude Code actually
// parse; see docs/client-api-surface.md §0, §3, §5.1 and §6.
// GET /v1/models is served by the OpenAI front-end in both shapes.
// Authentication, CORS, route aliasing and rate limits are the server
// middleware's job; WriteError renders its failures on these routes.
package anthropic

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
)

// DefaultMaxBodyBytes is the default request body limit: 32 MiB, the limit
// of the Anthropic Messages and count_tokens endpoints.
const DefaultMaxBodyBytes = 32 << 20

// DefaultPingInterval is a sensible Options.PingInterval for production.
const DefaultPingInterval = 10 * time.Second

// Backend answers chat requests and lists models (see wire.ChatBackend
// for the stream contract); the gateway service is one.
type Backend = wire.ChatBackend

// Options tunes a Handler. The zero value is usable.
type Options struct {
	// MaxBodyBytes limits request bodies; larger ones get 413
	// request_too_large. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// PingInterval, when positive, sends an "event: ping" keepalive on a
	// stream whenever the upstream has been silent that long, so that idle
	// timeouts of proxies and clients do not cut it. This includes the wait
	// inside Backend.Chat (which may last until the upstream's first
	// event): if Chat has not returned after PingInterval, the stream
	// starts (200, message_start, ping) and a later Chat failure is sent
	// in-band as "event: error"; failures within PingInterval remain real
	// HTTP errors. Zero disables keepalives (the one ping right after
	// message_start is always sent) and Chat failures are always real HTTP
	// errors then.
	PingInterval time.Duration
	// Logger receives diagnostics (mid-stream failures, clients that went
	// away). Nil discards them.
	Logger *slog.Logger
	// Files resolves the file ids of image and document blocks with a
	// "file" source (the Files API); nil refuses them with a 400.
	Files wire.Files
}

// Handler serves the Anthropic-compatible routes. It is safe for concurrent
// use.
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
	if opts.PingInterval < 0 {
		opts.PingInterval = 0
	}
	return &Handler{b: b, opts: opts, log: wire.Logger(opts.Logger)}
}

// Routes returns the handler's routes, of the client-key class with
// Anthropic errors:
//
//	POST /v1/messages
//	POST /v1/messages/count_tokens
//
// Routing is on the path only, so the beta client's "?beta=true" works.
// Models routes are not here (the OpenAI front-end serves both list
// shapes).
func (h *Handler) Routes() []route.Route {
	return []route.Route{
		{Pattern: "POST /v1/messages", Class: route.ClientKey, Dialect: route.Anthropic,
			MaxBody: h.opts.MaxBodyBytes, Handler: h.handle(h.messages)},
		{Pattern: "POST /v1/messages/count_tokens", Class: route.ClientKey, Dialect: route.Anthropic,
			MaxBody: h.opts.MaxBodyBytes, Handler: h.handle(h.countTokens)},
	}
}

// Register mounts Routes on mux under prefix ("" or like "/hf", no
// trailing slash) without the server's per-class steps (see route.Mount).
func (h *Handler) Register(mux *http.ServeMux, prefix string) {
	route.Mount(mux, prefix, h.Routes())
}

// handle adapts fn: it makes sure the response carries a request-id and
// renders a returned error with WriteError. A handler that has started a
// response body renders its own errors and returns nil (streams end with
// an in-band error event).
func (h *Handler) handle(fn wire.HandlerFunc) http.Handler {
	return wire.Handle(h.log, "anthropic", func(w http.ResponseWriter, r *http.Request) error {
		ensureRequestID(w, r)
		return fn(w, r)
	}, WriteError)
}

// ensureRequestID sets the request-id response header (which the Anthropic
// SDKs read) when the server middleware has not: from the request context,
// or a fresh id.
func ensureRequestID(w http.ResponseWriter, r *http.Request) string {
	if id := w.Header().Get("Request-Id"); id != "" {
		return id
	}
	id := reqctx.RequestID(r.Context())
	if id == "" {
		id = wire.NewAnthropicRequestID()
	}
	w.Header().Set("Request-Id", id)
	return id
}
