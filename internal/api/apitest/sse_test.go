package apitest

import (
	"fmt"
	"testing"
)

// recorder collects the failures a parser reports instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestParsersRejectBadFraming checks that each parser passes a well-framed
// body and reports the framing faults clients trip over.
func TestParsersRejectBadFraming(t *testing.T) {
	data := func(t testing.TB, body string) { DataFrames(t, body) }
	events := func(t testing.TB, body string) { EventFrames(t, body) }
	tests := []struct {
		name  string
		parse func(testing.TB, string)
		body  string
		bad   bool
	}{
		{"chat stream", data, "data: {\"a\":1}\n\ndata: [DONE]\n\n", false},
		{"no final blank line", data, "data: {}\n", true},
		{"stray blank line", data, "data: {}\n\n\n", true},
		{"comment line", data, ": ping\n\ndata: {}\n\n", true},
		{"id line", data, "id: 1\ndata: {}\n\n", true},
		{"two data lines", data, "data: {}\ndata: {}\n\n", true},
		{"event line in a chat stream", data, "event: x\ndata: {}\n\n", true},
		{"event stream", events, "event: ping\ndata: {\"type\": \"ping\"}\n\nevent: a\ndata: {\"type\":\"a\"}\n\n", false},
		{"frame without event line", events, "data: {\"type\":\"a\"}\n\n", true},
		{"event without data", events, "event: a\n\n", true},
		{"data before event", events, "data: {\"type\":\"a\"}\nevent: a\n\n", true},
		{"type differs from event", events, "event: a\ndata: {\"type\":\"b\"}\n\n", true},
		{"data not JSON", events, "event: a\ndata: [DONE]\n\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			tt.parse(rec, tt.body)
			if got := len(rec.errs) > 0; got != tt.bad {
				t.Errorf("%q: reported %q, want a fault: %v", tt.body, rec.errs, tt.bad)
			}
		})
	}
}
