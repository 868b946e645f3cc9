package responses

import (
	"errors"
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
	"github.com/sparkgw/spark/internal/tokens"
)

// Stream event payloads (docs/client-api-surface.md §2.3). Each carries "type" equal to the SSE event
// name and "sequence_number" last; none has a top-level "error" key
// (openai-go ends a stream on any).

type responseEvent struct {
	Type           string `json:"type"`
	Response       any    `json:"response"` // *responseObject, or a stored object's JSON on replay
	SequenceNumber int    `json:"sequence_number"`
}

type itemEvent struct {
	Type           string `json:"type"`
	OutputIndex    int    `json:"output_index"`
	Item           *Item  `json:"item"`
	SequenceNumber int    `json:"sequence_number"`
}

type contentPartEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	ContentIndex   int    `json:"content_index"`
	Part           Part   `json:"part"`
	SequenceNumber int    `json:"sequence_number"`
}

type textDeltaEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	ContentIndex   int    `json:"content_index"`
	Delta          string `json:"delta"`
	Logprobs       empty  `json:"logprobs"`
	SequenceNumber int    `json:"sequence_number"`
}

type textDoneEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	ContentIndex   int    `json:"content_index"`
	Text           string `json:"text"`
	Logprobs       empty  `json:"logprobs"`
	SequenceNumber int    `json:"sequence_number"`
}

type summaryPartEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	SummaryIndex   int    `json:"summary_index"`
	Part           Part   `json:"part"`
	SequenceNumber int    `json:"sequence_number"`
}

type summaryDeltaEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	SummaryIndex   int    `json:"summary_index"`
	Delta          string `json:"delta"`
	SequenceNumber int    `json:"sequence_number"`
}

type summaryDoneEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	SummaryIndex   int    `json:"summary_index"`
	Text           string `json:"text"`
	SequenceNumber int    `json:"sequence_number"`
}

type argsDeltaEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	Delta          string `json:"delta"`
	SequenceNumber int    `json:"sequence_number"`
}

type argsDoneEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	Name           string `json:"name"`
	Arguments      string `json:"arguments"`
	SequenceNumber int    `json:"sequence_number"`
}

// clientGone wraps a failed write to the client.
type clientGone struct{ err error }

func (c *clientGone) Error() string { return "client went away: " + c.err.Error() }
func (c *clientGone) Unwrap() error { return c.err }

// streamer builds one response from a backend stream: it keeps the output
// items of resp up to date and, when streaming, writes the event sequence
// of docs/client-api-surface.md §2.3 as it goes. Items are strictly sequential: a reasoning or message
// item is closed before any other item opens; function calls stay open
// until text or reasoning follows or the answer ends, so that their
// argument fragments can arrive in any order.
type streamer struct {
	h       *Handler
	p       *params
	resp    *responseObject
	created time.Time
	sw      *sse.Writer // nil: not streaming, nothing is written
	seq     int
	skip    int // events with sequence_number < skip are not written (replay's starting_after)

	cur      *Item // open message or reasoning item
	curIndex int
	curText  strings.Builder
	calls    []*call
	layout   wire.Joiner
	finish   llm.FinishReason
	usage    *llm.Usage
}

// call is one function call item.
type call struct {
	backendIndex int
	item         *Item
	index        int
	args         strings.Builder
	open         bool
}

// streaming reports whether events are written.
func (t *streamer) streaming() bool { return t.sw != nil }

// send writes one event, numbered t.seq (already in v), and advances it.
func (t *streamer) send(name string, v any) error {
	seq := t.seq
	t.seq++
	if seq < t.skip {
		return nil
	}
	b, err := marshal(v)
	if err != nil {
		return err
	}
	if err := t.sw.WriteEvent(name, b); err != nil {
		return &clientGone{err}
	}
	return nil
}

// sendResponse writes a lifecycle event carrying the whole response.
func (t *streamer) sendResponse(name string, resp any) error {
	if !t.streaming() {
		return nil
	}
	return t.send(name, responseEvent{Type: name, Response: resp, SequenceNumber: t.seq})
}

// start writes response.created and response.in_progress.
func (t *streamer) start() error {
	if err := t.sendResponse("response.created", t.resp); err != nil {
		return err
	}
	return t.sendResponse("response.in_progress", t.resp)
}

// consume reads st to its end. It returns the upstream's failure, or a
// *clientGone when writing failed. When streaming, it flushes what was
// written before each Recv that may wait for the upstream: an event that
// wrote nothing (usage, finish) may have left an earlier one unflushed.
func (t *streamer) consume(st llm.Stream) error {
	for {
		if t.streaming() && !llm.Buffered(st) {
			if err := t.sw.Flush(); err != nil {
				return &clientGone{err}
			}
		}
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := t.event(&ev); err != nil {
			return err
		}
	}
}

