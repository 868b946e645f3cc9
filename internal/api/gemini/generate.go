package gemini

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/sse"
	"github.com/sparkgw/spark/internal/tokens"
)

// generateResponse is a GenerateContentResponse (also one chunk of a
// stream).
type generateResponse struct {
	Candidates    []candidate    `json:"candidates"`
	UsageMetadata *usageMetadata `json:"usageMetadata,omitempty"`
	ModelVersion  string         `json:"modelVersion"`
	ResponseID    string         `json:"responseId"`
}

type candidate struct {
	Content      outContent `json:"content"`
	FinishReason string     `json:"finishReason,omitempty"`
	Index        int        `json:"index"`
}

type outContent struct {
	Role  string    `json:"role"`
	Parts []outPart `json:"parts"`
}

// outPart is an answer part; Text is a pointer so that an empty text part
// can be written.
type outPart struct {
	Text         *string           `json:"text,omitempty"`
	Thought      bool              `json:"thought,omitempty"`
	FunctionCall *wireFunctionCall `json:"functionCall,omitempty"`
	InlineData   *wireBlob         `json:"inlineData,omitempty"`
	FileData     *wireFileData     `json:"fileData,omitempty"`
}

type usageMetadata struct {
	PromptTokenCount     int `json:"promptTokenCount"`
	CandidatesTokenCount int `json:"candidatesTokenCount"`
	TotalTokenCount      int `json:"totalTokenCount"`
	ThoughtsTokenCount   int `json:"thoughtsTokenCount,omitempty"`
}

// errNoStream reports a backend that broke its contract.
var errNoStream = errors.New("gemini: backend returned neither a stream nor an error")

// generate serves :generateContent and (stream) :streamGenerateContent.
func (h *Handler) generate(w http.ResponseWriter, r *http.Request, model string, stream bool) error {
	gr, err := decodeRequest[generateRequest](h, w, r)
	if err != nil {
		return err
	}
	if err := gr.validate(); err != nil {
		return err
	}
	ctx := r.Context()
	p, err := buildRequest(gr, model, h.newFileRefs(ctx))
	if err != nil {
		return err
	}
	gr = nil // let the decoded media go once converted
	p.req.ClientKey = reqctx.KeyID(ctx)
	st, err := h.b.Chat(ctx, &p.req)
	if err == nil && st == nil {
		err = errNoStream
	}
	if err != nil {
		return err
	}
	st = &onceStream{Stream: st}
	defer st.Close()
	p.model = llm.ModelOf(st, p.model) // the resolved model (llm.ModelReporter)
	t := &turn{p: p, id: rand.Text()}
	if !stream {
		return h.answer(w, r, st, t)
	}
	var out chunkWriter
	if r.URL.Query().Get("alt") == "sse" {
		sw := sse.NewWriter(w)
		sw.Pending = func() bool { return llm.Buffered(st) }
		out = &sseChunks{sw: sw}
	} else {
		out = newArrayChunks(w)
	}
	return h.stream(r, st, t, out)
}

// onceStream closes its stream once, however often Close is called: the
// handlers close it as soon as the answer is read (releasing the upstream
// before the last write) and again, deferred, on every other path.
type onceStream struct {
	llm.Stream
	closed bool
}

func (s *onceStream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.Stream.Close()
}

// Buffered implements llm.BufferedStream.
func (s *onceStream) Buffered() bool { return !s.closed && llm.Buffered(s.Stream) }

// Model implements llm.ModelReporter: the model the wrapped stream reports.
func (s *onceStream) Model() string { return llm.ModelOf(s.Stream, "") }

// turn folds the events of one answer into Gemini parts.
type turn struct {
	p        *params
	id       string
	calls    []llm.ToolCall // tool calls being received, by index
	finish   llm.FinishReason
	finished bool
	usage    *llm.Usage
	text     int // bytes of answer text, for a usage estimate
}

