package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/sparkgw/spark/internal/logging"
	"github.com/sparkgw/spark/internal/simulator"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "Serve faithful simulators of Genspark, the Gemini web app, Google accounts\ncookie rotation, the Gemini upload service and the Google AI API on one listener.\nThe request log is at GET /_sim/requests.", stderr)
	addr := fs.String("addr", "127.0.0.1:7056", "listen address")
	delay := fs.Duration("delay", 30*time.Millisecond, "pause between streamed deltas (0 = as fast as possible)")
	debug := fs.Bool("debug", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := logging.New(stderr, *debug)
	sim := simulator.New(simulator.Options{DeltaDelay: *delay, Logger: log})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	fmt.Fprintf(stdout, "spark simulator listening on http://%s\n", ln.Addr())
	return serveUntilDone(ctx, &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, ln)
}

// serveUntilDone serves on ln until ctx ends, then shuts down gracefully.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
