package gensparksim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// Ask body types (docs/genspark-upstream.md §1.2: one path, the body's `type` selects the kind).
const (
	typeChat  = "COPILOT_MOA_CHAT"
	typeImage = "COPILOT_MOA_IMAGE"
	typeVideo = "COPILOT_MOA_VIDEO"
)

// moaModels is the Mixture-of-Agents model list (docs/genspark-upstream.md §4.5, §5).
var moaModels = []string{"gpt-5.1-low", "claude-sonnet-4-5", "gemini-3-pro-preview"}

// askBody is the subset of the /api/copilot/ask body the simulator reads
// (docs/genspark-upstream.md §1.3–§1.5). Decoding is strict about types: a field of the wrong
// JSON type fails the request the way a crashing Python handler would.
type askBody struct {
	Type               *string      `json:"type"`
	CurrentQueryString *string      `json:"current_query_string"`
	Messages           []askMessage `json:"messages"`
	ExtraData          *extraData   `json:"extra_data"`
	GRecaptchaToken    *string      `json:"g_recaptcha_token"`
	UserSInput         *string      `json:"user_s_input"`
}

type askMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type extraData struct {
	Models              []string      `json:"models"`
	RequestWebKnowledge *bool         `json:"request_web_knowledge"`
	ModelConfigs        []modelConfig `json:"model_configs"`
}

type modelConfig struct {
	Model             string          `json:"model"`
	AspectRatio       *string         `json:"aspect_ratio"`
	Duration          json.RawMessage `json:"duration"`
	ReflectionEnabled *bool           `json:"reflection_enabled"`
}

// contentPart is one element of an array message content.
type contentPart struct {
	Type        string          `json:"type"`
	Text        *string         `json:"text"`
	ImageURL    json.RawMessage `json:"image_url"`
	PrivateFile json.RawMessage `json:"private_file"`
}

// ask is a validated ask request.
type ask struct {
	kind        string
	chatID      string          // from current_query_string id=…, "" for a new chat
	lastUser    string          // text of the last user message
	schema      json.RawMessage // the answer's JSON Schema (a ```json-schema block of any message), nil if none
	attachments int             // non-text parts of all messages
	body        *askBody
}

// parseAsk decodes and validates an ask body like a strict upstream: the body
// must be a JSON object of a known type carrying what docs/genspark-upstream.md §1.3–§1.5 say the
// client always sends.
func parseAsk(body []byte) (*ask, error) {
	var b *askBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON body")
	}
	if b == nil {
		return nil, errors.New("body is null")
	}
	if b.Type == nil {
		return nil, errors.New("type missing")
	}
	a := &ask{kind: *b.Type, body: b}
	switch a.kind {
	case typeChat, typeImage, typeVideo:
	default:
		return nil, errors.New("unknown type " + *b.Type)
	}
	if len(b.Messages) == 0 {
		return nil, errors.New("messages missing or empty")
	}
	lastUser := -1
	for i, m := range b.Messages {
		if m.Role == "" {
			return nil, errors.New("message without role")
		}
		text, att, err := messageText(m.Content)
		if err != nil {
			return nil, err
		}
		a.attachments += att
		if a.schema == nil {
			if sc, ok := simcore.AnswerSchema(text); ok {
				a.schema = sc
			}
		}
		if m.Role == "user" {
			lastUser = i
			a.lastUser = text
		}
	}
	if lastUser < 0 {
		return nil, errors.New("no user message")
	}
	if b.ExtraData == nil {
		return nil, errors.New("extra_data missing")
	}
	switch a.kind {
	case typeChat:
		if b.CurrentQueryString == nil {
			return nil, errors.New("current_query_string missing")
		}
		if len(b.ExtraData.Models) == 0 {
			return nil, errors.New("extra_data.models missing or empty")
		}
	default:
		if len(b.ExtraData.ModelConfigs) == 0 || b.ExtraData.ModelConfigs[0].Model == "" {
			return nil, errors.New("extra_data.model_configs[0].model missing")
		}
		if a.lastUser == "" && b.UserSInput != nil {
			a.lastUser = *b.UserSInput
		}
	}
	if b.CurrentQueryString != nil {
		if q, err := url.ParseQuery(*b.CurrentQueryString); err == nil {
			a.chatID = q.Get("id")
		}
	}
	return a, nil
}

