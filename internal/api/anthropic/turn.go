package anthropic

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/sse"
	"github.com/sparkgw/spark/internal/tokens"
)

// Wire types of answers. Optional keys use pointers with omitempty so each
// block and delta carries exactly the keys of its type.

type wireMessageResp struct {
	ID           string        `json:"id"`
	Type         string        `json:"type"`
	Role         string        `json:"role"`
	Model        string        `json:"model"`
	Content      []wireContent `json:"content"`
	StopReason   *string       `json:"stop_reason"`
	StopSequence *string       `json:"stop_sequence"`
	Usage        wireUsage     `json:"usage"`
}

type wireUsage struct {
	InputTokens              int            `json:"input_tokens"`
	OutputTokens             int            `json:"output_tokens"`
	CacheCreationInputTokens int            `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int            `json:"cache_read_input_tokens"`
	CacheCreation            *cacheCreation `json:"cache_creation,omitempty"`
	ServerToolUse            *struct{}      `json:"server_tool_use"`
	ServiceTier              string         `json:"service_tier,omitempty"`
}

type cacheCreation struct {
	Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
}

// deltaUsage is the cumulative usage of message_delta.
type deltaUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

type wireContent struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

type wireDelta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
}

type frameMessageStart struct {
	Type    string          `json:"type"`
	Message wireMessageResp `json:"message"`
}

type frameBlockStart struct {
	Type         string      `json:"type"`
	Index        int         `json:"index"`
	ContentBlock wireContent `json:"content_block"`
}

type frameBlockDelta struct {
	Type  string    `json:"type"`
	Index int       `json:"index"`
	Delta wireDelta `json:"delta"`
}

type frameBlockStop struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type frameMessageDelta struct {
	Type  string `json:"type"`
	Delta struct {
		StopReason   *string `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage deltaUsage `json:"usage"`
}

type frameType struct {
	Type string `json:"type"`
}

// Block kinds.
const (
	kindText     = "text"
	kindThinking = "thinking"
	kindToolUse  = "tool_use"
)

// emptyString backs the empty text, thinking and signature fields.
var emptyString = ""

// block is one content block of the answer.
type block struct {
	index    int
	kind     string
	buf      strings.Builder // text, thinking, or tool input JSON
	id, name string          // tool_use
}

// turn assembles the answer's content blocks from llm events, applying
// stop sequences and the block rules of the Messages API: blocks are
// strictly sequential (start, deltas, stop) with indices 0, 1, 2, ...
// When fw is set each step is written as a stream frame at once; otherwise
// the blocks are only collected for a whole Message.
type turn struct {
	h    *Handler
	fw   *frameWriter // nil for a non-streaming answer
	show bool         // reasoning becomes thinking blocks

	blocks []*block
	open   *block
	tools  map[int]*block // backend tool-call index → its block
	ids    map[string]bool
	stop   stopFilter
	layout wire.Joiner

	finished bool // EventFinish seen: later content is dropped
	finish   llm.FinishReason
	cut      bool   // a stop sequence matched: stop reading
	stopSeq  string // the matched stop sequence
	usage    *llm.Usage
}

func newTurn(h *Handler, p *params, fw *frameWriter) *turn {
	return &turn{
		h:    h,
		fw:   fw,
		show: p.thinking,
		stop: newStopFilter(p.stop),
	}
}

// add folds one event into the answer. It returns only write errors.
func (t *turn) add(ev *llm.Event) error {
	switch ev.Type {
	case llm.EventUsage:
		t.usage = ev.Usage
		return nil
	case llm.EventFinish:
		if t.finished || t.cut {
			return nil
		}
		t.finished = true
		t.finish = ev.FinishReason
		return t.end()
	}
	if t.finished || t.cut {
		return nil
	}
	switch ev.Type {
	case llm.EventTextDelta, llm.EventRefusal:
		// Messages has no refusal field: a refused structured answer is
		// shown as text.
		return t.text(ev.Text)
	case llm.EventReasoningDelta:
		return t.reasoning(ev.Text)
	case llm.EventToolCallDelta:
		if ev.ToolCall != nil {
			return t.toolCall(ev.ToolCall)
		}
	case llm.EventImage:
		if ev.Media != nil {
			return t.image(ev.Media)
		}
	}
	return nil
}

// text passes answer text through the stop-sequence filter.
func (t *turn) text(s string) error {
	out, seq := t.stop.push(s)
	if err := t.emitText(out); err != nil {
		return err
	}
	if seq != "" {
		t.cut = true
		t.stopSeq = seq
		return t.closeOpen()
	}
	return nil
}

