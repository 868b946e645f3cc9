// Package structured emulates structured outputs (OpenAI response_format
// and text.format, Anthropic output_config.format, Gemini responseSchema)
// for upstreams that only answer text.
//
// Wrap adds the requested format to the system prompt: an instruction to
// answer with one JSON value only, and the JSON Schema of the answer in a
// fenced block whose info string is "json-schema" (a JSON object answer,
// json_object, is described by the schema {"type":"object"}). That block is
// part of the simulators' contract (docs/simulators.md): a simulated model
// finds the schema there as a real model would.
//
// The stream wrapper gathers the answer text, takes from it the first
// complete JSON value the format accepts (the whole answer, a fenced block,
// or a {...} / [...] surrounded by prose), validates it against the schema
// (internal/jsonschema, strict: Draft 2020-12 as written, with bounded
// work), and sends the client only that JSON, in text deltas, followed by
// the finish event. When the answer holds no usable value the model is
// asked once more, told what was wrong (a repair round trip on the same
// account); when that fails too the stream ends with invalid_model_output
// (502). Reasoning of the first answer passes through as it arrives, so
// front-ends and their keepalives see a live stream while the answer is
// gathered.
//
// A turn with tools may call tools instead: when the answer (after the
// tool-call emulator, which runs inside this one, see gateway.Chain) holds
// tool calls, its text and calls pass unchanged.
//
// Refusals: when the last answer holds no JSON value at all and is a short
// text (at most 1000 bytes) that begins like a refusal ("I can't", "I'm
// sorry", "I am unable", ...), it is sent as an llm.EventRefusal instead of
// an error; front-ends put it in their API's refusal field. Anything else
// without JSON is invalid_model_output: a model that ignores the format is
// not refusing.
package structured

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/jsonschema"
	"github.com/sparkgw/spark/internal/llm"
)

// Bounds of one answer.
const (
	// MaxAnswerBytes bounds the answer text gathered; a longer answer is
	// invalid (its JSON could not be sent whole anyway).
	MaxAnswerBytes = 4 << 20
	// maxAnswerEcho bounds the answer text repeated in the repair request.
	maxAnswerEcho = 64 << 10
	// DefaultFragmentSize bounds the bytes of one text delta of the JSON.
	DefaultFragmentSize = 512
)

// SchemaFence is the info string of the fenced block that holds the JSON
// Schema of the answer in the prompt (see the package doc and
// docs/simulators.md).
const SchemaFence = "json-schema"

// Options configure an Emulator.
type Options struct {
	// Logger receives repair and failure notes (never prompts or answers).
	Logger *slog.Logger
	// MaxRepair is how many correction requests follow an unusable answer:
	// 0 means 1, a negative value means none.
	MaxRepair int
	// FragmentSize bounds the bytes of one text delta; default 512.
	FragmentSize int
}

// Emulator implements structured outputs in the prompt. It satisfies the
// gateway's StreamWrapper interface and is safe for concurrent use.
type Emulator struct {
	log       *slog.Logger
	maxRepair int
	fragSize  int
}

// New returns an Emulator.
func New(opts Options) *Emulator {
	e := &Emulator{log: opts.Logger, maxRepair: opts.MaxRepair, fragSize: opts.FragmentSize}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case e.maxRepair == 0:
		e.maxRepair = 1
	case e.maxRepair < 0:
		e.maxRepair = 0
	}
	if e.fragSize <= 0 {
		e.fragSize = DefaultFragmentSize
	}
	return e
}

// schemaCache keeps the compiled response schemas of recent requests
// (clients resend the same schema on every call). Strict options: a
// response schema says exactly what the client will parse.
var schemaCache = jsonschema.NewCache(512, 4<<20, jsonschema.Options{})

// CheckSchema reports whether a response schema can be used: front-ends
// call it while reading a request, so that a schema the emulator would
// refuse (invalid, too large, pathological, referring outside itself) is a
// 400 naming their parameter. The compiled schema is cached.
func CheckSchema(raw json.RawMessage) error {
	_, err := compileSchema(raw)
	return err
}

func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil, fmt.Errorf("the schema is missing")
	}
	return schemaCache.Compile(t)
}