// parts folds ev and returns the parts it completes: a text or thought
// part per delta; tool calls are held until the answer ends.
func (t *turn) parts(ev *llm.Event) []outPart {
	switch ev.Type {
	case llm.EventTextDelta, llm.EventRefusal:
		// Gemini has no refusal field: a refusal is the answer's text.
		if ev.Text == "" {
			return nil
		}
		t.text += len(ev.Text)
		s := ev.Text
		return []outPart{{Text: &s}}
	case llm.EventReasoningDelta:
		if !t.p.thoughts || ev.Text == "" {
			return nil
		}
		s := ev.Text
		return []outPart{{Text: &s, Thought: true}}
	case llm.EventToolCallDelta:
		d := ev.ToolCall
		for len(t.calls) <= d.Index {
			t.calls = append(t.calls, llm.ToolCall{})
		}
		c := &t.calls[d.Index]
		if d.ID != "" {
			c.ID = d.ID
		}
		if d.Name != "" {
			c.Name = d.Name
		}
		c.Arguments += d.Arguments
	case llm.EventImage:
		if m := ev.Media; m != nil {
			if m.Data != nil {
				return []outPart{{InlineData: &wireBlob{MimeType: m.MIMEType, Data: encodeBase64(m.Data)}}}
			}
			if m.URL != "" {
				return []outPart{{FileData: &wireFileData{MimeType: m.MIMEType, FileURI: m.URL}}}
			}
		}
	case llm.EventFinish:
		t.finish, t.finished = ev.FinishReason, true
	case llm.EventUsage:
		t.usage = ev.Usage
	}
	return nil
}

// callParts returns the finished tool calls as functionCall parts.
func (t *turn) callParts() []outPart {
	var out []outPart
	for _, c := range t.calls {
		if c.Name == "" {
			continue
		}
		args := json.RawMessage(c.Arguments)
		if !json.Valid(args) {
			args = json.RawMessage("{}")
		}
		out = append(out, outPart{FunctionCall: &wireFunctionCall{ID: c.ID, Name: c.Name, Args: args}})
	}
	return out
}

// finishReason is the Gemini finish reason of the answer.
func (t *turn) finishReason() string {
	switch t.finish {
	case llm.FinishLength:
		return "MAX_TOKENS"
	case llm.FinishContentFilter:
		return "SAFETY"
	}
	return "STOP" // also for function calls, as Gemini answers them
}

// usageMetadata reports the answer's usage (estimated when the backend
// sent none).
func (t *turn) usageMetadata() *usageMetadata {
	u := t.usage
	if u == nil {
		u = &llm.Usage{PromptTokens: tokens.Prompt(&t.p.req), CompletionTokens: (t.text + 3) / 4}
	}
	cand := u.CompletionTokens - u.ReasoningTokens
	if cand < 0 {
		cand = 0
	}
	return &usageMetadata{
		PromptTokenCount:     u.PromptTokens,
		CandidatesTokenCount: cand,
		ThoughtsTokenCount:   u.ReasoningTokens,
		TotalTokenCount:      u.PromptTokens + u.CompletionTokens,
	}
}

// chunk returns a response holding parts.
func (t *turn) chunk(parts []outPart) *generateResponse {
	if parts == nil {
		parts = []outPart{}
	}
	return &generateResponse{
		Candidates:   []candidate{{Content: outContent{Role: "model", Parts: parts}}},
		ModelVersion: t.p.model,
		ResponseID:   t.id,
	}
}

// answer collects the whole answer and writes one GenerateContentResponse.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, st llm.Stream, t *turn) error {
	var parts []outPart
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !t.finished {
				return err
			}
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "gemini: upstream failed after the answer ended",
				slog.String("request_id", reqctx.RequestID(r.Context())), slog.Any("error", err))
			break
		}
		parts = appendMerged(parts, t.parts(&ev))
	}
	_ = st.Close() // release the upstream before answering
	parts = append(parts, t.callParts()...)
	if len(parts) == 0 {
		empty := ""
		parts = []outPart{{Text: &empty}}
	}
	resp := t.chunk(parts)
	resp.Candidates[0].FinishReason = t.finishReason()
	resp.UsageMetadata = t.usageMetadata()
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// appendMerged appends parts to dst, joining consecutive text parts of the
// same kind (answer text, thoughts) into one.
func appendMerged(dst, parts []outPart) []outPart {
	for _, p := range parts {
		if n := len(dst); n > 0 && p.Text != nil && dst[n-1].Text != nil && dst[n-1].Thought == p.Thought {
			s := *dst[n-1].Text + *p.Text
			dst[n-1].Text = &s
			continue
		}
		dst = append(dst, p)
	}
	return dst
}

// chunkWriter writes the chunks of a streamed answer: server-sent events
// (alt=sse) or the elements of a JSON array.
type chunkWriter interface {
	write(v any) error
	// end finishes the stream (the array's closing bracket) and flushes.
	end() error
}

