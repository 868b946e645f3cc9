// Package files is spark's Files API: POST /v1/files (multipart upload),
// GET /v1/files (list), GET /v1/files/{id}, GET /v1/files/{id}/content and
// DELETE /v1/files/{id}, answered in the OpenAI shapes, or in the shapes of
// Anthropic's Files API (which uses the same paths) when the request comes
// from an Anthropic client (route.ByClient decides). Files are kept in a
// [store.FileStore], sealed at rest, scoped to their owner (reqctx.Owner):
// another owner's file is not found, everywhere. Uploads are bounded per
// file and per owner, and may expire; a sweeper removes expired files.
//
// The Handler is also the [wire.Files] resolver through which the chat
// front-ends read a file a message names by id.
package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// Defaults of the bounds.
const (
	// DefaultMaxFileBytes bounds one file (FILES_MAX_BYTES): 100 MiB, a
	// fifth of OpenAI's 512 MB, for a gateway whose store is one embedded
	// SQLite file.
	DefaultMaxFileBytes = 100 << 20
	// DefaultSweepInterval is how often the sweeper removes expired files.
	DefaultSweepInterval = 10 * time.Minute
)

// Purposes are the purposes a file may be uploaded for (OpenAI's).
var Purposes = []string{"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}

// anthropicPurpose is the purpose of a file uploaded by an Anthropic
// client, whose API has none.
const anthropicPurpose = "user_data"

// Expiry bounds: OpenAI's expires_after[seconds] and Anthropic's
// expires_in_seconds, and OpenAI's default for batch files.
const (
	minExpiry          = time.Hour
	maxOpenAIExpiry    = 30 * 24 * time.Hour
	maxAnthropicExpiry = 90 * 24 * time.Hour
	batchExpiry        = 30 * 24 * time.Hour
)

// Options configure a Handler.
type Options struct {
	// Store keeps the files. Required.
	Store store.FileStore
	// MaxFileBytes bounds one file; zero means DefaultMaxFileBytes.
	MaxFileBytes int64
	// QuotaBytes bounds the bytes of one owner's files; zero: no bound.
	QuotaBytes int64
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Now returns the current time (created_at, expiry, the sweeper).
	// Nil means time.Now.
	Now func() time.Time
	// Claim, when set, is asked at each sweep whether this replica is
	// the one to run it (several replicas sweep once between them); nil:
	// always.
	Claim func(ctx context.Context) bool
}

// Handler serves the Files API. It is safe for concurrent use.
type Handler struct {
	st   store.FileStore
	opts Options
	log  *slog.Logger
}

var _ wire.Files = (*Handler)(nil)

// New returns a Handler over opts.Store.
func New(opts Options) *Handler {
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{st: opts.Store, opts: opts, log: wire.Logger(opts.Logger)}
}

// Routes returns the Files API routes, of the client-key class, whose
// errors are in the envelope of the client's family (route.ByClient):
//
//	POST   /v1/files
//	GET    /v1/files
//	GET    /v1/files/{id}
//	GET    /v1/files/{id}/content
//	DELETE /v1/files/{id}
func (h *Handler) Routes() []route.Route {
	rt := func(pattern string, fn wire.HandlerFunc, maxBody int64) route.Route {
		return route.Route{Pattern: pattern, Class: route.ClientKey, Dialect: route.ByClient, MaxBody: maxBody, Handler: h.handle(fn)}
	}
	return []route.Route{
		rt("POST /v1/files", h.upload, h.uploadBodyLimit()),
		rt("GET /v1/files", h.list, 0),
		rt("GET /v1/files/{id}", h.get, 0),
		rt("GET /v1/files/{id}/content", h.content, 0),
		rt("DELETE /v1/files/{id}", h.delete, 0),
	}
}

// handle adapts fn, rendering its errors in the envelope of the client's
// family.
func (h *Handler) handle(fn wire.HandlerFunc) http.Handler {
	openAI := wire.Handle(h.log, "files", fn, wire.WriteOpenAIError)
	anthropic := wire.Handle(h.log, "files", fn, wire.WriteAnthropicError)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAnthropic(r) {
			anthropic.ServeHTTP(w, r)
			return
		}
		openAI.ServeHTTP(w, r)
	})
}

// isAnthropic reports whether r is answered in Anthropic's shapes: the
// decision of route.ByClient, the one place that picks a dialect.
func isAnthropic(r *http.Request) bool { return route.ByClient.For(r) == route.Anthropic }

