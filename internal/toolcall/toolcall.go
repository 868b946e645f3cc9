// Package toolcall emulates function calling for upstreams that only answer
// text (the consumer web apps spark drives).
//
// Wrap renders the request's tools into the system prompt together with a
// strict output protocol, and rewrites earlier tool calls and results into
// protocol text. The model then writes each call as
//
//	<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>
//
// and the stream wrapper recognises those blocks in the streamed text,
// validates them against the tools' JSON Schemas (asking the model once for
// a correction when they are invalid) and turns them into
// llm.EventToolCallDelta events, so front-ends answer with real OpenAI
// tool_calls, Responses function_call items and Anthropic tool_use blocks.
//
// Ordering: answer text is streamed as it arrives (held back only while it
// may be the beginning of a block, see MaxHold), while calls are emitted
// together at the end of the answer, after they were validated. Text the
// model writes after its calls therefore reaches the client before the
// calls, which is the order OpenAI clients expect (content first, then
// tool_calls) and a valid order for Anthropic (text blocks, then tool_use).
package toolcall

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/jsonschema"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/structured"
)

// answerSteps bounds the schema validation of one answer's calls, all
// together (see jsonschema.Budget): generous for real calls (a Claude Code
// call takes under a hundred steps, an array of a thousand objects a few
// thousand), and about 40 ms of work when a schema blows up.
const answerSteps = 200_000

// maxCorrections bounds the problems a repair request lists (an answer may
// hold thousands of bad calls).
const maxCorrections = 10

// maxAnswerEcho bounds the answer text kept for the repair request.
const maxAnswerEcho = MaxCallBytes + 64<<10

// Defaults of Options.
const (
	DefaultIDPrefix     = "call_"
	DefaultFragmentSize = 512
	idLength            = 24
)

// Options configure an Emulator.
type Options struct {
	// Logger receives repair and failure notes (never prompts or arguments).
	Logger *slog.Logger
	// MaxRepair is how many correction requests follow an invalid answer:
	// 0 means 1, a negative value means none.
	MaxRepair int
	// IDPrefix starts every call id; default "call_".
	IDPrefix string
	// FragmentSize bounds the bytes of one arguments fragment; default 512.
	FragmentSize int
}

// Emulator implements tool calling in the prompt. It satisfies the
// gateway's StreamWrapper interface and is safe for concurrent use.
type Emulator struct {
	log       *slog.Logger
	maxRepair int
	idPrefix  string
	fragSize  int
}

// New returns an Emulator.
func New(opts Options) *Emulator {
	e := &Emulator{log: opts.Logger, maxRepair: opts.MaxRepair, idPrefix: opts.IDPrefix, fragSize: opts.FragmentSize}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case e.maxRepair == 0:
		e.maxRepair = 1
	case e.maxRepair < 0:
		e.maxRepair = 0
	}
	if e.idPrefix == "" {
		e.idPrefix = DefaultIDPrefix
	}
	if e.fragSize <= 0 {
		e.fragSize = DefaultFragmentSize
	}
	return e
}

// toolInfo is an offered tool with its compiled schema (nil: no schema).
type toolInfo struct {
	llm.Tool
	schema *jsonschema.Schema
}