// emitText appends text to the open text block (opening one if needed).
func (t *turn) emitText(s string) error {
	s = t.layout.Text(s)
	if s == "" {
		return nil
	}
	b, err := t.ensure(kindText)
	if err != nil {
		return err
	}
	b.buf.WriteString(s)
	return t.writeDelta(b, s)
}

// flushHeld emits the text the stop-sequence filter holds back, before a
// block of another kind starts or the answer ends; when that text holds a
// stop sequence the answer is cut there (t.cut) and callers add nothing
// more.
func (t *turn) flushHeld() error {
	out, seq := t.stop.flush()
	if err := t.emitText(out); err != nil {
		return err
	}
	if seq != "" {
		t.cut = true
		t.stopSeq = seq
		return t.closeOpen()
	}
	return nil
}

// reasoning appends reasoning to the open thinking block, when shown.
func (t *turn) reasoning(s string) error {
	if s == "" || !t.show {
		return nil
	}
	if err := t.flushHeld(); err != nil {
		return err
	}
	if t.cut {
		return nil
	}
	b, err := t.ensure(kindThinking)
	if err != nil {
		return err
	}
	b.buf.WriteString(s)
	return t.writeDelta(b, s)
}

// toolCall streams one tool-call delta into its tool_use block. A call's
// first delta opens its block (input {}), argument fragments follow as
// input_json_delta. Upstreams emit calls one after the other; a fragment
// for a call whose block a stream has already closed cannot be sent any
// more and is dropped with a warning.
func (t *turn) toolCall(d *llm.ToolCallDelta) error {
	if err := t.flushHeld(); err != nil {
		return err
	}
	if t.cut {
		return nil
	}
	b := t.tools[d.Index]
	if b == nil {
		if err := t.closeOpen(); err != nil {
			return err
		}
		b = &block{index: len(t.blocks), kind: kindToolUse, id: t.toolID(d.ID), name: d.Name}
		t.blocks = append(t.blocks, b)
		if t.tools == nil {
			t.tools = map[int]*block{}
		}
		t.tools[d.Index] = b
		t.open = b
		if err := t.writeStart(b); err != nil {
			return err
		}
	} else if b != t.open && t.fw != nil {
		t.h.log.Warn("anthropic: dropped a tool-call fragment that arrived after its block was closed",
			slog.Int("index", d.Index))
		return nil
	}
	if b.name == "" && d.Name != "" {
		b.name = d.Name // only reaches non-streamed answers
	}
	if d.Arguments == "" {
		return nil
	}
	b.buf.WriteString(d.Arguments)
	if b != t.open {
		return nil
	}
	return t.writeDelta(b, d.Arguments)
}

// image writes a generated image as a markdown image in the text.
func (t *turn) image(m *llm.Media) error {
	if err := t.flushHeld(); err != nil {
		return err
	}
	if t.cut {
		return nil
	}
	s := t.layout.Image(m)
	b, err := t.ensure(kindText)
	if err != nil {
		return err
	}
	b.buf.WriteString(s)
	return t.writeDelta(b, s)
}

// end finishes the content: held-back text goes out and the open block is
// closed. It is idempotent.
func (t *turn) end() error {
	if !t.cut {
		if err := t.flushHeld(); err != nil {
			return err
		}
	}
	return t.closeOpen()
}

// ensure returns the open block if it has kind (text or thinking), or
// closes it and opens a new one.
func (t *turn) ensure(kind string) (*block, error) {
	if t.open != nil && t.open.kind == kind {
		return t.open, nil
	}
	if err := t.closeOpen(); err != nil {
		return nil, err
	}
	b := &block{index: len(t.blocks), kind: kind}
	t.blocks = append(t.blocks, b)
	t.open = b
	return b, t.writeStart(b)
}

// closeOpen closes the open block, if any.
func (t *turn) closeOpen() error {
	b := t.open
	if b == nil {
		return nil
	}
	t.open = nil
	if t.fw == nil {
		return nil
	}
	return t.fw.write("content_block_stop", frameBlockStop{Type: "content_block_stop", Index: b.index})
}

// writeStart writes content_block_start for b. A tool_use block starts with
// input {} and receives its whole input through input_json_delta; a
// thinking block has an empty signature (see thinkingBlock).
func (t *turn) writeStart(b *block) error {
	if t.fw == nil {
		return nil
	}
	f := frameBlockStart{Type: "content_block_start", Index: b.index}
	switch b.kind {
	case kindText:
		f.ContentBlock = wireContent{Type: kindText, Text: &emptyString}
	case kindThinking:
		f.ContentBlock = wireContent{Type: kindThinking, Thinking: &emptyString, Signature: &emptyString}
	case kindToolUse:
		f.ContentBlock = wireContent{Type: kindToolUse, ID: b.id, Name: b.name, Input: json.RawMessage(`{}`)}
	}
	return t.fw.write("content_block_start", f)
}

