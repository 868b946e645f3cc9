package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/logging"
	"github.com/sparkgw/spark/internal/simulator"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "Start the upstream simulators and a gateway wired to them with demo accounts\n(one of them always rate-limited, to show failover). Everything runs offline.", stderr)
	port := fs.Int("port", 7055, "gateway port (0 = any free port)")
	delay := fs.Duration("delay", 30*time.Millisecond, "simulated pause between streamed deltas")
	debug := fs.Bool("debug", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := logging.New(stderr, *debug)

	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	sim := simulator.New(simulator.Options{DeltaDelay: *delay, Logger: log})
	simSrv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = simSrv.Serve(simLn) }()
	defer simSrv.Close()
	simURL := "http://" + simLn.Addr().String()

	dataDir, err := os.MkdirTemp("", "spark-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)

	key := "sk-demo-" + rand.Text()
	cfg := &config.Config{
		Port: max(*port, 1), Host: "127.0.0.1", APISecret: key, DataDir: dataDir,
		GSCookie:              "session_id=demo-alpha,session_id=demo-beta,session_id=limited-demo",
		GensparkBaseURL:       simURL,
		GeminiBaseURL:         simURL,
		GeminiUploadURL:       simURL,
		GoogleAccountsURL:     simURL,
		GoogleAIBaseURL:       simURL,
		RecaptchaProxyURL:     simURL,
		Debug:                 *debug,
		RateLimitCookieLock:   600,
		AutoModelChatMapType:  1,
		ToolCallingEnabled:    true,
		PoolStrategy:          "round-robin",
		ImageProxyCookieHosts: "127.0.0.1",
		ImageProxyTTL:         24 * time.Hour,
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		return fmt.Errorf("listen: %w (try --port 0)", err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, `spark demo is running (Ctrl-C to stop)

  base URL:   %[1]s/v1
  API key:    %[2]s
  simulator:  %[3]s  (request log: %[3]s/_sim/requests)

Try:

  curl -sS %[1]s/v1/chat/completions -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' -d '{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello from the demo sim:think"}]}'

  curl -sSN %[1]s/v1/chat/completions -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' -d '{"model":"gpt-5.1-search","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Stream this"}]}'

  curl -sS %[1]s/v1/models -H 'Authorization: Bearer %[2]s'
`, base, key, simURL)
	return serveUntilDone(ctx, newHTTPServer(a.Handler()), ln)
}