// Wrap returns the request to send upstream and the stream wrapper for its
// answer. The returned request is new (req is not modified): tool calls and
// results of the history are written as protocol text, the tool section is
// added to the system prompt, and Tools/ToolChoice are cleared because the
// upstream sees only text. The wrap function is nil when no tools are
// offered (none given, or tool_choice none); the history is still rewritten
// then. When req holds no tools and no tool history, req itself is returned.
//
// A tool whose parameters schema cannot be used (invalid, too large,
// looping, referring outside itself) is an invalid_request error. ctx is the
// request's: validating the model's calls stops when it is done.
func (e *Emulator) Wrap(ctx context.Context, req *llm.Request) (*llm.Request, llm.WrapFunc, error) {
	offer := len(req.Tools) > 0 && req.ToolChoice.Mode != llm.ToolChoiceNone
	history := false
	for _, m := range req.Messages {
		history = history || hasToolParts(m) || m.Role == llm.RoleTool
	}
	if !offer && !history {
		return req, nil, nil
	}
	choice := req.ToolChoice
	if choice.Mode == "" {
		choice.Mode = llm.ToolChoiceAuto
	}
	var tools []toolInfo
	if offer {
		for i, t := range req.Tools {
			if choice.Mode == llm.ToolChoiceNamed && t.Name != choice.Name {
				continue
			}
			s, err := compileSchema(t.Parameters)
			if err != nil {
				return nil, nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: fmt.Sprintf("tools[%d]", i), Cause: err,
					Message: fmt.Sprintf("Invalid schema for tool %q: %v", t.Name, err)}
			}
			tools = append(tools, toolInfo{Tool: t, schema: s})
		}
		if len(tools) == 0 {
			return nil, nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "tool_choice",
				Message: fmt.Sprintf("tool_choice names tool %q, which is not among the request's tools", choice.Name)}
		}
	}

	out := *req
	out.Tools, out.ToolChoice, out.ParallelToolCalls = nil, llm.ToolChoice{}, false
	out.Messages = rewriteHistory(req.Messages)
	if !offer {
		out.Messages = llm.WithSystem(out.Messages, historyNote)
		return &out, nil, nil
	}
	out.Messages = llm.WithSystem(out.Messages, renderSystem(tools, choice, req.ParallelToolCalls))
	t := &turn{ctx: ctx, e: e, sent: &out, tools: map[string]*toolInfo{}, choice: choice,
		parallel: req.ParallelToolCalls && choice.Mode != llm.ToolChoiceNamed}
	for i := range tools {
		t.tools[tools[i].Name] = &tools[i]
		t.names = append(t.names, tools[i].Name)
	}
	return &out, t.wrap, nil
}

// turn is one request's tool configuration, shared by its attempts.
type turn struct {
	ctx      context.Context // the request's
	e        *Emulator
	sent     *llm.Request
	tools    map[string]*toolInfo
	names    []string
	choice   llm.ToolChoice
	parallel bool
}

func (t *turn) wrap(st llm.Stream, reopen llm.Reopen) llm.Stream {
	return &stream{t: t, up: st, reopen: reopen}
}

// problemKind classifies why an answer's calls cannot be used.
type problemKind uint8

const (
	badBlock problemKind = iota + 1
	unknownTool
	wrongTool
	badArguments
	noCall
)

// problem is one reason an answer's calls cannot be used.
type problem struct {
	kind   problemKind
	tool   string
	detail string
}

// message is the client-visible error text.
func (p problem) message(t *turn) string {
	switch p.kind {
	case badBlock:
		if p.tool != "" {
			return fmt.Sprintf("model produced an invalid call of tool %q: %s", p.tool, p.detail)
		}
		return "model produced an invalid tool call: " + p.detail
	case unknownTool:
		return fmt.Sprintf("model called unknown tool %q", p.tool)
	case wrongTool:
		return fmt.Sprintf("model called tool %q although tool_choice required %q", p.tool, t.choice.Name)
	case badArguments:
		return fmt.Sprintf("model produced invalid arguments for tool %q: %s", p.tool, p.detail)
	default:
		if t.choice.Mode == llm.ToolChoiceNamed {
			return fmt.Sprintf("model did not call tool %q although tool_choice required it", t.choice.Name)
		}
		return "model did not call a tool although tool_choice required one"
	}
}

// correction is the problem as told to the model in the repair request.
func (p problem) correction(t *turn) string {
	switch p.kind {
	case badBlock:
		return "A <tool_call> block could not be read: " + p.detail + "."
	case unknownTool:
		return fmt.Sprintf("%s is not an available tool. Available tools: %s.", llm.QuoteJSON(p.tool), strings.Join(t.names, ", "))
	case wrongTool:
		return fmt.Sprintf("You called %s, but you must call %s.", llm.QuoteJSON(p.tool), llm.QuoteJSON(t.choice.Name))
	case badArguments:
		return fmt.Sprintf("The arguments of %s are invalid: %s. Its parameters schema: %s", llm.QuoteJSON(p.tool), p.detail,
			compactSchema(t.tools[p.tool].Parameters))
	default:
		if t.choice.Mode == llm.ToolChoiceNamed {
			return fmt.Sprintf("You did not call a tool, but you must call %s.", llm.QuoteJSON(t.choice.Name))
		}
		return "You did not call a tool, but you must call at least one."
	}
}

