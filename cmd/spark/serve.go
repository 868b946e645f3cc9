package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
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