// messageText returns the text of a message content: the string itself, or
// the concatenated `text` parts of an array, plus how many non-text parts
// (images, private files) it carries. null content is empty.
func messageText(content json.RawMessage) (string, int, error) {
	content = bytes.TrimSpace(content)
	if len(content) == 0 || string(content) == "null" {
		return "", 0, nil
	}
	switch content[0] {
	case '"':
		var s string
		err := json.Unmarshal(content, &s)
		return s, 0, err
	case '[':
		var parts []*contentPart
		if err := json.Unmarshal(content, &parts); err != nil {
			return "", 0, err
		}
		var b strings.Builder
		n := 0
		for _, p := range parts {
			switch {
			case p == nil:
				return "", 0, errors.New("null content part")
			case p.Type == "text":
				if p.Text == nil {
					return "", 0, errors.New("text part without text")
				}
				b.WriteString(*p.Text)
			case p.Type == "":
				return "", 0, errors.New("content part without type")
			default:
				n++
			}
		}
		return b.String(), n, nil
	default:
		return "", 0, errors.New("content is neither a string, an array nor null")
	}
}

// handleAsk serves POST /api/copilot/ask.
func (s *Server) handleAsk(w http.ResponseWriter, r *http.Request) {
	c, body, ok := s.begin(w, r, "genspark", maxRequestBody)
	if !ok {
		return
	}
	defer c.finish(simcore.OutcomeCompleted)
	if r.Method != http.MethodPost {
		c.methodNotAllowed(w, http.MethodPost)
		return
	}
	// Account state first: the edge rate limit and the session check come
	// before the application looks at the body.
	if simcore.StateOf(sessionID(r)) == simcore.AccountLimited {
		c.h.Set("account", "limited")
		writeRateLimit(w)
		c.reject("rate limited")
		return
	}
	if !c.checkLogin(w) {
		return
	}
	a, err := parseAsk(body)
	if err != nil {
		writePlain(w, http.StatusInternalServerError, bodyInternalServerError)
		c.reject("invalid body: " + err.Error())
		return
	}
	s.recordAsk(c, r, a)
	d := simcore.ParseDirectives(a.lastUser)

	switch {
	case d.Cloudflare:
		writeCloudflare(w)
		c.reject("cloudflare challenge")
		return
	case d.Unavailable && a.kind == typeChat:
		writeUnavailable(w)
		c.reject("service unavailable")
		return
	case d.Unavailable:
		// Image and video asks report a server problem in-band: the
		// "Server overloaded" message_result (real 2025-05 body, docs/genspark-upstream.md §3.1).
		writeRaw(w, http.StatusOK, "text/event-stream; charset=utf-8", bodyServerOverloaded)
		c.reject("server overloaded")
		return
	case d.RateLimit:
		writeRateLimit(w)
		c.reject("rate limited")
		return
	case d.Quota:
		writeRaw(w, http.StatusOK, "text/event-stream; charset=utf-8", lineFreeQuota+"\n\n")
		c.reject("free quota exceeded")
		return
	}
	// sim:downgrade is deliberately ignored: Genspark never reveals the
	// model that served an answer in the ask stream (docs/genspark-upstream.md §2), so there is
	// nothing to fake.

	projectID := a.chatID
	if projectID == "" {
		projectID = newID()
	}
	c.h.Set("project_id", projectID)

	switch a.kind {
	case typeChat:
		s.streamChat(w, r, c, a, d, projectID)
	default:
		s.streamGeneration(w, r, c, a, d, projectID)
	}
}

// recordAsk records the facts a test may assert about an ask.
func (s *Server) recordAsk(c *call, r *http.Request, a *ask) {
	b := a.body
	c.h.Set("type", a.kind)
	c.h.Set("chat_id", a.chatID)
	c.h.Set("messages", len(b.Messages))
	c.h.Set("last_user", a.lastUser)
	c.h.Set("attachments", a.attachments)
	tok := ""
	if b.GRecaptchaToken != nil {
		tok = *b.GRecaptchaToken
	}
	c.h.Set("recaptcha", b.GRecaptchaToken != nil)
	c.h.Set("recaptcha_token", tok)
	// recaptcha_valid: the token is the one this simulator's token helper
	// (GET /genspark) issues for the same session cookie.
	c.h.Set("recaptcha_valid", tok != "" && tok == recaptchaToken(r.Header.Get("Cookie")))
	switch a.kind {
	case typeChat:
		c.h.Set("models", slices.Clone(b.ExtraData.Models))
		c.h.Set("moa", slices.Equal(b.ExtraData.Models, moaModels))
		c.h.Set("search", b.ExtraData.RequestWebKnowledge != nil && *b.ExtraData.RequestWebKnowledge)
	default:
		mc := b.ExtraData.ModelConfigs[0]
		c.h.Set("model", mc.Model)
		if mc.AspectRatio != nil {
			c.h.Set("aspect_ratio", *mc.AspectRatio)
		}
		if a.kind == typeVideo {
			var dur any
			if len(mc.Duration) > 0 {
				var n json.Number
				if json.Unmarshal(mc.Duration, &n) == nil {
					if i, err := n.Int64(); err == nil {
						dur = int(i)
					} else {
						dur = string(n)
					}
				} else {
					dur = string(mc.Duration)
				}
			}
			c.h.Set("duration", dur)
			c.h.Set("reflection_enabled", mc.ReflectionEnabled != nil && *mc.ReflectionEnabled)
		}
	}
}