// check validates an answer's calls. It returns the calls to emit (the
// first only when parallel calls are off) or the problems found, or the
// context's error when the request ended while checking.
func (t *turn) check(calls []parsedCall) ([]parsedCall, []problem, error) {
	for i, c := range calls {
		if n, ok := strings.CutPrefix(c.name, "functions."); ok && t.tools[c.name] == nil && t.tools[n] != nil {
			calls[i].name = n // OpenAI-trained models sometimes namespace the name
		}
	}
	if t.choice.Mode == llm.ToolChoiceNamed && len(calls) > 1 {
		first := calls[0]
		for _, c := range calls {
			if c.name == t.choice.Name {
				first = c
				break
			}
		}
		calls = []parsedCall{first}
	} else if !t.parallel && len(calls) > 1 {
		calls = calls[:1]
	}
	var probs []problem
	// All the calls of one answer share one validation budget, so many
	// calls cost no more than one (about 40 ms at worst).
	ctx := jsonschema.WithBudget(t.ctx, &jsonschema.Budget{Steps: answerSteps})
	for _, c := range calls {
		switch tool := t.tools[c.name]; {
		case c.err != nil:
			probs = append(probs, problem{kind: badBlock, tool: c.name, detail: c.err.Error()})
		case t.choice.Mode == llm.ToolChoiceNamed && c.name != t.choice.Name:
			probs = append(probs, problem{kind: wrongTool, tool: c.name})
		case tool == nil:
			probs = append(probs, problem{kind: unknownTool, tool: c.name})
		case tool.schema != nil:
			err := tool.schema.ValidateJSON(ctx, c.args)
			switch {
			case err == nil:
			case errors.Is(err, jsonschema.ErrBudgetExceeded):
				// The schema is too costly to check on these arguments:
				// handled like invalid arguments (the model may write
				// simpler ones), but the client learns why.
				probs = append(probs, problem{kind: badArguments, tool: c.name,
					detail: "checking them against the parameters schema took too long (" + err.Error() + ")"})
			case t.ctx.Err() != nil:
				return nil, nil, t.ctx.Err()
			default:
				probs = append(probs, problem{kind: badArguments, tool: c.name, detail: err.Error()})
			}
		}
	}
	if len(calls) == 0 && (t.choice.Mode == llm.ToolChoiceRequired || t.choice.Mode == llm.ToolChoiceNamed) {
		probs = append(probs, problem{kind: noCall})
	}
	if len(probs) > 0 {
		return nil, probs, nil
	}
	return calls, nil, nil
}

// repairRequest is the conversation so far, the model's unusable answer and
// a correction instruction.
func (t *turn) repairRequest(answer string, probs []problem) *llm.Request {
	var b strings.Builder
	b.WriteString("Your previous answer could not be used:\n")
	for i, p := range probs {
		if i == maxCorrections {
			fmt.Fprintf(&b, "- (and %d more problems)\n", len(probs)-i)
			break
		}
		b.WriteString("- " + p.correction(t) + "\n")
	}
	b.WriteString("Write the tool call(s) again, corrected, each as " +
		`<tool_call>{"name": "TOOL_NAME", "arguments": {...}}</tool_call>` +
		" with a valid JSON arguments object that follows the tool's parameters schema. " +
		"Write only the <tool_call> block(s), no other text.")
	return t.sent.WithCorrection(answer, b.String())
}

