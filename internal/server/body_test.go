package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
)

// guard bounds every raw-connection read of these tests: a server that
// waits for a body it should not wait for fails the test instead of
// hanging it. It is never a measured time.
const guard = 20 * time.Second

// bodyServer runs a server whose /v1/echo decodes a JSON body the way the
// front-ends do and answers {"ok":true}; calls counts the handler's runs.
func bodyServer(t *testing.T, opts server.Options) (addr string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	opts.Keys = keys{"sk-1": "key1"}
	opts.WriteError = writeDialect
	s := server.New(opts)
	mustHandle(s, route.Route{Pattern: "POST /v1/echo", Class: route.ClientKey, Dialect: route.OpenAI, MaxBody: 1 << 20,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			var v map[string]any
			if err := wire.DecodeJSON(w, r, 1<<20, &v, nil); err != nil {
				openai.WriteError(w, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		})})
	s.SetReady(true)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), calls
}

// dial opens a raw connection to addr, bounded by guard.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(guard))
	return conn, bufio.NewReader(conn)
}

// send writes raw bytes to conn.
func send(t *testing.T, conn net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(conn, s); err != nil {
		t.Fatal(err)
	}
}

// readAnswer reads one response from br and its whole body.
func readAnswer(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("answer body: %v", err)
	}
	return resp, string(b)
}

// wantClosed asserts the server closed the connection: the next read ends
// (EOF or reset), not the guard's timeout.
func wantClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	_, err := br.ReadByte()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection still open after the answer (read: %v)", err)
	}
}

// TestRefusedRequestAnswersWithoutReadingTheBody: a request the server
// refuses before its handler (no key, wrong key, unknown route, a declared
// body over the bound) gets its JSON answer while its body is still on
// its way — only one byte of it was sent — and the connection closes, so
// a slowly sent body cannot hold it.
func TestRefusedRequestAnswersWithoutReadingTheBody(t *testing.T) {
	addr, calls := bodyServer(t, server.Options{})
	tests := []struct {
		name, head string
		status     int
	}{
		{"no key", "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", 401},
		{"wrong key", "POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-2\r\nContent-Length: 100000\r\n\r\n", 401},
		{"no key chunked", "POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n", 401},
		{"no key expecting 100-continue", "POST /v1/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n", 401},
		{"unknown route", "POST /v1/nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-1\r\nContent-Length: 100000\r\n\r\n", 404},
		{"wrong method", "PUT /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-1\r\nContent-Length: 100000\r\n\r\n", 405},
		{"over the bound", "POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-1\r\nContent-Length: 2000000\r\n\r\n", 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, br := dial(t, addr)
			send(t, conn, tc.head+"{")
			resp, body := readAnswer(t, br, "POST")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if !resp.Close {
				t.Errorf("no Connection: close (%v)", resp.Header)
			}
			if !strings.HasPrefix(body, `{"error":`) {
				t.Errorf("not a JSON error: %s", body)
			}
			wantClosed(t, br)
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the handler ran %d times for refused requests", n)
	}
}

// TestSlowBodyEndsWith408: an authenticated request whose body stops
// arriving gets a JSON 408 once its read deadline (base + size / rate,
// here injected short) passes, and the connection closes.
func TestSlowBodyEndsWith408(t *testing.T) {
	t.Run("base", func(t *testing.T) {
		slowBody(t, server.Options{BodyReadBase: 50 * time.Millisecond, BodyMinRate: 1 << 40})
	})
	t.Run("cap", func(t *testing.T) {
		slowBody(t, server.Options{BodyReadMax: 50 * time.Millisecond})
	})
}

func slowBody(t *testing.T, opts server.Options) {
	addr, calls := bodyServer(t, opts)
	for _, head := range []string{
		"POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-1\r\nContent-Length: 1000\r\n\r\n",
		"POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n",
	} {
		conn, br := dial(t, addr)
		send(t, conn, head+`{`)
		resp, body := readAnswer(t, br, "POST")
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"code":"request_timeout"`) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if !resp.Close {
			t.Errorf("no Connection: close")
		}
		wantClosed(t, br)
	}
	if calls.Load() != 2 {
		t.Fatalf("handler ran %d times", calls.Load())
	}
}

// TestSlowMultipartBodyEndsWith408: the same through a real front-end's
// multipart reader (audio transcriptions).
func TestSlowMultipartBodyEndsWith408(t *testing.T) {
	s := server.New(server.Options{WriteError: writeDialect, BodyReadBase: 50 * time.Millisecond, BodyMinRate: 1 << 40})
	mustHandle(s, extras.New(extras.Options{}).Routes()...)
	srv := httptest.NewServer(s)
	defer srv.Close()
	conn, br := dial(t, srv.Listener.Addr().String())
	send(t, conn, "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"+
		"Content-Length: 5000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\n\r\nID3")
	resp, body := readAnswer(t, br, "POST")
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"code":"request_timeout"`) || !resp.Close {
		t.Fatalf("status %d close=%v: %s", resp.StatusCode, resp.Close, body)
	}
	wantClosed(t, br)
}

// TestBodyReadKeepsTheConnection: a body that arrives is served and the
// connection stays open for the next request.
func TestBodyReadKeepsTheConnection(t *testing.T) {
	addr, _ := bodyServer(t, server.Options{})
	conn, br := dial(t, addr)
	req := "POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-1\r\nContent-Length: 2\r\n\r\n{}"
	for i := range 2 {
		send(t, conn, req)
		resp, body := readAnswer(t, br, "POST")
		if resp.StatusCode != 200 || body != `{"ok":true}` || resp.Close {
			t.Fatalf("request %d: %d close=%v %s", i, resp.StatusCode, resp.Close, body)
		}
	}
}

// TestDeadlineLiftedOnceTheBodyIsRead: the body's read deadline must not
// outlive the body: a handler still answering after it (a long stream)
// keeps its context (net/http cancels it when a read on the connection
// fails, which a deadline left in force would make happen). The handler
// waits past the deadline on purpose: this is the lapse of the deadline
// under test, not synchronisation.
func TestDeadlineLiftedOnceTheBodyIsRead(t *testing.T) {
	const deadline = 20 * time.Millisecond
	s := server.New(server.Options{WriteError: writeDialect, BodyReadBase: deadline, BodyMinRate: 1 << 40})
	mustHandle(s, route.Route{Pattern: "POST /v1/stream", Class: route.ClientKey,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var v map[string]any
			if err := wire.DecodeJSON(w, r, 1<<20, &v, nil); err != nil {
				openai.WriteError(w, err)
				return
			}
			select {
			case <-r.Context().Done():
				http.Error(w, "context canceled", 500)
			case <-time.After(10 * deadline):
				_, _ = w.Write([]byte("still here"))
			}
		})})
	srv := httptest.NewServer(s)
	defer srv.Close()
	conn, br := dial(t, srv.Listener.Addr().String())
	send(t, conn, "POST /v1/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	resp, body := readAnswer(t, br, "POST")
	if resp.StatusCode != 200 || body != "still here" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