// delayFor is the pause between deltas: sim:slow, else Options.DeltaDelay.
func (s *Server) delayFor(d simcore.Directives) time.Duration {
	if d.Slow > 0 {
		return d.Slow
	}
	return s.delay
}

// sse writes the ask/task-status framing of docs/genspark-upstream.md §2.1: one `data: <json>`
// line per event followed by a blank line, flushed at once; no [DONE]; the
// response ends when the handler returns. Over HTTP/1.x the connection is
// closed with it (docs/genspark-upstream.md §2.5); over HTTP/2, as behind the real site's CDN,
// the stream ends and the connection stays for the next request.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	ctx context.Context
}

func newSSE(w http.ResponseWriter, r *http.Request) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	if r.ProtoMajor == 1 {
		// Go's HTTP/2 server would turn this header into a GOAWAY that
		// tears down every other stream of the connection.
		h.Set("Connection", "close")
	}
	return &sse{w: w, rc: http.NewResponseController(w), ctx: r.Context()}
}

// send writes one event. It fails once the client has gone away.
func (e *sse) send(payload raw) error {
	if err := e.ctx.Err(); err != nil {
		return err
	}
	if _, err := io.WriteString(e.w, "data: "+string(payload)+"\n\n"); err != nil {
		return err
	}
	return e.rc.Flush()
}

// pause waits d, or less if the client goes away.
func (e *sse) pause(d time.Duration) error {
	if d <= 0 {
		return e.ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-e.ctx.Done():
		return e.ctx.Err()
	case <-t.C:
		return nil
	}
}

// step is one event of a planned stream.
type step struct {
	payload raw
	pause   bool // wait the delta delay before sending
	answer  bool // an answer delta (counted for sim:drop)
}

// play sends steps, pausing before deltas. It finishes the call: completed,
// cancelled when the client goes away, or dropped (the connection is cut
// after dropAfter answer deltas when dropAfter > 0).
func (s *Server) play(w http.ResponseWriter, r *http.Request, c *call, steps []step, delay time.Duration, dropAfter int) {
	e := newSSE(w, r)
	answers := 0
	for i, st := range steps {
		if st.pause && i > 0 {
			if err := e.pause(delay); err != nil {
				c.finish(simcore.OutcomeCancelled)
				return
			}
		}
		if err := e.send(st.payload); err != nil {
			c.finish(simcore.OutcomeCancelled)
			return
		}
		if st.answer {
			answers++
		}
		if dropAfter > 0 && answers >= dropAfter {
			c.finish(simcore.OutcomeDropped)
			// Cut the connection without ending the chunked body: the
			// client sees an unexpected EOF, as with a real drop.
			panic(http.ErrAbortHandler)
		}
	}
	c.finish(simcore.OutcomeCompleted)
}

// updatetime is the irrelevant `_updatetime` field event the real upstream
// interleaves (fixture ask_2025-05_image_server_overloaded.txt).
func updatetime(msgID string) raw {
	return obj(
		kv{"message_id", msgID},
		kv{"field_name", "_updatetime"},
		kv{"field_value", time.Now().UTC().Format("2006-01-02T15:04:05.000000")},
		kv{"type", "message_field"},
	)
}

func projectStart(projectID string) raw {
	return obj(kv{"id", projectID}, kv{"type", "project_start"})
}

func fieldEvent(msgID, field string, value any) raw {
	return obj(kv{"message_id", msgID}, kv{"field_name", field}, kv{"field_value", value}, kv{"type", "message_field"})
}