// Wrap returns the request to send upstream and the stream wrapper for its
// answer. Without req.Output it returns req and a nil wrapper. The returned
// request is new (req is not modified): Output is cleared and the format
// instruction is added to the system prompt. An unusable schema is an
// invalid_request error. ctx is the request's: validating the answer stops
// when it is done.
func (e *Emulator) Wrap(ctx context.Context, req *llm.Request) (*llm.Request, llm.WrapFunc, error) {
	if req.Output == nil {
		return req, nil, nil
	}
	f := &format{kind: req.Output.Kind}
	schema := json.RawMessage(`{"type":"object"}`)
	switch req.Output.Kind {
	case llm.OutputJSONObject:
	case llm.OutputJSONSchema:
		s, err := compileSchema(req.Output.Schema)
		if err != nil {
			return nil, nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "schema", Cause: err,
				Message: "Invalid schema for the response format: " + err.Error()}
		}
		f.schema = s
		var buf bytes.Buffer
		if json.Compact(&buf, req.Output.Schema) == nil {
			schema = buf.Bytes()
		}
	default:
		return nil, nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "format",
			Message: fmt.Sprintf("unknown response format %q", req.Output.Kind)}
	}
	out := *req
	out.Output = nil
	out.Messages = llm.WithSystem(req.Messages, instruction(req, schema))
	t := &turn{ctx: ctx, e: e, sent: &out, format: f}
	return &out, t.wrap, nil
}

// instruction is the format section of the system prompt.
func instruction(req *llm.Request, schema []byte) string {
	var b strings.Builder
	b.WriteString("# Answer format\n")
	if req.Output.Kind == llm.OutputJSONObject {
		b.WriteString("Your answer must be one JSON object.")
	} else {
		b.WriteString("Your answer must be one JSON value that is valid against the JSON Schema below.")
	}
	b.WriteString(" Write it in a ```json fenced code block and write nothing else: no explanation before or after it, no comments inside it.")
	if len(req.Tools) > 0 && req.ToolChoice.Mode != llm.ToolChoiceNone {
		b.WriteString(" If you need a tool first, call it as described above instead; once you have what you need, answer with the JSON.")
	}
	if o := req.Output; o.Name != "" || o.Description != "" {
		b.WriteString("\nThe answer is")
		if o.Name != "" {
			b.WriteString(" " + llm.QuoteJSON(o.Name))
		}
		if o.Description != "" {
			b.WriteString(": " + o.Description)
		}
		b.WriteString(".")
	}
	b.WriteString("\nJSON Schema of the answer:\n```" + SchemaFence + "\n")
	b.Write(schema)
	b.WriteString("\n```")
	return b.String()
}

// turn is one request's format, shared by its attempts.
type turn struct {
	ctx    context.Context
	e      *Emulator
	sent   *llm.Request
	format *format
}

func (t *turn) wrap(st llm.Stream, reopen llm.Reopen) llm.Stream {
	return &stream{t: t, up: st, reopen: reopen}
}

// repairRequest is the conversation so far, the model's unusable answer and
// a correction instruction.
func (t *turn) repairRequest(answer, problem string) *llm.Request {
	if len(answer) > maxAnswerEcho {
		cut := maxAnswerEcho
		for cut > 0 && !utf8.RuneStart(answer[cut]) {
			cut--
		}
		answer = answer[:cut] + "\n[…]"
	}
	what := "the JSON value"
	if t.format.kind == llm.OutputJSONObject {
		what = "the JSON object"
	}
	note := "Your previous answer could not be used: " + problem + ".\n" +
		"Answer again with only " + what + ", valid against the JSON Schema given in the instructions, " +
		"in a ```json fenced code block, with no other text."
	return t.sent.WithCorrection(answer, note)
}

// stream turns a text answer into its validated JSON.
type stream struct {
	t      *turn
	up     llm.Stream // nil once closed
	reopen llm.Reopen

	attempt  int
	answer   strings.Builder
	tooLong  bool
	calls    []llm.Event // tool-call deltas of this attempt
	queue    []llm.Event
	finished bool
	eof      bool
	err      error
}

var _ llm.BufferedStream = (*stream)(nil)

// Recv implements llm.Stream.
func (s *stream) Recv() (llm.Event, error) {
	for {
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = llm.Event{}
			s.queue = s.queue[1:]
			return ev, nil
		}
		if s.err != nil {
			return llm.Event{}, s.err
		}
		if s.eof || s.up == nil {
			return llm.Event{}, io.EOF
		}
		ev, err := s.up.Recv()
		s.step(ev, err)
	}
}

