// Package gateway is the provider-neutral core between spark's client
// front-ends and its upstreams: it resolves a model to the provider serving
// it, leases an account from the pool, fails over to another account when a
// failure happens before the first event, and wraps the answer stream so the
// lease is released with its outcome, token usage is estimated once per
// request, and reasoning is hidden when configured (REASONING_HIDE): this is
// the one place that hides it, after counting it, so that the usage still
// reports the reasoning tokens.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/tokens"
)

// DefaultMaxAttempts bounds how many accounts one request tries.
const DefaultMaxAttempts = 5

// MediaFetcher downloads a client-given media URL under the gateway's
// guards (scheme, address, size and time limits).
type MediaFetcher interface {
	Fetch(ctx context.Context, rawURL string) (data []byte, mimeType string, err error)
}

// StreamWrapper adapts a request before it reaches the provider and the
// provider's stream before it reaches the client (tool-call emulation).
// Wrap returns the request to send and a function that wraps each attempt's
// stream; a nil function means the stream is not wrapped (the returned
// request is sent all the same). The wrap function may call reopen to start
// another exchange on the same account (a repair request). ctx is the
// request's; work the wrapped stream does for it stops when ctx is done.
type StreamWrapper interface {
	Wrap(ctx context.Context, req *llm.Request) (*llm.Request, llm.WrapFunc, error)
}

// Options configure a Service.
type Options struct {
	Registry      *provider.Registry
	Pool          pool.Pool
	Logger        *slog.Logger
	MaxAttempts   int          // accounts tried per request; 0 = DefaultMaxAttempts
	HideReasoning bool         // REASONING_HIDE=1: no reasoning reaches any client; its tokens are still counted
	Fetcher       MediaFetcher // nil: media URLs are refused with a clear error
	// Tools adapts requests and answers for upstreams that only answer
	// text (tool calls, structured outputs); see Chain to combine several.
	Tools StreamWrapper
}

// Service answers chat requests over the configured providers.
type Service struct {
	opts Options
	log  *slog.Logger
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{opts: opts, log: opts.Logger}
}

// Models lists every configured provider's models.
func (s *Service) Models(ctx context.Context) []llm.ModelInfo {
	return s.opts.Registry.Models(ctx)
}

// Resolve reports how the gateway would serve model, without contacting
// any upstream: the catalog entry of the provider that serves it, and
// fallback set when only a catch-all (a provider's Mixture-of-Agents)
// would take the name. A name nothing serves is a 400 about model. It
// answers in llm types only, so front-ends need not import package
// provider (ARCHITECTURE.md, layers).
func (s *Service) Resolve(ctx context.Context, model string) (m llm.ModelInfo, fallback bool, err error) {
	_, match, err := s.opts.Registry.Resolve(ctx, model)
	return match.Model, match.Fallback, err
}

// Chat starts answering req. The returned stream yields the answer's
// deltas, one EventFinish, one EventUsage, then io.EOF. Failures before the
// first event are retried on other accounts of the same provider; the error
// returned when no account could answer is a *gw.Error.
//
// The work up to the first event (resolution, account lease, encoding and
// sending the upstream request, TLS, the first event) runs on a
// short-lived goroutine while the caller waits. It is the deepest call
// tree of a request; run on the caller's goroutine it doubles that
// goroutine's stack (8 → 16 KiB), and a streaming handler keeps that stack
// for as long as the answer lasts. With the server's flat request steps and
// sse.Writer.Start it took goroutine stacks from 23.8 to 19.0 KiB per open
// stream (`go run ./bench -phases open`, BENCHMARKS.md).
func (s *Service) Chat(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	type result struct {
		st     llm.Stream
		err    error
		panicV any
		stack  []byte
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if v := recover(); v != nil {
				r.panicV, r.stack = v, debug.Stack()
			}
			done <- r
		}()
		r.st, r.err = s.chat(ctx, req)
	}()
	r := <-done
	if r.err != nil {
		reqctx.UsageOf(ctx).SetErrorClass(string(gw.ErrorCode(r.err)))
	}
	if r.panicV != nil {
		// Re-raised on the caller's goroutine, where the server's recovery
		// answers the request. The value is the original one (so that
		// http.ErrAbortHandler stays recognisable); the stack of the
		// goroutine that panicked is logged here, as it is lost otherwise.
		if r.panicV != http.ErrAbortHandler {
			s.log.LogAttrs(ctx, slog.LevelError, "panic while opening the answer",
				slog.String("panic", fmt.Sprint(r.panicV)), slog.String("stack", string(r.stack)))
		}
		panic(r.panicV)
	}
	return r.st, r.err
}

