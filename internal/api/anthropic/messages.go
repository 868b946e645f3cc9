package anthropic

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/sse"
	"github.com/sparkgw/spark/internal/tokens"
)

// messages serves POST /v1/messages.
func (h *Handler) messages(w http.ResponseWriter, r *http.Request) error {
	mr, err := h.decodeRequest(w, r)
	if err != nil {
		return err
	}
	if err := mr.validate(false); err != nil {
		return err
	}
	p, err := buildRequest(mr, false, wire.NewFileResolver(r.Context(), h.opts.Files, wire.InvalidField))
	if err != nil {
		return err
	}
	mr = nil // let the decoded media go once converted

	// The backend gets a context of its own so that the handler can stop
	// the upstream (a stop sequence matched) even while a Recv is pending.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	p.req.ClientKey = reqctx.KeyID(ctx)
	id := "msg_" + rand.Text()

	if p.stream {
		return h.stream(ctx, cancel, w, r, p, id)
	}
	st, err := h.b.Chat(ctx, &p.req)
	if err == nil && st == nil {
		err = errNoStream
	}
	if err != nil {
		return err
	}
	p.model = llm.ModelOf(st, p.model) // the resolved model (llm.ModelReporter)
	src := newSource(st, cancel, 0)
	defer src.close()
	return h.answer(w, r, src, p, id)
}

// stream answers with a Messages event stream (see streamer). A backend
// failure before the stream started is returned (a real HTTP error); once
// it started, failures are sent in-band and stream returns nil.
func (h *Handler) stream(ctx context.Context, cancel context.CancelFunc, w http.ResponseWriter, r *http.Request, p *params, id string) error {
	s := &streamer{h: h, w: w, r: r, p: p, id: id,
		est: tokens.Prompt(&p.req)} // message_start needs it before the answer
	st, err := s.chat(ctx, cancel)
	if err != nil {
		if !s.started {
			return err // nothing sent yet: a real HTTP error
		}
		s.fail(err)
		return nil
	}
	if !s.started {
		// message_start goes out now: it names the model the backend
		// resolved. When the backend took longer than PingInterval,
		// message_start has already named the requested model, the only
		// one known then, and the stream keeps it.
		p.model = llm.ModelOf(st, p.model)
	}
	src := newSource(st, cancel, h.opts.PingInterval)
	defer src.close()
	s.run(src)
	return nil
}

// errNoStream reports a backend that broke its contract.
var errNoStream = errors.New("anthropic: backend returned neither a stream nor an error")

// answer collects the whole answer and writes one Message. A failure
// while collecting is still a real HTTP error: nothing was sent yet.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, src *source, p *params, id string) error {
	t := newTurn(h, p, nil)
	for !t.cut {
		ev, _, err := src.next(nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !t.finished {
				return err
			}
			// The answer is complete; only its usage went missing.
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "anthropic: upstream failed after the answer ended",
				slog.String("request_id", reqctx.RequestID(r.Context())), slog.Any("error", err))
			break
		}
		_ = t.add(&ev) // nothing is written: no error
	}
	_ = t.end()
	src.close() // release the upstream before answering

	sr, ss := t.stopReason(), t.stopSequence()
	writeJSON(w, http.StatusOK, wireMessageResp{
		ID:           id,
		Type:         "message",
		Role:         "assistant",
		Model:        p.model,
		Content:      t.content(),
		StopReason:   &sr,
		StopSequence: ss,
		Usage: wireUsage{
			InputTokens:   t.inputTokens(func() int { return tokens.Prompt(&p.req) }),
			OutputTokens:  t.outputTokens(),
			CacheCreation: &cacheCreation{},
			ServiceTier:   "standard",
		},
	})
	return nil
}

// streamer writes one answer as a Messages event stream: message_start,
// a ping, the content blocks one after the other, message_delta (stop
// reason and cumulative usage) and message_stop. Errors after the stream
// started are rendered in-band as an "event: error" frame.
type streamer struct {
	h   *Handler
	w   http.ResponseWriter
	r   *http.Request
	p   *params
	id  string
	est int // estimated input tokens

	fw      *frameWriter
	started bool
}

