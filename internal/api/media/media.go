// Package media is spark's OpenAI-compatible media front-end:
//
//	POST {prefix}/v1/images/generations   JSON (docs/client-api-surface.md §4.4)
//	POST {prefix}/v1/images/edits         multipart/form-data: image or image[] (≤ 10 files, ≤ 25 MB each, ≤ 50 MB in all), prompt, mask (ignored), ...
//	POST {prefix}/v1/videos/generations   JSON, the seed's table (seed 000): model, aspect_ratio, duration, prompt, auto_prompt, image
//
// Every request becomes one or more llm.Requests answered by the gateway:
//
//   - an image model of a catalog (gpt-image-1, dall-e-3,
//     fal-ai/flux-2, ...) runs the upstream's image task flow once, with
//     llm.GenerationOptions carrying n, the aspect ratio mapped from size
//     (llm.AspectRatioForSize), quality and style;
//   - a chat model of Options.ImageChatProviders (Gemini: gemini-3-flash,
//     ...) or a name no provider lists (an alias) is asked in chat to draw
//     the prompt, once per image, and its llm.EventImage results are kept.
//     When it answers with text only, the ask is repeated up to
//     Options.ImageRetries more times in all, then the request fails with
//     502 "did not return an image". Other chat models are refused (400);
//   - no model, or an OpenAI image name no catalog lists (dall-e-2,
//     gpt-image-2, ...), means Options.DefaultImageModel, else the first
//     image model listed;
//   - a video model of the catalog runs the video task flow, waiting at
//     most Options.VideoTimeout.
//
// Results are returned as spark-minted, signed /v1/images/proxy URLs (for
// every upstream, so clients never see upstream URLs and Gemini images,
// which need the owning account's cookies, work like the others) or, with
// response_format b64_json, as the base64 of the bytes fetched through the
// same cookie-aware fetcher. Errors use the OpenAI envelope
// (openai.WriteError).
package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/route"
)

// Defaults of Options.
const (
	DefaultMaxImages    = 4
	DefaultImageRetries = 2
	DefaultMaxFiles     = 10
	DefaultMaxFileBytes = 25 << 20
	// DefaultMaxTotalFileBytes bounds the images of one edit together:
	// two full-size files. The upstreams take the images inline in one
	// request, so ten 25 MB files would only be held in memory to fail.
	DefaultMaxTotalFileBytes = 50 << 20
	DefaultMaxJSONBytes      = 40 << 20 // a 25 MB image in base64, with room
	DefaultImageTimeout      = 5 * time.Minute
	DefaultVideoTimeout      = 10 * time.Minute
	DefaultKeepAlive         = 15 * time.Second
	DefaultMaxPromptSize     = 32000 // characters, as gpt-image-1
	// DefaultImagePrompt and DefaultEditPrompt frame the client's prompt
	// when a chat model (Gemini) is asked to draw; %s is the prompt.
	DefaultImagePrompt = "Generate an image: %s"
	DefaultEditPrompt  = "Edit the attached image: %s"
)

// maxFieldBytes bounds one text field of a multipart form.
const maxFieldBytes = 256 << 10

// Backend answers chat requests, lists models and resolves model names
// without contacting an upstream (gateway.Service). Chat streams end with
// EventFinish, EventUsage, io.EOF; generated media arrive as
// llm.EventImage with Media.URL (or Data) and Media.Account.
type Backend interface {
	Chat(ctx context.Context, req *llm.Request) (llm.Stream, error)
	Models(ctx context.Context) []llm.ModelInfo
	Resolve(ctx context.Context, model string) (provider.Match, error)
}

// Options configure a Handler.
type Options struct {
	// Signer mints the proxy URLs of results. Required.
	Signer *imageproxy.Signer
	// Fetcher downloads results for b64_json. Required.
	Fetcher *imageproxy.Fetcher
	// MediaFetcher downloads a video's first frame given by URL under the
	// gateway's guards; nil hands the URL to the backend, whose own fetcher
	// (gateway.Options.Fetcher) fetches or refuses it.
	MediaFetcher gateway.MediaFetcher
	// DefaultImageModel serves image requests without a model or with an
	// OpenAI image name no catalog lists (dall-e-2, gpt-image-2, ...);
	// empty means the first image model the backend lists.
	DefaultImageModel string
	// ImageChatProviders are the providers (llm.ModelInfo.OwnedBy) whose
	// listed chat models may be asked in chat to draw; a listed chat model
	// of another provider is refused with 400. The app fills it from the
	// plugins that declare ImageChat. Names the backend does not list
	// (aliases) are always tried.
	ImageChatProviders []string
	// MaxImages bounds n; 0 means DefaultMaxImages.
	MaxImages int
	// ImageRetries is how many more times a chat model that answered with
	// text only is asked again; 0 means DefaultImageRetries, negative none.
	ImageRetries int
	// MaxFiles and MaxFileBytes bound the images of one edit; 0 means
	// DefaultMaxFiles and DefaultMaxFileBytes. MaxFileBytes also bounds a
	// video's first frame.
	MaxFiles     int
	MaxFileBytes int64
	// MaxTotalFileBytes bounds the images of one edit together; 0 means
	// DefaultMaxTotalFileBytes (at least MaxFileBytes).
	MaxTotalFileBytes int64
	// MaxJSONBytes bounds JSON bodies; 0 means DefaultMaxJSONBytes.
	MaxJSONBytes int64
	// ImageTimeout and VideoTimeout bound one request's generation,
	// retries and downloads included; 0 means the defaults.
	ImageTimeout time.Duration
	VideoTimeout time.Duration
	// KeepAlive is the interval of SSE comment keepalives on streamed video
	// requests; 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// ImagePrompt and EditPrompt frame prompts sent to chat models (one %s);
	// empty means DefaultImagePrompt and DefaultEditPrompt.
	ImagePrompt string
	EditPrompt  string
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
	// Now is the clock of `created`; nil means time.Now.
	Now func() time.Time
}

