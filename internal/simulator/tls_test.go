package simulator_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/simulator"
)

const askBody = `{"type":"COPILOT_MOA_CHAT","current_query_string":"type=COPILOT_MOA_CHAT",` +
	`"messages":[{"role":"user","content":"hello over TLS","is_prompt":false,"session_state":null}],` +
	`"action_params":{},"extra_data":{"models":["claude-sonnet-4-5"],"run_with_another_model":false,"writingContent":null,"request_web_knowledge":false}}`

// ask posts a Genspark chat and reports the protocol, whether the
// connection was reused, whether the server asked to close it, and the body.
func ask(t *testing.T, c *http.Client, url string) (proto string, reused, closing bool, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/copilot/ask", strings.NewReader(askBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "session_id=tls-account")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("ask: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("ask body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ask answered %d: %s", resp.StatusCode, raw)
	}
	return resp.Proto, reused, resp.Close, string(raw)
}

// serve starts the simulator on loopback, over TLS when cert is set.
func serve(t *testing.T, cert *simulator.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if cert != nil {
		ln = tls.NewListener(ln, cert.ServerConfig())
		scheme = "https"
	}
	srv := &http.Server{Handler: simulator.New(simulator.Options{}), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // the rejected-certificate test's handshake error
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return scheme + "://" + ln.Addr().String()
}

// TestTLSServesHTTP2AndKeepsTheConnection: over HTTPS the Genspark ask
// stream ends with its stream, not its connection, so a client multiplexes
// every request over one HTTP/2 connection, as it does with the real site.
func TestTLSServesHTTP2AndKeepsTheConnection(t *testing.T) {
	cert, err := simulator.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cert)
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: cert.Pool()},
		ForceAttemptHTTP2: true,
	}}
	for i := range 3 {
		proto, reused, closing, body := ask(t, c, url)
		if proto != "HTTP/2.0" {
			t.Fatalf("request %d went over %s, want HTTP/2.0", i, proto)
		}
		if closing {
			t.Fatalf("request %d: the server asked to close the HTTP/2 connection", i)
		}
		if i > 0 && !reused {
			t.Fatalf("request %d opened a new connection", i)
		}
		if !strings.Contains(body, "message_result") || !strings.Contains(body, "hello over TLS") {
			t.Fatalf("request %d: no complete answer: %s", i, body)
		}
	}
}

// TestPlainHTTPStillClosesAfterTheAnswer: over HTTP/1.1 the connection
// ends with the answer (docs/genspark-upstream.md §2.5).
func TestPlainHTTPStillClosesAfterTheAnswer(t *testing.T) {
	url := serve(t, nil)
	_, _, closing, body := ask(t, &http.Client{Transport: &http.Transport{}}, url)
	if !closing {
		t.Fatal("HTTP/1.1 ask answer kept the connection open")
	}
	if !strings.Contains(body, "message_result") {
		t.Fatalf("no complete answer: %s", body)
	}
}

// TestCertificateIsRejectedByDefault: a client that was not told to trust
// the throwaway certificate refuses it.
func TestCertificateIsRejectedByDefault(t *testing.T) {
	cert, err := simulator.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cert)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Get(url + "/_sim/requests")
	if err == nil {
		resp.Body.Close()
		t.Fatal("an untrusted self-signed certificate was accepted")
	}
}