// begin starts the stream once: the 200 status, message_start and a ping.
func (s *streamer) begin() error {
	if s.started {
		return nil
	}
	s.started = true
	s.fw = newFrameWriter(sse.NewWriter(s.w))
	if err := s.fw.sw.Start(); err != nil { // headers from the top of the stack (sse.Writer.Start)
		return err
	}
	start := frameMessageStart{Type: "message_start", Message: wireMessageResp{
		ID: s.id, Type: "message", Role: "assistant", Model: s.p.model,
		Content: []wireContent{},
		Usage: wireUsage{
			InputTokens:   s.est,
			OutputTokens:  1,
			CacheCreation: &cacheCreation{},
			ServiceTier:   "standard",
		},
	}}
	if err := s.fw.write("message_start", start); err != nil {
		return err
	}
	return s.fw.ping()
}

// chat asks the backend for the answer. Without keepalives it just calls
// Chat. With them, Chat runs in a goroutine: when it answers (or fails)
// within PingInterval the stream has not started yet, so a failure is
// still a real HTTP error; when it takes longer (the gateway's Chat waits
// for the upstream's first event), the stream starts and pings keep it
// alive until Chat returns, and a failure then goes in-band. If the client
// leaves meanwhile, Chat is cancelled and any stream it still returns is
// closed before chat returns.
func (s *streamer) chat(ctx context.Context, cancel context.CancelFunc) (llm.Stream, error) {
	every := s.h.opts.PingInterval
	if every <= 0 {
		st, err := s.h.b.Chat(ctx, &s.p.req)
		if err == nil && st == nil {
			err = errNoStream
		}
		return st, err
	}
	type result struct {
		st  llm.Stream
		err error
	}
	ch := make(chan result, 1)
	go func() {
		st, err := s.h.b.Chat(ctx, &s.p.req)
		ch <- result{st, err}
	}()
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case res := <-ch:
			if res.err == nil && res.st == nil {
				res.err = errNoStream
			}
			return res.st, res.err
		case <-timer.C:
			var err error
			if s.started {
				err = s.fw.ping()
			} else {
				err = s.begin()
			}
			if err != nil { // the client is gone
				cancel()
				if res := <-ch; res.st != nil {
					_ = res.st.Close()
				}
				return nil, err
			}
			timer.Reset(every)
		}
	}
}

// run streams the answer from src. It returns when the stream ended,
// failed, or the client went away (the caller then closes src, cancelling
// the upstream).
//
// Frames of events that src has ready at once leave in one flush (see
// sse.Writer's Pending); before each wait for the upstream, and at the
// end, whatever was written is flushed.
func (s *streamer) run(src *source) {
	h, r := s.h, s.r
	if s.begin() != nil {
		s.gone()
		return
	}
	fw := s.fw
	fw.sw.Pending = src.buffered
	defer func() { _ = fw.sw.Flush() }()
	t := newTurn(h, s.p, fw)
	done := r.Context().Done()
	for !t.cut {
		// An event that wrote nothing (usage, text held back) may leave
		// an earlier frame unflushed: flush it unless the next is ready.
		if !src.buffered() && fw.sw.Flush() != nil {
			s.gone()
			return
		}
		ev, idle, err := src.next(done)
		if idle {
			if fw.ping() != nil {
				s.gone()
				return
			}
			continue
		}
		if err != nil {
			fw.sw.Pending = nil // the last frames are flushed one by one
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if r.Context().Err() != nil {
				s.gone()
				return
			}
			if !t.finished {
				s.fail(err)
				return
			}
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "anthropic: upstream failed after the answer ended",
				slog.String("request_id", reqctx.RequestID(r.Context())), slog.Any("error", err))
			break
		}
		if t.add(&ev) != nil {
			s.gone()
			return
		}
	}
	// A stop sequence ends the loop with the stream still open, and
	// closing it below may wait for the upstream: flush first.
	fw.sw.Pending = nil
	if t.end() != nil || fw.sw.Flush() != nil {
		s.gone()
		return
	}
	src.close() // release the upstream before the last frames

	md := frameMessageDelta{Type: "message_delta"}
	sr := t.stopReason()
	md.Delta.StopReason = &sr
	md.Delta.StopSequence = t.stopSequence()
	md.Usage = deltaUsage{
		InputTokens:  t.inputTokens(func() int { return s.est }),
		OutputTokens: t.outputTokens(),
	}
	if fw.write("message_delta", md) != nil || fw.write("message_stop", frameType{Type: "message_stop"}) != nil {
		s.gone()
	}
}

