package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/simulator"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// testKey is the API key every harness accepts.
const testKey = "sk-test-e2e-key"

// harness is a simulator and a gateway wired to it, both on loopback.
type harness struct {
	t      testing.TB
	sim    *simulator.Simulator
	simURL string
	app    *app.App
	url    string // gateway base URL, without /v1
	logs   *syncBuffer
	client openai.Client
	stop   func() // stops the gateway (idempotent enough for Cleanup)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a simulator and a gateway configured by mutate (applied over
// a config with two healthy Genspark accounts and the test key).
func start(t testing.TB, mutate func(c *config.Config), opts ...app.Option) *harness {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	return startWith(t, sim, simSrv.URL, mutate, opts...)
}

// startWith starts a gateway in front of an already running simulator.
func startWith(t testing.TB, sim *simulator.Simulator, simURL string, mutate func(c *config.Config), opts ...app.Option) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuffer{}, sim: sim, simURL: simURL}
	simSrv := struct{ URL string }{simURL}

	cfg := &config.Config{
		Port: 7055, APISecret: testKey, DataDir: t.TempDir(),
		GSCookie:              "session_id=alpha-account,session_id=beta-account",
		GensparkBaseURL:       simSrv.URL,
		GeminiBaseURL:         simSrv.URL,
		GeminiUploadURL:       simSrv.URL,
		GoogleAccountsURL:     simSrv.URL,
		GoogleAIBaseURL:       simSrv.URL,
		RateLimitCookieLock:   600,
		AutoModelChatMapType:  1,
		ToolCallingEnabled:    true,
		UsageRecords:          true,
		PoolStrategy:          "random",
		ImageProxyCookieHosts: "127.0.0.1",
		ImageProxyTTL:         time.Hour,
		GoogleAIAPIKey:        "sim-google-key",
		Debug:                 true,
	}
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, log, opts...)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	h.app = a
	gwSrv := httptest.NewServer(a.Handler())
	h.stop = func() {
		gwSrv.Close()
		a.Close()
	}
	t.Cleanup(h.stop)
	h.url = gwSrv.URL + cfg.Prefix()
	h.client = openai.NewClient(
		option.WithBaseURL(h.url+"/v1/"),
		option.WithAPIKey(testKey),
		option.WithMaxRetries(0),
	)
	return h
}

// requests returns the simulator's log for one upstream.
func (h *harness) requests(upstream string) []simcore.Entry {
	var out []simcore.Entry
	for _, e := range h.sim.Requests.Entries() {
		if e.Upstream == upstream {
			out = append(out, e)
		}
	}
	return out
}

// asks returns the logged Genspark chat asks.
func (h *harness) asks() []simcore.Entry {
	var out []simcore.Entry
	for _, e := range h.requests("genspark") {
		if e.Path == "/api/copilot/ask" {
			out = append(out, e)
		}
	}
	return out
}

// lastAsk returns the newest Genspark chat ask.
func (h *harness) lastAsk() simcore.Entry {
	h.t.Helper()
	asks := h.asks()
	if len(asks) == 0 {
		h.t.Fatal("the simulator received no /api/copilot/ask")
	}
	return asks[len(asks)-1]
}

// post sends a raw JSON request to the gateway.
func (h *harness) post(path, key, body string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitCtx is a bounded context for waiting on the simulator's log.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func userMsg(text string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}
}