// stream writes the answer chunk by chunk. It sends no keepalives: the SSE
// parser of the google-genai SDK that Gemini CLI 0.61 bundles (1.30) reads
// only frames that start with "data: " at the head of its buffer, so a
// comment frame would stall it for good. Each chunk is held until the
// next event, so that the last one carries the finish reason and usage as
// Gemini's last chunk does. A failure before anything was written is
// returned (a real HTTP error); a later one is sent in-band as an
// {"error": {...}} chunk, which the google-genai SDKs raise, and stream
// returns nil.
func (h *Handler) stream(r *http.Request, st llm.Stream, t *turn, out chunkWriter) error {
	var (
		pending []outPart
		wrote   bool
	)
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if r.Context().Err() != nil {
				h.gone(r, err)
				return nil
			}
			if !t.finished && pending == nil && !wrote {
				return err
			}
			if !t.finished {
				if pending != nil && out.write(t.chunk(pending)) != nil {
					h.gone(r, err)
					return nil
				}
				h.fail(r, out, err)
				return nil
			}
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "gemini: upstream failed after the answer ended",
				slog.String("request_id", reqctx.RequestID(r.Context())), slog.Any("error", err))
			break
		}
		parts := t.parts(&ev)
		if len(parts) == 0 {
			continue
		}
		if pending != nil {
			wrote = true
			if err := out.write(t.chunk(pending)); err != nil {
				h.gone(r, err)
				return nil
			}
		}
		pending = parts
	}
	_ = st.Close()
	pending = append(pending, t.callParts()...)
	if len(pending) == 0 {
		empty := ""
		pending = []outPart{{Text: &empty}}
	}
	last := t.chunk(pending)
	last.Candidates[0].FinishReason = t.finishReason()
	last.UsageMetadata = t.usageMetadata()
	if err := out.write(last); err != nil {
		h.gone(r, err)
		return nil
	}
	if err := out.end(); err != nil {
		h.gone(r, err)
	}
	return nil
}

// fail ends a stream with an in-band error chunk.
func (h *Handler) fail(r *http.Request, out chunkWriter, err error) {
	e := gw.AsError(err)
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "gemini: stream failed",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.String("code", string(e.Code)), slog.Any("error", err))
	if out.write(errorEnvelope{Error: googleError(e)}) == nil {
		_ = out.end()
	}
}

// gone notes that the client left mid-stream.
func (h *Handler) gone(r *http.Request, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelDebug, "gemini: client went away mid-stream",
		slog.String("request_id", reqctx.RequestID(r.Context())), slog.Any("error", err))
}

// sseChunks writes each chunk as "data: <json>".
type sseChunks struct{ sw *sse.Writer }

func (s *sseChunks) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.sw.WriteData(b)
}

func (s *sseChunks) end() error { return s.sw.Flush() }

// arrayChunks writes the chunks as one JSON array, flushed chunk by chunk,
// as the Gemini API answers :streamGenerateContent without alt=sse.
type arrayChunks struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	err     error
}

func newArrayChunks(w http.ResponseWriter) *arrayChunks {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	return &arrayChunks{w: w, rc: http.NewResponseController(w)}
}

func (a *arrayChunks) write(v any) error {
	if a.err != nil {
		return a.err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sep := ",\r\n"
	if !a.started {
		a.started, sep = true, "["
	}
	if _, a.err = io.WriteString(a.w, sep); a.err == nil {
		if _, a.err = a.w.Write(b); a.err == nil {
			a.err = a.rc.Flush()
		}
	}
	return a.err
}

func (a *arrayChunks) end() error {
	if a.err != nil {
		return a.err
	}
	if !a.started {
		_, a.err = io.WriteString(a.w, "[")
	}
	if a.err == nil {
		_, a.err = io.WriteString(a.w, "]\n")
	}
	if a.err == nil {
		a.err = a.rc.Flush()
	}
	return a.err
}

// countTokens serves :countTokens: the offline estimate of the converted
// request (contents, or the generateContentRequest with its system
// instruction and tools), without an upstream call.
func (h *Handler) countTokens(w http.ResponseWriter, r *http.Request, model string) error {
	type countRequest struct {
		Contents               []wireContent    `json:"contents"`
		GenerateContentRequest *generateRequest `json:"generateContentRequest"`
	}
	cr, err := decodeRequest[countRequest](h, w, r)
	if err != nil {
		return err
	}
	gr := cr.GenerateContentRequest
	switch {
	case gr != nil && len(cr.Contents) > 0:
		return invalid("contents", "contents and generateContentRequest cannot both be set.")
	case gr == nil:
		gr = &generateRequest{Contents: cr.Contents}
	}
	if err := gr.validate(); err != nil {
		return err
	}
	p, err := buildRequest(gr, model, h.newFileRefs(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		TotalTokens int `json:"totalTokens"`
	}{tokens.Prompt(&p.req)})
	return nil
}
