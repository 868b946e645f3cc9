package sse_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sparkgw/spark/internal/sse"
	"github.com/sparkgw/spark/internal/testutil"
)

// recorder counts writes and flushes.
type recorder struct {
	*httptest.ResponseRecorder
	writes, flushes int
	failAfter       int // writes that succeed; 0 = never fail
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes++
	if r.failAfter > 0 && r.writes > r.failAfter {
		return 0, errors.New("connection reset")
	}
	return r.ResponseRecorder.Write(p)
}

func (r *recorder) Flush() {
	r.flushes++
	r.ResponseRecorder.Flush()
}

func newRecorder() *recorder { return &recorder{ResponseRecorder: httptest.NewRecorder()} }

func TestHeaders(t *testing.T) {
	rec := newRecorder()
	rec.Header().Set("Content-Encoding", "gzip")
	rec.Header().Set("Content-Length", "12")
	w := sse.NewWriter(rec)
	if err := w.WriteData([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"Connection":        "keep-alive",
		"X-Accel-Buffering": "no",
		"Content-Encoding":  "",
		"Content-Length":    "",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if rec.Code != http.StatusOK {
		t.Errorf("status %d", rec.Code)
	}
}

func TestFraming(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *sse.Writer) error
		want  string
	}{
		{"Data", func(w *sse.Writer) error { return w.WriteData([]byte(`{"a":1}`)) }, "data: {\"a\":1}\n\n"},
		{"Done", func(w *sse.Writer) error { return w.WriteData([]byte("[DONE]")) }, "data: [DONE]\n\n"},
		{"MultiLineJSON", func(w *sse.Writer) error { return w.WriteData([]byte("{\n  \"a\": 1\r\n}")) }, "data: {   \"a\": 1  }\n\n"},
		{"Event", func(w *sse.Writer) error { return w.WriteEvent("message_start", []byte(`{"type":"message_start"}`)) },
			"event: message_start\ndata: {\"type\":\"message_start\"}\n\n"},
		{"EventNameNewline", func(w *sse.Writer) error { return w.WriteEvent("a\nb", []byte(`{}`)) }, "event: a b\ndata: {}\n\n"},
		{"Comment", func(w *sse.Writer) error { return w.Comment("ping") }, ": ping\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			w := sse.NewWriter(rec)
			if err := tt.write(w); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if rec.writes != 1 || rec.flushes != 1 {
				t.Errorf("writes %d flushes %d, want 1 and 1", rec.writes, rec.flushes)
			}
		})
	}
}

func TestSequenceFlushesEachEvent(t *testing.T) {
	rec := newRecorder()
	w := sse.NewWriter(rec)
	for i := 0; i < 5; i++ {
		if err := w.WriteData([]byte(`{"i":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if rec.writes != 5 || rec.flushes != 5 {
		t.Errorf("writes %d flushes %d", rec.writes, rec.flushes)
	}
	if strings.Count(rec.Body.String(), "data: {\"i\":1}\n\n") != 5 {
		t.Errorf("body %q", rec.Body.String())
	}
}

func TestWriteErrorSticks(t *testing.T) {
	rec := newRecorder()
	rec.failAfter = 1
	w := sse.NewWriter(rec)
	if err := w.WriteData([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	err := w.WriteEvent("x", []byte("{}"))
	if err == nil || w.Err() == nil {
		t.Fatal("write error not reported")
	}
	if err2 := w.Comment("ping"); !errors.Is(err2, err) && err2 != err {
		t.Errorf("later call returned %v, want %v", err2, err)
	}
	if rec.writes != 2 {
		t.Errorf("writes after failure: %d", rec.writes)
	}
}

// TestOverNetwork streams over a real connection with a client asking for
// gzip: the body must arrive uncompressed and incrementally.
func TestOverNetwork(t *testing.T) {
	step := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := sse.NewWriter(rw)
		_ = w.WriteData([]byte(`{"n":1}`))
		<-step // the client must see the first event before the second is written
		_ = w.WriteData([]byte(`{"n":2}`))
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ce := res.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("Content-Encoding %q", ce)
	}
	buf := make([]byte, len("data: {\"n\":1}\n\n"))
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "data: {\"n\":1}\n\n" {
		t.Errorf("first event %q", buf)
	}
	close(step)
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "data: {\"n\":2}\n\n" {
		t.Errorf("second event %q", rest)
	}
}

func BenchmarkWriteData(b *testing.B) {
	w := sse.NewWriter(discard{h: http.Header{}})
	w.StallTimeout = 0
	payload := []byte(`{"id":"chatcmpl-x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hello"}}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteData(payload); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}
func (d discard) Flush()                      {}

// TestStallTimeout checks that a client which stops reading makes a write
// fail after StallTimeout instead of blocking forever. On the bubble's clock
// the write fails exactly StallTimeout after it began.
func TestStallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const stall = 200 * time.Millisecond
		type failure struct {
			err   error
			after time.Duration
		}
		result := make(chan failure, 1)
		srv := testutil.NewPipeServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w := sse.NewWriter(rw)
			w.StallTimeout = stall
			payload := []byte(`"` + strings.Repeat("x", 64<<10) + `"`)
			for {
				start := time.Now()
				if err := w.WriteData(payload); err != nil {
					result <- failure{err, time.Since(start)}
					return
				}
			}
		}), nil)
		res, err := srv.Client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close() // never read: the client is stuck
		f := <-result          // a write blocked for good would deadlock the bubble: synctest fails the test
		if !errors.Is(f.err, os.ErrDeadlineExceeded) {
			t.Errorf("err = %v, want a deadline error", f.err)
		}
		if f.after != stall {
			t.Errorf("the write failed after %v, want StallTimeout (%v)", f.after, stall)
		}
	})
}