// Buffered implements llm.BufferedStream: true when an event is queued.
// The upstream's ready events are not taken here: the one that ends the
// attempt starts the validation (and maybe a repair request).
func (s *stream) Buffered() bool { return len(s.queue) > 0 }

// step handles what the upstream returned.
func (s *stream) step(ev llm.Event, err error) {
	switch {
	case err == io.EOF:
		if s.finished {
			s.eof = true
		} else {
			s.end(llm.FinishStop, true)
		}
	case err != nil:
		s.err = err
	case s.finished:
		s.queue = append(s.queue, ev) // usage after the finish
	default:
		switch ev.Type {
		case llm.EventTextDelta:
			if s.answer.Len()+len(ev.Text) > MaxAnswerBytes {
				s.tooLong = true
				return
			}
			s.answer.WriteString(ev.Text)
		case llm.EventToolCallDelta:
			s.calls = append(s.calls, ev)
		case llm.EventFinish:
			s.end(ev.FinishReason, false)
		default:
			// Reasoning, images and usage pass through; a repair's are
			// dropped (its text is not shown either).
			if s.attempt == 0 {
				s.queue = append(s.queue, ev)
			}
		}
	}
}

// end finishes an attempt: it sends the validated JSON (or the tool calls)
// with the finish event, or starts a repair, or fails.
func (s *stream) end(reason llm.FinishReason, atEOF bool) {
	if reason == "" {
		reason = llm.FinishStop
	}
	text := s.answer.String()
	if len(s.calls) > 0 {
		// A tool turn: the model called tools instead of answering.
		if text != "" {
			s.queue = append(s.queue, llm.Event{Type: llm.EventTextDelta, Text: text})
		}
		s.queue = append(s.queue, s.calls...)
		s.finish(reason, atEOF)
		return
	}
	var ex extraction
	if s.tooLong {
		ex.problem = fmt.Sprintf("the answer is longer than %d MB", MaxAnswerBytes>>20)
		ex.anyJSON = true // not a refusal
	} else {
		var err error
		if ex, err = s.t.format.extract(s.t.ctx, text); err != nil {
			s.err = gw.AsError(err)
			return
		}
	}
	if ex.value != "" {
		for _, frag := range llm.Fragments(ex.value, s.t.e.fragSize) {
			s.queue = append(s.queue, llm.Event{Type: llm.EventTextDelta, Text: frag})
		}
		if reason == llm.FinishLength {
			reason = llm.FinishStop // the value is complete
		}
		s.finish(reason, atEOF)
		return
	}
	if s.attempt < s.t.e.maxRepair && s.reopen != nil {
		s.repair(text, ex.problem, atEOF)
		return
	}
	if !ex.anyJSON && readsAsRefusal(text) {
		s.queue = append(s.queue, llm.Event{Type: llm.EventRefusal, Text: strings.TrimSpace(text)})
		s.finish(llm.FinishStop, atEOF)
		return
	}
	msg := "model did not answer in the requested format: " + ex.problem
	s.t.e.log.Warn("structured output emulation failed", slog.String("problem", ex.problem), slog.Int("repairs", s.attempt))
	s.err = &gw.Error{Code: gw.CodeBadModelOutput, Message: msg}
}

func (s *stream) finish(reason llm.FinishReason, atEOF bool) {
	s.queue = append(s.queue, llm.Event{Type: llm.EventFinish, FinishReason: reason})
	s.finished = true
	s.eof = atEOF
}

// repair lets the finished attempt end, then asks the model for a
// corrected answer on the same account.
func (s *stream) repair(answer, problem string, atEOF bool) {
	if !atEOF {
		llm.Drain(s.up) // let the upstream finish its exchange normally
	}
	_ = s.up.Close()
	s.up = nil
	s.t.e.log.Info("structured answer unusable, asking the model for a correction",
		slog.String("problem", problem), slog.Int("attempt", s.attempt+1))
	st, err := s.reopen(s.t.repairRequest(answer, problem))
	if err != nil {
		s.err = err
		return
	}
	s.up = st
	s.attempt++
	s.answer.Reset()
	s.tooLong = false
	s.calls = nil
}

// Close implements llm.Stream.
func (s *stream) Close() error {
	if s.up == nil {
		return nil
	}
	err := s.up.Close()
	s.up = nil
	return err
}
