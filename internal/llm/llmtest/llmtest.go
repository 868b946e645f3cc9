// Package llmtest holds test doubles for llm streams, shared by the tests of
// the stream wrappers (tool-call and structured-output emulators).
package llmtest

import (
	"io"

	"github.com/sparkgw/spark/internal/llm"
)

// Stream is a scripted upstream llm.Stream: Recv returns Events in order,
// then Err (io.EOF when Err is nil) on every later call.
type Stream struct {
	Events []llm.Event
	Err    error       // returned after the events instead of io.EOF
	OnRecv func(i int) // called before event i is delivered (i == len(Events) at the end)
	Closed int         // how many times Close was called
	next   int
}

// Recv implements llm.Stream.
func (s *Stream) Recv() (llm.Event, error) {
	if s.OnRecv != nil {
		s.OnRecv(s.next)
	}
	if s.next < len(s.Events) {
		s.next++
		return s.Events[s.next-1], nil
	}
	if s.Err != nil {
		return llm.Event{}, s.Err
	}
	return llm.Event{}, io.EOF
}

// Close implements llm.Stream; it counts the calls in Closed.
func (s *Stream) Close() error { s.Closed++; return nil }

// Received returns how many of Events Recv has delivered.
func (s *Stream) Received() int { return s.next }
