package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
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

// TestBindingWritesReachTheOtherReplicasCaches: a binding written through
// one replica's store is dropped from the other replica's provider caches.
func TestBindingWritesReachTheOtherReplicasCaches(t *testing.T) {
	hub := cluster.NewMemoryHub()
	state := func() *cluster.Memory {
		s, err := hub.Replica(cluster.Options{RefreshEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sa, sb := state(), state()
	forgotten := make(chan string, 10)
	b := &App{shared: sb, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b.watchBindings(func(key string) { forgotten <- key })
	b.follow()
	t.Cleanup(func() {
		for _, c := range b.closers {
			c.Close()
		}
	})
	st := memstore.New(nil)
	acct, err := st.CreateAccount(t.Context(), store.Account{Provider: "genspark", Label: "a", Cookie: "session_id=abcdef-123456"})
	if err != nil {
		t.Fatal(err)
	}
	written := announcedBindings{BindingStore: st, shared: sa}
	if _, err := written.PutBinding(t.Context(), store.Binding{Key: "genspark\x1facct\x1fgpt\x1fkey", AccountID: acct.ID, Value: "chat-1"}); err != nil {
		t.Fatal(err)
	}
	if err := written.DeleteBinding(t.Context(), "other-key"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"genspark\x1facct\x1fgpt\x1fkey", "other-key"} {
		select {
		case got := <-forgotten:
			if got != want {
				t.Fatalf("replica B forgot %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("replica B was not told about %q", want)
		}
	}
}
