package testutil_test

import (
	"runtime"
	"testing"
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
