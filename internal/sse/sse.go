// Package sse writes Server-Sent Events to an HTTP response the way every
// OpenAI and Anthropic client parser accepts them: one line per data field,
// a flush after every event (or, with [Writer.Pending], after every burst of
// events that are ready together), no compression, and never an id: or
// retry: line (openai-python breaks on blank lines once it has seen one).
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// DefaultStallTimeout bounds how long writing one event may block on a client
// that has stopped reading; see [Writer.StallTimeout].
const DefaultStallTimeout = 2 * time.Minute

// Writer writes events to one streaming response. It is not safe for
// concurrent use. After a write fails (typically because the client went
// away) every later call returns the same error, so callers stop producing
// and release their upstream.
type Writer struct {
	// StallTimeout bounds the write of each event, so that a client which
	// stopped reading cannot hold the stream (and its upstream) forever: the
	// connection's write deadline is now+StallTimeout while an event is
	// written and cleared again afterwards, however long the stream idles
	// between events. Zero disables it. NewWriter sets DefaultStallTimeout.
	// While a burst of events is written without flushing (see Pending) the
	// deadline is set once and renewed when half of it has passed.
	StallTimeout time.Duration

	// Pending, when set, is asked after each event is written: true means
	// the caller has the next event ready at once, and the flush is left to
	// the last event of the burst, so back-to-back events leave in one
	// write instead of one write each. The unflushed event waits only for
	// the caller's next write (it also leaves when the response buffer
	// fills), never for an upstream. Front-ends set it to
	//
	//	func() bool { return llm.Buffered(stream) }
	//
	// Pending must be cheap and must not block, and it must be false for
	// the last event a handler writes (llm.Buffered is false at the end of
	// a stream and before an error), or the handler must call Flush before
	// it returns, so no deadline outlives the response. nil flushes every
	// event.
	Pending func() bool

	w          http.ResponseWriter
	rc         *http.ResponseController
	buf        []byte
	err        error
	noDeadline bool      // the writer cannot set deadlines
	noFlush    bool      // the writer cannot flush
	deadline   time.Time // write deadline in force; zero when cleared
	unflushed  bool      // an event was written but not flushed
	flushed    bool      // an event was flushed (the status line is out)
}

// NewWriter prepares w for an event stream: it sets Content-Type
// text/event-stream, Cache-Control no-cache, Connection keep-alive and
// X-Accel-Buffering no, and removes Content-Encoding and Content-Length so
// nothing compresses or frames the body. It also clears the connection's
// write deadline: a server-wide WriteTimeout sized for ordinary responses
// must not cut a long stream (StallTimeout guards each write instead).
// The status line (200) goes out with
// Start or the first event, so callers create the Writer only once they
// know the request succeeded and can still answer errors with a real
// status before.
func NewWriter(w http.ResponseWriter) *Writer {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Encoding")
	h.Del("Content-Length")
	s := &Writer{
		StallTimeout: DefaultStallTimeout,
		w:            w,
		rc:           http.NewResponseController(w),
		buf:          make([]byte, 0, 512),
	}
	// An error means the writer cannot set deadlines (a wrapping
	// ResponseWriter without Unwrap); streaming still works.
	s.noDeadline = s.rc.SetWriteDeadline(time.Time{}) != nil
	return s
}

// WriteData writes one unnamed event, "data: <data>\n\n", and flushes it.
// data is expected to be a single line (JSON from encoding/json is); any CR
// or LF in it is replaced by a space, which keeps JSON valid because outside
// strings they are insignificant whitespace and inside strings they cannot
// occur unescaped.
func (s *Writer) WriteData(data []byte) error {
	if s.err != nil {
		return s.err
	}
	s.buf = append(s.buf[:0], "data: "...)
	s.buf = appendLine(s.buf, data)
	s.buf = append(s.buf, '\n', '\n')
	return s.send()
}