// TestDeadlineDoesNotOutliveEvent checks that the per-event deadline is
// cleared after the event: a handler that lingers after its last event must
// still end the response cleanly (the final chunk is written after it
// returns), and the keep-alive connection stays usable.
func TestDeadlineDoesNotOutliveEvent(t *testing.T) {
	serveTwiceOnOneConnection(t, func(rw http.ResponseWriter, r *http.Request) {
		w := sse.NewWriter(rw)
		w.StallTimeout = 50 * time.Millisecond
		_ = w.WriteData([]byte("{}"))
		time.Sleep(200 * time.Millisecond) // on the bubble's clock: past the event's deadline
	}, "data: {}\n\n")
}

// serveTwiceOnOneConnection GETs the handler twice with one client, inside
// a synctest bubble (the handler's sleeps and deadlines follow its clock),
// and checks both bodies and that the second request reused the keep-alive
// connection of the first.
func serveTwiceOnOneConnection(t *testing.T, h http.HandlerFunc, want string) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		var conns atomic.Int32
		srv := testutil.NewPipeServer(t, h, func(s *http.Server) {
			s.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
		})
		for range 2 {
			res, err := srv.Client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || string(b) != want {
				t.Fatalf("body %q, err %v", b, err)
			}
		}
		if n := conns.Load(); n != 1 {
			t.Errorf("connections = %d, want 1 (keep-alive reuse)", n)
		}
	})
}

// deadlineRecorder is a recorder that also takes write deadlines.
type deadlineRecorder struct {
	*recorder
	deadlines []time.Time
}

func (r *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	r.deadlines = append(r.deadlines, t)
	return nil
}

