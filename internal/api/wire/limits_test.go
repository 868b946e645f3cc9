package wire_test

import (
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/wire"
)

func TestValidToolName(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		ok   bool
	}{
		{"get_weather", 64, true},
		{"mcp__server__tool-1", 64, true},
		{"", 64, false},
		{"get weather", 64, false},
		{"a.b", 64, false},
		{"ünïcode", 64, false},
		{strings.Repeat("f", 64), 64, true},
		{strings.Repeat("f", 65), 64, false},
		{strings.Repeat("f", 128), 128, true},
	} {
		if got := wire.ValidToolName(tc.name, tc.max); got != tc.ok {
			t.Errorf("ValidToolName(%q, %d) = %v, want %v", tc.name, tc.max, got, tc.ok)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a long model name", 6, "a long..."},
		{"héllo", 2, "h..."}, // never cuts a rune in two
	} {
		if got := wire.Truncate(tc.s, tc.max); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
		}
	}
}
