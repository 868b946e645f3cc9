package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sparkgw/spark/internal/logging"
	"github.com/sparkgw/spark/internal/simulator"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "Serve faithful simulators of Genspark, the Gemini web app, Google accounts\ncookie rotation, the Gemini upload service and the Google AI API on one listener.\nThe request log is at GET /_sim/requests.", stderr)
	addr := fs.String("addr", "127.0.0.1:7056", "listen address")
	delay := fs.Duration("delay", 30*time.Millisecond, "pause between streamed deltas (0 = as fast as possible)")
	debug := fs.Bool("debug", false, "log every request")
	useTLS := fs.Bool("tls", false, "serve HTTPS (HTTP/2 and HTTP/1.1 through ALPN) with a throwaway self-signed certificate, as the real upstreams are served")
	certOut := fs.String("cert-out", "", "with --tls: write the certificate (PEM) here for clients to trust, e.g. SSL_CERT_FILE=FILE (default: a new file in the temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *certOut != "" && !*useTLS {
		return errors.New("simulate: --cert-out needs --tls")
	}
	log := logging.New(stderr, *debug)
	sim := simulator.New(simulator.Options{DeltaDelay: *delay, Logger: log})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	scheme := "http"
	if *useTLS {
		cert, err := simulator.NewCertificate()
		if err != nil {
			ln.Close()
			return fmt.Errorf("simulate: %w", err)
		}
		path, err := writeCertificate(*certOut, cert.PEM)
		if err != nil {
			ln.Close()
			return fmt.Errorf("simulate: %w", err)
		}
		fmt.Fprintf(stdout, "simulator certificate: %s (trust it with SSL_CERT_FILE=%s)\n", path, path)
		ln = tls.NewListener(ln, cert.ServerConfig())
		scheme = "https"
	}
	fmt.Fprintf(stdout, "spark simulator listening on %s://%s\n", scheme, ln.Addr())
	return serveUntilDone(ctx, &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, ln)
}

// writeCertificate writes a PEM certificate to path, or to a new file in
// the temporary directory when path is empty, and returns where it went.
func writeCertificate(path string, pemBytes []byte) (string, error) {
	if path == "" {
		f, err := os.CreateTemp("", "spark-simulator-*.pem")
		if err != nil {
			return "", fmt.Errorf("certificate file: %w", err)
		}
		if _, err := f.Write(pemBytes); err != nil {
			f.Close()
			return "", fmt.Errorf("certificate file: %w", err)
		}
		return f.Name(), f.Close()
	}
	if err := os.WriteFile(path, pemBytes, 0o644); err != nil {
		return "", fmt.Errorf("certificate file: %w", err)
	}
	return path, nil
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
