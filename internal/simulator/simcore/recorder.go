package simcore

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"sync"
	"time"
)

// Outcomes recorded for a request once the simulator is done with it.
const (
	OutcomePending   = ""          // still being served
	OutcomeCompleted = "completed" // the whole answer was written
	OutcomeCancelled = "cancelled" // the client went away before the end
	OutcomeDropped   = "dropped"   // the simulator cut the connection (sim:drop)
	OutcomeRejected  = "rejected"  // an error or limit signal was answered
)

// maxBodyKept bounds how much of each request body the log keeps.
const maxBodyKept = 1 << 20

// Entry is one request as the simulator received it, plus the facts its
// upstream parsed out of it (model, search flag, chat ids, ...).
type Entry struct {
	ID       int               `json:"id"`
	Time     time.Time         `json:"time"`
	Upstream string            `json:"upstream"` // genspark, gemini, accounts, upload, googleai
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    string            `json:"query,omitempty"`
	Header   map[string]string `json:"header"`
	Body     string            `json:"body,omitempty"`
	Facts    map[string]any    `json:"facts,omitempty"`
	Outcome  string            `json:"outcome"`
	Ended    time.Time         `json:"ended,omitzero"`
}

// Recorder is the simulator's request log. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	limit   int
	nextID  int
	entries []*Entry
	changed chan struct{} // closed and replaced on every change
}

// NewRecorder returns a log that keeps the newest limit entries (limit <= 0
// means 10000).
func NewRecorder(limit int) *Recorder {
	if limit <= 0 {
		limit = 10000
	}
	return &Recorder{limit: limit, changed: make(chan struct{})}
}

// Handle is a recorded request the simulator is still serving.
type Handle struct {
	rec *Recorder
	e   *Entry
}

// Start records a request. body is the already-read request body.
func (r *Recorder) Start(req *http.Request, upstream string, body []byte) *Handle {
	h := make(map[string]string, len(req.Header))
	for k, v := range req.Header {
		if len(v) > 0 {
			h[k] = v[0]
		}
	}
	if len(body) > maxBodyKept {
		body = body[:maxBodyKept]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	e := &Entry{
		ID: r.nextID, Time: time.Now(), Upstream: upstream,
		Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery,
		Header: h, Body: string(body), Facts: map[string]any{},
	}
	r.entries = append(r.entries, e)
	if len(r.entries) > r.limit {
		r.entries = r.entries[len(r.entries)-r.limit:]
	}
	r.notifyLocked()
	return &Handle{rec: r, e: e}
}

// Set records a fact about the request (for example "model" or "search").
func (h *Handle) Set(key string, value any) {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	h.e.Facts[key] = value
	h.rec.notifyLocked()
}

// Finish records how the request ended. Only the first call counts.
func (h *Handle) Finish(outcome string) {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if h.e.Outcome != OutcomePending {
		return
	}
	h.e.Outcome = outcome
	h.e.Ended = time.Now()
	h.rec.notifyLocked()
}

func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Entries returns a copy of the log, oldest first.
func (r *Recorder) Entries() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, len(r.entries))
	for i, e := range r.entries {
		out[i] = *e
		out[i].Header = maps.Clone(e.Header)
		out[i].Facts = maps.Clone(e.Facts)
	}
	return out
}

// Reset empties the log.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = nil
	r.notifyLocked()
}

// Wait blocks until cond holds for the log or ctx ends. It returns the log
// that satisfied cond, or ctx's error.
func (r *Recorder) Wait(ctx context.Context, cond func([]Entry) bool) ([]Entry, error) {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		entries := r.Entries()
		if cond(entries) {
			return entries, nil
		}
		select {
		case <-ctx.Done():
			return entries, ctx.Err()
		case <-ch:
		}
	}
}

// ServeHTTP serves GET /_sim/requests (the log as JSON, optionally filtered by
// ?upstream=) and DELETE /_sim/requests (empties it).
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.Method {
	case http.MethodGet:
		entries := r.Entries()
		if up := req.URL.Query().Get("upstream"); up != "" {
			kept := entries[:0]
			for _, e := range entries {
				if e.Upstream == up {
					kept = append(kept, e)
				}
			}
			entries = kept
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"requests": entries})
	case http.MethodDelete:
		r.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
