package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"testing"
)

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// PostCounted serves a POST of body to path, with contentType, with h and
// returns the recorded answer and how many bytes of the body h read, for
// checks that a handler reads no further into a body than its bound.
func PostCounted(h http.Handler, path, contentType string, body []byte) (*httptest.ResponseRecorder, int64) {
	cr := &countingReader{r: bytes.NewReader(body)}
	req := httptest.NewRequest(http.MethodPost, path, cr)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, cr.n
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

// OpenAIError is the error object of an OpenAI error envelope, every field
// as sent (a JSON null stays nil).
type OpenAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// CodeParam returns the error's code and param, "" for a null.
func (e OpenAIError) CodeParam() (code, param string) {
	if e.Code != nil {
		code = *e.Code
	}
	if e.Param != nil {
		param = *e.Param
	}
	return code, param
}

// PostOpenAIError posts body to url with contentType (no Content-Type
// header when empty) and returns the status and the error object of the
// answer, failing t unless the answer is exactly
// {"error":{"message","type","param","code"}} served as application/json.
func PostOpenAIError(t testing.TB, url, contentType string, body []byte) (int, OpenAIError) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil || len(env) != 1 || len(env["error"]) != 4 ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s answered %d %q with %.300q: not an OpenAI error envelope", url, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	var out struct{ Error OpenAIError }
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: error envelope %.300q: %v", url, raw, err)
	}
	return resp.StatusCode, out.Error
}

// FormPart is one part of a multipart/form-data body.
type FormPart struct {
	Name, Filename string
	Header         textproto.MIMEHeader // extra header lines (Content-Type, padding)
	Data           []byte
}

// MultipartForm encodes parts as multipart/form-data and returns the
// content type (with its boundary) and the body.
func MultipartForm(t testing.TB, parts ...FormPart) (contentType string, body []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := fmt.Sprintf("form-data; name=%q", p.Name)
		if p.Filename != "" {
			disp += fmt.Sprintf("; filename=%q", p.Filename)
		}
		h.Set("Content-Disposition", disp)
		for k, v := range p.Header {
			h[k] = v
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(p.Data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.Bytes()
}
