// Package extras serves the OpenAI-compatible endpoints beyond chat:
//
//	POST {prefix}/v1/embeddings             — through an Embedder (the official Google AI API)
//	POST {prefix}/v1/moderations            — emulated: a chat model scores the 13 categories
//	POST {prefix}/v1/audio/transcriptions   — emulated: a chat model transcribes the audio
//	POST {prefix}/v1/audio/translations     — emulated: a chat model translates it to English
//	POST {prefix}/v1/audio/speech           — 501: no configured upstream synthesizes speech
//
// Wire shapes follow docs/client-api-surface.md §4.1, §4.3 and §4.5;
// errors use the OpenAI envelope of wire.WriteOpenAIError. Emulated answers are
// best-effort: they come from prompting a general chat model, not from
// OpenAI's classifier or a dedicated speech recognizer.
package extras

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
)

// Limits.
const (
	// DefaultMaxBodyBytes bounds JSON request bodies (32 MiB).
	DefaultMaxBodyBytes = 32 << 20
	// DefaultMaxUploadBytes bounds an uploaded audio file (25 MB, OpenAI's
	// limit).
	DefaultMaxUploadBytes = 25 << 20
	// MaxEmbeddingInputs is OpenAI's cap on inputs per embeddings request.
	MaxEmbeddingInputs = 2048
	// MaxEmbeddingInputTokens and MaxEmbeddingRequestTokens are OpenAI's
	// caps on the tokens of one input and of all the inputs of a request
	// together, applied to inputs sent as token ids: one id of a few bytes
	// decodes to up to 128 bytes of text, so without them a body would
	// grow twentyfold once decoded.
	MaxEmbeddingInputTokens   = 8192
	MaxEmbeddingRequestTokens = 300000
	// MaxModerationInputs bounds inputs per moderation request: each one is
	// a chat exchange with an upstream account. It also bounds the parts of
	// one multimodal input.
	MaxModerationInputs = 32
	// MaxEmbeddingDimensions bounds dimensions: the largest size of
	// OpenAI's (text-embedding-3-large) and Google's embedding models.
	MaxEmbeddingDimensions = 3072
	// maxEnumBytes bounds enumerated string fields (encoding_format,
	// response_format, language) before they are parsed or quoted.
	maxEnumBytes = 64
	// maxFormParts bounds the parts of an audio form: the file and a
	// few dozen fields.
	maxFormParts = 100
)

// DefaultEmbeddingModel is the Google model used when a client names an
// OpenAI embedding model (or none) and Options.DefaultEmbeddingModel is empty.
const DefaultEmbeddingModel = "gemini-embedding-001"

// ChatBackend answers chat requests; wire.ChatBackend and the gateway
// service satisfy it. The stream yields deltas, one llm.EventFinish, one
// llm.EventUsage, then io.EOF.
type ChatBackend interface {
	Chat(ctx context.Context, req *llm.Request) (llm.Stream, error)
}

// Embedder embeds texts (googleai.Client satisfies it). model is a Google
// model name; dimensions > 0 asks for truncated vectors. It returns one
// vector per input, in order, or a *gw.Error.
type Embedder interface {
	Embed(ctx context.Context, model string, inputs []string, dimensions int) ([][]float32, error)
}

// Options configure a Handler.
type Options struct {
	// Chat is the backend used to emulate moderations and audio. Nil makes
	// those endpoints answer 501.
	Chat ChatBackend
	// Embedder serves /v1/embeddings. Nil makes the endpoint answer 503
	// saying GOOGLE_AI_API_KEY is needed (pass a nil interface, not a nil
	// pointer).
	Embedder Embedder
	// DefaultEmbeddingModel replaces OpenAI embedding model names;
	// empty means DefaultEmbeddingModel.
	DefaultEmbeddingModel string
	// DefaultChatModel is the chat model that emulates moderations and
	// audio (e.g. "gemini-3-flash"). Required for those endpoints.
	DefaultChatModel string
	// MaxBodyBytes bounds JSON bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxUploadBytes bounds uploaded audio files; zero means
	// DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
}

