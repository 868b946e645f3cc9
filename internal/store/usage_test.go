package store_test

import (
	"math"
	"testing"

	"github.com/sparkgw/spark/internal/store"
)

func TestHistogramQuantile(t *testing.T) {
	for _, tt := range []struct {
		name   string
		values []int64
		q      float64
		exact  int64
	}{
		{"one value", []int64{250}, 0.5, 250},
		{"zeros", []int64{0, 0, 0}, 0.5, 0},
		{"median", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}, 0.5, 10},
		{"p95", []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 30000}, 0.95, 190},
		{"large", []int64{90_000, 120_000}, 1, 120_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h store.Histogram
			for _, v := range tt.values {
				h.Add(v)
			}
			got := h.Quantile(tt.q)
			if tt.exact == 0 {
				if got != 0 {
					t.Fatalf("Quantile(%v) = %d, want 0", tt.q, got)
				}
				return
			}
			if rel := math.Abs(float64(got-tt.exact)) / float64(tt.exact); rel > 0.125 {
				t.Fatalf("Quantile(%v) = %d, exact %d: off by %.0f%%", tt.q, got, tt.exact, rel*100)
			}
		})
	}
	var empty store.Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram's median is not 0")
	}
}

func TestHistogramEncoding(t *testing.T) {
	var h store.Histogram
	for _, v := range []int64{0, 1, 5, 5, 800, 1 << 40} {
		h.Add(v)
	}
	s := h.String()
	got, err := store.ParseHistogram(s)
	if err != nil || got != h {
		t.Fatalf("ParseHistogram(%q) = %v, %v; want the histogram back", s, got, err)
	}
	if h[store.HistogramBuckets-1] != 1 {
		t.Errorf("a huge duration is not in the last bucket: %v", h)
	}
	var m store.Histogram
	m.Merge(&h)
	m.Merge(&h)
	if m.Count() != 2*h.Count() {
		t.Errorf("merged count %d, want %d", m.Count(), 2*h.Count())
	}
	for _, bad := range []string{"1,x", "-1", "1,,2"} {
		if _, err := store.ParseHistogram(bad); err == nil {
			t.Errorf("ParseHistogram(%q) succeeded", bad)
		}
	}
}
