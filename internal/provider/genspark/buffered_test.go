package genspark

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
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

// Long lines parse through the small idle buffer and the burst buffer.
func TestStreamLongLine(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 3*burstBufSize)
	body := &chunks{parts: []string{deltaLine(string(long)) + `data: {"type": "message_result"}` + "\n"}}
	s := ParseStream(body, ParseOptions{})
	ev, err := s.Recv()
	if err != nil || ev.Text != string(long) {
		t.Fatalf("Recv: %d bytes, %v", len(ev.Text), err)
	}
	if ev, err := s.Recv(); err != nil || ev.Type != llm.EventFinish {
		t.Fatalf("Recv = %+v, %v", ev, err)
	}
	if s.r.burst != nil {
		t.Fatal("burst buffer kept after the end")
	}
}

// The reader keeps its small buffer while reads are small, takes a burst
// buffer when a read fills it, and gives it back once all was consumed.
func TestLineReader(t *testing.T) {
	small := strings.Repeat("a", 100) + "\n"
	burst := strings.Repeat(strings.Repeat("b", 99)+"\n", 30) // 3000 bytes
	body := &chunks{parts: []string{small, burst, "tail without newline"}}
	l := newLineReader(body)
	line, err := l.ReadSlice()
	if err != nil || string(line) != small || l.burst != nil {
		t.Fatalf("first line %q, %v, burst %v", line, err, l.burst != nil)
	}
	for i := range 30 {
		line, err := l.ReadSlice()
		if err != nil || len(line) != 100 || line[0] != 'b' {
			t.Fatalf("burst line %d: %q, %v", i, line, err)
		}
		if i == 0 && l.burst == nil {
			t.Fatal("no burst buffer while a burst is read")
		}
	}
	line, err = l.ReadSlice() // the burst buffer is given back before this read
	if !errors.Is(err, io.EOF) || string(line) != "tail without newline" || l.burst != nil {
		t.Fatalf("tail %q, %v, burst %v", line, err, l.burst != nil)
	}
	if line, err := l.ReadSlice(); !errors.Is(err, io.EOF) || len(line) != 0 {
		t.Fatalf("after EOF: %q, %v", line, err)
	}

	// A line longer than the burst buffer comes in ErrBufferFull pieces.
	long := strings.Repeat("c", 2*burstBufSize+10) + "\n"
	l = newLineReader(strings.NewReader(long + "next\n"))
	var got []byte
	for {
		frag, err := l.ReadSlice()
		got = append(got, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			t.Fatal(err)
		}
	}
	if string(got) != long {
		t.Fatalf("long line: %d bytes", len(got))
	}
	if line, err := l.ReadSlice(); err != nil || string(line) != "next\n" {
		t.Fatalf("after the long line: %q, %v", line, err)
	}

	// Read returns buffered bytes first, then reads through.
	l = newLineReader(strings.NewReader("one\ntwo three"))
	if line, _ := l.ReadSlice(); string(line) != "one\n" {
		t.Fatalf("%q", line)
	}
	rest, err := io.ReadAll(l)
	if err != nil || string(rest) != "two three" {
		t.Fatalf("Read: %q, %v", rest, err)
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

// Skipped events are logged once per kind and name, only at debug level.
func TestSkipLoggedOnce(t *testing.T) {
	body := strings.Repeat(`data: {"type": "project_field", "id": "p"}`+"\n", 3) +
		strings.Repeat(`data: {"type": "message_field", "field_name": "_updatetime", "field_value": "x"}`+"\n", 3) +
		deltaLine("a") + `data: {"type": "message_result"}` + "\n"
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))
		s := ParseStream(strings.NewReader(body), ParseOptions{Logger: log})
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
		want := 0
		if level == slog.LevelDebug {
			want = 1
		}
		if n := strings.Count(logs.String(), "unknown event type"); n != want {
			t.Errorf("level %v: %d unknown event type lines, want %d", level, n, want)
		}
		if n := strings.Count(logs.String(), "unknown field name"); n != want {
			t.Errorf("level %v: %d unknown field name lines, want %d", level, n, want)
		}
	}
}