// Handler serves the extra endpoints. It is safe for concurrent use.
type Handler struct {
	opts Options
	log  *slog.Logger
}

// New returns a Handler.
func New(opts Options) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.DefaultEmbeddingModel == "" {
		opts.DefaultEmbeddingModel = DefaultEmbeddingModel
	}
	opts.Logger = wire.Logger(opts.Logger)
	return &Handler{opts: opts, log: opts.Logger}
}

// Routes returns the handler's routes, of the client-key class with OpenAI
// errors; the audio uploads are bounded by the upload limit plus 1 MiB of
// other fields.
func (h *Handler) Routes() []route.Route {
	rt := func(pattern string, maxBody int64, fn wire.HandlerFunc) route.Route {
		return route.Route{Pattern: pattern, Class: route.ClientKey, Dialect: route.OpenAI,
			MaxBody: maxBody, Handler: h.handle(fn)}
	}
	upload := h.opts.MaxUploadBytes + audioFieldsBytes
	return []route.Route{
		rt("POST /v1/embeddings", h.opts.MaxBodyBytes, h.embeddings),
		rt("POST /v1/moderations", h.opts.MaxBodyBytes, h.moderations),
		rt("POST /v1/audio/transcriptions", upload, h.transcriptions),
		rt("POST /v1/audio/translations", upload, h.translations),
		rt("POST /v1/audio/speech", h.opts.MaxBodyBytes, h.speech),
	}
}

// Register mounts Routes on mux under prefix ("" or like "/hf", no
// trailing slash) without the server's per-class steps (see route.Mount).
func (h *Handler) Register(mux *http.ServeMux, prefix string) {
	route.Mount(mux, prefix, h.Routes())
}

// handle adapts fn, rendering its error in the OpenAI envelope.
func (h *Handler) handle(fn wire.HandlerFunc) http.Handler {
	return wire.Handle(h.log, "extras", fn, wire.WriteOpenAIError)
}

// speech answers 501: no configured upstream synthesizes speech the way
// /v1/audio/speech needs.
func (h *Handler) speech(w http.ResponseWriter, r *http.Request) error {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, h.opts.MaxBodyBytes))
	return &gw.Error{Code: gw.CodeNotImplemented, Message: "speech synthesis is not supported by the configured upstreams"}
}

func invalid(param, format string, args ...any) *gw.Error {
	return &gw.Error{Code: gw.CodeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// bodyErrors words the errors of a JSON request body: the OpenAI wording,
// but a field of the wrong type is only named.
var bodyErrors = wire.BodyErrors{
	WrongType: func(te *json.UnmarshalTypeError) string {
		return fmt.Sprintf("Invalid type for '%s'.", te.Field)
	},
}

// decodeBody reads r's JSON body into v within the body limit.
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	return wire.DecodeJSON(w, r, h.opts.MaxBodyBytes, v, &bodyErrors)
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return gw.Wrap(gw.CodeInternal, err, "internal error")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// writeText writes s as a text/plain response.
func writeText(w http.ResponseWriter, s string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, s)
	return nil
}

// open starts one chat exchange on the default chat model.
func (h *Handler) open(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if h.opts.Chat == nil || h.opts.DefaultChatModel == "" {
		return nil, &gw.Error{Code: gw.CodeNotImplemented, Message: "this endpoint is emulated through a chat model, and none is configured"}
	}
	req.Model = h.opts.DefaultChatModel
	req.ClientKey = reqctx.KeyID(ctx)
	return h.opts.Chat.Chat(ctx, req)
}

// complete runs one chat exchange and returns the answer text.
func (h *Handler) complete(ctx context.Context, req *llm.Request) (string, error) {
	st, err := h.open(ctx, req)
	if err != nil {
		return "", err
	}
	defer st.Close()
	ans, err := llm.Collect(st)
	if err != nil {
		return "", err
	}
	return ans.Text, nil
}
