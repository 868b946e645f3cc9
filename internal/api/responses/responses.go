// Package responses is spark's OpenAI Responses API front-end: it serves
// POST /v1/responses (plain and streamed), the stored-response routes
// (GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items)
// and POST /v1/responses/input_tokens, translating the Responses wire format
// to and from the provider-neutral types of package llm. n8n (OpenAI node v2
// and the LangChain chat model), Codex and the newer SDKs speak only this
// API.
//
// The wire rules follow what the official SDKs and those clients actually
// parse; see docs/client-api-surface.md §0, §2, §5.2 and §6.
// Authentication, CORS, route aliasing and rate limits are the server
// middleware's job; errors use the OpenAI envelope (wire.WriteOpenAIError).
//
// Responses are stored (store defaults to true, as at OpenAI) in a
// [store.ResponseStore], scoped to the client API key that created them, so
// that previous_response_id and GET work; a response of another key is
// reported as not found.
package responses

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// DefaultMaxBodyBytes is the default request body limit (32 MiB, as the
// OpenAI API): enough for a few inline images or a PDF.
const DefaultMaxBodyBytes = 32 << 20

// DefaultMaxStoredBytes bounds what one stored response may take (its
// response object plus its input items, inherited ones included). Larger
// responses are answered but not stored.
const DefaultMaxStoredBytes = 8 << 20

// DefaultStoreTTL is how long stored responses are kept (OpenAI keeps them
// 30 days).
const DefaultStoreTTL = 30 * 24 * time.Hour

// pruneInterval is how often, at most, expired responses are deleted.
const pruneInterval = time.Hour

// Backend answers chat requests and lists models (see wire.ChatBackend
// for the stream contract); the gateway service is one, and the other
// chat front-ends take the same.
type Backend = wire.ChatBackend

// Options tunes a Handler. The zero value is usable.
type Options struct {
	// MaxBodyBytes limits request bodies; larger ones get 413.
	// Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxStoredBytes bounds one stored response (response object plus
	// input items); larger ones are not stored (the answer says
	// "store": false) and a warning is logged. Zero means
	// DefaultMaxStoredBytes.
	MaxStoredBytes int
	// StoreTTL is how long stored responses are kept; older ones are
	// not found and are pruned from the store now and then. Zero means
	// DefaultStoreTTL.
	StoreTTL time.Duration
	// Logger receives diagnostics (mid-stream failures, clients that went
	// away, store failures). Nil discards them.
	Logger *slog.Logger
	// Now returns the current time (created_at, completed_at, expiry).
	// Nil means time.Now.
	Now func() time.Time
	// KeepAlive, when positive, keeps a streamed structured answer
	// (text.format json_schema or json_object) alive while it is gathered
	// and validated: if the backend has not answered after KeepAlive, the
	// stream starts and an SSE comment follows every KeepAlive (see
	// wire.AwaitChat). Zero disables it.
	KeepAlive time.Duration
	// Files resolves the file ids of input_image and input_file parts
	// (the Files API); nil refuses them with a 400.
	Files wire.Files
}

// Handler serves the Responses routes. It is safe for concurrent use.
type Handler struct {
	b    Backend
	st   store.ResponseStore // nil: nothing is stored
	opts Options
	log  *slog.Logger

	pruneMu   sync.Mutex
	lastPrune time.Time
}

// New returns a Handler answering from b and keeping responses in st. A nil
// st disables storage: answers say "store": false, previous_response_id
// and GET find nothing.
func New(b Backend, st store.ResponseStore, opts Options) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxStoredBytes <= 0 {
		opts.MaxStoredBytes = DefaultMaxStoredBytes
	}
	if opts.StoreTTL <= 0 {
		opts.StoreTTL = DefaultStoreTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{b: b, st: st, opts: opts, log: wire.Logger(opts.Logger)}
}

