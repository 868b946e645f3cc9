package server

import (
	"testing"
	"time"
)

// TestBodyDeadline: base plus size at the minimum rate, capped.
func TestBodyDeadline(t *testing.T) {
	s := New(Options{})
	tests := []struct {
		n    int64
		want time.Duration
	}{
		{0, 10 * time.Second},
		{128 << 10, 11 * time.Second},
		{32 << 20, 10*time.Second + 256*time.Second},
		{433 << 20, 5 * time.Minute},
	}
	for _, tc := range tests {
		if got := s.bodyDeadline(tc.n); got != tc.want {
			t.Errorf("bodyDeadline(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
	custom := New(Options{BodyReadBase: time.Second, BodyMinRate: 1000, BodyReadMax: time.Minute})
	if got := custom.bodyDeadline(5000); got != 6*time.Second {
		t.Errorf("custom: %s", got)
	}
	if got := custom.bodyDeadline(1 << 20); got != time.Minute {
		t.Errorf("custom cap: %s", got)
	}
}