// writeDelta writes one content_block_delta of b carrying s.
func (t *turn) writeDelta(b *block, s string) error {
	if t.fw == nil {
		return nil
	}
	f := frameBlockDelta{Type: "content_block_delta", Index: b.index}
	switch b.kind {
	case kindText:
		f.Delta = wireDelta{Type: "text_delta", Text: &s}
	case kindThinking:
		f.Delta = wireDelta{Type: "thinking_delta", Thinking: &s}
	case kindToolUse:
		f.Delta = wireDelta{Type: "input_json_delta", PartialJSON: &s}
	}
	return t.fw.write("content_block_delta", f)
}

// toolID returns the client-facing id of an upstream call: deterministic
// (see toolUseID) and unique within the answer.
func (t *turn) toolID(upstream string) string {
	id := toolUseID(upstream)
	if t.ids == nil {
		t.ids = map[string]bool{}
	}
	base := id
	for n := 2; t.ids[id]; n++ {
		id = base + "_" + strconv.Itoa(n)
	}
	t.ids[id] = true
	return id
}

// toolUseID maps an upstream call id to a tool_use id in Anthropic's form
// "toolu_..." using only [A-Za-z0-9_-] (the pattern the Anthropic API
// enforces when the history is sent back). The mapping is deterministic and
// the client sends the id back verbatim in tool_use and tool_result blocks,
// which the backend receives unchanged, so a round trip pairs calls and
// results by the same id. An empty id gets a random one.
func toolUseID(upstream string) string {
	if upstream == "" {
		return "toolu_" + rand.Text()
	}
	if validIDChars(upstream) {
		if strings.HasPrefix(upstream, "toolu_") {
			return upstream
		}
		if rest, ok := strings.CutPrefix(upstream, "call_"); ok && rest != "" {
			return "toolu_" + rest
		}
		return "toolu_" + upstream
	}
	sum := sha256.Sum256([]byte(upstream))
	return "toolu_" + hex.EncodeToString(sum[:12])
}

