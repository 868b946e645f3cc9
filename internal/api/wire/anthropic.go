package wire

import (
	"crypto/rand"
	"fmt"
	"net/http"

	"github.com/sparkgw/spark/internal/route"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// The Anthropic shapes that two front-ends write: the Anthropic front-end
// (its own routes) and the OpenAI front-end, which serves GET /v1/models
// to both client families (Claude Code discovers models there).

// AnthropicErrorEnvelope is the Anthropic error response (ErrorResponse of
// the SDKs), also the data of an in-band "event: error" frame.
type AnthropicErrorEnvelope struct {
	Type      string             `json:"type"` // always "error"
	Error     AnthropicErrorBody `json:"error"`
	RequestID string             `json:"request_id,omitempty"`
}

// AnthropicErrorBody is the error object of an AnthropicErrorEnvelope.
type AnthropicErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// AnthropicError converts e to the Anthropic error object. Only e.Message
// reaches the client, never e.Cause.
func AnthropicError(e *gw.Error) AnthropicErrorBody {
	status := gw.HTTPStatus(e.Code)
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "error"
		}
	}
	return AnthropicErrorBody{Type: AnthropicErrorType(e.Code), Message: msg}
}

// WriteAnthropicError renders err as an Anthropic error response: the
// status of gw.HTTPStatus, the body {"type":"error","error":{"type",
// "message"},"request_id"}, a request-id header (the one already set, or a
// fresh one), and the retry headers of SetRetryHeaders. Errors that are
// not a *gw.Error get a generic message (see gw.AsError). It must be called
// before anything was written to w.
func WriteAnthropicError(w http.ResponseWriter, err error) {
	e := gw.AsError(err)
	if e == nil {
		e = &gw.Error{Code: gw.CodeInternal, Message: "internal error"}
	}
	h := w.Header()
	id := h.Get("Request-Id")
	if id == "" {
		id = NewAnthropicRequestID()
		h.Set("Request-Id", id)
	}
	NoteErrorClass(w, e.Code)
	SetRetryHeaders(h, e)
	WriteJSON(w, gw.HTTPStatus(e.Code), AnthropicErrorEnvelope{Type: "error", Error: AnthropicError(e), RequestID: id},
		`{"type":"error","error":{"type":"api_error","message":"internal error"}}`)
}

// NewAnthropicRequestID returns a fresh Anthropic-style request id.
func NewAnthropicRequestID() string { return "req_" + rand.Text() }

// IsAnthropicClient reports whether r comes from an Anthropic SDK (or
// Claude Code), which parses only the Anthropic shapes of /v1/models.
// The decision is route.ByClient's, the one place that picks a dialect.
func IsAnthropicClient(r *http.Request) bool {
	return route.ByClient.For(r) == route.Anthropic
}

// MaxAnthropicModelPage is the largest page the Anthropic models API
// serves; it is also spark's default page size, because Claude Code asks
// for limit=1000 and other Anthropic clients rarely page at all (the real
// API defaults to 20).
const MaxAnthropicModelPage = 1000

// AnthropicModel is one entry of the Anthropic models list.
type AnthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// AnthropicModelList is one page of the Anthropic models list.
type AnthropicModelList struct {
	Data    []AnthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID *string          `json:"first_id"`
	LastID  *string          `json:"last_id"`
}

// ToAnthropicModel converts m to the Anthropic shape.
func ToAnthropicModel(m *llm.ModelInfo) AnthropicModel {
	a := AnthropicModel{
		Type:        "model",
		ID:          m.ID,
		DisplayName: m.DisplayName,
		CreatedAt:   time.Unix(m.Created, 0).UTC().Format(time.RFC3339),
	}
	if a.DisplayName == "" {
		a.DisplayName = m.ID
	}
	return a
}

// AnthropicModelPage selects the page of models asked for by the limit,
// after_id and before_id query parameters of r (Anthropic cursor paging).
func AnthropicModelPage(models []llm.ModelInfo, r *http.Request) (AnthropicModelList, error) {
	q := r.URL.Query()
	limit := MaxAnthropicModelPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxAnthropicModelPage {
			return AnthropicModelList{}, &gw.Error{Code: gw.CodeInvalidRequest, Param: "limit",
				Message: fmt.Sprintf("limit: must be an integer between 1 and %d", MaxAnthropicModelPage)}
		}
		limit = n
	}
	index := func(id string) int {
		for i := range models {
			if models[i].ID == id {
				return i
			}
		}
		return -1
	}
	lo, hi := 0, len(models) // candidate window [lo, hi)
	fromEnd := false
	if id := q.Get("after_id"); id != "" {
		lo = index(id) + 1
		if lo == 0 {
			lo = len(models)
		}
	}
	if id := q.Get("before_id"); id != "" {
		hi = index(id)
		if hi < 0 {
			hi = 0
		}
		fromEnd = q.Get("after_id") == ""
	}
	if hi < lo {
		hi = lo
	}
	var page AnthropicModelList
	start, end := lo, hi
	if end-start > limit {
		if fromEnd {
			start = end - limit
		} else {
			end = start + limit
		}
		page.HasMore = true
	}
	page.Data = make([]AnthropicModel, 0, end-start)
	for i := start; i < end; i++ {
		page.Data = append(page.Data, ToAnthropicModel(&models[i]))
	}
	if n := len(page.Data); n > 0 {
		first, last := page.Data[0].ID, page.Data[n-1].ID
		page.FirstID, page.LastID = &first, &last
	}
	return page, nil
}

// WithClaudeNames adds a twin of every model under its ClaudeID, as the
// Gemini gateway seed lists them for Anthropic clients: Claude Code only
// offers ids that contain "claude", and the provider maps the twin's name
// back to the model.
func WithClaudeNames(models []llm.ModelInfo) []llm.ModelInfo {
	out := models
	for _, m := range models {
		if m.ClaudeID != "" {
			twin := m
			twin.ID, twin.ClaudeID = m.ClaudeID, ""
			if m.DisplayName != "" {
				twin.DisplayName = "Gemini " + strings.TrimPrefix(m.DisplayName, "Gemini ") + " (as Claude)"
			}
			twin.InternalID = m.ID
			out = append(out[:len(out):len(out)], twin)
		}
	}
	return out
}
