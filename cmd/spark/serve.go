package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"time"

	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/logging"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "Run the gateway. Configuration comes from the environment (see README);\nflags override the variables of the same meaning.", stderr)
	port := fs.Int("port", 0, "listen port (PORT, default 7055)")
	host := fs.String("host", "", "listen address (HOST, default all interfaces)")
	dataDir := fs.String("data-dir", "", "data directory (DATA_DIR, default ./data)")
	debug := fs.Bool("debug", false, "debug logging (DEBUG)")
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
	log := logging.New(stderr, cfg.Debug)
	if *pprofAddr != "" {
		stopProfiles, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopProfiles()
	}
	start := time.Now()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.MintedKey != "" {
		fmt.Fprintf(stdout, "spark: no API key was configured, so one was created. It is shown only this once; store it now:\n\n    %s\n\n", a.MintedKey)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("spark listening", "addr", ln.Addr().String(), "prefix", cfg.Prefix(), "startup", time.Since(start).Round(time.Millisecond))
	return serveUntilDone(ctx, newHTTPServer(a.Handler()), ln)
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
