// Package gensparksim is a faithful simulator of the Genspark upstream
// (www.genspark.ai) as spark's Genspark adapter drives it, written from
// docs/genspark-upstream.md and the real captures in
// internal/provider/genspark/testdata/fixtures only: it never imports spark's adapter, so a
// misreading of the spec on either side shows up as a failing test.
//
// It serves, under the real upstream's own paths:
//
//   - POST /api/copilot/ask: chat (COPILOT_MOA_CHAT), image
//     (COPILOT_MOA_IMAGE) and video (COPILOT_MOA_VIDEO) asks, answered as the
//     SSE-like `data: <json>` + blank line stream of docs/genspark-upstream.md §2 with Python-style
//     JSON (`", "` / `": "` separators, upstream key order);
//   - POST /api/ig_tasks_status and /api/vg_tasks_status: image/video task
//     status streams ending in TASKS_STATUS_COMPLETE;
//   - GET /api/project/delete, GET /api/is_login,
//     GET /api/get_upload_personal_image_url;
//   - GET /genspark: the third-party reCAPTCHA token helper (docs/genspark-upstream.md §6);
//
// plus the bytes behind the URLs it hands out: generated images
// (/genspark-cdn/image/…, real PNG), generated videos (/genspark-cdn/video/…,
// a minimal MP4) and an Azure-blob-like upload target
// (/genspark-blob/user-upload-image/…, PUT with a SAS-like sig, GET back).
//
// Behaviour follows docs/simulators.md: the answer always contains the last user
// message verbatim, `sim:` directives in that message select reasoning, long
// or slow streams, tool calls and every failure signal of docs/genspark-upstream.md §3.1, and a
// session_id cookie value starting with `limited`/`expired` is a rate-limited
// or logged-out account. Every request is recorded in the shared
// simcore.Recorder with upstream "genspark" (or "recaptcha" for the token
// helper).
package gensparksim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// Options configure a Server.
type Options struct {
	// Recorder receives one entry per request served. Nil makes New create a
	// private one.
	Recorder *simcore.Recorder
	// DeltaDelay is the pause between streamed deltas (and task-status
	// progress events) when the request gives no sim:slow directive. Zero
	// streams as fast as possible.
	DeltaDelay time.Duration
	// Logger receives one line per request served; nil discards.
	Logger *slog.Logger
}

// Server is the Genspark upstream simulator. Its state (image/video tasks and
// uploaded blobs) lives in memory and is bounded. It is safe for concurrent
// use.
type Server struct {
	rec    *simcore.Recorder
	delay  time.Duration
	log    *slog.Logger
	secret []byte // signs upload URLs

	mu    sync.Mutex
	tasks map[string]*task
	order []string // task ids, oldest first

	blobs *blobStore
}

// Limits of the in-memory state.
const (
	maxRequestBody = 64 << 20  // bytes read from any request body
	maxTasks       = 10000     // newest image/video tasks kept
	maxBlobSize    = 64 << 20  // bytes per uploaded blob
	maxBlobTotal   = 256 << 20 // bytes of all uploaded blobs, oldest evicted
)

// New returns a Genspark simulator configured by opts.
func New(opts Options) *Server {
	if opts.Recorder == nil {
		opts.Recorder = simcore.NewRecorder(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return &Server{
		rec:    opts.Recorder,
		delay:  opts.DeltaDelay,
		log:    opts.Logger,
		secret: secret,
		tasks:  map[string]*task{},
		blobs:  newBlobStore(maxBlobSize, maxBlobTotal),
	}
}

// Register mounts every path the simulator serves on mux. Methods are checked
// by the handlers themselves so that a wrong method is answered (and
// recorded) the way the upstream would.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/api/copilot/ask", s.handleAsk)
	mux.HandleFunc("/api/ig_tasks_status", s.handleTasksStatus(kindImage))
	mux.HandleFunc("/api/vg_tasks_status", s.handleTasksStatus(kindVideo))
	mux.HandleFunc("/api/project/delete", s.handleDelete)
	mux.HandleFunc("/api/get_upload_personal_image_url", s.handleUploadURL)
	mux.HandleFunc("/api/is_login", s.handleIsLogin)
	mux.HandleFunc("/genspark", s.handleRecaptcha)
	mux.HandleFunc("/genspark-cdn/image/{file}", s.handleMedia(kindImage))
	mux.HandleFunc("/genspark-cdn/video/{file}", s.handleMedia(kindVideo))
	mux.HandleFunc("/genspark-blob/user-upload-image/{id}", s.handleBlob)
}

// call is one request being served: its log entry plus the logger line
// written when it finishes.
type call struct {
	s     *Server
	r     *http.Request
	h     *simcore.Handle
	start time.Time
	once  sync.Once
}

// begin reads the request body (bounded) and records the request. On a body
// that is too large or unreadable it answers the request itself and returns
// ok=false.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, upstream string, limit int64) (c *call, body []byte, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	c = &call{s: s, r: r, h: s.rec.Start(r, upstream, body), start: time.Now()}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.h.Set("error", "request body too large")
			writePlain(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		} else {
			c.h.Set("error", "reading body: "+err.Error())
			writePlain(w, http.StatusBadRequest, "Bad Request")
		}
		c.finish(simcore.OutcomeRejected)
		return nil, nil, false
	}
	return c, body, true
}