// stream turns a text answer into text and tool-call events.
type stream struct {
	t      *turn
	up     llm.Stream // nil once closed
	reopen llm.Reopen

	sc       scanner
	attempt  int             // 0 = the original answer, then repairs
	answer   strings.Builder // this attempt's raw text, for the repair request
	calls    []parsedCall
	first    []problem // problems of the original answer
	queue    []llm.Event
	finished bool // the final EventFinish was queued
	eof      bool
	err      error
	closed   bool

	// An event or error Buffered took from up whose handling may block (it
	// ends the attempt, which can start a repair request); Recv handles it.
	held    bool
	heldEv  llm.Event
	heldErr error
}

var _ llm.BufferedStream = (*stream)(nil)

// Recv implements llm.Stream.
func (s *stream) Recv() (llm.Event, error) {
	for {
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = llm.Event{}
			if len(s.queue) == 1 {
				s.queue = s.queue[:0] // keep the array for the next events
			} else {
				s.queue = s.queue[1:]
			}
			return ev, nil
		}
		if s.err != nil {
			return llm.Event{}, s.err
		}
		if s.eof || s.up == nil {
			return llm.Event{}, io.EOF
		}
		var ev llm.Event
		var err error
		if s.held {
			ev, err = s.heldEv, s.heldErr
			s.held, s.heldEv, s.heldErr = false, llm.Event{}, nil
		} else {
			ev, err = s.up.Recv()
		}
		s.step(ev, err)
	}
}

// Buffered implements llm.BufferedStream: true when an event is queued, or
// when the upstream has events ready that yield one (they are handled now,
// so text held back as a possible call does not count). An event that ends
// the attempt is taken but left to Recv, and Buffered is false then:
// validating the calls may start a repair request.
func (s *stream) Buffered() bool {
	for {
		if len(s.queue) > 0 {
			return true
		}
		if s.err != nil || s.eof || s.up == nil {
			return false
		}
		if s.held || !llm.Buffered(s.up) {
			return false
		}
		ev, err := s.up.Recv()
		if !s.finished && (errors.Is(err, io.EOF) || err == nil && ev.Type == llm.EventFinish) {
			s.held, s.heldEv, s.heldErr = true, ev, err
			return false
		}
		s.step(ev, err)
	}
}

// step handles what the upstream returned.
func (s *stream) step(ev llm.Event, err error) {
	switch {
	case errors.Is(err, io.EOF):
		if s.finished {
			s.eof = true
		} else {
			s.end(llm.FinishStop, true)
		}
	case err != nil:
		if !s.finished && s.attempt == 0 {
			// The answer broke off: give back the held text, drop calls.
			s.take(s.sc.finish())
		}
		s.err = err
	default:
		s.handle(ev)
	}
}

func (s *stream) handle(ev llm.Event) {
	if s.finished {
		s.queue = append(s.queue, ev) // usage after the finish
		return
	}
	switch ev.Type {
	case llm.EventTextDelta:
		if s.answer.Len() <= maxAnswerEcho {
			s.answer.WriteString(ev.Text) // the repair request echoes no more
		}
		s.take(s.sc.feed(ev.Text))
	case llm.EventFinish:
		s.end(ev.FinishReason, false)
	default:
		// Reasoning, images and usage pass through; a repair's are dropped
		// (its text is not shown either).
		if s.attempt == 0 {
			s.queue = append(s.queue, ev)
		}
	}
}

// take queues text pieces (of the original answer only) and collects calls.
func (s *stream) take(ps []piece) {
	for _, p := range ps {
		switch p.kind {
		case pieceText:
			if s.attempt == 0 {
				s.queue = append(s.queue, llm.Event{Type: llm.EventTextDelta, Text: p.text})
			}
		case pieceCall:
			s.calls = append(s.calls, p.call)
		}
	}
}

