// Package playground is the dashboard's playground: POST
// /api/playground/chat runs one chat through the gateway as the signed-in
// user and streams the answer as server-sent events.
//
// The chat goes through the same backend as the API front-ends
// (wire.ChatBackend), limited to the user's accounts and the shared ones
// (a reqctx.Grant with the user's owner ids), and leaves a usage record
// with no key and the user as owner, so it shows in the user's usage.
// When the client goes away the request's context ends, which cancels the
// upstream exchange.
package playground

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/sse"
	"github.com/sparkgw/spark/internal/store"
)

// Route is the playground's route pattern.
const Route = "POST /api/playground/chat"

// Bounds on a playground request.
const (
	MaxMessages     = 100      // messages per request
	MaxMessageBytes = 64 << 10 // text of one message (and of the system prompt)
	MaxBodyBytes    = 1 << 20  // the whole body
)

// Users finds the signed-in user.
type Users interface {
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Recorder receives the playground's usage records; Record must not block.
type Recorder interface {
	Record(rec store.UsageRecord) bool
}

// Options configure a Handler.
type Options struct {
	Backend wire.ChatBackend // the gateway, as the chat front-ends see it
	Users   Users
	Usage   Recorder // nil: no usage records
	Logger  *slog.Logger
}

// Handler serves the playground.
type Handler struct {
	opts Options
	log  *slog.Logger
}

// New returns the playground's handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{opts: o, log: o.Logger}
}

// Routes is POST /api/playground/chat for any signed-in user.
func (h *Handler) Routes() []route.Route {
	return []route.Route{{Pattern: Route, Class: route.Session, Dialect: route.OpenAI, MaxBody: MaxBodyBytes,
		Handler: http.HandlerFunc(h.chat)}}
}

// message is a turn of the conversation as the playground sends it.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model    string    `json:"model"`
	Messages []message `json:"messages"`
	System   string    `json:"system"`
}

// Event payloads.
type (
	textEvent struct {
		Text string `json:"text"`
	}
	imageEvent struct {
		URL string `json:"url"`
	}
	usageJSON struct {
		InputTokens     int `json:"input_tokens"`
		OutputTokens    int `json:"output_tokens"`
		ReasoningTokens int `json:"reasoning_tokens"`
	}
	doneEvent struct {
		Model        string    `json:"model"`
		FinishReason string    `json:"finish_reason"`
		Usage        usageJSON `json:"usage"`
	}
	errorEvent struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	}
)

// chat is POST /api/playground/chat {"model","messages","system"?}: 400
// JSON for a bad request; otherwise an event stream of `delta {"text"}`,
// `reasoning {"text"}`, `image {"url"}` (a signed proxy link) in the
// answer's order, then `done {"model","finish_reason","usage"}`, or an
// `error {"message","code"}` when the chat fails before or during the
// answer.
func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	u, err := h.opts.Users.GetUser(ctx, reqctx.KeyID(ctx))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusUnauthorized, gw.CodeUnauthorized, "unauthorized", "Sign in first: this route needs a valid dashboard session.")
			return
		}
		h.log.Error("playground: user", "error", err)
		writeError(w, http.StatusInternalServerError, gw.CodeInternal, "internal", "Internal error.")
		return
	}
	req, code, msg := decode(r)
	if code != "" {
		status := http.StatusBadRequest
		if code == "too_large" {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, gw.CodeInvalidRequest, code, msg)
		return
	}
	// Conversation bindings are the user's own, apart from any key's.
	req.ClientKey = "user:" + u.ID
	owners := []string{u.ID}
	if u.Builtin {
		owners = []string{"", u.ID}
	}
	ctx = reqctx.WithGrant(ctx, &reqctx.Grant{OwnerID: u.ID, Owners: owners})
	note := reqctx.UsageOf(ctx)
	if note == nil {
		note = new(reqctx.Usage)
		ctx = reqctx.WithUsage(ctx, note)
	}
	out := sse.NewWriter(w)
	if out.Start() != nil {
		return
	}
	errClass := h.stream(ctx, out, req)
	status := http.StatusOK
	if ctx.Err() != nil && errClass == string(gw.CodeCanceled) {
		status = 499
	}
	h.record(ctx, u, note, start, status, errClass)
}