// fail ends a started stream with an in-band error frame, as Anthropic
// does: "event: error" with the error envelope. Nothing is written when
// the client is gone.
func (s *streamer) fail(err error) {
	r := s.r
	e := gw.AsError(err)
	if r.Context().Err() != nil || e.Code == gw.CodeCanceled || s.fw.sw.Err() != nil {
		s.gone()
		return
	}
	s.h.log.LogAttrs(r.Context(), slog.LevelWarn, "anthropic: stream failed",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.String("code", string(e.Code)),
		slog.Any("error", err))
	env := wire.AnthropicErrorEnvelope{Type: "error", Error: wire.AnthropicError(e), RequestID: s.w.Header().Get("Request-Id")}
	_ = s.fw.write("error", env)
}

// gone notes that the client left mid-stream.
func (s *streamer) gone() {
	var werr error
	if s.fw != nil {
		werr = s.fw.sw.Err()
	}
	s.h.log.LogAttrs(s.r.Context(), slog.LevelDebug, "anthropic: client went away mid-stream",
		slog.String("request_id", reqctx.RequestID(s.r.Context())),
		slog.Any("error", werr))
}

// countTokens serves POST /v1/messages/count_tokens: the offline estimate of
// the converted request (system, messages and tools), without an upstream
// call.
func (h *Handler) countTokens(w http.ResponseWriter, r *http.Request) error {
	mr, err := h.decodeRequest(w, r)
	if err != nil {
		return err
	}
	if err := mr.validate(true); err != nil {
		return err
	}
	p, err := buildRequest(mr, true, wire.NewFileResolver(r.Context(), h.opts.Files, wire.InvalidField))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		InputTokens int `json:"input_tokens"`
	}{tokens.Prompt(&p.req)})
	return nil
}

// recvResult is one Recv outcome passed from the pump goroutine, with
// whether the stream had its next event ready right after it.
type recvResult struct {
	ev   llm.Event
	err  error
	more bool
}

// source reads a backend stream. Without keepalives it calls Recv
// directly. With them, a pump goroutine calls Recv so that next can report
// idleness while the upstream is silent; the stream is then used by the
// pump alone until it exits, and close stops it by cancelling the
// backend's context before it closes the stream.
type source struct {
	st     llm.Stream
	cancel context.CancelFunc
	every  time.Duration
	ch     chan recvResult // nil without keepalives
	quit   chan struct{}
	timer  *time.Timer
	closed bool
	more   bool // with keepalives: llm.Buffered after the last result received
}

func newSource(st llm.Stream, cancel context.CancelFunc, every time.Duration) *source {
	s := &source{st: st, cancel: cancel, every: every}
	if every > 0 {
		s.ch = make(chan recvResult)
		s.quit = make(chan struct{})
		go s.pump()
	}
	return s
}

// pump forwards Recv results until the stream ends or close stops it.
func (s *source) pump() {
	defer close(s.ch)
	for {
		ev, err := s.st.Recv()
		more := err == nil && llm.Buffered(s.st)
		select {
		case s.ch <- recvResult{ev, err, more}:
		case <-s.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

// next returns the next event or error. With keepalives it reports idle
// instead when nothing arrived for the interval, and the context error
// when done is closed first.
func (s *source) next(done <-chan struct{}) (ev llm.Event, idle bool, err error) {
	if s.ch == nil {
		ev, err = s.st.Recv()
		return ev, false, err
	}
	if s.timer == nil {
		s.timer = time.NewTimer(s.every)
	} else {
		s.timer.Reset(s.every)
	}
	select {
	case res, ok := <-s.ch:
		if !ok {
			s.more = false
			return llm.Event{}, false, io.EOF
		}
		s.more = res.more
		return res.ev, false, res.err
	case <-s.timer.C:
		return llm.Event{}, true, nil
	case <-done:
		return llm.Event{}, false, fmt.Errorf("anthropic: client went away: %w", context.Canceled)
	}
}

// buffered reports whether next returns an event without waiting for the
// upstream: llm.Buffered of the stream, asked by the pump goroutine when
// there is one (it alone may use the stream).
func (s *source) buffered() bool {
	switch {
	case s.closed:
		return false
	case s.ch != nil:
		return s.more
	}
	return llm.Buffered(s.st)
}

// close stops reading and closes the stream exactly once.
func (s *source) close() {
	if s.closed {
		return
	}
	s.closed = true
	if s.ch != nil {
		close(s.quit)
		s.cancel() // a pending Recv returns
		for range s.ch {
		}
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	_ = s.st.Close()
}