// validIDChars reports whether s uses only [A-Za-z0-9_-] and is not too long.
func validIDChars(s string) bool {
	if len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// hasToolUse reports whether the answer holds a tool_use block.
func (t *turn) hasToolUse() bool {
	for _, b := range t.blocks {
		if b.kind == kindToolUse {
			return true
		}
	}
	return false
}

// stopReason is the answer's stop_reason.
func (t *turn) stopReason() string {
	if t.cut {
		return "stop_sequence"
	}
	switch t.finish {
	case llm.FinishLength:
		return "max_tokens"
	case llm.FinishContentFilter:
		return "refusal"
	}
	if t.hasToolUse() {
		return "tool_use"
	}
	return "end_turn"
}

// stopSequence is the answer's stop_sequence (null unless one matched).
func (t *turn) stopSequence() *string {
	if !t.cut {
		return nil
	}
	s := t.stopSeq
	return &s
}

// inputTokens is the prompt size: the backend's count when it gave one,
// else the front-end's estimate est.
func (t *turn) inputTokens(est func() int) int {
	if t.usage != nil && t.usage.PromptTokens > 0 {
		return t.usage.PromptTokens
	}
	return est()
}

// outputTokens is the answer size: the backend's count, or an estimate of
// what was sent when there is none or the answer was cut at a stop
// sequence.
func (t *turn) outputTokens() int {
	if !t.cut && t.usage != nil && t.usage.CompletionTokens > 0 {
		return t.usage.CompletionTokens
	}
	n := 0
	for _, b := range t.blocks {
		n += tokens.Count(b.buf.String()) + tokens.Count(b.name)
	}
	return n
}

// content returns the answer's blocks in wire form. Thinking blocks carry
// an empty signature: spark has no Anthropic signature to give, and an
// invented one would be rejected should the history reach a real Claude
// model; spark drops thinking blocks from incoming history anyway.
func (t *turn) content() []wireContent {
	out := make([]wireContent, 0, len(t.blocks))
	for _, b := range t.blocks {
		s := b.buf.String()
		switch b.kind {
		case kindText:
			out = append(out, wireContent{Type: kindText, Text: &s})
		case kindThinking:
			out = append(out, wireContent{Type: kindThinking, Thinking: &s, Signature: &emptyString})
		case kindToolUse:
			in, ok := toolInput(s)
			if !ok {
				t.h.log.Warn("anthropic: tool call arguments are not a JSON object; answering input {}",
					slog.String("tool", b.name))
			}
			out = append(out, wireContent{Type: kindToolUse, ID: b.id, Name: b.name, Input: in})
		}
	}
	return out
}

// toolInput returns tool-call arguments as a JSON object for tool_use.input.
func toolInput(args string) (json.RawMessage, bool) {
	s := strings.TrimSpace(args)
	if s == "" {
		return json.RawMessage(`{}`), true
	}
	var buf bytes.Buffer
	if s[0] == '{' && json.Compact(&buf, []byte(s)) == nil {
		return json.RawMessage(buf.Bytes()), true
	}
	return json.RawMessage(`{}`), false
}

// frameWriter writes named stream frames: "event: <name>" and a one-line
// JSON "data:" whose type equals the name.
type frameWriter struct {
	sw  *sse.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

func newFrameWriter(sw *sse.Writer) *frameWriter {
	f := &frameWriter{sw: sw}
	f.enc = json.NewEncoder(&f.buf)
	f.enc.SetEscapeHTML(false)
	return f
}

// write encodes v and writes it as the event name.
func (f *frameWriter) write(name string, v any) error {
	f.buf.Reset()
	if err := f.enc.Encode(v); err != nil {
		return err
	}
	return f.sw.WriteEvent(name, bytes.TrimSuffix(f.buf.Bytes(), []byte{'\n'}))
}

// pingData is the payload of a keepalive, as Anthropic sends it.
var pingData = []byte(`{"type": "ping"}`)

// ping writes a keepalive frame.
func (f *frameWriter) ping() error { return f.sw.WriteEvent("ping", pingData) }

// stopFilter cuts answer text at the first stop sequence: the one that
// starts earliest, and of those starting at the same place the one listed
// first. Text that may still become such a match across deltas is held
// back: a tail that is a proper prefix of a sequence (at most
// len(longest)-1 bytes), and, once a sequence has matched, any earlier
// start (or same start of a sequence listed before it) that could still
// complete.
type stopFilter struct {
	seqs   []string
	maxLen int
	held   string
}

func newStopFilter(seqs []string) stopFilter {
	f := stopFilter{seqs: seqs}
	for _, s := range seqs {
		f.maxLen = max(f.maxLen, len(s))
	}
	return f
}

// firstMatch returns where the first stop sequence in buf starts and which
// it is (-1 and "" when none is complete in buf).
func (f *stopFilter) firstMatch(buf string) (int, string) {
	best, seq := -1, ""
	for _, q := range f.seqs {
		if i := strings.Index(buf, q); i >= 0 && (best < 0 || i < best) {
			best, seq = i, q
		}
	}
	return best, seq
}

// pendingStart returns the earliest start in buf of a sequence that buf's
// tail begins but does not complete and that would win over the complete
// match (best, seq): one starting before best, or at best and listed
// before seq. With no complete match (best < 0) any start counts. It
// returns -1 when there is none.
func (f *stopFilter) pendingStart(buf string, best int, seq string) int {
	for p := max(0, len(buf)-f.maxLen+1); p < len(buf); p++ {
		if best >= 0 && p > best {
			return -1
		}
		for _, q := range f.seqs {
			if best >= 0 && p == best && q == seq {
				break // sequences listed after seq lose the tie
			}
			if len(buf)-p < len(q) && strings.HasPrefix(q, buf[p:]) {
				return p
			}
		}
	}
	return -1
}

// push adds s and returns the text that can be sent now. When a stop
// sequence matched it returns the text before it and the sequence; the
// rest is discarded.
func (f *stopFilter) push(s string) (string, string) {
	if len(f.seqs) == 0 {
		return s, ""
	}
	buf := f.held + s
	f.held = ""
	best, seq := f.firstMatch(buf)
	cut := f.pendingStart(buf, best, seq)
	if cut < 0 {
		if best >= 0 {
			return buf[:best], seq
		}
		cut = len(buf)
	}
	for cut > 0 && cut < len(buf) && !utf8.RuneStart(buf[cut]) {
		cut-- // never split a character
	}
	f.held = buf[cut:]
	return buf[:cut], ""
}

// flush ends the held-back text: it returns the part before the first
// stop sequence it holds (and that sequence), or all of it.
func (f *stopFilter) flush() (string, string) {
	s := f.held
	f.held = ""
	if best, seq := f.firstMatch(s); best >= 0 {
		return s[:best], seq
	}
	return s, ""
}
