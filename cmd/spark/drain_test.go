package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sparkgw/spark/internal/testutil"
)

// shutdownPollLate is how long after the last connection went idle
// http.Server.Shutdown may notice: it polls at intervals doubling up to
// 500 ms, each with up to 10% of jitter added.
const shutdownPollLate = 550 * time.Millisecond

// TestServeAndDrainDeadline: after the signal, requests in flight get
// exactly SHUTDOWN_TIMEOUT: one that ends sooner ends the drain then; one
// that runs longer meets the drain's deadline at SHUTDOWN_TIMEOUT. Time is
// the synctest bubble's.
func TestServeAndDrainDeadline(t *testing.T) {
	const timeout = 30 * time.Second
	for _, tt := range []struct {
		name     string
		answer   time.Duration // how long the handler runs on after the signal
		wantDone time.Duration // when the drain ends, after the signal (Shutdown polls: up to shutdownPollLate later unless it met the deadline)
		wantErr  bool          // the drain met its deadline
	}{
		{"finishes within the timeout", 10 * time.Second, 10 * time.Second, false},
		{"runs past the timeout", 10 * time.Minute, timeout, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				started := make(chan struct{})
				handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = w.Write([]byte("first\n"))
					w.(http.Flusher).Flush()
					close(started)
					select {
					case <-time.After(tt.answer):
						_, _ = w.Write([]byte("last\n"))
					case <-r.Context().Done():
					}
				})
				ln := testutil.NewPipeListener()
				srv := &http.Server{Handler: handler}
				ctx, signal := context.WithCancel(context.Background())
				var drainedAt time.Duration
				var drainErr error
				var signalled time.Time
				drain := func(ctx context.Context, srv *http.Server) error {
					drainErr = srv.Shutdown(ctx)
					drainedAt = time.Since(signalled)
					if drainErr != nil {
						_ = srv.Close() // as app.App.Shutdown does after ending the streams
					}
					return nil
				}
				served := make(chan error, 1)
				go func() {
					served <- serveAndDrain(ctx, drain, srv, ln, timeout, slog.New(slog.DiscardHandler))
				}()
				client := &http.Client{Transport: &http.Transport{DialContext: ln.Dial}}
				resp, err := client.Get("http://pipe/")
				if err != nil {
					t.Fatal(err)
				}
				<-started
				signalled = time.Now()
				signal()
				_, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err := <-served; err != nil {
					t.Fatalf("serveAndDrain: %v", err)
				}
				late := drainedAt - tt.wantDone
				if late < 0 || late > shutdownPollLate || (tt.wantErr && late != 0) || (drainErr != nil) != tt.wantErr {
					t.Errorf("drain ended %v after the signal with %v; want %v, deadline met %v", drainedAt, drainErr, tt.wantDone, tt.wantErr)
				}
				client.CloseIdleConnections()
			})
		})
	}
}
