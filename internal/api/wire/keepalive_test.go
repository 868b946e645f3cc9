package wire_test

import (
	"errors"
	"io"
	"testing"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/llm"
)

type closeCounter struct{ closed chan struct{} }

func (c *closeCounter) Recv() (llm.Event, error) { return llm.Event{}, io.EOF }
func (c *closeCounter) Close() error             { close(c.closed); return nil }

func TestAwaitChat(t *testing.T) {
	// Without an interval, open is just called.
	st, began, err := wire.AwaitChat(0, func() (llm.Stream, error) { return nil, io.ErrUnexpectedEOF }, nil, nil)
	if st != nil || began || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("every=0: %v %v %v", st, began, err)
	}

	// A client gone during the keepalives: the stream open returns later
	// is closed.
	release := make(chan struct{})
	s := &closeCounter{closed: make(chan struct{})}
	gone := errors.New("client gone")
	_, began, err = wire.AwaitChat(1, func() (llm.Stream, error) { <-release; return s, nil },
		func() error { return nil }, func() error { return gone })
	if !began || !errors.Is(err, gone) {
		t.Fatalf("gone: began %v err %v", began, err)
	}
	close(release)
	<-s.closed // blocks (and the test times out) if the stream is leaked

	// A panic in open is raised on the caller's goroutine.
	defer func() {
		if v := recover(); v != "boom" {
			t.Fatalf("recovered %v, want the panic of open", v)
		}
	}()
	_, _, _ = wire.AwaitChat(1<<40, func() (llm.Stream, error) { panic("boom") }, nil, nil)
}
