package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/logging"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/store"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "Run the gateway. Configuration comes from the environment (see README);\nflags override the variables of the same meaning.", stderr)
	port := fs.Int("port", 0, "listen port (PORT, default 7055)")
	host := fs.String("host", "", "listen address (HOST, default all interfaces)")
	dataDir := fs.String("data-dir", "", "data directory (DATA_DIR, default ./data)")
	debug := newBoolFlag(fs, "debug", "debug logging (DEBUG)")
	prefix := fs.String("route-prefix", "", "route prefix (ROUTE_PREFIX)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "port":
			cfg.Port = *port
		case "host":
			cfg.Host = *host
		case "data-dir":
			cfg.DataDir = *dataDir
		case "debug":
			cfg.Debug = *debug
		case "route-prefix":
			cfg.RoutePrefix = *prefix
		}
	})
	if err := cfg.Validate(); err != nil {
		return err
	}
	secrets := &logging.Secrets{}
	log := newLogger(stderr, cfg, secrets)
	if *pprofAddr != "" {
		stopProfiles, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopProfiles()
	}
	start := time.Now()
	a, err := app.New(ctx, cfg, log, app.WithSecrets(secrets))
	if err != nil {
		return err
	}
	defer a.Close()
	if a.MintedKey != "" {
		fmt.Fprintf(stdout, "spark: no API key was configured, so one was created. It is shown only this once; store it now:\n\n    %s\n\n", a.MintedKey)
	}
	for _, w := range startupWarnings(cfg.Host, a.MintedKey != "", a.Pool().Snapshot()) {
		log.Warn(w)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, a.MetricsHandler(), log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
	}
	log.Info("spark listening", "addr", ln.Addr().String(), "prefix", cfg.Prefix(), "startup", time.Since(start).Round(time.Millisecond))
	if link := a.SetupLink(setupBase(cfg.PublicURL, ln.Addr())); link != "" {
		fmt.Fprintf(stdout, "spark: no admin exists yet. Open this one-time link within an hour to create the first admin\n(or set SPARK_ADMIN_EMAIL and SPARK_ADMIN_PASSWORD):\n\n    %s\n\n", link)
	}
	return serveAndDrain(ctx, a.Shutdown, newHTTPServer(a.Handler()), ln, cfg.ShutdownTimeout, log)
}

// newLogger is the gateway's logger: LOG_FORMAT, DEBUG, the secret set
// the app fills, and the request id of every line logged with a
// request's context.
func newLogger(w io.Writer, cfg *config.Config, secrets *logging.Secrets) *slog.Logger {
	return logging.NewLogger(w, logging.Options{Format: cfg.LogFormat, Debug: cfg.Debug, Secrets: secrets,
		FromContext: func(ctx context.Context) []slog.Attr {
			if id := reqctx.RequestID(ctx); id != "" {
				return []slog.Attr{slog.String("request_id", id)}
			}
			return nil
		}})
}

// serveAndDrain serves on ln until ctx ends (SIGTERM, SIGINT), then drains
// with a deadline timeout from then (SHUTDOWN_TIMEOUT): /readyz turns 503,
// the listener closes, requests in flight get until the deadline to
// finish, and the streams still running are then ended with an error
// event (drain is app.App.Shutdown).
func serveAndDrain(ctx context.Context, drain func(context.Context, *http.Server) error, srv *http.Server, ln net.Listener, timeout time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", timeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := drain(drainCtx, srv); err != nil {
		log.Warn("shutdown", "error", err.Error())
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveMetrics serves /metrics without a token on addr (METRICS_ADDR), a
// listener of its own that should not face the network.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// setupBase is the origin the setup link is printed under: PUBLIC_URL,
// else the listening address (localhost when listening on every
// interface).
func setupBase(publicURL string, addr net.Addr) string {
	if publicURL != "" {
		return publicURL
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// accountSources are the ways to add upstream accounts, named by the
// warning at start when there is no usable one. Add the dashboard here once
// it exists.
var accountSources = []string{
	"GS_COOKIE (Genspark session cookies, comma-separated)",
	"GEMINI_COOKIE (Gemini web cookies, comma-separated)",
}

// startupWarnings returns what the operator must hear at start, given the
// listen host, whether the API key was minted by this start (and printed
// on the console), and the accounts in the pool:
//   - no account at all: every request that needs an upstream will fail
//     with 503 no_accounts_configured; the ways to add one;
//   - every account logged out (disabled): the same until cookies are
//     updated;
//   - listening on all interfaces with a freshly minted key: the gateway
//     faces the network behind a key that was just printed.
func startupWarnings(host string, mintedKey bool, accounts []pool.AccountStatus) []string {
	var out []string
	sources := strings.Join(accountSources, " or ")
	disabled := 0
	for _, a := range accounts {
		if a.State == store.StateDisabled {
			disabled++
		}
	}
	switch {
	case len(accounts) == 0:
		out = append(out, "no upstream accounts configured: requests that need one (chat, responses, messages, media) "+
			"will fail with 503 no_accounts_configured until you add some with "+sources)
	case disabled == len(accounts):
		out = append(out, fmt.Sprintf("all %d upstream accounts are logged out (disabled): requests will fail with "+
			"503 no_accounts_configured until you give fresh cookies with %s (see 'spark accounts')", disabled, sources))
	}
	if mintedKey && listensOnAllInterfaces(host) {
		out = append(out, "listening on all interfaces with the API key created just now: anyone on the network can reach "+
			"this gateway, and the key was printed to the console (scrollback, container logs); keep it secret, "+
			"or set HOST=127.0.0.1 to serve this machine only")
	}
	return out
}

// listensOnAllInterfaces reports whether host (HOST, --host) listens on
// every interface: empty, 0.0.0.0, :: (bracketed or not).
func listensOnAllInterfaces(host string) bool {
	h := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(host), "["), "]")
	if h == "" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsUnspecified()
}

// newHTTPServer returns the gateway's http.Server with sane timeouts: no
// write timeout (answers stream for minutes; the SSE writer bounds stalls).
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
}

// servePprof serves the runtime profiles on a loopback address only: they
// reveal memory contents and must never face a network.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	ip, err := netip.ParseAddr(host)
	if host == "localhost" {
		ip, err = netip.MustParseAddr("127.0.0.1"), nil
	}
	if err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--pprof %s: only a loopback address is allowed", addr)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
