package testutil_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sparkgw/spark/internal/testutil"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := testutil.NewClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %v, want %v", got, t0)
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("after Advance: %v", got)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("after Set: %v", got)
	}
}

// TestSettleGoroutines waits for a goroutine that ends once released.
func TestSettleGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		<-release
		close(done)
	}()
	if runtime.NumGoroutine() <= before {
		t.Fatal("the goroutine under test is not counted")
	}
	close(release)
	testutil.SettleGoroutines(t, before)
	<-done
}

// TestPipeServerInABubble serves a handler that waits an hour: inside the
// bubble the hour passes on the fake clock, exactly, and at once.
func TestPipeServerInABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testutil.NewPipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Hour)
			_, _ = io.WriteString(w, "late")
		}), nil)
		start := time.Now()
		res, err := srv.Client.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(b) != "late" {
			t.Fatalf("body %q, %v", b, err)
		}
		if d := time.Since(start); d != time.Hour {
			t.Errorf("answered after %v on the bubble's clock, want 1h", d)
		}
	})
}

// TestPipeListenerClose checks that Close ends Accept and refuses Dial.
func TestPipeListenerClose(t *testing.T) {
	ln := testutil.NewPipeListener()
	_ = ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if _, err := ln.Dial(t.Context(), "tcp", "pipe"); err == nil {
		t.Error("Dial after Close succeeded")
	}
}