func deltaEvent(msgID, field, delta string) raw {
	return obj(kv{"message_id", msgID}, kv{"field_name", field}, kv{"delta", delta}, kv{"type", "message_field_delta"})
}

// messageResult writes a final message in the 2025-05 key order of the real
// capture: id, role, content, action, recommend_actions, is_prompt,
// render_template, session_state, message_type, tool_calls, tool_call_id,
// thinking_blocks, type.
func messageResult(msgID, content string, sessionState any) raw {
	return obj(
		kv{"id", msgID},
		kv{"role", "assistant"},
		kv{"content", content},
		kv{"action", nil},
		kv{"recommend_actions", nil},
		kv{"is_prompt", false},
		kv{"render_template", nil},
		kv{"session_state", sessionState},
		kv{"message_type", nil},
		kv{"tool_calls", nil},
		kv{"tool_call_id", nil},
		kv{"thinking_blocks", nil},
		kv{"type", "message_result"},
	)
}

// streamChat answers a COPILOT_MOA_CHAT ask.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, c *call, a *ask, d simcore.Directives, projectID string) {
	msgID := newID()
	answer, deltas := chatAnswer(a.lastUser, d, a.schema)

	steps := []step{
		{payload: projectStart(projectID)},
		// An event type no client acts on; its first key is `id`, so it
		// passes the reference proxy's prefix filter and must be skipped
		// by type (tolerance check).
		{payload: obj(kv{"id", projectID}, kv{"field_name", "status"}, kv{"field_value", "PROCESSING"}, kv{"type", "project_field"})},
		{payload: updatetime(msgID)},
	}
	var think string
	if d.Think {
		var thinkDeltas []string
		think, thinkDeltas = thinkText(a.lastUser)
		steps = append(steps, step{payload: fieldEvent(msgID, "session_state.answerthink_is_started", true)})
		for _, td := range thinkDeltas {
			steps = append(steps, step{payload: deltaEvent(msgID, "session_state.answerthink", td), pause: true})
		}
		steps = append(steps, step{payload: fieldEvent(msgID, "session_state.answerthink_is_finished", true)})
	}
	for i, ad := range deltas {
		if i == len(deltas)/2 && i > 0 {
			steps = append(steps, step{payload: updatetime(msgID)})
		}
		steps = append(steps, step{payload: deltaEvent(msgID, "session_state.answer", ad), pause: true, answer: true})
	}

	state := []kv{{"models", slices.Clone(a.body.ExtraData.Models)}, {"layers", 0}}
	if d.Think {
		state = append(state,
			kv{"answerthink_is_started", true},
			kv{"answerthink", think},
			kv{"answerthink_is_finished", true})
	}
	state = append(state, kv{"answer", answer}, kv{"answer_is_finished", true})
	steps = append(steps, step{payload: messageResult(msgID, answer, state)})

	dropAfter := 0
	if d.Drop {
		dropAfter = max(1, len(deltas)/2)
	}
	c.h.Set("answer_deltas", len(deltas))
	s.play(w, r, c, steps, s.delayFor(d), dropAfter)
}

// streamGeneration answers a COPILOT_MOA_IMAGE or COPILOT_MOA_VIDEO ask:
// project_start, then a message_result whose content is a JSON string naming
// the task ids (docs/genspark-upstream.md §2.6). The image ask carries no count, so one task.
func (s *Server) streamGeneration(w http.ResponseWriter, r *http.Request, c *call, a *ask, d simcore.Directives, projectID string) {
	kind, listKey := kindImage, "generated_images"
	if a.kind == typeVideo {
		kind, listKey = kindVideo, "generated_videos"
	}
	mc := a.body.ExtraData.ModelConfigs[0]
	t := s.newTask(kind, a.lastUser, mc.Model, s.delayFor(d), durationSeconds(mc.Duration))
	c.h.Set("task_ids", []string{t.id})

	content := obj(kv{listKey, []raw{obj(kv{"task_id", t.id})}})
	msgID := newID()
	steps := []step{
		{payload: projectStart(projectID)},
		{payload: updatetime(msgID)},
		{payload: messageResult(msgID, string(content), nil), answer: true},
	}
	dropAfter := 0
	if d.Drop {
		// Cut after project_start, before the task ids.
		steps = steps[:2]
		steps = append(steps, step{payload: raw(`{"message_id": "` + msgID + `", "field_name": "session_state.status", "field_value": "GENERATING", "type": "message_field"}`), answer: true})
		dropAfter = 1
	}
	s.play(w, r, c, steps, 0, dropAfter)
}