// chat is Chat's work up to the first event.
func (s *Service) chat(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	note := reqctx.UsageOf(ctx) // nil when the request is not accounted
	note.SetModels(req.Model, "")
	if len(req.Model) > llm.MaxModelBytes {
		// The front-ends refuse these first; this guards every other
		// caller, since providers store model names (chat bindings).
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "model",
			Message: fmt.Sprintf("model: the name is %d bytes long; the limit is %d", len(req.Model), llm.MaxModelBytes)}
	}
	req0 := req // as the client sent it, for the model echoed (stream.Model)
	p, match, err := s.opts.Registry.Resolve(ctx, req.Model)
	if err != nil {
		return nil, err
	}
	note.SetModels(req.Model, match.Model.ID)
	if err := s.resolveMedia(ctx, req); err != nil {
		return nil, err
	}
	if match.Alias != "" {
		aliased := *req
		aliased.Model = match.Alias
		req = &aliased
	}
	// Prompt tokens are counted at the end (stream.end), off the path to
	// the first token.
	send := req
	var wrap func(llm.Stream, func(*llm.Request) (llm.Stream, error)) llm.Stream
	if s.opts.Tools != nil {
		r, w, err := s.opts.Tools.Wrap(ctx, req)
		if err != nil {
			return nil, err
		}
		send, wrap = r, w
	}

	exclude := map[string]bool{}
	// A grant (a user's key, the dashboard's playground) limits the
	// accounts to its owners' and the shared ones.
	var owners []string
	if g := reqctx.GrantOf(ctx); g != nil {
		owners = g.Owners
	}
	var lastErr error
	for attempt := 1; attempt <= s.opts.MaxAttempts; attempt++ {
		lease, err := s.opts.Pool.Acquire(ctx, pool.Request{Provider: p.Name(), Model: match.Model.ID, Exclude: exclude, Owners: owners})
		if err != nil {
			if lastErr != nil && gw.ErrorCode(err) == gw.CodeNoAccounts {
				return nil, s.exhausted(ctx, p.Name(), err, lastErr)
			}
			return nil, err
		}
		acct := lease.Account()
		exclude[acct.ID] = true
		note.SetAccount(acct.ID)
		var hidden tokens.Counter // reasoning skipped before the first event shown
		st, first, err := s.open(ctx, p, acct, send, wrap, &hidden)
		if err == nil {
			return &stream{
				inner: st, next: first, hasNext: true, lease: lease,
				hide: s.opts.HideReasoning, req: req,
				account:   acct.ID,
				model:     match.Echo(req0.Model),
				reasoning: hidden,
				usage:     note,
			}, nil
		}
		lease.Release(err)
		if ctx.Err() != nil {
			return nil, gw.AsError(ctx.Err())
		}
		code := gw.ErrorCode(err)
		if !gw.Failover(code) {
			return nil, err
		}
		lastErr = err
		s.log.LogAttrs(ctx, slog.LevelWarn, "upstream attempt failed, failing over",
			slog.String("provider", p.Name()), slog.String("account", acct.Label),
			slog.Int("attempt", attempt), slog.String("code", string(code)))
	}
	retry := gw.AsError(lastErr).RetryAfter
	return nil, s.exhausted(ctx, p.Name(), &gw.Error{Code: gw.CodeNoAccounts, Message: "All cookies are temporarily unavailable.", RetryAfter: retry}, lastErr)
}

// exhausted picks the error a client sees when failover ran out of
// accounts: the pool's "All cookies are temporarily unavailable." (with its
// Retry-After) when the accounts were limited, else the last upstream error,
// which says what is wrong (a Cloudflare challenge, the upstream down).
func (s *Service) exhausted(ctx context.Context, provider string, noAccounts, last error) error {
	code := gw.ErrorCode(last)
	s.log.LogAttrs(ctx, slog.LevelWarn, "no account left to fail over to",
		slog.String("provider", provider), slog.String("last_error", string(code)))
	switch code {
	case gw.CodeRateLimited, gw.CodeQuotaExhausted:
		return noAccounts
	}
	return last
}

