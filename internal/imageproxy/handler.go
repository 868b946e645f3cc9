package imageproxy

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
)

// maxCacheAge bounds the Cache-Control max-age of proxied files.
const maxCacheAge = 24 * time.Hour

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// WriteError renders errors (the app passes openai.WriteError); nil
	// writes the OpenAI error envelope itself.
	WriteError func(w http.ResponseWriter, err error)
	// Logger receives failures (never URLs' signatures or cookies); nil
	// discards.
	Logger *slog.Logger
}

// Handler serves GET /v1/images/proxy. It needs no API key: the signed URL
// is the capability.
type Handler struct {
	signer  *Signer
	fetcher *Fetcher
	opts    HandlerOptions
	log     *slog.Logger
}

// NewHandler returns the proxy route's handler.
func NewHandler(s *Signer, f *Fetcher, opts HandlerOptions) *Handler {
	if opts.WriteError == nil {
		opts.WriteError = writeError
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{signer: s, fetcher: f, opts: opts, log: log}
}

// Routes returns GET (and HEAD) /v1/images/proxy, of the signed-link
// class (the signed URL is the capability) with OpenAI errors.
func (h *Handler) Routes() []route.Route {
	return []route.Route{{Pattern: "GET " + Path, Class: route.SignedLink, Dialect: route.OpenAI, Handler: h}}
}

// Register mounts Routes on mux (paths without ROUTE_PREFIX) without the
// server's per-class steps (see route.Mount).
func (h *Handler) Register(mux *http.ServeMux) {
	route.Mount(mux, "", h.Routes())
}

// ServeHTTP verifies the signed URL, fetches the upstream file and streams
// it: the upstream Content-Type (and Content-Length when known), private
// caching until the URL expires (at most a day), and headers that stop a
// browser from running anything it receives.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, err := h.signer.Verify(r.URL.Query())
	if err != nil {
		h.fail(w, r, verifyError(err))
		return
	}
	m, err := h.fetcher.Open(r.Context(), t.URL, t.Account, t.Size)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer m.Close()
	hd := w.Header()
	hd.Set("Content-Type", m.ContentType)
	if m.Length >= 0 {
		hd.Set("Content-Length", formatLength(m.Length))
	}
	age := min(t.Expires.Sub(h.signer.opts.Now()), maxCacheAge)
	hd.Set("Cache-Control", "private, max-age="+strconv.Itoa(max(int(age.Seconds()), 0)))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, m.Body); err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "image proxy: stream broken",
			slog.String("request_id", reqctx.RequestID(r.Context())), slog.Any("error", err))
		// The status is sent: cut the connection so the client sees a
		// truncated transfer instead of a complete file.
		panic(http.ErrAbortHandler)
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	level := slog.LevelDebug
	if gw.HTTPStatus(gw.ErrorCode(err)) >= 500 {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(r.Context(), level, "image proxy: request failed",
		slog.String("request_id", reqctx.RequestID(r.Context())), slog.Any("error", err))
	h.opts.WriteError(w, err)
}

// writeError is a minimal OpenAI error envelope writer, used when the app
// gives none.
func writeError(w http.ResponseWriter, err error) {
	e := gw.AsError(err)
	if e == nil {
		e = &gw.Error{Code: gw.CodeInternal, Message: "internal error"}
	}
	typ := "server_error"
	if s := gw.HTTPStatus(e.Code); s >= 400 && s < 500 {
		typ = "invalid_request_error"
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(gw.HTTPStatus(e.Code))
	}
	body := map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}}
	if e.Param != "" {
		body["error"].(map[string]any)["param"] = e.Param
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(gw.HTTPStatus(e.Code))
	_, _ = w.Write(buf.Bytes())
}
