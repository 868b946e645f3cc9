// Package apitest holds the test doubles shared by the API front-ends' tests:
// a scripted backend and stream (FakeBackend, FakeStream) with event
// constructors, parsers of streamed bodies that check the SSE framing
// clients rely on (ParseFrames, DataFrames, EventFrames), a stream whose
// events are ready in bursts and a response writer that counts flushes (for
// the flush-coalescing tests), and the real gateway over a scripted provider
// (Gateway). Clocks and goroutine checks shared beyond the front-ends are in
// internal/testutil.
package apitest

import (
	"context"
	"io"
	"net/http"

	"github.com/sparkgw/spark/internal/llm"
)

// BurstStream yields Events, all ready at once (Buffered is true while any
// remain), except that with Release set the event at index Hold is not
// ready until Release is closed: Recv waits for it then (or for Ctx).
type BurstStream struct {
	Ctx     context.Context
	Events  []llm.Event
	Hold    int
	Release chan struct{}
	next    int
}

func (s *BurstStream) ready() bool {
	if s.Release == nil || s.next != s.Hold {
		return true
	}
	select {
	case <-s.Release:
		return true
	default:
		return false
	}
}

// Buffered implements llm.BufferedStream.
func (s *BurstStream) Buffered() bool { return s.next < len(s.Events) && s.ready() }

// Recv implements llm.Stream.
func (s *BurstStream) Recv() (llm.Event, error) {
	if s.next >= len(s.Events) {
		return llm.Event{}, io.EOF
	}
	if !s.ready() {
		select {
		case <-s.Release:
		case <-s.Ctx.Done():
			return llm.Event{}, s.Ctx.Err()
		}
	}
	s.next++
	return s.Events[s.next-1], nil
}

// Close implements llm.Stream.
func (s *BurstStream) Close() error { return nil }

// FlushCounter counts the flushes of a response and whether bytes were
// written after the last one.
type FlushCounter struct {
	http.ResponseWriter
	Flushes int
	Dirty   bool
}

// Write marks the response dirty until the next flush.
func (f *FlushCounter) Write(p []byte) (int, error) {
	f.Dirty = true
	return f.ResponseWriter.Write(p)
}

// Flush counts the flush and passes it on.
func (f *FlushCounter) Flush() {
	f.Flushes++
	f.Dirty = false
	f.ResponseWriter.(http.Flusher).Flush()
}