// open starts one attempt and waits for its first event, so that failures
// the upstream reports up front can still fail over. When reasoning is
// hidden, the first event is the first one the client will see; the
// reasoning skipped on the way is added to hidden, to be counted.
func (s *Service) open(ctx context.Context, p provider.Provider, acct *gw.Account, req *llm.Request, wrap func(llm.Stream, func(*llm.Request) (llm.Stream, error)) llm.Stream, hidden *tokens.Counter) (llm.Stream, llm.Event, error) {
	st, err := p.Chat(ctx, acct, req)
	if err != nil {
		return nil, llm.Event{}, err
	}
	if wrap != nil {
		st = wrap(st, func(r *llm.Request) (llm.Stream, error) { return p.Chat(ctx, acct, r) })
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			st.Close()
			if errors.Is(err, io.EOF) {
				err = &gw.Error{Code: gw.CodeTransient, Provider: p.Name(), Message: p.Name() + " returned an empty answer"}
			}
			return nil, llm.Event{}, err
		}
		if ev.Type == llm.EventReasoningDelta && s.opts.HideReasoning {
			hidden.Add(ev.Text)
			continue
		}
		return st, ev, nil
	}
}

// Attachment limits of one request, whatever the client API.
const (
	MaxFiles     = 10
	MaxFileBytes = 25 << 20
)

// resolveMedia checks the attachment limits and downloads media given by
// URL so providers only see bytes.
func (s *Service) resolveMedia(ctx context.Context, req *llm.Request) error {
	files := 0
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			if p.Media == nil {
				continue
			}
			if files++; files > MaxFiles {
				return &gw.Error{Code: gw.CodeInvalidRequest, Param: "messages",
					Message: fmt.Sprintf("too many images or files: at most %d per request", MaxFiles)}
			}
			if len(p.Media.Data) > MaxFileBytes {
				return &gw.Error{Code: gw.CodeInvalidRequest, Param: "messages",
					Message: fmt.Sprintf("an image or file is %d bytes; the limit is %d MB", len(p.Media.Data), MaxFileBytes>>20)}
			}
		}
	}
	for i := range req.Messages {
		for j := range req.Messages[i].Parts {
			m := req.Messages[i].Parts[j].Media
			if m == nil || m.Data != nil || m.URL == "" {
				continue
			}
			if s.opts.Fetcher == nil {
				return &gw.Error{Code: gw.CodeInvalidRequest, Param: "messages",
					Message: "media given by URL cannot be fetched by this gateway; send it inline as a base64 data URL"}
			}
			data, mimeType, err := s.opts.Fetcher.Fetch(ctx, m.URL)
			if err != nil {
				return err
			}
			if len(data) > MaxFileBytes {
				return &gw.Error{Code: gw.CodeInvalidRequest, Param: "messages",
					Message: fmt.Sprintf("the file at a media URL is larger than %d MB", MaxFileBytes>>20)}
			}
			m.Data = data
			if m.MIMEType == "" {
				m.MIMEType = mimeType
			}
		}
	}
	return nil
}

// stream wraps a provider stream: it replays the peeked first event, counts
// tokens once (the answer in large batches as it passes, the prompt at the
// end), drops reasoning when hidden (after counting it), emits the usage
// event, and releases the lease with the outcome.
type stream struct {
	inner    llm.Stream
	next     llm.Event // taken from inner (the peeked first event, or by Buffered), not yet returned
	hasNext  bool
	innerErr error // an error (io.EOF included) Buffered took from inner
	lease    pool.Lease
	hide     bool
	req      *llm.Request  // for the prompt tokens, counted in end
	account  string        // id of the leased account, stamped on image media
	model    string        // the resolved model answers echo (provider.Match.Echo)
	usage    *reqctx.Usage // the request's usage note (nil: not accounted)
	started  bool          // an event was returned (the first one is noted)

	text, reasoning tokens.Counter
	toolArgs        tokens.Counter // names and arguments of tool calls
	finished        bool
	usageSent       bool
	outcome         error
	closeOnce       sync.Once
}

