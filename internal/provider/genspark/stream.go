package genspark

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// ParseOptions configure the parsing of an ask stream.
type ParseOptions struct {
	// MaxLineBytes bounds one line (DefaultMaxLineBytes when <= 0); a longer
	// line ends the stream with an error.
	MaxLineBytes int
	// Logger receives debug lines about skipped events; nil discards.
	Logger *slog.Logger
	// Debug logs every event's type, field name, keys and size (never text).
	Debug bool
	// IdleTimeout fails the stream with gw.CodeUpstreamTimeout when no
	// line arrives for this long (0 = no bound). It acts by cancelling the
	// upstream request, so it applies to provider streams only, not to
	// ParseStream.
	IdleTimeout time.Duration
}

// UpstreamEvent is one decoded JSON payload of the ask stream (docs/genspark-upstream.md §2.3).
// Fields of an unexpected JSON type read as empty; nothing here fails on
// extra keys or key order.
type UpstreamEvent struct {
	Type       string
	ID         string
	MessageID  string
	FieldName  string
	FieldValue json.RawMessage // raw: a string, bool, object, …
	Delta      string
	Role       string
	Content    string
	// ActionType is action.type (e.g. ACTION_QUOTA_EXCEEDED).
	ActionType   string
	SessionState json.RawMessage
	// Keys are the top-level keys in wire order.
	Keys []string
	// Fields holds every top-level value, raw.
	Fields map[string]json.RawMessage

	// Always filled, also when Keys and Fields are not (the stream's fast
	// path without debug logging).
	status     json.RawMessage // top-level "status", raw
	message    json.RawMessage // top-level "message", raw
	hasDelta   bool            // a top-level "delta" key is present
	contentRaw []byte          // "content", raw, when Content was not decoded
}

// content returns Content, decoding it on demand.
func (ev *UpstreamEvent) content() string {
	if ev.contentRaw != nil {
		ev.Content, _ = jsonString(ev.contentRaw)
		ev.contentRaw = nil
	}
	return ev.Content
}

// DecodeEvent decodes one payload, with or without its `data: ` prefix.
// ok is false when the payload is not a JSON object. Keys and Fields are
// filled; the result does not alias payload.
func DecodeEvent(payload []byte) (ev UpstreamEvent, ok bool) {
	return decodeEvent(payload, true)
}

// objectFields decodes raw when it is a JSON object; nil otherwise.
func objectFields(raw json.RawMessage) map[string]json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	return m
}

// cutData strips an SSE `data:` prefix (with or without the space).
func cutData(t []byte) ([]byte, bool) {
	if rest, ok := bytes.CutPrefix(t, []byte("data:")); ok {
		return bytes.TrimSpace(rest), true
	}
	return t, false
}

// isSSEField reports SSE lines that carry no data (event:, id:, retry:,
// comments).
func isSSEField(t []byte) bool {
	return t[0] == ':' || bytes.HasPrefix(t, []byte("event:")) ||
		bytes.HasPrefix(t, []byte("id:")) || bytes.HasPrefix(t, []byte("retry:"))
}

// Stream is a Genspark answer being received; it implements llm.Stream.
// It delivers text and reasoning deltas, then one EventFinish and io.EOF;
// failures are *gw.Error values. It emits no usage. Not safe for
// concurrent use.
type Stream struct {
	ctx    context.Context // nil for ParseStream
	r      *lineReader
	closer io.Closer
	cancel context.CancelFunc
	max    int
	log    *slog.Logger
	debug  bool
	onDone func(projectID string)

	idleFor time.Duration
	idle    *time.Timer // cancels the request when a read waits idleFor
	idleHit atomic.Bool // the idle timer fired

	queue     []llm.Event
	err       error
	closed    bool
	project   string
	text      bool         // answer text delivered
	reasoning bool         // reasoning delivered
	fields    []namedField // text and reasoning fields seen (one or two)
	skipped   []skipKey    // skips logged (debug), at most maxSkipKeys
	line      []byte
}

