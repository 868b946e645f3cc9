package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
)

// failingClaims is a shared state whose claims fail (Redis away).
type failingClaims struct{ cluster.State }

func (failingClaims) Claim(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("redis: connection refused")
}

// TestJobsRunOnceAcrossReplicas: of two replicas whose job tickers fire in
// the same period, one runs the job; when the shared state fails, work
// that is harmless twice (sweeps, pruning) still runs and cookie rotation
// does not.
func TestJobsRunOnceAcrossReplicas(t *testing.T) {
	hub := cluster.NewMemoryHub()
	replica := func() *App {
		s, err := hub.Replica(cluster.Options{RefreshEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return &App{shared: s, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	a, b := replica(), replica()
	runs := 0
	for _, r := range []*App{a, b, a, b} {
		if r.claimer(jobCookieRotation, time.Minute, false)(t.Context()) {
			runs++
		}
	}
	if runs != 1 {
		t.Fatalf("cookie rotation ran %d times in one period on two replicas, want once", runs)
	}
	if !b.claimer(jobFilesSweep, time.Minute, true)(t.Context()) {
		t.Fatal("another job's first claim refused")
	}

	broken := &App{shared: failingClaims{}, log: a.log}
	if broken.claimer(jobCookieRotation, time.Minute, false)(t.Context()) {
		t.Fatal("cookie rotation ran without knowing whether another replica runs it")
	}
	if !broken.claimer(jobUsagePrune, time.Hour, true)(t.Context()) {
		t.Fatal("usage pruning skipped while Redis fails")
	}
}
