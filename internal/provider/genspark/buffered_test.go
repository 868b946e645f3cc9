package genspark

import (
	"errors"
	"io"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
)

// chunks is a body delivered in fixed reads; it counts them.
type chunks struct {
	parts []string
	reads int
}

func (c *chunks) Read(p []byte) (int, error) {
	c.reads++
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts[0] = c.parts[0][n:]
	if c.parts[0] == "" {
		c.parts = c.parts[1:]
	}
	return n, nil
}

func deltaLine(d string) string {
	return `data: {"message_id": "m", "field_name": "session_state.answer", "delta": "` + d + `", "type": "message_field_delta"}` + "\n\n"
}

// Buffered reports an event only when whole lines that yield one are in the
// read buffer; it never reads, and it waits for Recv to run the binding
// update before the finish event.
func TestStreamBuffered(t *testing.T) {
	body := &chunks{parts: []string{
		`data: {"id": "p1", "type": "project_start"}` + "\n\n" + deltaLine("a") +
			`data: {"message_id": "m", "field_name": "_updatetime", "field_value": "x", "type": "message_field"}` + "\n\n" +
			deltaLine("b") + deltaLine("c")[:20],
		deltaLine("c")[20:] + `data: {"id": "m", "role": "assistant", "content": "abc", "type": "message_result"}` + "\n\n",
	}}
	var done []string
	s := newStream(nil, body, nil, ParseOptions{}, func(project string) { done = append(done, project) })
	recv := func(want string) {
		t.Helper()
		ev, err := s.Recv()
		if err != nil || ev.Text != want {
			t.Fatalf("Recv = %+v, %v; want %q", ev, err, want)
		}
	}
	buffered := func(want bool, reads int) {
		t.Helper()
		if got := s.Buffered(); got != want || body.reads != reads {
			t.Fatalf("Buffered = %v after %d reads, want %v after %d", got, body.reads, want, reads)
		}
	}
	recv("a")
	buffered(true, 1) // "b", past the _updatetime event
	recv("b")
	buffered(false, 1) // "c" is cut
	recv("c")
	buffered(false, 2) // the finish is next, but the binding update is not run yet
	if len(done) != 0 {
		t.Fatal("binding update ran before the finish was taken")
	}
	ev, err := s.Recv()
	if err != nil || ev.Type != llm.EventFinish {
		t.Fatalf("Recv = %+v, %v; want finish", ev, err)
	}
	if len(done) != 1 || done[0] != "p1" {
		t.Fatalf("binding updates %v", done)
	}
	buffered(false, 2) // the end
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("err %v, want EOF", err)
	}
}

// An HTML page is read to its end when handled, so a buffered page line is
// not decoded by Buffered.
func TestStreamBufferedPage(t *testing.T) {
	body := &chunks{parts: []string{deltaLine("a") + "<html>\n", "<title>Just a moment...</title></html>\n"}}
	s := ParseStream(body, ParseOptions{})
	if ev, err := s.Recv(); err != nil || ev.Text != "a" {
		t.Fatalf("Recv = %+v, %v", ev, err)
	}
	if s.Buffered() || body.reads != 1 {
		t.Fatalf("page line reported as buffered (reads %d)", body.reads)
	}
	if _, err := s.Recv(); err == nil {
		t.Fatal("challenge page not reported")
	}
}

// The read buffer is small (open streams hold it); long lines still parse.
func TestStreamSmallBufferLongLine(t *testing.T) {
	long := make([]byte, 3*readBufferSize)
	for i := range long {
		long[i] = 'x'
	}
	body := &chunks{parts: []string{deltaLine(string(long)) + `data: {"type": "message_result"}` + "\n"}}
	s := ParseStream(body, ParseOptions{})
	if s.r.Size() != readBufferSize {
		t.Fatalf("read buffer %d bytes", s.r.Size())
	}
	ev, err := s.Recv()
	if err != nil || ev.Text != string(long) {
		t.Fatalf("Recv: %d bytes, %v", len(ev.Text), err)
	}
	if ev, err := s.Recv(); err != nil || ev.Type != llm.EventFinish {
		t.Fatalf("Recv = %+v, %v", ev, err)
	}
}

// field_value snapshots are deduplicated against a hash of what was
// streamed; the hash does not depend on how the text was cut.
func TestFieldSoFar(t *testing.T) {
	var f fieldSoFar
	f.h.SetSeed(fieldSeed)
	for _, p := range []string{"Hel", "lo, ", "", "wor", string(make([]byte, 300)), "ld"} {
		f.add(p)
	}
	text := "Hello, wor" + string(make([]byte, 300)) + "ld"
	if !f.extends(text) || !f.extends(text+" more") {
		t.Fatal("the streamed text does not extend itself")
	}
	if f.extends("Hello") || f.extends("Jello, wor"+string(make([]byte, 300))+"ld!") {
		t.Fatal("a different text extends the streamed one")
	}
}