// event folds one backend event into the response.
func (t *streamer) event(ev *llm.Event) error {
	switch ev.Type {
	case llm.EventTextDelta:
		return t.text(t.layout.Text(ev.Text))
	case llm.EventImage:
		if ev.Media == nil {
			return nil
		}
		return t.text(t.layout.Image(ev.Media))
	case llm.EventReasoningDelta:
		return t.reasoning(ev.Text)
	case llm.EventRefusal:
		return t.refusal(ev.Text)
	case llm.EventToolCallDelta:
		if ev.ToolCall == nil {
			return nil
		}
		return t.toolCall(ev.ToolCall)
	case llm.EventUsage:
		t.usage = ev.Usage
	case llm.EventFinish:
		t.finish = ev.FinishReason
	}
	return nil
}

// text appends answer text, opening a message item if needed.
func (t *streamer) text(s string) error {
	if s == "" {
		return nil
	}
	if t.cur == nil || t.cur.Type != typeMessage {
		if err := t.closeAll("completed"); err != nil {
			return err
		}
		if err := t.openMessage(newID("msg_")); err != nil {
			return err
		}
	}
	t.curText.WriteString(s)
	if !t.streaming() {
		return nil
	}
	return t.send("response.output_text.delta", textDeltaEvent{Type: "response.output_text.delta",
		ItemID: t.cur.ID, OutputIndex: t.curIndex, Delta: s, SequenceNumber: t.seq})
}

// refusalDeltaEvent and refusalDoneEvent stream a refusal content part.
type refusalDeltaEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	ContentIndex   int    `json:"content_index"`
	Delta          string `json:"delta"`
	SequenceNumber int    `json:"sequence_number"`
}

type refusalDoneEvent struct {
	Type           string `json:"type"`
	ItemID         string `json:"item_id"`
	OutputIndex    int    `json:"output_index"`
	ContentIndex   int    `json:"content_index"`
	Refusal        string `json:"refusal"`
	SequenceNumber int    `json:"sequence_number"`
}

// refusal adds a message item whose one content part is the model's
// refusal (a structured answer refused, see llm.EventRefusal), complete.
func (t *streamer) refusal(s string) error {
	if s == "" {
		return nil
	}
	if err := t.closeAll("completed"); err != nil {
		return err
	}
	it := &Item{Type: typeMessage, ID: newID("msg_"), Status: "in_progress", Role: "assistant", Content: []Part{}}
	idx, err := t.appendItem(it)
	if err != nil {
		return err
	}
	it.Content = append(it.Content, Part{Type: partRefusal})
	if t.streaming() {
		if err := t.send("response.content_part.added", contentPartEvent{Type: "response.content_part.added",
			ItemID: it.ID, OutputIndex: idx, Part: it.Content[0], SequenceNumber: t.seq}); err != nil {
			return err
		}
		if err := t.send("response.refusal.delta", refusalDeltaEvent{Type: "response.refusal.delta",
			ItemID: it.ID, OutputIndex: idx, Delta: s, SequenceNumber: t.seq}); err != nil {
			return err
		}
		if err := t.send("response.refusal.done", refusalDoneEvent{Type: "response.refusal.done",
			ItemID: it.ID, OutputIndex: idx, Refusal: s, SequenceNumber: t.seq}); err != nil {
			return err
		}
	}
	it.Content[0].Text = s
	it.Status = "completed"
	if !t.streaming() {
		return nil
	}
	if err := t.send("response.content_part.done", contentPartEvent{Type: "response.content_part.done",
		ItemID: it.ID, OutputIndex: idx, Part: it.Content[0], SequenceNumber: t.seq}); err != nil {
		return err
	}
	return t.send("response.output_item.done", itemEvent{Type: "response.output_item.done",
		OutputIndex: idx, Item: it, SequenceNumber: t.seq})
}

// reasoning appends reasoning text, opening a reasoning item if needed.
func (t *streamer) reasoning(s string) error {
	if s == "" {
		return nil
	}
	if t.cur == nil || t.cur.Type != typeReasoning {
		if err := t.closeAll("completed"); err != nil {
			return err
		}
		if err := t.openReasoning(newID("rs_")); err != nil {
			return err
		}
	}
	t.curText.WriteString(s)
	if !t.streaming() {
		return nil
	}
	return t.send("response.reasoning_summary_text.delta", summaryDeltaEvent{Type: "response.reasoning_summary_text.delta",
		ItemID: t.cur.ID, OutputIndex: t.curIndex, Delta: s, SequenceNumber: t.seq})
}

// appendItem adds it to the output and announces it.
func (t *streamer) appendItem(it *Item) (int, error) {
	idx := len(t.resp.Output)
	t.resp.Output = append(t.resp.Output, it)
	if !t.streaming() {
		return idx, nil
	}
	return idx, t.send("response.output_item.added", itemEvent{Type: "response.output_item.added",
		OutputIndex: idx, Item: it, SequenceNumber: t.seq})
}

