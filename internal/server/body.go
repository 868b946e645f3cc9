package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/metrics"
	"github.com/sparkgw/spark/internal/reqctx"
)

// bodyPending reports whether r may carry a body the server has not read:
// a declared length or a chunked one.
func bodyPending(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// bodyDeadline is how long a body of at most n bytes may take to arrive:
// the base plus n at the minimum rate, at most the maximum.
func (s *Server) bodyDeadline(n int64) time.Duration {
	d := s.opts.BodyReadBase + time.Duration(float64(n)/float64(s.opts.BodyMinRate)*float64(time.Second))
	return min(d, s.opts.BodyReadMax)
}

// boundBody bounds r's body for an admitted request: at most limit bytes
// (the excess fails with *http.MaxBytesError, which the front-ends answer
// with 413), and a read deadline of bodyDeadline for its declared length,
// or for limit when the length is unknown (chunked). A body that misses
// its deadline fails with a 408 *gw.Error. The deadline does not cut the
// response (a stream) that follows: net/http clears the connection's read
// deadline when the body has been read to its end, before it waits for the
// client's next request or hang-up; a body abandoned unread closes the
// connection (statusRecorder.startResponse).
func (s *Server) boundBody(w *statusRecorder, r *http.Request, limit int64) {
	n := limit
	if r.ContentLength > 0 && r.ContentLength < limit {
		n = r.ContentLength
	}
	d := s.bodyDeadline(n)
	// An error means a writer without deadlines (a test's recorder): the
	// size bound alone applies.
	_ = http.NewResponseController(w.ResponseWriter).SetReadDeadline(time.Now().Add(d))
	b := &deadlineBody{body: r.Body, within: d}
	w.body = b
	r.Body = http.MaxBytesReader(w, b, limit)
}

// deadlineBody is a request body read under a read deadline: it turns a
// missed deadline into a 408 and notes when the body has been read to its
// end or closed.
type deadlineBody struct {
	body   io.ReadCloser
	within time.Duration
	done   bool // read to EOF or closed
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.done = true
	} else if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, &gw.Error{Code: gw.CodeRequestTimeout, Cause: err,
			Message: "The request body did not arrive in time: it must be sent within " +
				strconv.FormatFloat(b.within.Seconds(), 'f', -1, 64) + " s."}
	}
	return n, err
}

// Close closes the body; the server reads what is left of a small one, for
// keep-alive, still under the deadline.
func (b *deadlineBody) Close() error {
	err := b.body.Close()
	b.done = true
	return err
}

// statusRecorder captures the status for the access log, forwards flushes
// (streams) to the real writer, and, when the response starts while the
// request body is unread, makes the server drop that body and the
// connection instead of waiting for it.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64

	pendingBody bool          // the request may carry a body not yet dealt with
	http1       bool          // HTTP/1.x: the connection can be closed after the reply
	body        *deadlineBody // the bounded body, once the request was admitted
	usage       *reqctx.Usage // the request's usage note (nil: not accounted)
	release     func()        // frees the client key's concurrency slot; nil when none is held
	// admission is the limiters' decision on this request, for the
	// metrics (Wait 0: no limiter ran, or metrics are off).
	admission metrics.Admission
	limited   bool // a limiter ran
}

// releaseKey frees the client key's concurrency slot, once.
func (sr *statusRecorder) releaseKey() {
	if sr.release != nil {
		release := sr.release
		sr.release = nil
		release()
	}
}

// NoteErrorClass records the error code of the error a handler answers
// with in the request's usage note (the front-ends' error writers call it).
func (sr *statusRecorder) NoteErrorClass(code string) { sr.usage.SetErrorClass(code) }

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
		sr.startResponse()
	}
	sr.ResponseWriter.WriteHeader(code)
}

func (sr *statusRecorder) Write(p []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
		sr.startResponse()
	}
	n, err := sr.ResponseWriter.Write(p)
	sr.bytes += int64(n)
	return n, err
}

// FlushError flushes the real writer (http.ResponseController.Flush calls
// it); a flush before any write starts the response.
func (sr *statusRecorder) FlushError() error {
	if sr.status == 0 {
		sr.status = http.StatusOK
		sr.startResponse()
	}
	if f, ok := sr.ResponseWriter.(interface{ FlushError() error }); ok {
		return f.FlushError()
	}
	return http.NewResponseController(sr.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the real writer's deadlines.
func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

// startResponse runs once, when the response starts. A request body that
// was not read to its end is abandoned: the connection closes after this
// response ("Connection: close", so net/http does not first read the rest
// of the body to reuse the connection) and the read deadline is set in the
// past, so nothing waits for the rest of a slowly sent body, not even the
// server's final drain. This is how a refused request (401, 404, 429, 413,
// ...) answers at once without reading its body.
func (sr *statusRecorder) startResponse() {
	if !sr.pendingBody || (sr.body != nil && sr.body.done) {
		return
	}
	sr.pendingBody = false
	if sr.http1 {
		sr.Header().Set("Connection", "close")
	}
	_ = http.NewResponseController(sr.ResponseWriter).SetReadDeadline(time.Now())
}