// finish records the outcome (first call wins) and logs one line.
func (c *call) finish(outcome string) {
	c.once.Do(func() {
		c.h.Finish(outcome)
		c.s.log.Info("genspark simulator",
			"method", c.r.Method, "path", c.r.URL.Path,
			"outcome", outcome, "duration", time.Since(c.start))
	})
}

// reject records err as a fact and the request as rejected.
func (c *call) reject(reason string) {
	c.h.Set("error", reason)
	c.finish(simcore.OutcomeRejected)
}

// methodNotAllowed answers a wrong method the way the upstream's Python
// framework (FastAPI/Starlette) does.
func (c *call) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeRaw(w, http.StatusMethodNotAllowed, "application/json", `{"detail":"Method Not Allowed"}`)
	c.reject("method not allowed")
}

// sessionID returns the session_id cookie value of r ("" when absent).
func sessionID(r *http.Request) string {
	return simcore.CookieValue(r.Header.Get("Cookie"), "session_id")
}

// checkLogin answers the not-login body for a request without a session or
// with an `expired…` one, and reports whether the request may go on.
func (c *call) checkLogin(w http.ResponseWriter) bool {
	sid := sessionID(c.r)
	if sid == "" || simcore.StateOf(sid) == simcore.AccountExpired {
		c.h.Set("account", "logged_out")
		writeRaw(w, http.StatusOK, "application/json", bodyNotLogin)
		c.reject("not login")
		return false
	}
	return true
}

// writeRateLimit answers the plain-text rate-limit signal.
//
// Status: the spec (docs/genspark-upstream.md §1.1, §3.1) says the reference proxy never looks at the
// status code and compares only the body with "Rate limit exceeded cf1". The
// "cf1"/"cf2" suffix names an edge (Cloudflare) rate-limiting rule, and such
// rules answer 429 by default, so the simulator uses 429 with text/plain: a
// client keyed on the body (the reference) and one keyed on the status both
// see a rate limit.
func writeRateLimit(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "60")
	writePlain(w, http.StatusTooManyRequests, bodyRateLimit)
}

// writeCloudflare answers a Cloudflare managed challenge: 403, one-line HTML.
func writeCloudflare(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Server", "cloudflare")
	h.Set("Cf-Mitigated", "challenge")
	h.Set("Cf-Ray", "8f2c6a1b9d3e4f50-SJC")
	h.Set("Cache-Control", "private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0")
	writeRaw(w, http.StatusForbidden, "text/html; charset=UTF-8", pageCloudflareChallenge)
}

// writeUnavailable answers Genspark's own "Service Unavailable" page: 503.
func writeUnavailable(w http.ResponseWriter) {
	writeRaw(w, http.StatusServiceUnavailable, "text/html", pageServiceUnavailable)
}

func writePlain(w http.ResponseWriter, status int, body string) {
	writeRaw(w, status, "text/plain; charset=utf-8", body)
}

func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// newID returns a random version-4 UUID, the form of Genspark's project,
// message and task ids (e.g. d0938794-44e1-4256-aa40-3b8800857247).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// sign returns the upload signature of a blob id.
func (s *Server) sign(id string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))[:43]
}

// baseURL is the absolute base of URLs this simulator hands out, built from
// the request's Host so that it works on any listener.
func baseURL(r *http.Request) string {
	return "http://" + r.Host
}