// openMessage opens an assistant message item with one output_text part.
func (t *streamer) openMessage(id string) error {
	it := &Item{Type: typeMessage, ID: id, Status: "in_progress", Role: "assistant", Content: []Part{}}
	idx, err := t.appendItem(it)
	if err != nil {
		return err
	}
	t.cur, t.curIndex = it, idx
	t.curText.Reset()
	it.Content = append(it.Content, Part{Type: partOutputText})
	if !t.streaming() {
		return nil
	}
	return t.send("response.content_part.added", contentPartEvent{Type: "response.content_part.added",
		ItemID: id, OutputIndex: idx, Part: it.Content[0], SequenceNumber: t.seq})
}

// openReasoning opens a reasoning item with one summary_text part.
func (t *streamer) openReasoning(id string) error {
	it := &Item{Type: typeReasoning, ID: id, Summary: []Part{}}
	idx, err := t.appendItem(it)
	if err != nil {
		return err
	}
	t.cur, t.curIndex = it, idx
	t.curText.Reset()
	it.Summary = append(it.Summary, Part{Type: partSummaryText})
	if !t.streaming() {
		return nil
	}
	return t.send("response.reasoning_summary_part.added", summaryPartEvent{Type: "response.reasoning_summary_part.added",
		ItemID: id, OutputIndex: idx, Part: it.Summary[0], SequenceNumber: t.seq})
}

// closeCur completes the open message or reasoning item.
func (t *streamer) closeCur(status string) error {
	it := t.cur
	if it == nil {
		return nil
	}
	t.cur = nil
	text := t.curText.String()
	idx := t.curIndex
	if it.Type == typeMessage {
		it.Content[0].Text = text
		it.Status = status
		if !t.streaming() {
			return nil
		}
		if err := t.send("response.output_text.done", textDoneEvent{Type: "response.output_text.done",
			ItemID: it.ID, OutputIndex: idx, Text: text, SequenceNumber: t.seq}); err != nil {
			return err
		}
		if err := t.send("response.content_part.done", contentPartEvent{Type: "response.content_part.done",
			ItemID: it.ID, OutputIndex: idx, Part: it.Content[0], SequenceNumber: t.seq}); err != nil {
			return err
		}
	} else {
		it.Summary[0].Text = text
		if !t.streaming() {
			return nil
		}
		if err := t.send("response.reasoning_summary_text.done", summaryDoneEvent{Type: "response.reasoning_summary_text.done",
			ItemID: it.ID, OutputIndex: idx, Text: text, SequenceNumber: t.seq}); err != nil {
			return err
		}
		if err := t.send("response.reasoning_summary_part.done", summaryPartEvent{Type: "response.reasoning_summary_part.done",
			ItemID: it.ID, OutputIndex: idx, Part: it.Summary[0], SequenceNumber: t.seq}); err != nil {
			return err
		}
	}
	return t.send("response.output_item.done", itemEvent{Type: "response.output_item.done",
		OutputIndex: idx, Item: it, SequenceNumber: t.seq})
}

// toolCall folds one tool-call delta: the first delta of a call opens a
// function_call item, argument fragments stream as deltas.
func (t *streamer) toolCall(d *llm.ToolCallDelta) error {
	if err := t.closeCur("completed"); err != nil {
		return err
	}
	var c *call
	for _, x := range t.calls {
		if x.backendIndex == d.Index {
			c = x
		}
	}
	if c == nil {
		ref := t.p.names.ref(d.Name)
		var err error
		c, err = t.openCall(d.Index, &Item{Type: typeFunctionCall, ID: newID("fc_"),
			CallID: t.callID(d.ID), Name: ref.name, Namespace: ref.namespace})
		if err != nil {
			return err
		}
	} else if c.item.Name == "" && d.Name != "" {
		ref := t.p.names.ref(d.Name)
		c.item.Name, c.item.Namespace = ref.name, ref.namespace
	}
	if d.Arguments == "" {
		return nil
	}
	if !c.open {
		// The backend contract keeps a call's fragments together; one
		// arriving after text or reasoning followed cannot be streamed.
		t.h.log.Warn("responses: dropped a tool-call fragment that arrived after its call was closed",
			slog.Int("index", d.Index))
		return nil
	}
	c.args.WriteString(d.Arguments)
	if !t.streaming() {
		return nil
	}
	return t.send("response.function_call_arguments.delta", argsDeltaEvent{Type: "response.function_call_arguments.delta",
		ItemID: c.item.ID, OutputIndex: c.index, Delta: d.Arguments, SequenceNumber: t.seq})
}