// end finishes an attempt: it validates the calls and emits them with the
// finish event, or starts a repair, or fails.
func (s *stream) end(reason llm.FinishReason, atEOF bool) {
	s.take(s.sc.finish())
	if len(s.calls) == 0 {
		if err := s.bareArguments(); err != nil {
			s.err = gw.AsError(err)
			return
		}
	}
	calls, probs, err := s.t.check(s.calls)
	if err != nil {
		s.err = gw.AsError(err)
		return
	}
	if s.attempt > 0 && len(probs) == 0 && len(calls) == 0 {
		probs = s.first // the correction brought no call at all
	}
	if len(probs) > 0 {
		if s.attempt == 0 {
			s.first = probs
		}
		if s.attempt < s.t.e.maxRepair && s.reopen != nil {
			s.repair(probs, atEOF)
			return
		}
		msg := probs[0].message(s.t)
		s.t.e.log.Warn("tool call emulation failed", slog.String("problem", msg), slog.Int("repairs", s.attempt))
		s.err = &gw.Error{Code: gw.CodeBadModelOutput, Message: msg}
		return
	}
	for i, c := range calls {
		s.queue = append(s.queue, llm.Event{Type: llm.EventToolCallDelta,
			ToolCall: &llm.ToolCallDelta{Index: i, ID: newID(s.t.e.idPrefix), Name: c.name}})
		for _, frag := range llm.Fragments(string(c.args), s.t.e.fragSize) {
			s.queue = append(s.queue, llm.Event{Type: llm.EventToolCallDelta,
				ToolCall: &llm.ToolCallDelta{Index: i, Arguments: frag}})
		}
	}
	if len(calls) > 0 {
		reason = llm.FinishToolCalls
	}
	if reason == "" {
		reason = llm.FinishStop
	}
	s.queue = append(s.queue, llm.Event{Type: llm.EventFinish, FinishReason: reason})
	s.finished = true
	s.eof = atEOF
}

// bareArguments handles a forced call answered without a block: when
// tool_choice names one tool (or requires a call and offers only one) and
// the answer holds a JSON object valid against that tool's parameters
// (bare, fenced or in prose), as models forced to call a tool sometimes
// write, the object is taken as the call's arguments. The AI SDK's
// Anthropic provider asks for structured answers that way (a forced tool
// named "json").
func (s *stream) bareArguments() error {
	var tool *toolInfo
	switch {
	case s.t.choice.Mode == llm.ToolChoiceNamed:
		tool = s.t.tools[s.t.choice.Name]
	case s.t.choice.Mode == llm.ToolChoiceRequired && len(s.t.names) == 1:
		tool = s.t.tools[s.t.names[0]]
	}
	if tool == nil || s.answer.Len() > maxAnswerEcho {
		return nil
	}
	ctx := jsonschema.WithBudget(s.t.ctx, &jsonschema.Budget{Steps: answerSteps})
	obj, found, err := structured.FindObject(ctx, s.answer.String(), tool.schema)
	if err != nil || !found {
		return err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(obj)); err != nil {
		return nil
	}
	s.calls = []parsedCall{{name: tool.Name, args: buf.Bytes()}}
	return nil
}

// repair lets the finished attempt end, then asks the model for a
// corrected answer on the same account.
func (s *stream) repair(probs []problem, atEOF bool) {
	if !atEOF {
		llm.Drain(s.up) // let the upstream finish its exchange normally
	}
	_ = s.up.Close()
	s.up = nil
	s.t.e.log.Info("tool call invalid, asking the model for a correction",
		slog.String("problem", probs[0].message(s.t)), slog.Int("attempt", s.attempt+1))
	req := s.t.repairRequest(s.answer.String(), probs)
	st, err := s.reopen(req)
	if err != nil {
		s.err = err
		return
	}
	s.up = st
	s.attempt++
	s.sc, s.calls = scanner{}, nil
	s.answer.Reset()
}

// Close implements llm.Stream.
func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.up == nil {
		return nil
	}
	err := s.up.Close()
	s.up = nil
	return err
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix followed by 24 random base62 characters.
func newID(prefix string) string {
	b := make([]byte, 0, len(prefix)+idLength)
	b = append(b, prefix...)
	var r [2 * idLength]byte
	for len(b) < len(prefix)+idLength {
		_, _ = rand.Read(r[:])
		for _, c := range r {
			if c < 248 && len(b) < len(prefix)+idLength { // 248 = 4*62: no modulo bias
				b = append(b, base62[c%62])
			}
		}
	}
	return string(b)
}
