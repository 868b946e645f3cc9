package apitest

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/llm"
)

// FakeBackend is the backend of the front-ends' tests: it answers Chat with
// scripted streams and records every request and stream. The zero value
// answers every request with an empty stream.
type FakeBackend struct {
	// ChatFn, when set, answers Chat (nothing else below applies then).
	ChatFn func(ctx context.Context, req *llm.Request) (llm.Stream, error)
	// ChatErr, when set, is returned by Chat.
	ChatErr error
	// Script, when set, gives the events of the n-th Chat call (0-based);
	// otherwise every stream yields Events.
	Script func(n int, req *llm.Request) []llm.Event
	Events []llm.Event
	// Err is returned by Recv after the events instead of io.EOF.
	Err error
	// Block makes streams wait for the request's context after the events.
	Block bool
	// List is what Models returns.
	List []llm.ModelInfo
	// Model is the model its streams report (llm.ModelReporter), as the
	// gateway's report the model a request resolved to; "" reports none.
	Model string

	mu      sync.Mutex
	reqs    []*llm.Request
	streams []*FakeStream
}

// Chat records req and answers it as the fields say.
func (b *FakeBackend) Chat(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	b.mu.Lock()
	n := len(b.reqs)
	b.reqs = append(b.reqs, req)
	b.mu.Unlock()
	if b.ChatFn != nil {
		return b.ChatFn(ctx, req)
	}
	if b.ChatErr != nil {
		return nil, b.ChatErr
	}
	events := b.Events
	if b.Script != nil {
		events = b.Script(n, req)
	}
	s := NewFakeStream(ctx, events, b.Err)
	s.Block = b.Block
	s.ModelName = b.Model
	b.mu.Lock()
	b.streams = append(b.streams, s)
	b.mu.Unlock()
	return s, nil
}

// Models returns List.
func (b *FakeBackend) Models(context.Context) []llm.ModelInfo { return b.List }

// Calls returns how many requests Chat received.
func (b *FakeBackend) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

// Request returns the n-th request Chat received; a negative n counts from
// the end (-1 is the last).
func (b *FakeBackend) Request(t testing.TB, n int) *llm.Request {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 0 {
		n += len(b.reqs)
	}
	if n < 0 || n >= len(b.reqs) {
		t.Fatalf("backend got %d requests, want request %d", len(b.reqs), n)
	}
	return b.reqs[n]
}

// LastRequest returns the last request Chat received.
func (b *FakeBackend) LastRequest(t testing.TB) *llm.Request {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		t.Fatal("backend got no request")
	}
	return b.reqs[len(b.reqs)-1]
}

// Streams returns the streams Chat made (not those of ChatFn), in order.
func (b *FakeBackend) Streams() []*FakeStream {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*FakeStream(nil), b.streams...)
}

// LastStream returns the last stream Chat made.
func (b *FakeBackend) LastStream(t testing.TB) *FakeStream {
	t.Helper()
	s := b.Streams()
	if len(s) == 0 {
		t.Fatal("backend made no stream")
	}
	return s[len(s)-1]
}

// CheckClosed fails unless every stream Chat made gets closed exactly once.
func (b *FakeBackend) CheckClosed(t testing.TB) {
	t.Helper()
	for _, s := range b.Streams() {
		WaitClosed(t, s)
	}
}

// FakeStream yields scripted events, then Err or io.EOF. With Block set it
// then waits for its context instead; with Endless it yields text forever;
// Delay waits before every event (or until the context ends). Recv after
// Close fails. It reports ModelName as its model (llm.ModelReporter). It counts its Recv and Close calls.
type FakeStream struct {
	Block   bool
	Endless bool
	Delay   time.Duration
	// ModelName is the model Model reports ("" reports none).
	ModelName string

	ctx    context.Context
	events []llm.Event
	err    error
	next   int
	recvs  atomic.Int32
	closes atomic.Int32
	closed chan struct{}
}

// NewFakeStream returns a stream of events, then err (io.EOF when nil), tied
// to ctx.
func NewFakeStream(ctx context.Context, events []llm.Event, err error) *FakeStream {
	return &FakeStream{ctx: ctx, events: events, err: err, closed: make(chan struct{})}
}

// Recv implements llm.Stream.
func (s *FakeStream) Recv() (llm.Event, error) {
	s.recvs.Add(1)
	if s.closes.Load() > 0 {
		return llm.Event{}, errors.New("recv after close")
	}
	if s.Delay > 0 {
		timer := time.NewTimer(s.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-s.ctx.Done():
			return llm.Event{}, s.ctx.Err()
		}
	}
	if s.next < len(s.events) {
		s.next++
		return s.events[s.next-1], nil
	}
	switch {
	case s.Endless:
		return llm.Event{Type: llm.EventTextDelta, Text: strings.Repeat("x", 512)}, nil
	case s.Block:
		<-s.ctx.Done()
		return llm.Event{}, s.ctx.Err()
	case s.err != nil:
		return llm.Event{}, s.err
	}
	return llm.Event{}, io.EOF
}

// Close implements llm.Stream.
func (s *FakeStream) Close() error {
	if s.closes.Add(1) == 1 {
		close(s.closed)
	}
	return nil
}

// Model implements llm.ModelReporter: ModelName.
func (s *FakeStream) Model() string { return s.ModelName }

// Recvs returns how many times Recv was called.
func (s *FakeStream) Recvs() int { return int(s.recvs.Load()) }

// Closes returns how many times Close was called.
func (s *FakeStream) Closes() int { return int(s.closes.Load()) }

// closeWait bounds WaitClosed: a guard against a hung test, not a timing
// assertion.
const closeWait = 10 * time.Second

// WaitClosed waits until s is closed and fails unless it was closed exactly
// once: at once, and again when the test ends (so a late second Close is
// caught without sleeping for it).
func WaitClosed(t testing.TB, s *FakeStream) {
	t.Helper()
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	select {
	case <-s.closed:
	case <-timer.C:
		t.Fatal("backend stream was not closed")
	}
	if n := s.Closes(); n != 1 {
		t.Errorf("stream closed %d times", n)
	}
	t.Cleanup(func() {
		if n := s.Closes(); n != 1 {
			t.Errorf("stream closed %d times by the end of the test", n)
		}
	})
}

// GatedBackend is a FakeBackend whose Chat waits until gate is closed (or
// the request's context ends), then fails with err or answers events, for
// the tests of what a front-end sends while a slow answer is gathered.
func GatedBackend(gate <-chan struct{}, events []llm.Event, err error) *FakeBackend {
	return &FakeBackend{ChatFn: func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		return NewFakeStream(ctx, events, nil), nil
	}}
}