var (
	_ llm.BufferedStream = (*stream)(nil)
	_ llm.ModelReporter  = (*stream)(nil)
)

// Model implements llm.ModelReporter: the catalog id of the model the
// request resolved to, by the rule of provider.Match.Echo.
func (s *stream) Model() string { return s.model }

func (s *stream) Recv() (llm.Event, error) {
	for {
		ev, err := s.pull()
		if errors.Is(err, io.EOF) {
			return s.end()
		}
		if err != nil {
			if s.outcome == nil {
				s.outcome = err
			}
			s.usage.SetErrorClass(string(gw.ErrorCode(err)))
			return llm.Event{}, err
		}
		if s.drops(ev) {
			continue
		}
		if !s.started {
			s.started = true
			if s.usage != nil {
				s.usage.MarkFirstEvent(time.Now())
			}
		}
		switch ev.Type {
		case llm.EventReasoningDelta: // shown (hidden ones were counted by drops)
			s.reasoning.Add(ev.Text)
		case llm.EventImage:
			// Generated media may only be fetchable with the account's
			// cookies (Gemini): say which account produced it.
			if ev.Media != nil && ev.Media.Account == "" {
				m := *ev.Media
				m.Account = s.account
				ev.Media = &m
			}
		case llm.EventTextDelta, llm.EventRefusal:
			s.text.Add(ev.Text)
		case llm.EventToolCallDelta:
			s.toolArgs.Add(ev.ToolCall.Name)
			s.toolArgs.Add(ev.ToolCall.Arguments)
		case llm.EventFinish:
			s.finished = true
		}
		return ev, nil
	}
}

// pull returns the next event or error of inner, or the one Buffered took.
func (s *stream) pull() (llm.Event, error) {
	if s.hasNext {
		ev := s.next
		s.next, s.hasNext = llm.Event{}, false
		return ev, nil
	}
	if s.innerErr != nil {
		return llm.Event{}, s.innerErr
	}
	return s.inner.Recv()
}

// drops reports events that are never passed on: reasoning when hidden
// (counted here, as it is dropped), and providers' own usage (replaced by
// spark's single estimate).
func (s *stream) drops(ev llm.Event) bool {
	switch {
	case ev.Type == llm.EventUsage:
		return true
	case ev.Type == llm.EventReasoningDelta && s.hide:
		s.reasoning.Add(ev.Text)
		return true
	}
	return false
}

// Buffered implements llm.BufferedStream: the next Recv returns an event at
// once when one is held, or inner has one ready (taken now, so dropped
// events do not count), or inner ended without a finish event (end makes
// one). It is false before the usage event, whose token counting takes CPU
// time, so the events before it are flushed first.
func (s *stream) Buffered() bool {
	for {
		if s.hasNext {
			return true
		}
		if s.innerErr != nil {
			return errors.Is(s.innerErr, io.EOF) && !s.finished
		}
		if !llm.Buffered(s.inner) {
			return false
		}
		ev, err := s.inner.Recv()
		if err != nil {
			s.innerErr = err
			continue
		}
		if !s.drops(ev) {
			s.next, s.hasNext = ev, true
		}
	}
}

// end emits the usage event once the upstream is done, then io.EOF.
func (s *stream) end() (llm.Event, error) {
	if !s.finished {
		s.finished = true
		return llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop}, nil
	}
	if s.usageSent {
		return llm.Event{}, io.EOF
	}
	s.usageSent = true
	reasoning := s.reasoning.Total()
	u := &llm.Usage{
		PromptTokens:     tokens.Prompt(s.req),
		CompletionTokens: s.text.Total() + reasoning + s.toolArgs.Total(),
		ReasoningTokens:  reasoning,
	}
	s.usage.AddTokens(int64(u.PromptTokens), int64(u.CompletionTokens), int64(u.ReasoningTokens))
	return llm.Event{Type: llm.EventUsage, Usage: u}, nil
}

func (s *stream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = s.inner.Close()
		outcome := s.outcome
		if outcome == nil && !s.usageSent {
			outcome = &gw.Error{Code: gw.CodeCanceled, Message: "stream closed before the answer ended"}
		}
		s.lease.Release(outcome)
	})
	return err
}
