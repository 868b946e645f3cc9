package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--help"}, {"simulate", "-h"}, {"serve", "-h"}, {"demo", "-h"}, {"accounts", "-h"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		if err != nil && exitCode(err) != 0 {
			t.Fatalf("%v: %v", args, err)
		}
		if stdout.Len()+stderr.Len() == 0 {
			t.Fatalf("%v printed nothing", args)
		}
	}
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, &stderr); exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
}

// TestAccountsCommand lists imported accounts without printing cookies.
func TestAccountsCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DATA_DIR", dir)
	t.Setenv("GS_COOKIE", "session_id=topsecretcookie1,session_id=limited-topsecret2")
	t.Setenv("API_SECRET", "sk-accounts-test")
	t.Setenv("SPARK_SECRET_KEY", "")
	// Start the gateway once so the accounts are imported (app.New imports
	// them before the listener opens), wait for its "listening" log line,
	// then stop it.
	ctx, cancel := context.WithCancel(context.Background())
	t.Setenv("PORT", "0")
	logs, logw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"serve", "--host", "127.0.0.1"}, io.Discard, logw)
		logw.Close()
	}()
	sc := bufio.NewScanner(logs)
	for sc.Scan() && !strings.Contains(sc.Text(), "spark listening") {
	}
	go io.Copy(io.Discard, logs) // keep the logger from blocking
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("serve: %v", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"accounts"}, &out, io.Discard); err != nil {
		t.Fatalf("accounts: %v", err)
	}
	if strings.Count(out.String(), "genspark") < 2 {
		t.Fatalf("accounts output lacks the two accounts:\n%s", out.String())
	}
	if strings.Contains(out.String(), "topsecret") {
		t.Fatalf("accounts output shows a cookie:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Data directory: "+dir+" (DATA_DIR)") {
		t.Fatalf("accounts output does not say which directory it read:\n%s", out.String())
	}

	// Without the key the database was sealed with, it says so and does
	// not mint a new key (that would strand every stored cookie).
	if err := os.Remove(filepath.Join(dir, "secret.key")); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"accounts"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SPARK_SECRET_KEY") || exitCode(err) != 1 {
		t.Fatalf("accounts without its key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("accounts created a key file: %v", err)
	}
}

func TestPprofOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", "10.0.0.1:6060", "example.com:6060", "nonsense"} {
		if _, err := servePprof(addr, slog.New(slog.DiscardHandler)); err == nil {
			t.Fatalf("--pprof %s was accepted", addr)
		}
	}
	stop, err := servePprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

// TestSimulateOverTLS runs `spark simulate --tls` and reaches it over
// HTTP/2 with a client that trusts only the certificate file it wrote.
func TestSimulateOverTLS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	certPath := filepath.Join(t.TempDir(), "sim.pem")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"simulate", "--tls", "--addr", "127.0.0.1:0", "--cert-out", certPath, "--delay", "0"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	deadline := time.AfterFunc(30*time.Second, func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	defer deadline.Stop()
	var base string
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
			base = strings.TrimSpace(rest)
			break
		}
	}
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("simulate --tls printed no https address (got %q)", base)
	}
	go io.Copy(io.Discard, pr)

	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatalf("certificate file: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("certificate file holds no PEM certificate: %q", pemBytes)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_sim/requests", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Fatalf("GET /_sim/requests: %d over %s, want 200 over HTTP/2.0", resp.StatusCode, resp.Proto)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("simulate exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("simulate did not stop after its context ended")
	}
}

func TestSimulateCertOutNeedsTLS(t *testing.T) {
	err := run(context.Background(), []string{"simulate", "--cert-out", filepath.Join(t.TempDir(), "x.pem")}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--cert-out needs --tls") {
		t.Fatalf("err = %v, want a clear refusal", err)
	}
}
