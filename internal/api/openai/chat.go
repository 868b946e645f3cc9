package openai

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/sse"
)

// Wire types of Chat Completions answers. Optional fields use omitempty or
// pointers so that each chunk carries exactly the keys of docs/client-api-surface.md §1.3; there is no
// "error" key anywhere (openai-go ends a stream on any top-level "error").

type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   wireUsage          `json:"usage"`
}

type completionChoice struct {
	Index        int               `json:"index"`
	Message      completionMessage `json:"message"`
	Logprobs     *struct{}         `json:"logprobs"`
	FinishReason string            `json:"finish_reason"`
}

type completionMessage struct {
	Role             string         `json:"role"`
	Content          *string        `json:"content"`
	Refusal          *string        `json:"refusal"`
	ReasoningContent string         `json:"reasoning_content,omitempty"`
	Reasoning        string         `json:"reasoning,omitempty"`
	ToolCalls        []wireToolCall `json:"tool_calls,omitempty"`
}

type wireUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

type chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *wireUsage    `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role             string          `json:"role,omitempty"`
	Content          *string         `json:"content,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Reasoning        string          `json:"reasoning,omitempty"`
	Refusal          *string         `json:"refusal,omitempty"`
	ToolCalls        []toolCallDelta `json:"tool_calls,omitempty"`
}