// Routes returns the handler's routes, of the client-key class with OpenAI
// errors:
//
//	POST   /v1/responses
//	POST   /v1/responses/input_tokens
//	POST   /v1/responses/compact            (404: not supported)
//	GET    /v1/responses/{id}
//	DELETE /v1/responses/{id}
//	GET    /v1/responses/{id}/input_items
//	POST   /v1/responses/{id}/cancel        (400/404: no background mode)
func (h *Handler) Routes() []route.Route {
	const p = "/v1/responses"
	rt := func(pattern string, fn wire.HandlerFunc) route.Route {
		return route.Route{Pattern: pattern, Class: route.ClientKey, Dialect: route.OpenAI,
			MaxBody: h.opts.MaxBodyBytes, Handler: h.handle(fn)}
	}
	return []route.Route{
		rt("POST "+p, h.create),
		rt("POST "+p+"/input_tokens", h.inputTokens),
		rt("POST "+p+"/compact", h.compact),
		rt("GET "+p+"/{id}", h.get),
		rt("DELETE "+p+"/{id}", h.delete),
		rt("GET "+p+"/{id}/input_items", h.inputItems),
		rt("POST "+p+"/{id}/cancel", h.cancel),
	}
}

// Register mounts Routes on mux under prefix ("" or like "/hf", no
// trailing slash) without the server's per-class steps (see route.Mount).
func (h *Handler) Register(mux *http.ServeMux, prefix string) {
	route.Mount(mux, prefix, h.Routes())
}

// handle adapts fn, rendering its error in the OpenAI envelope. A handler
// that has started a response body renders its own errors and returns nil
// (streams end with response.failed).
func (h *Handler) handle(fn wire.HandlerFunc) http.Handler {
	return wire.Handle(h.log, "responses", fn, wire.WriteOpenAIError)
}

// now is the handler's clock.
func (h *Handler) now() time.Time { return h.opts.Now() }

// newID returns a fresh id with prefix, e.g. resp_0a1b... (48 hex digits,
// like OpenAI's).
func newID(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// marshal encodes v as one line of JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		// Only unsupported values fail, and the response types have none.
		wire.WriteOpenAIError(w, err)
		return
	}
	writeRawJSON(w, status, b)
}

// writeRawJSON writes b, a JSON document, with the given status.
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

// notFound is the 404 of an unknown (or another key's, or expired)
// response id.
func notFound(id string) *gw.Error {
	return gw.Errorf(gw.CodeNotFound, "Response with id '%s' not found.", id)
}

// load returns the stored response id of the request's key, or a 404
// (unknown, another key's, expired, or storage disabled).
func (h *Handler) load(ctx context.Context, id string) (store.StoredResponse, error) {
	if h.st == nil || id == "" {
		return store.StoredResponse{}, notFound(id)
	}
	sr, err := h.st.GetResponse(ctx, reqctx.KeyID(ctx), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// The cause (for instance a response sealed under an older
		// master key) is logged, never shown.
		e := notFound(id)
		e.Cause = err
		return store.StoredResponse{}, e
	case err != nil:
		return store.StoredResponse{}, gw.Wrap(gw.CodeInternal, err, "could not read the stored response")
	}
	if h.expired(sr.CreatedAt) {
		return store.StoredResponse{}, notFound(id)
	}
	return sr, nil
}

// expired reports whether a response created at t is past its TTL.
func (h *Handler) expired(t time.Time) bool {
	return !t.IsZero() && h.now().Sub(t) > h.opts.StoreTTL
}

// maybePrune deletes expired responses at most once per pruneInterval.
// It runs on a request's goroutine after its answer was written.
func (h *Handler) maybePrune(ctx context.Context) {
	if h.st == nil {
		return
	}
	now := h.now()
	h.pruneMu.Lock()
	if !h.lastPrune.IsZero() && now.Sub(h.lastPrune) < pruneInterval {
		h.pruneMu.Unlock()
		return
	}
	h.lastPrune = now
	h.pruneMu.Unlock()
	n, err := h.st.PruneResponses(context.WithoutCancel(ctx), now.Add(-h.opts.StoreTTL))
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "responses: pruning expired responses failed", slog.Any("error", err))
		return
	}
	if n > 0 {
		h.log.LogAttrs(ctx, slog.LevelDebug, "responses: pruned expired responses", slog.Int("count", n))
	}
}
