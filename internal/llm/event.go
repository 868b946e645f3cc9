package llm

import (
	"errors"
	"io"
	"strings"
)

// EventType says which field of an Event is meaningful.
type EventType uint8

// Kinds of stream events.
const (
	// EventTextDelta carries answer text in Text.
	EventTextDelta EventType = iota + 1
	// EventReasoningDelta carries reasoning ("thinking") text in Text.
	EventReasoningDelta
	// EventToolCallDelta carries a piece of a tool call in ToolCall.
	EventToolCallDelta
	// EventImage carries a generated image in Media (URL or bytes).
	EventImage
	// EventUsage carries the token counts of the exchange in Usage.
	EventUsage
	// EventFinish ends the answer; FinishReason says why.
	EventFinish
	// EventRefusal carries the model's refusal, in words, of a request for
	// a structured answer (see internal/structured) in Text. Front-ends
	// put it in their API's refusal field (chat message.refusal, a
	// Responses refusal content part) or, where the API has none, show it
	// as text.
	EventRefusal
)

// ToolCallDelta is one piece of a streamed tool call. The first delta of a
// call carries Index, ID and Name; later ones only Index and an Arguments
// fragment. Concatenated fragments form the JSON arguments object.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// Event is one typed element of an answer stream.
type Event struct {
	Type         EventType
	Text         string
	ToolCall     *ToolCallDelta
	Media        *Media
	Usage        *Usage
	FinishReason FinishReason
}

// Stream is an answer being received. Recv returns the next event, io.EOF
// after the last one, or an error (a *gw.Error when the upstream said why).
// Close releases the upstream connection; it must be called exactly once and
// is safe to call before the stream ends (the upstream request is then
// cancelled). Streams are not safe for concurrent use.
type Stream interface {
	Recv() (Event, error)
	Close() error
}

// BufferedStream is implemented by streams that can tell, without waiting,
// whether their next Recv returns an event at once (one already received, or
// decoded from bytes already read), so that a front-end can leave an event
// in its response buffer while the next one is ready and flush once per
// burst instead of once per event.
//
// Buffered must never block: it may do non-blocking work such as decoding
// bytes the stream has already read, and it must answer false whenever it is
// not sure (a partial line, a step that could wait for the network or do
// slow work, an inner stream that cannot tell). It is false when the next
// Recv returns an error or io.EOF, because the front-end then stops writing
// and must have flushed. A false answer is always safe; a true one promises
// that the next Recv returns an event without waiting for I/O. Wrapping
// streams implement it by asking the stream they wrap (see [Buffered]) and
// must take into account events they drop or hold back. Like Recv, it is not
// safe for concurrent use.
type BufferedStream interface {
	Stream
	Buffered() bool
}

// Buffered reports whether s's next Recv returns without waiting for its
// upstream: s.Buffered() when s implements [BufferedStream], else false.
//
// Front-ends use it to coalesce flushes: after writing an event, flush only
// when !llm.Buffered(st); the unflushed event then leaves with the next
// event, a moment later, and never waits for the upstream.
func Buffered(s Stream) bool {
	b, ok := s.(BufferedStream)
	return ok && b.Buffered()
}

// Collect drains s into a complete answer. It does not close s.
func Collect(s Stream) (*Answer, error) {
	var acc Accumulator
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return acc.Answer(), nil
		}
		if err != nil {
			return acc.Answer(), err
		}
		acc.Add(ev)
	}
}

// Answer is a whole answer accumulated from events.
type Answer struct {
	Text         string
	Reasoning    string
	Refusal      string // see EventRefusal
	ToolCalls    []ToolCall
	Images       []Media
	Usage        *Usage
	FinishReason FinishReason
}

// Accumulator folds events into an Answer in linear time.
type Accumulator struct {
	text, reasoning, refusal strings.Builder
	args                     []strings.Builder
	a                        Answer
}

// Add folds one event into the accumulator.
func (acc *Accumulator) Add(ev Event) {
	a := &acc.a
	switch ev.Type {
	case EventTextDelta:
		acc.text.WriteString(ev.Text)
	case EventReasoningDelta:
		acc.reasoning.WriteString(ev.Text)
	case EventRefusal:
		acc.refusal.WriteString(ev.Text)
	case EventToolCallDelta:
		d := ev.ToolCall
		for len(a.ToolCalls) <= d.Index {
			a.ToolCalls = append(a.ToolCalls, ToolCall{})
			acc.args = append(acc.args, strings.Builder{})
		}
		tc := &a.ToolCalls[d.Index]
		if d.ID != "" {
			tc.ID = d.ID
		}
		if d.Name != "" {
			tc.Name = d.Name
		}
		acc.args[d.Index].WriteString(d.Arguments)
	case EventImage:
		if ev.Media != nil {
			a.Images = append(a.Images, *ev.Media)
		}
	case EventUsage:
		a.Usage = ev.Usage
	case EventFinish:
		a.FinishReason = ev.FinishReason
	}
}

// Text returns the answer text accumulated so far.
func (acc *Accumulator) Text() string { return acc.text.String() }

// Reasoning returns the reasoning text accumulated so far.
func (acc *Accumulator) Reasoning() string { return acc.reasoning.String() }

// Answer returns the accumulated answer.
func (acc *Accumulator) Answer() *Answer {
	a := acc.a
	a.Text = acc.text.String()
	a.Reasoning = acc.reasoning.String()
	a.Refusal = acc.refusal.String()
	a.ToolCalls = append([]ToolCall(nil), acc.a.ToolCalls...)
	for i := range a.ToolCalls {
		a.ToolCalls[i].Arguments = acc.args[i].String()
	}
	return &a
}

// ModelReporter is implemented by streams that know which model answers:
// the gateway's stream reports the catalog id of the model the request
// resolved to (see provider.Match.Echo for the rule: the catalog id for an
// exact name, an alias or a catch-all; a dated Claude id as sent), never a
// name only the client chose. Wrapping streams forward it (see
// [ModelOf]). Front-ends echo it in the answer's model field.
type ModelReporter interface {
	// Model returns the name to echo, or "" when it is not known.
	Model() string
}

// ModelOf returns the model s reports ([ModelReporter]), or requested when
// s reports none (a stream of a backend that does not resolve names, or
// nil).
func ModelOf(s Stream, requested string) string {
	if r, ok := s.(ModelReporter); ok {
		if m := r.Model(); m != "" {
			return m
		}
	}
	return requested
}

// Reopen starts another upstream exchange on the same account as a stream
// being wrapped; a stream wrapper (the tool-call and structured-output
// emulators) uses it for its repair request.
type Reopen = func(req *Request) (Stream, error)

// WrapFunc wraps one upstream attempt's stream. reopen may be nil (no
// repair is possible then).
type WrapFunc = func(st Stream, reopen Reopen) Stream

// Drain receives the rest of st until it ends or fails, so that its
// upstream exchange finishes normally; it does not close st.
func Drain(st Stream) {
	for {
		if _, err := st.Recv(); err != nil {
			return
		}
	}
}