// openCall opens the function call item it (arguments empty, in
// progress) for the backend's call number backendIndex.
func (t *streamer) openCall(backendIndex int, it *Item) (*call, error) {
	it.Arguments, it.Status = "", "in_progress"
	c := &call{backendIndex: backendIndex, open: true, item: it}
	t.calls = append(t.calls, c)
	idx, err := t.appendItem(it)
	c.index = idx
	return c, err
}

// callID returns id, or a fresh one when it is empty or already used in
// this response (call ids must be unique).
func (t *streamer) callID(id string) string {
	for _, c := range t.calls {
		if id != "" && c.item.CallID == id {
			id = ""
		}
	}
	if id == "" {
		id = newID("call_")
	}
	return id
}

// closeCalls completes the open function calls in output order.
func (t *streamer) closeCalls(status string) error {
	for _, c := range t.calls {
		if !c.open {
			continue
		}
		c.open = false
		args := c.args.String()
		if args == "" {
			args = "{}"
		}
		c.item.Arguments, c.item.Status = args, status
		if !t.streaming() {
			continue
		}
		if err := t.send("response.function_call_arguments.done", argsDoneEvent{Type: "response.function_call_arguments.done",
			ItemID: c.item.ID, OutputIndex: c.index, Name: c.item.Name, Arguments: args, SequenceNumber: t.seq}); err != nil {
			return err
		}
		if err := t.send("response.output_item.done", itemEvent{Type: "response.output_item.done",
			OutputIndex: c.index, Item: c.item, SequenceNumber: t.seq}); err != nil {
			return err
		}
	}
	return nil
}

// closeAll completes every open item.
func (t *streamer) closeAll(status string) error {
	if err := t.closeCur(status); err != nil {
		return err
	}
	return t.closeCalls(status)
}

// end completes the open items and settles status, usage and completion
// time. The terminal event is sent by terminal, after storing.
func (t *streamer) end() error {
	status, itemStatus := "completed", "completed"
	switch t.finish {
	case llm.FinishLength:
		status, itemStatus = "incomplete", "incomplete"
		t.resp.IncompleteDetails = &incompleteDetails{Reason: "max_output_tokens"}
	case llm.FinishContentFilter:
		status, itemStatus = "incomplete", "incomplete"
		t.resp.IncompleteDetails = &incompleteDetails{Reason: "content_filter"}
	}
	if err := t.closeAll(itemStatus); err != nil {
		return err
	}
	t.resp.Status = status
	if status == "completed" {
		at := t.h.now().Unix()
		t.resp.CompletedAt = &at
	}
	t.resp.Usage = toWireUsage(t.finalUsage())
	return nil
}

// terminal writes response.completed or response.incomplete.
func (t *streamer) terminal() error {
	name := "response.completed"
	if t.resp.Status == "incomplete" {
		name = "response.incomplete"
	}
	return t.sendResponse(name, t.resp)
}

// finalUsage is the backend's usage or, if it gave none, an estimate.
func (t *streamer) finalUsage() llm.Usage {
	if t.usage != nil {
		return *t.usage
	}
	var b strings.Builder
	for _, it := range t.resp.Output {
		for _, p := range it.Content {
			b.WriteString(p.Text)
		}
		for _, p := range it.Summary {
			b.WriteString(p.Text)
		}
		b.WriteString(it.Arguments)
	}
	return llm.Usage{PromptTokens: tokens.Prompt(&t.p.req), CompletionTokens: tokens.Count(b.String())}
}

// fail ends the stream with response.failed: the response so far (open
// items marked incomplete) with status failed and the error.
func (t *streamer) fail(r *http.Request, err error) {
	e := gw.AsError(err)
	if e.Code == gw.CodeCanceled || r.Context().Err() != nil {
		t.logGone(r, err)
		return
	}
	t.h.log.LogAttrs(r.Context(), slog.LevelWarn, "responses: stream failed",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.String("code", string(e.Code)),
		slog.Any("error", err))
	if t.cur != nil {
		if t.cur.Type == typeMessage {
			t.cur.Content[0].Text, t.cur.Status = t.curText.String(), "incomplete"
		} else {
			t.cur.Summary[0].Text = t.curText.String()
		}
		t.cur = nil
	}
	for _, c := range t.calls {
		if c.open {
			c.open = false
			c.item.Arguments, c.item.Status = c.args.String(), "incomplete"
		}
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(gw.HTTPStatus(e.Code))
	}
	t.resp.Status = "failed"
	t.resp.Error = &responseError{Code: failureCode(e), Message: msg}
	t.resp.Usage = toWireUsage(t.finalUsage())
	if err := t.sendResponse("response.failed", t.resp); err != nil {
		t.logGone(r, err)
	}
}

// logGone notes that the client left mid-stream.
func (t *streamer) logGone(r *http.Request, err error) {
	t.h.log.LogAttrs(r.Context(), slog.LevelDebug, "responses: client went away mid-stream",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.Any("error", err))
}
