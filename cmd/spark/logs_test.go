package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineSink collects log lines and reports the listening addresses of the
// gateway and of its metrics (logged before it).
type lineSink struct {
	mu          sync.Mutex
	buf         strings.Builder
	addr        chan string
	metricsAddr string
	found       bool
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if !s.found {
		for line := range strings.SplitSeq(s.buf.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "metrics listening" {
				s.metricsAddr = rec.Addr
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "spark listening" {
				s.found = true
				s.addr <- rec.Addr
				break
			}
		}
	}
	return len(p), nil
}

func (s *lineSink) metrics() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metricsAddr
}

func (s *lineSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestServeJSONLogs: with LOG_FORMAT=json, serve writes one JSON object
// per line; each request's line carries the request id the client got; the
// account cookie, the client key and the proxy password never appear, not
// even in a request that sends them; METRICS_ADDR serves /metrics without
// a token while the main port has none; and SIGTERM drains.
func TestServeJSONLogs(t *testing.T) {
	const (
		cookieSecret = "SessionSecretValue0123456789"
		key          = "sk-json-logs-test-key-0123456789"
		proxyPass    = "ProxyPassw0rdSecret"
	)
	t.Setenv("DATA_DIR", t.TempDir())
	t.Setenv("GS_COOKIE", "session_id="+cookieSecret)
	t.Setenv("GEMINI_COOKIE", "")
	t.Setenv("API_SECRET", key)
	t.Setenv("SPARK_SECRET_KEY", "")
	t.Setenv("PROXY_URL", "http://user:"+proxyPass+"@127.0.0.1:9")
	t.Setenv("PORT", "0")
	t.Setenv("LOG_FORMAT", "json")
	t.Setenv("DEBUG", "true")
	t.Setenv("SHUTDOWN_TIMEOUT", "5s")
	t.Setenv("METRICS_ADDR", "127.0.0.1:0")
	t.Setenv("METRICS_TOKEN", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &lineSink{addr: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--host", "127.0.0.1"}, &strings.Builder{}, logs) }()
	var addr string
	select {
	case addr = <-logs.addr:
	case err := <-done:
		t.Fatalf("serve ended: %v\n%s", err, logs.String())
	}
	ids := map[string]bool{}
	for _, hdr := range []map[string]string{
		{"Authorization": "Bearer " + key},
		{"Authorization": "Bearer " + key + "x", "Cookie": "session_id=" + cookieSecret, "X-Proxy": "http://user:" + proxyPass + "@h"},
	} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/models?key="+key, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ids[resp.Header.Get("X-Request-Id")] = false
	}
	const modelsSeries = `gen_ai_server_request_duration_seconds_count{error_type="",gen_ai_provider_name="",gen_ai_request_model="",gen_ai_response_model="",http_response_status_code="200",http_route="GET /v1/models"} 1`
	for _, probe := range []struct {
		url  string
		want int
	}{
		{"http://" + logs.metrics() + "/metrics", http.StatusOK},
		{"http://" + addr + "/metrics", http.StatusNotFound},
	} {
		// A request is observed once the server has finished with it,
		// which may be just after the client has read the answer: the
		// scrape is repeated until it shows, within a bound.
		var b []byte
		for start := time.Now(); ; {
			resp, err := http.Get(probe.url)
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if id := resp.Header.Get("X-Request-Id"); id != "" {
				ids[id] = false // the main port's answer: it has a request line too
			}
			if resp.StatusCode != probe.want {
				t.Errorf("GET %s: %d, want %d", probe.url, resp.StatusCode, probe.want)
			}
			if probe.want != http.StatusOK || strings.Contains(string(b), modelsSeries) || time.Since(start) > 10*time.Second {
				break
			}
			runtime.Gosched()
		}
		if probe.want == http.StatusOK && !strings.Contains(string(b), modelsSeries) {
			t.Errorf("the metrics lack the models request:\n%s", b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	out := logs.String()
	drained := false
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON line: %s", line)
			continue
		}
		if rec["msg"] == "request" {
			id, _ := rec["request_id"].(string)
			if _, ok := ids[id]; !ok {
				t.Errorf("request line without a request id the client got: %s", line)
			}
			ids[id] = true
		}
		if strings.HasPrefix(rec["msg"].(string), "drain") {
			drained = true
		}
	}
	for id, seen := range ids {
		if !seen {
			t.Errorf("no request line for %s", id)
		}
	}
	if !drained {
		t.Errorf("no drain line on shutdown:\n%s", out)
	}
	for _, s := range []string{cookieSecret, key, proxyPass} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q in the log:\n%s", s, out)
		}
	}
}
