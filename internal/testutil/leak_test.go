package testutil

import (
	"runtime"
	"testing"
	"time"
)

// failRecorder records a Fatalf instead of ending the test.
type failRecorder struct {
	testing.TB
	failed bool
}

func (f *failRecorder) Helper()               {}
func (f *failRecorder) Fatalf(string, ...any) { f.failed = true; runtime.Goexit() }

// TestSettleGoroutinesFailsOnALeak checks the check: a goroutine that never
// ends makes it fail (with a short limit, so the test does not wait 10 s).
func TestSettleGoroutinesFailsOnALeak(t *testing.T) {
	defer func(d time.Duration) { settleLimit = d }(settleLimit)
	settleLimit = 20 * time.Millisecond
	before := runtime.NumGoroutine()
	stop := make(chan struct{})
	defer close(stop)
	go func() { <-stop }()
	rec := &failRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		SettleGoroutines(rec, before+1) // the checking goroutine itself counts
	}()
	<-done
	if !rec.failed {
		t.Fatal("a leaked goroutine went unnoticed")
	}
}