// Handler serves the media routes. It is safe for concurrent use.
type Handler struct {
	b    Backend
	opts Options
	log  *slog.Logger
}

// New returns a Handler answering from b.
func New(b Backend, opts Options) (*Handler, error) {
	if b == nil || opts.Signer == nil || opts.Fetcher == nil {
		return nil, errors.New("media: a backend, a Signer and a Fetcher are required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.MaxImages, DefaultMaxImages)
	def(&opts.MaxFiles, DefaultMaxFiles)
	switch {
	case opts.ImageRetries == 0:
		opts.ImageRetries = DefaultImageRetries
	case opts.ImageRetries < 0:
		opts.ImageRetries = 0
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.MaxTotalFileBytes <= 0 {
		opts.MaxTotalFileBytes = DefaultMaxTotalFileBytes
	}
	opts.MaxTotalFileBytes = max(opts.MaxTotalFileBytes, opts.MaxFileBytes)
	if opts.MaxJSONBytes <= 0 {
		opts.MaxJSONBytes = DefaultMaxJSONBytes
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defD(&opts.ImageTimeout, DefaultImageTimeout)
	defD(&opts.VideoTimeout, DefaultVideoTimeout)
	defD(&opts.KeepAlive, DefaultKeepAlive)
	if opts.ImagePrompt == "" {
		opts.ImagePrompt = DefaultImagePrompt
	}
	if opts.EditPrompt == "" {
		opts.EditPrompt = DefaultEditPrompt
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{b: b, opts: opts, log: wire.Logger(opts.Logger)}, nil
}

// Routes returns the media routes, of the client-key class with OpenAI
// errors, each bounded by the largest body it reads (an edit's multipart
// form: MaxFiles+1 files and 8 MiB of fields).
func (h *Handler) Routes() []route.Route {
	rt := func(pattern string, maxBody int64, fn wire.HandlerFunc) route.Route {
		return route.Route{Pattern: pattern, Class: route.ClientKey, Dialect: route.OpenAI,
			MaxBody: maxBody, Handler: h.handle(fn)}
	}
	return []route.Route{
		rt("POST /v1/images/generations", h.opts.MaxJSONBytes, h.generations),
		rt("POST /v1/images/edits", h.editBodyLimit(), h.edits),
		rt("POST /v1/videos/generations", h.opts.MaxJSONBytes, h.videos),
	}
}

// Register mounts Routes on mux (paths without ROUTE_PREFIX) without the
// server's per-class steps (see route.Mount).
func (h *Handler) Register(mux *http.ServeMux) {
	route.Mount(mux, "", h.Routes())
}

// handle adapts fn, rendering its error in the OpenAI envelope. A handler
// that has started its response renders its own errors and returns nil.
func (h *Handler) handle(fn wire.HandlerFunc) http.Handler {
	return wire.Handle(h.log, "media", fn, openai.WriteError)
}

// imagesResponse is the OpenAI ImagesResponse (also the video response of
// the seed: {"created", "data":[{"url"}]}).
type imagesResponse struct {
	Created int64       `json:"created"`
	Data    []imageData `json:"data"`
}

type imageData struct {
	URL           string `json:"url,omitempty"`
	B64JSON       string `json:"b64_json,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

// writeJSON writes v with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// bodyErrors words the errors of a JSON request body: the OpenAI wording,
// but a field of the wrong type says what it got, and a body that could
// not be read is a client that went away.
var bodyErrors = wire.BodyErrors{
	WrongType: func(te *json.UnmarshalTypeError) string {
		return fmt.Sprintf("Invalid type for '%s': got a JSON %s.", te.Field, te.Value)
	},
	Unreadable:        gw.CodeCanceled,
	UnreadableMessage: "could not read the request body",
}

// decodeJSON reads a JSON object body of at most limit bytes into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		return &gw.Error{Code: gw.CodeInvalidRequest,
			Message: "Unsupported Content-Type " + strconv.Quote(ct) + ": this endpoint expects a JSON body (application/json)."}
	}
	return wire.DecodeJSON(w, r, limit, v, &bodyErrors)
}

// invalid returns a 400 about param.
func invalid(param, format string, args ...any) *gw.Error {
	return &gw.Error{Code: gw.CodeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// modelsOf returns the ids of the backend's models of kind.
func modelsOf(models []llm.ModelInfo, kind llm.ModelKind) []string {
	var out []string
	for _, m := range models {
		if m.Kind == kind {
			out = append(out, m.ID)
		}
	}
	return out
}

// findModel returns the listed model named name.
func findModel(models []llm.ModelInfo, name string) (llm.ModelInfo, bool) {
	i := slices.IndexFunc(models, func(m llm.ModelInfo) bool { return m.ID == name })
	if i < 0 {
		return llm.ModelInfo{}, false
	}
	return models[i], true
}

// checkModelName bounds the model name (see wire.MaxModelBytes).
func checkModelName(name string) error { return wire.CheckModelName("model", name) }

// collect runs one backend exchange to its end.
func (h *Handler) collect(ctx context.Context, req *llm.Request) (*llm.Answer, error) {
	st, err := h.b.Chat(ctx, req)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return llm.Collect(st)
}

// sizeLabel words a size limit for an error message: "25 MB" for whole
// mebibytes, else "<n> bytes".
func sizeLabel(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