// WriteEvent writes one named event, "event: <name>\ndata: <data>\n\n", and
// flushes it. Anthropic clients drop frames without an event line. CR and LF
// in name and data are replaced as in [Writer.WriteData].
func (s *Writer) WriteEvent(name string, data []byte) error {
	if s.err != nil {
		return s.err
	}
	s.buf = append(s.buf[:0], "event: "...)
	s.buf = appendLine(s.buf, name)
	s.buf = append(s.buf, "\ndata: "...)
	s.buf = appendLine(s.buf, data)
	s.buf = append(s.buf, '\n', '\n')
	return s.send()
}

// Comment writes a comment frame, ": <text>\n\n", and flushes it. Parsers
// ignore comments, so they serve as keepalives; they are opt-in because
// openai-go releases before early 2026 failed on comment-only frames.
func (s *Writer) Comment(text string) error {
	if s.err != nil {
		return s.err
	}
	s.buf = append(s.buf[:0], ':', ' ')
	s.buf = appendLine(s.buf, text)
	s.buf = append(s.buf, '\n', '\n')
	return s.send()
}

// Err returns the first write error, or nil.
func (s *Writer) Err() error { return s.err }

// Start sends the status line (200) and the headers now, before any
// event. Handlers call it at the top of a stream: the server then formats
// the header near the top of the handler's stack instead of under the
// deeper call that writes the first event, which would double the stack
// the goroutine keeps for the whole stream.
func (s *Writer) Start() error {
	if s.err != nil {
		return s.err
	}
	s.armDeadline()
	err := s.flush()
	s.clearDeadline()
	return err
}

// Flush sends events written but not yet flushed (see Pending); it does
// nothing when there are none.
func (s *Writer) Flush() error {
	if s.err != nil {
		return s.err
	}
	if !s.unflushed {
		return nil
	}
	s.armDeadline()
	err := s.flush()
	s.clearDeadline()
	return err
}

// send writes buf in one call and flushes it, unless Pending says the next
// event follows at once.
func (s *Writer) send() error {
	s.armDeadline()
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = fmt.Errorf("sse: write: %w", err)
		s.clearDeadline()
		return s.err
	}
	s.unflushed = true
	// The first event is always flushed: it carries the status line, so
	// clients see a live stream at once, and the server writes the
	// response header here, near the top of the handler's stack, rather
	// than under whatever deeper call flushes first.
	if s.flushed && s.Pending != nil && !s.noFlush && s.Pending() {
		// The deadline stays in force: the response buffer may fill, and
		// a later Write then blocks on the client.
		return nil
	}
	err := s.flush()
	// Cleared so no deadline outlives the event, not even into the idle
	// time before the next one or the next request on this keep-alive
	// connection.
	s.clearDeadline()
	return err
}

// flush flushes the response.
func (s *Writer) flush() error {
	s.unflushed, s.flushed = false, true
	if s.noFlush {
		return nil
	}
	if err := s.rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			s.noFlush = true
			return nil
		}
		s.err = fmt.Errorf("sse: flush: %w", err)
		return s.err
	}
	return nil
}

// armDeadline sets the stall deadline unless one is in force with more
// than half of StallTimeout left.
func (s *Writer) armDeadline() {
	if s.StallTimeout <= 0 || s.noDeadline {
		return
	}
	now := time.Now()
	if !s.deadline.IsZero() && s.deadline.Sub(now) > s.StallTimeout/2 {
		return
	}
	d := now.Add(s.StallTimeout)
	if s.rc.SetWriteDeadline(d) != nil {
		s.noDeadline = true
		return
	}
	s.deadline = d
}

// clearDeadline removes the stall deadline, if one is in force.
func (s *Writer) clearDeadline() {
	if s.deadline.IsZero() {
		return
	}
	s.deadline = time.Time{}
	_ = s.rc.SetWriteDeadline(time.Time{})
}

// appendLine appends src to dst with every CR and LF replaced by a space.
func appendLine[T string | []byte](dst []byte, src T) []byte {
	start := len(dst)
	dst = append(dst, src...)
	tail := dst[start:]
	// JSON from encoding/json has neither: two vectorised scans decide.
	if bytes.IndexByte(tail, '\n') < 0 && bytes.IndexByte(tail, '\r') < 0 {
		return dst
	}
	for i, c := range tail {
		if c == '\r' || c == '\n' {
			tail[i] = ' '
		}
	}
	return dst
}
