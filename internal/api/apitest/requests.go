package apitest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
)

// CountingReader counts the bytes read from R, for checks that a handler
// reads no further into a body than its bound.
type CountingReader struct {
	R io.Reader
	N int64 // bytes read so far
}

// Read implements io.Reader.
func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}

// PostJSON serves a POST of body to path, as application/json, with h and
// returns the recorded answer.
func PostJSON(h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, req)
	return w
}