type toolCallDelta struct {
	Index    int           `json:"index"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function functionDelta `json:"function"`
}

type functionDelta struct {
	Name      string  `json:"name,omitempty"`
	Arguments *string `json:"arguments,omitempty"`
}

// MarshalJSON writes tool-call arguments as the JSON string the API
// specifies (the request side accepts raw JSON for leniency).
func (f wireFunction) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}{f.Name, string(f.Arguments)})
}

// chatCompletions serves POST /v1/chat/completions.
func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request) error {
	cr, err := h.decodeRequest(w, r)
	if err != nil {
		return err
	}
	if err := cr.validate(); err != nil {
		return err
	}
	ctx := r.Context()
	p, err := buildRequest(cr, wire.NewFileResolver(ctx, h.opts.Files, wire.Invalid))
	if err != nil {
		return err
	}
	cr = nil // let the decoded media go once converted
	p.req.ClientKey = reqctx.KeyID(ctx)

	id := "chatcmpl-" + rand.Text()
	created := time.Now().Unix()
	if p.stream && p.req.Output != nil && h.opts.KeepAlive > 0 {
		// A structured answer is sent once gathered and validated: keep
		// the stream alive meanwhile.
		return h.streamStructured(w, r, p, id, created)
	}

	st, err := h.b.Chat(ctx, &p.req)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("openai: backend returned neither a stream nor an error")
	}
	defer func() { _ = st.Close() }()
	p.model = llm.ModelOf(st, p.model)

	if p.stream {
		h.stream(w, r, st, p, id, created)
		return nil
	}
	return h.answer(w, st, p, id, created)
}

// streamStructured streams a structured answer: when the backend has not
// answered within KeepAlive, the stream starts (200, role chunk) and an
// empty content chunk follows every KeepAlive until it has (chunks every
// client parses, unlike SSE comments, which old openai-go releases
// rejected); a failure after that is sent in-band.
func (h *Handler) streamStructured(w http.ResponseWriter, r *http.Request, p *chatParams, id string, created int64) error {
	ctx := r.Context()
	s := h.newStreamer(w, p, id, created)
	st, began, err := wire.AwaitChat(h.opts.KeepAlive,
		func() (llm.Stream, error) { return h.b.Chat(ctx, &p.req) },
		s.begin, s.keepalive)
	if err == nil && st == nil {
		err = fmt.Errorf("openai: backend returned neither a stream nor an error")
	}
	switch {
	case err != nil && !began:
		return err
	case err != nil && s.sw.Err() != nil:
		s.logGone(r)
		return nil
	case err != nil:
		s.fail(r, err)
		return nil
	}
	defer func() { _ = st.Close() }()
	s.sw.Pending = func() bool { return llm.Buffered(st) }
	if !began {
		// Once the stream began (keepalives while the backend had not
		// answered), its chunks keep the requested name: every chunk of a
		// stream names the same model.
		p.model = llm.ModelOf(st, p.model)
		s.setModel(p.model)
	}
	if !began && s.begin() != nil {
		s.logGone(r)
		return nil
	}
	s.run(r, st, p)
	return nil
}

// answer collects the whole answer and writes one chat.completion.
// A failure while collecting is still a real HTTP error: nothing was sent.
func (h *Handler) answer(w http.ResponseWriter, st llm.Stream, p *chatParams, id string, created int64) error {
	ans, err := llm.Collect(st)
	if err != nil {
		return err
	}
	var (
		content strings.Builder
		j       wire.Joiner
	)
	content.WriteString(j.Text(ans.Text))
	for i := range ans.Images {
		content.WriteString(j.Image(&ans.Images[i]))
	}
	msg := completionMessage{Role: "assistant"}
	if ans.Refusal != "" {
		// A refused structured answer: content is null, as in the API.
		r := ans.Refusal
		msg.Refusal = &r
	}
	if content.Len() > 0 || len(ans.ToolCalls) == 0 && ans.Refusal == "" {
		s := content.String()
		msg.Content = &s
	}
	msg.ReasoningContent = ans.Reasoning
	if h.opts.MirrorReasoning {
		msg.Reasoning = ans.Reasoning
	}
	for _, tc := range ans.ToolCalls {
		if tc.ID == "" {
			tc.ID = newCallID()
		}
		args := tc.Arguments
		if args == "" {
			args = "{}"
		}
		msg.ToolCalls = append(msg.ToolCalls, wireToolCall{ID: tc.ID, Type: "function",
			Function: wireFunction{Name: tc.Name, Arguments: json.RawMessage(args)}})
	}
	writeJSON(w, http.StatusOK, completion{
		ID:      id,
		Object:  "chat.completion",
		Created: created,
		Model:   p.model,
		Choices: []completionChoice{{
			Message:      msg,
			FinishReason: finishReason(ans.FinishReason, len(ans.ToolCalls) > 0),
		}},
		Usage: toWireUsage(ans.Usage),
	})
	return nil
}

// finishReason returns the wire finish reason: tool_calls when calls were
// made and the upstream said nothing more specific, stop by default.
func finishReason(fr llm.FinishReason, toolCalls bool) string {
	if toolCalls && (fr == "" || fr == llm.FinishStop) {
		return string(llm.FinishToolCalls)
	}
	if fr == "" {
		return string(llm.FinishStop)
	}
	return string(fr)
}

// toWireUsage converts u (nil = zero counts).
func toWireUsage(u *llm.Usage) wireUsage {
	var w wireUsage
	if u != nil {
		w.PromptTokens = u.PromptTokens
		w.CompletionTokens = u.CompletionTokens
		w.TotalTokens = u.TotalTokens()
		w.CompletionTokensDetails.ReasoningTokens = u.ReasoningTokens
	}
	return w
}

// newCallID returns a fresh tool call id.
func newCallID() string { return "call_" + rand.Text() }

// streamer writes one Chat Completions stream. Its chunk value and
// buffers are reused for every event.
type streamer struct {
	h    *Handler
	sw   *sse.Writer
	buf  bytes.Buffer
	enc  *json.Encoder
	c    chunk
	ch   [1]chunkChoice
	tc   [1]toolCallDelta
	text string // backing store of c.Choices[0].Delta.Content
	args string // backing store of the tool-call arguments pointer
	fin  string // backing store of the finish reason pointer
	head []byte // chunkHead of this stream, for the fast path
	line []byte // fast-path chunk being written

	toolIdx       []int // backend tool-call index → wire index (position)
	sentToolCalls bool
	finished      bool
	layout        wire.Joiner
}

// stream writes st as a Chat Completions event stream. Errors are
// rendered in-band; the function returns when the stream ended, failed, or
// the client went away (the caller then closes st, cancelling the upstream).
//
// Events that st has ready at once leave in one flush (see sse.Writer's
// Pending); before each Recv that may wait for the upstream, and at the
// end, whatever was written is flushed.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, st llm.Stream, p *chatParams, id string, created int64) {
	s := h.newStreamer(w, p, id, created)
	// The role chunk goes with the first event when that is ready too.
	s.sw.Pending = func() bool { return llm.Buffered(st) }
	if s.begin() != nil {
		s.logGone(r)
		return
	}
	s.run(r, st, p)
}

// newStreamer returns the streamer of one answer; nothing is written yet.
func (h *Handler) newStreamer(w http.ResponseWriter, p *chatParams, id string, created int64) *streamer {
	s := &streamer{h: h, sw: sse.NewWriter(w)}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	s.c = chunk{ID: id, Object: "chat.completion.chunk", Created: created}
	s.setModel(p.model)
	return s
}

// setModel sets the model the chunks name; it is called before the first
// chunk is written.
func (s *streamer) setModel(model string) {
	s.c.Model = model
	s.head = chunkHead(s.c.ID, s.c.Created, model)
}

// begin starts the stream: the status line and headers, then the role
// chunk, at once: clients see a 200 and a live stream while the upstream
// thinks.
func (s *streamer) begin() error {
	if err := s.sw.Start(); err != nil {
		return err
	}
	d := s.delta()
	d.Role = "assistant"
	s.text = ""
	d.Content = &s.text
	return s.send()
}

// keepalive writes an empty content chunk.
func (s *streamer) keepalive() error {
	d := s.delta()
	s.text = ""
	d.Content = &s.text
	return s.send()
}

// run writes st's events after begin, to the end of the stream.
func (s *streamer) run(r *http.Request, st llm.Stream, p *chatParams) {
	s.sw.Pending = func() bool { return llm.Buffered(st) }
	defer func() { _ = s.sw.Flush() }()

	var usage *llm.Usage
	for {
		// An event that wrote nothing (usage, dropped text) may leave an
		// earlier one unflushed: flush it unless the next is ready too.
		if !llm.Buffered(st) && s.sw.Flush() != nil {
			s.logGone(r)
			return
		}
		ev, err := st.Recv()
		if err != nil {
			s.sw.Pending = nil // the last frames are flushed one by one
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.fail(r, err)
			return
		}
		switch ev.Type {
		case llm.EventUsage:
			usage = ev.Usage
			continue
		case llm.EventFinish:
			err = s.finish(ev.FinishReason)
		default:
			err = s.event(&ev)
		}
		if err != nil {
			s.logGone(r)
			return
		}
	}
	if s.finish(llm.FinishStop) != nil {
		s.logGone(r)
		return
	}
	if p.includeUsage {
		u := toWireUsage(usage)
		s.c.Choices = s.ch[:0]
		s.c.Usage = &u
		if s.send() != nil {
			s.logGone(r)
			return
		}
	}
	if s.sw.WriteData([]byte("[DONE]")) != nil {
		s.logGone(r)
	}
}

// delta resets the chunk to one empty choice and returns its delta.
func (s *streamer) delta() *chunkDelta {
	s.ch[0] = chunkChoice{}
	s.c.Choices = s.ch[:]
	s.c.Usage = nil
	return &s.ch[0].Delta
}

// event writes the chunk(s) of one content event. Events after the finish
// chunk are dropped: clients must see nothing more for the choice.
func (s *streamer) event(ev *llm.Event) error {
	if s.finished {
		return nil
	}
	switch ev.Type {
	case llm.EventTextDelta:
		return s.content(s.layout.Text(ev.Text))
	case llm.EventReasoningDelta:
		if ev.Text == "" {
			return nil
		}
		s.line = appendReasoningChunk(s.line[:0], s.head, ev.Text, s.h.opts.MirrorReasoning)
		return s.sw.WriteData(s.line)
	case llm.EventToolCallDelta:
		if ev.ToolCall == nil {
			return nil
		}
		return s.toolCall(ev.ToolCall)
	case llm.EventImage:
		if ev.Media == nil {
			return nil
		}
		return s.content(s.layout.Image(ev.Media))
	case llm.EventRefusal:
		if ev.Text == "" {
			return nil
		}
		d := s.delta()
		s.text = ev.Text
		d.Refusal = &s.text
		return s.send()
	}
	return nil
}

// content writes one content delta.
func (s *streamer) content(text string) error {
	if text == "" {
		return nil
	}
	s.line = appendContentChunk(s.line[:0], s.head, text)
	return s.sw.WriteData(s.line)
}

// toolCall writes one tool-call delta: the opening delta of a call carries
// index, id, type, name and empty arguments; later ones index and an
// arguments fragment only (names repeated would be concatenated by clients).
func (s *streamer) toolCall(tc *llm.ToolCallDelta) error {
	idx := -1
	for i, bi := range s.toolIdx {
		if bi == tc.Index {
			idx = i
			break
		}
	}
	if idx < 0 {
		idx = len(s.toolIdx)
		s.toolIdx = append(s.toolIdx, tc.Index)
		s.sentToolCalls = true
		callID := tc.ID
		if callID == "" {
			callID = newCallID()
		}
		d := s.delta()
		s.args = ""
		s.tc[0] = toolCallDelta{Index: idx, ID: callID, Type: "function",
			Function: functionDelta{Name: tc.Name, Arguments: &s.args}}
		d.ToolCalls = s.tc[:]
		if err := s.send(); err != nil {
			return err
		}
	}
	if tc.Arguments == "" {
		return nil
	}
	d := s.delta()
	s.args = tc.Arguments
	s.tc[0] = toolCallDelta{Index: idx, Function: functionDelta{Arguments: &s.args}}
	d.ToolCalls = s.tc[:]
	return s.send()
}

// finish writes the finish chunk once.
func (s *streamer) finish(fr llm.FinishReason) error {
	if s.finished {
		return nil
	}
	s.finished = true
	s.delta()
	s.fin = finishReason(fr, s.sentToolCalls)
	s.ch[0].FinishReason = &s.fin
	return s.send()
}

// send encodes the current chunk as one line and writes it as an event.
func (s *streamer) send() error {
	s.buf.Reset()
	if err := s.enc.Encode(&s.c); err != nil {
		return err
	}
	return s.sw.WriteData(bytes.TrimSuffix(s.buf.Bytes(), []byte{'\n'}))
}

// fail ends the stream with an in-band error event (no [DONE]).
func (s *streamer) fail(r *http.Request, err error) {
	e := gw.AsError(err)
	if e.Code == gw.CodeCanceled || r.Context().Err() != nil {
		s.logGone(r)
		return
	}
	s.h.log.LogAttrs(r.Context(), slog.LevelWarn, "openai: stream failed",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.String("code", string(e.Code)),
		slog.Any("error", err))
	s.buf.Reset()
	if s.enc.Encode(wire.OpenAIErrorEnvelope{Error: wire.OpenAIError(e)}) == nil {
		_ = s.sw.WriteData(bytes.TrimSuffix(s.buf.Bytes(), []byte{'\n'}))
	}
}

// logGone notes that the client left mid-stream.
func (s *streamer) logGone(r *http.Request) {
	s.h.log.LogAttrs(r.Context(), slog.LevelDebug, "openai: client went away mid-stream",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.Any("error", s.sw.Err()))
}