// fieldSoFar is what was delivered of one field: its length and a hash of
// its bytes, enough to tell whether a field_value snapshot extends it
// without keeping a second copy of the answer (the gateway and the client
// have it).
type fieldSoFar struct {
	n int
	h maphash.Hash
}

type namedField struct {
	name string
	fieldSoFar
}

type skipKey struct{ what, name string }

// maxSkipKeys bounds the distinct skips logged per stream.
const maxSkipKeys = 32

// fieldSeed seeds every fieldSoFar hash (maphash.String needs the seed).
var fieldSeed = maphash.MakeSeed()

// extends reports whether v starts with the text delivered so far.
func (f *fieldSoFar) extends(v string) bool {
	return len(v) >= f.n && maphash.String(fieldSeed, v[:f.n]) == f.h.Sum64()
}

func (f *fieldSoFar) add(piece string) {
	f.n += len(piece)
	_, _ = f.h.WriteString(piece)
}

var (
	_ llm.Stream         = (*Stream)(nil)
	_ llm.BufferedStream = (*Stream)(nil)
)

func newStream(ctx context.Context, body io.Reader, cancel context.CancelFunc, opts ParseOptions, onDone func(string)) *Stream {
	s := &Stream{
		ctx:    ctx,
		r:      newLineReader(body),
		cancel: cancel,
		max:    opts.MaxLineBytes,
		log:    opts.Logger,
		debug:  opts.Debug,
		onDone: onDone,
	}
	if c, ok := body.(io.Closer); ok {
		s.closer = c
	}
	if s.max <= 0 {
		s.max = DefaultMaxLineBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.IdleTimeout > 0 && cancel != nil {
		s.idleFor = opts.IdleTimeout
		s.idle = time.AfterFunc(s.idleFor, func() {
			s.idleHit.Store(true)
			cancel()
		})
		s.idle.Stop() // armed by each read
	}
	return s
}

// ProjectID returns the upstream chat id announced by project_start, or
// "" when none was seen yet.
func (s *Stream) ProjectID() string { return s.project }

// Recv returns the next event, io.EOF after EventFinish, or the error that
// ended the stream.
func (s *Stream) Recv() (llm.Event, error) {
	for {
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = llm.Event{}
			if len(s.queue) == 1 {
				s.queue = s.queue[:0] // keep the array for the next events
			} else {
				s.queue = s.queue[1:]
			}
			if ev.Type == llm.EventFinish && s.onDone != nil {
				done := s.onDone
				s.onDone = nil
				done(s.project)
			}
			return ev, nil
		}
		if s.err != nil {
			return llm.Event{}, s.err
		}
		if s.closed {
			return llm.Event{}, newErr(gw.CodeCanceled, "stream closed", nil)
		}
		s.step()
	}
}

// Buffered implements llm.BufferedStream. It reports true when the next
// Recv returns an event at once: one is queued, or the read buffer holds
// whole lines that yield one (they are decoded here, so lines that yield no
// event do not count). It never reads from the connection, and it is false
// before the finish event while the binding update (which may write the
// store) is still to run.
func (s *Stream) Buffered() bool {
	for len(s.queue) == 0 && s.err == nil && !s.closed {
		if !s.lineBuffered() {
			return false
		}
		s.step()
	}
	return len(s.queue) > 0 && (s.queue[0].Type != llm.EventFinish || s.onDone == nil)
}

// lineBuffered reports whether the read buffer holds a whole line that can
// be handled without reading: not an HTML page, which is read to its end.
func (s *Stream) lineBuffered() bool {
	b := s.r.Peek()
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	payload, _ := cutData(bytes.TrimSpace(b[:i]))
	return len(payload) == 0 || payload[0] != '<'
}

// Close stops the stream and cancels the upstream request. It is safe to
// call more than once and before the end of the stream.
func (s *Stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.release()
	return nil
}