// stream runs the chat and writes its events; it returns the error class
// of a failure ("" on success).
func (h *Handler) stream(ctx context.Context, out *sse.Writer, req *llm.Request) string {
	st, err := h.opts.Backend.Chat(ctx, req)
	if err != nil {
		return h.streamError(ctx, out, err)
	}
	defer st.Close()
	out.Pending = func() bool { return llm.Buffered(st) }
	done := doneEvent{Model: req.Model}
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h.streamError(ctx, out, err)
		}
		reqctx.UsageOf(ctx).MarkFirstEvent(time.Now())
		switch ev.Type {
		case llm.EventTextDelta, llm.EventRefusal:
			err = writeEvent(out, "delta", textEvent{ev.Text})
		case llm.EventReasoningDelta:
			err = writeEvent(out, "reasoning", textEvent{ev.Text})
		case llm.EventImage:
			if ev.Media != nil && ev.Media.URL != "" {
				err = writeEvent(out, "image", imageEvent{ev.Media.URL})
			}
		case llm.EventFinish:
			done.FinishReason = string(ev.FinishReason)
		case llm.EventUsage:
			if ev.Usage != nil {
				done.Usage = usageJSON{ev.Usage.PromptTokens, ev.Usage.CompletionTokens, ev.Usage.ReasoningTokens}
			}
		}
		if err != nil {
			return string(gw.CodeCanceled) // the client stopped reading
		}
	}
	done.Model = llm.ModelOf(st, req.Model)
	out.Pending = nil
	if writeEvent(out, "done", done) != nil {
		return string(gw.CodeCanceled)
	}
	return ""
}

// streamError writes err as the error event and returns its class.
func (h *Handler) streamError(ctx context.Context, out *sse.Writer, err error) string {
	if ctx.Err() != nil {
		return string(gw.CodeCanceled)
	}
	e := gw.AsError(err)
	msg := e.Message
	if e.Code == gw.CodeInternal {
		h.log.Error("playground chat failed", "request_id", reqctx.RequestID(ctx), "error", err)
		msg = "Internal error."
	}
	out.Pending = nil
	_ = writeEvent(out, "error", errorEvent{Message: msg, Code: string(e.Code)})
	return string(e.Code)
}

func writeEvent(out *sse.Writer, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return out.WriteEvent(name, b)
}

// record hands the request's usage record (no key, the user as owner) to
// the recorder.
func (h *Handler) record(ctx context.Context, u store.User, note *reqctx.Usage, start time.Time, status int, errClass string) {
	if h.opts.Usage == nil {
		return
	}
	n := note.Note()
	end := time.Now()
	rec := store.UsageRecord{
		Time: end, RequestID: reqctx.RequestID(ctx), OwnerID: u.ID, AccountID: n.AccountID, Route: Route,
		Model: n.Model, ServedModel: n.ServedModel, Status: status, ErrorClass: errClass,
		InputTokens: n.InputTokens, OutputTokens: n.OutputTokens, ReasoningTokens: n.ReasoningTokens,
		LatencyMS: end.Sub(start).Milliseconds(), Stream: true,
	}
	if !n.FirstEvent.IsZero() {
		rec.TTFTMS = max(n.FirstEvent.Sub(start).Milliseconds(), 1)
		rec.LatencyMS = max(rec.LatencyMS, rec.TTFTMS)
	}
	h.opts.Usage.Record(rec)
}

// decode reads and checks the request; code is "" when it is valid, else
// the error code and message of the 400.
func decode(r *http.Request) (req *llm.Request, code, msg string) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "" && ct != "application/json" {
		return nil, "invalid_content_type", "Send a JSON body (Content-Type: application/json)."
	}
	var in chatRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "too_large", "Request body too large."
		}
		return nil, "invalid_json", `The body must be {"model","messages":[{"role","content"}],"system"?}.`
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "invalid_json", "The body must hold one JSON object."
	}
	in.Model = strings.TrimSpace(in.Model)
	switch {
	case in.Model == "":
		return nil, "missing_model", "model is required."
	case len(in.Model) > llm.MaxModelBytes:
		return nil, "invalid_model", "model is too long."
	case len(in.Messages) == 0:
		return nil, "missing_messages", "messages must hold at least one message."
	case len(in.Messages) > MaxMessages:
		return nil, "too_many_messages", "messages holds more than 100 messages."
	case len(in.System) > MaxMessageBytes:
		return nil, "message_too_large", "system is longer than 65536 bytes."
	}
	req = &llm.Request{Model: in.Model, Reasoning: true}
	if s := strings.TrimSpace(in.System); s != "" {
		req.Messages = append(req.Messages, llm.TextMessage(llm.RoleSystem, s))
	}
	for i, m := range in.Messages {
		var role llm.Role
		switch m.Role {
		case "user":
			role = llm.RoleUser
		case "assistant":
			role = llm.RoleAssistant
		default:
			return nil, "invalid_role", `messages[` + itoa(i) + `].role must be "user" or "assistant".`
		}
		if len(m.Content) > MaxMessageBytes {
			return nil, "message_too_large", "messages[" + itoa(i) + "].content is longer than 65536 bytes."
		}
		if strings.TrimSpace(m.Content) == "" {
			return nil, "empty_message", "messages[" + itoa(i) + "].content is empty."
		}
		req.Messages = append(req.Messages, llm.TextMessage(role, m.Content))
	}
	if req.Messages[len(req.Messages)-1].Role != llm.RoleUser {
		return nil, "invalid_messages", "The last message must be the user's."
	}
	return req, "", ""
}

func itoa(i int) string { return strconv.Itoa(i) }

// writeError writes the dashboard API's error envelope.
func writeError(w http.ResponseWriter, status int, typ gw.Code, code, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": msg, "type": string(typ), "code": code}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