// With Pending, a burst of events after the first is written with one
// flush at its end, and the stall deadline is set once for the burst and
// cleared after its flush. The first event is always flushed: it carries
// the status line.
func TestPendingCoalescesFlushes(t *testing.T) {
	rec := &deadlineRecorder{recorder: newRecorder()}
	w := sse.NewWriter(rec)
	rec.deadlines = nil // NewWriter's clearing
	asked := 0
	more := 2
	w.Pending = func() bool { asked++; more--; return more >= 0 }
	for range 4 {
		if err := w.WriteData([]byte(`{"i":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if rec.writes != 4 || rec.flushes != 2 || asked != 3 {
		t.Errorf("writes %d flushes %d Pending asked %d times, want 4, 2 and 3", rec.writes, rec.flushes, asked)
	}
	if strings.Count(rec.Body.String(), "data: {\"i\":1}\n\n") != 4 {
		t.Errorf("body %q", rec.Body.String())
	}
	d := rec.deadlines
	if len(d) != 4 || d[0].IsZero() || !d[1].IsZero() || d[2].IsZero() || !d[3].IsZero() {
		t.Errorf("deadlines %v, want set and cleared for the first event, then once for the burst", d)
	}

	// Without Pending every event is flushed, with its own deadline.
	w.Pending = nil
	rec.deadlines = nil
	for range 2 {
		if err := w.Comment("x"); err != nil {
			t.Fatal(err)
		}
	}
	if rec.flushes != 4 || len(rec.deadlines) != 4 {
		t.Errorf("flushes %d, deadlines %d; want 4 and 4", rec.flushes, len(rec.deadlines))
	}
}

func TestFlush(t *testing.T) {
	rec := &deadlineRecorder{recorder: newRecorder()}
	w := sse.NewWriter(rec)
	if err := w.Flush(); err != nil || rec.flushes != 0 {
		t.Fatalf("Flush with nothing written: %v, %d flushes", err, rec.flushes)
	}
	w.Pending = func() bool { return true }
	if err := w.WriteData([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	if rec.flushes != 1 {
		t.Fatalf("first event: %d flushes, want 1 (it carries the status line)", rec.flushes)
	}
	if err := w.WriteData([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	if rec.flushes != 1 {
		t.Fatal("flushed although more was pending")
	}
	if err := w.Flush(); err != nil || rec.flushes != 2 {
		t.Fatalf("Flush: %v, %d flushes", err, rec.flushes)
	}
	if d := rec.deadlines[len(rec.deadlines)-1]; !d.IsZero() {
		t.Errorf("deadline %v left after Flush", d)
	}
	if err := w.Flush(); err != nil || rec.flushes != 2 {
		t.Fatalf("second Flush: %v, %d flushes", err, rec.flushes)
	}
}

// A client that stops reading still fails the writes of a burst that is
// never flushed: the response buffer fills and the stall deadline applies,
// exactly StallTimeout after the burst began (on the bubble's clock).
func TestStallTimeoutWhilePending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const stall = 200 * time.Millisecond
		type failure struct {
			err   error
			after time.Duration
		}
		result := make(chan failure, 1)
		srv := testutil.NewPipeServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w := sse.NewWriter(rw)
			w.StallTimeout = stall
			w.Pending = func() bool { return true }
			payload := []byte(`"` + strings.Repeat("x", 1<<10) + `"`)
			start := time.Now()
			for {
				if err := w.WriteData(payload); err != nil {
					result <- failure{err, time.Since(start)}
					return
				}
			}
		}), nil)
		res, err := srv.Client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		f := <-result
		if !errors.Is(f.err, os.ErrDeadlineExceeded) {
			t.Errorf("err = %v, want a deadline error", f.err)
		}
		if f.after != stall {
			t.Errorf("the burst failed after %v, want StallTimeout (%v)", f.after, stall)
		}
	})
}

// A burst ended by a flush leaves no deadline behind: the keep-alive
// connection serves the next request after the handler lingered.
func TestPendingDeadlineDoesNotOutliveBurst(t *testing.T) {
	serveTwiceOnOneConnection(t, func(rw http.ResponseWriter, r *http.Request) {
		w := sse.NewWriter(rw)
		w.StallTimeout = 50 * time.Millisecond
		n := 0
		w.Pending = func() bool { n++; return n < 2 } // asked for events 2 and 3
		for range 3 {
			_ = w.WriteData([]byte("{}"))
		}
		time.Sleep(200 * time.Millisecond) // on the bubble's clock: past the burst's deadline
	}, strings.Repeat("data: {}\n\n", 3))
}

func BenchmarkWriteDataPending(b *testing.B) {
	w := sse.NewWriter(discard{h: http.Header{}})
	w.StallTimeout = 0
	n := 0
	w.Pending = func() bool { n++; return n%8 != 0 }
	payload := []byte(`{"id":"chatcmpl-x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hello"}}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteData(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// Start sends the status line and headers before any event: the client
// sees a 200 event stream while the handler still waits for its first
// event (which, in the bubble, comes only after the client has its
// response, or a fake minute later if it never does).
func TestStartSendsHeadersBeforeAnyEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		srv := testutil.NewPipeServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w := sse.NewWriter(rw)
			if err := w.Start(); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-release:
			case <-time.After(time.Minute):
			}
			_ = w.WriteData([]byte("{}"))
		}), nil)
		defer close(release)
		got := make(chan *http.Response, 1)
		go func() {
			res, err := srv.Client.Get(srv.URL)
			if err != nil {
				t.Error(err)
				close(got)
				return
			}
			got <- res
		}()
		select {
		case res, ok := <-got:
			if !ok {
				return
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no response header before the first event")
		}
	})
}