// release cancels the request, closes the body and gives the read buffer
// back. Nothing is read after it.
func (s *Stream) release() {
	if s.idle != nil {
		s.idle.Stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.closer != nil {
		_ = s.closer.Close()
	}
	s.r.Close()
}

// fail ends the stream with err after the queued events.
func (s *Stream) fail(err error) {
	s.err = err
	s.release()
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its terminator; the last line
// may lack one. It never returns more than s.max bytes. The line is valid
// until the next read.
func (s *Stream) readLine() ([]byte, error) {
	frag, err := s.r.ReadSlice()
	if err == nil && len(frag) <= s.max+2 { // +2: room for "\r\n"
		// The usual case: a whole line in the read buffer, used in place.
		line := bytes.TrimRight(frag, "\r\n")
		if len(line) > s.max {
			return nil, errLineTooLong
		}
		return line, nil
	}
	s.line = s.line[:0]
	for {
		if len(s.line)+len(frag) > s.max+2 { // +2: room for "\r\n"
			return nil, errLineTooLong
		}
		s.line = append(s.line, frag...)
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			frag, err = s.r.ReadSlice()
			continue
		case errors.Is(err, io.EOF) && len(s.line) > 0:
			// Last line without terminator; the next call reports EOF.
		default:
			return nil, err
		}
		line := bytes.TrimRight(s.line, "\r\n")
		if len(line) > s.max {
			return nil, errLineTooLong
		}
		if cap(s.line) > 64<<10 {
			s.line = nil // do not keep a rare long line's buffer
		}
		return line, nil
	}
}

// step reads and handles one line.
func (s *Stream) step() {
	if s.idle != nil {
		// The timer runs only while a read waits on Genspark, so a slow
		// consumer between Recv calls never counts as upstream silence.
		s.idle.Reset(s.idleFor)
	}
	line, err := s.readLine()
	if s.idle != nil {
		s.idle.Stop()
	}
	if err != nil {
		s.fail(s.readError(err))
		return
	}
	s.handleLine(line)
}

func (s *Stream) readError(err error) error {
	if s.idleHit.Load() {
		return newErr(gw.CodeUpstreamTimeout, fmt.Sprintf("Genspark sent nothing for %s; the answer stalled", s.idleFor), nil)
	}
	if s.ctx != nil && s.ctx.Err() != nil {
		return ctxErr(s.ctx.Err())
	}
	switch {
	case errors.Is(err, errLineTooLong):
		return newErr(gw.CodeUpstream, fmt.Sprintf("Genspark sent a line longer than %d bytes", s.max), nil)
	case errors.Is(err, io.EOF):
		return newErr(gw.CodeTransient, msgClosedEarly, nil)
	}
	return newErr(gw.CodeTransient, msgClosedEarly, err)
}

// handleLine dispatches one line: `data: ` payloads and bare lines are
// handled alike, so signals are seen in both forms.
func (s *Stream) handleLine(line []byte) {
	t := bytes.TrimSpace(line)
	if len(t) == 0 {
		return
	}
	payload, isData := cutData(t)
	if !isData && isSSEField(t) {
		return
	}
	if len(payload) == 0 {
		return
	}
	switch payload[0] {
	case '<':
		s.page(payload)
		return
	case '{':
		if ev, ok := decodeEvent(payload, s.debug); ok {
			s.event(&ev, len(payload))
			return
		}
	}
	if sig := detectText(payload); sig != nil {
		s.fail(sig)
		return
	}
	s.skip("non-event line", "", len(payload))
}

// page reads the rest of an HTML page (bounded) and classifies it.
func (s *Stream) page(first []byte) {
	buf := append([]byte(nil), first...)
	buf = append(buf, '\n')
	if s.idle != nil {
		s.idle.Reset(s.idleFor)
	}
	rest, err := io.ReadAll(io.LimitReader(s.r, maxErrorBody))
	if s.idle != nil {
		s.idle.Stop()
	}
	if err != nil && (s.idleHit.Load() || s.ctx != nil && s.ctx.Err() != nil) {
		s.fail(s.readError(err))
		return
	}
	buf = append(buf, rest...)
	if sig := classifyPage(buf); sig != nil {
		s.fail(sig)
		return
	}
	s.fail(newErr(gw.CodeUpstream, "Genspark answered with an HTML page instead of an event stream", excerptErr(buf)))
}

// event handles one decoded JSON payload.
func (s *Stream) event(ev *UpstreamEvent, size int) {
	if s.debug {
		s.log.Debug("genspark event", "type", ev.Type, "field", ev.FieldName, "keys", ev.Keys, "bytes", size)
	}
	if sig := detectJSON(ev, s.text); sig != nil {
		s.fail(sig)
		return
	}
	switch ev.Type {
	case "project_start":
		if ev.ID != "" {
			s.project = ev.ID
		}
	case "message_field", "message_field_delta":
		s.field(ev)
	case "message_result":
		s.result(ev)
	default:
		s.skip("unknown event type", ev.Type, size)
	}
}

// Kinds of field names.
const (
	fieldUnknown = iota
	fieldText
	fieldReasoning
	fieldMarker
)

// fieldKind maps a field_name to what it carries (docs/genspark-upstream.md §2.3).
func fieldKind(name string) int {
	switch {
	case name == "session_state.answer",
		strings.Contains(name, "session_state.streaming_detail_answer"),
		name == "session_state.streaming_markmap":
		return fieldText
	case strings.HasPrefix(name, "session_state.answerthink"):
		if strings.HasSuffix(name, "_is_started") || strings.HasSuffix(name, "_is_finished") {
			return fieldMarker
		}
		return fieldReasoning
	}
	return fieldUnknown
}

// field handles message_field and message_field_delta. A `delta` string
// is appended; a message_field without one carries the field's whole value
// in field_value, of which only the part not yet delivered is emitted.
func (s *Stream) field(ev *UpstreamEvent) {
	kind := fieldKind(ev.FieldName)
	switch kind {
	case fieldUnknown:
		s.skip("unknown field name", ev.FieldName, 0)
		return
	case fieldMarker:
		return
	}
	var acc *fieldSoFar
	for i := range s.fields {
		if s.fields[i].name == ev.FieldName {
			acc = &s.fields[i].fieldSoFar
			break
		}
	}
	if acc == nil {
		s.fields = append(s.fields, namedField{name: ev.FieldName})
		acc = &s.fields[len(s.fields)-1].fieldSoFar
		acc.h.SetSeed(fieldSeed)
	}
	var piece string
	if ev.hasDelta || ev.Type == "message_field_delta" {
		piece = ev.Delta
	} else {
		v, ok := jsonString(ev.FieldValue)
		if !ok {
			return
		}
		if !acc.extends(v) {
			s.skip("field value that does not extend the streamed text", ev.FieldName, len(v))
			return
		}
		piece = v[acc.n:]
	}
	if piece == "" {
		return
	}
	acc.add(piece)
	if kind == fieldText {
		s.text = true
		s.queue = append(s.queue, llm.Event{Type: llm.EventTextDelta, Text: piece})
	} else {
		s.reasoning = true
		s.queue = append(s.queue, llm.Event{Type: llm.EventReasoningDelta, Text: piece})
	}
}

// result handles message_result: the end of the answer.
func (s *Stream) result(ev *UpstreamEvent) {
	if !s.text && ev.content() != "" {
		s.text = true
		s.queue = append(s.queue, llm.Event{Type: llm.EventTextDelta, Text: ev.content()})
	}
	if !s.text && !s.reasoning {
		// An empty answer is the usual symptom of a silent limit on this
		// account: transient, so the gateway fails over.
		s.fail(newErr(gw.CodeTransient, msgEmpty, nil))
		return
	}
	// onDone runs when the finish event is taken (Recv), not here, so that
	// Buffered can parse ahead without writing the store.
	s.queue = append(s.queue, llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop})
	s.err = io.EOF
	s.release()
}

// skip logs, once per stream, something the parser ignores: its kind and
// upstream name (an event type or field name, never content) and size.
func (s *Stream) skip(what, name string, size int) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	key := skipKey{what, name}
	if slices.Contains(s.skipped, key) || len(s.skipped) >= maxSkipKeys {
		return
	}
	s.skipped = append(s.skipped, key)
	s.log.Debug("genspark: skipped "+what, "name", name, "bytes", size)
}
