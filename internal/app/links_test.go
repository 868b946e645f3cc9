package app

import (
	"io"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
)

// readyStream yields n text events, all ready at once.
type readyStream struct{ n int }

func (s *readyStream) Recv() (llm.Event, error) {
	if s.n == 0 {
		return llm.Event{}, io.EOF
	}
	s.n--
	return llm.Event{Type: llm.EventTextDelta, Text: "x"}, nil
}

func (s *readyStream) Close() error   { return nil }
func (s *readyStream) Buffered() bool { return s.n > 0 }

// TestLinkingStreamForwardsBuffered checks that the front-ends can still
// coalesce flushes through the image-link rewriting.
func TestLinkingStreamForwardsBuffered(t *testing.T) {
	st := &linkingStream{Stream: &readyStream{n: 2}}
	for i, want := range []bool{true, true, false} {
		if got := llm.Buffered(st); got != want {
			t.Errorf("before Recv %d: Buffered = %v, want %v", i, got, want)
		}
		_, _ = st.Recv()
	}
	// Wrapped in an interface only, the inner stream cannot tell.
	plain := struct{ llm.Stream }{&readyStream{n: 2}}
	if llm.Buffered(&linkingStream{Stream: plain}) {
		t.Error("Buffered is true over a stream that cannot tell")
	}
}