// wording is the style of r's 400s.
func wording(r *http.Request) wire.Wording {
	if isAnthropic(r) {
		return wire.InvalidField
	}
	return wire.Invalid
}

func (h *Handler) now() time.Time { return h.opts.Now().UTC() }

// notFound is the 404 of a file id the owner has none by.
func notFound(r *http.Request, id string, cause error) error {
	msg := "No such File object: " + clip(id)
	if isAnthropic(r) {
		msg = "File not found: " + clip(id)
	}
	return &gw.Error{Code: gw.CodeNotFound, Param: "id", Message: msg, Cause: cause}
}

// storeError maps a store failure about file id to the client's error.
func storeError(r *http.Request, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(r, id, err)
	}
	if r.Context().Err() != nil {
		return err
	}
	return gw.Wrap(gw.CodeInternal, err, "the file store failed")
}

// clip bounds a client-sent id echoed in a message.
func clip(s string) string {
	if len(s) > wire.MaxFileIDBytes {
		return s[:wire.MaxFileIDBytes] + "..."
	}
	return s
}

// fileID is the {id} of r's path, or a 404 for one too long to be an id.
func fileID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > wire.MaxFileIDBytes {
		return "", notFound(r, id, nil)
	}
	return id, nil
}

// get serves GET /v1/files/{id}.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	f, err := h.st.GetFile(r.Context(), ownerOf(r), id)
	if err != nil {
		return storeError(r, id, err)
	}
	writeJSON(w, r, http.StatusOK, fileObject(r, f))
	return nil
}

// delete serves DELETE /v1/files/{id}.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	if err := h.st.DeleteFile(r.Context(), ownerOf(r), id); err != nil {
		return storeError(r, id, err)
	}
	if isAnthropic(r) {
		writeJSON(w, r, http.StatusOK, anthropicDeleted{ID: id, Type: "file_deleted"})
	} else {
		writeJSON(w, r, http.StatusOK, openAIDeleted{ID: id, Object: "file", Deleted: true})
	}
	return nil
}

// content serves GET /v1/files/{id}/content: the bytes as uploaded, with
// their media type, streamed from the store chunk by chunk.
func (h *Handler) content(w http.ResponseWriter, r *http.Request) error {
	id, err := fileID(r)
	if err != nil {
		return err
	}
	f, rc, err := h.st.OpenFile(r.Context(), ownerOf(r), id)
	if err != nil {
		return storeError(r, id, err)
	}
	defer rc.Close()
	hd := w.Header()
	hd.Set("Content-Type", f.MIMEType)
	hd.Set("Content-Length", strconv.FormatInt(f.Bytes, 10))
	hd.Set("Content-Disposition", contentDisposition(f.Filename))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, rc); err != nil {
		if r.Context().Err() == nil {
			h.log.Warn("files: content read failed", "file", f.ID, "error", err)
		}
		// The status is sent: cut the response short so the client sees
		// a failure, not a truncated file.
		panic(http.ErrAbortHandler)
	}
	return nil
}

// Open implements [wire.Files].
func (h *Handler) Open(ctx context.Context, owner, id string, max int64) (*llm.Media, error) {
	f, rc, err := h.st.OpenFile(ctx, owner, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("files: %s: %w", id, wire.ErrNoSuchFile)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if f.Bytes > max {
		return nil, fmt.Errorf("files: %s is %d bytes: %w", id, f.Bytes, wire.ErrFileTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("files: read %s: %w", id, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("files: %s: %w", id, wire.ErrFileTooLarge)
	}
	return &llm.Media{MIMEType: f.MIMEType, Name: f.Filename, Data: data}, nil
}

// Sweep removes expired files (and abandoned uploads) every interval
// (DefaultSweepInterval when zero or less) until ctx is cancelled.
func (h *Handler) Sweep(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if h.opts.Claim != nil && !h.opts.Claim(ctx) {
				continue
			}
			n, err := h.st.PruneFiles(ctx, h.now())
			switch {
			case err != nil && ctx.Err() == nil:
				h.log.Warn("files: sweeping expired files failed", "error", err)
			case n > 0:
				h.log.Info("files: expired files removed", "count", n)
			}
		}
	}
}

// validPurpose reports whether p is one of Purposes.
func validPurpose(p string) bool { return slices.Contains(Purposes, p) }
