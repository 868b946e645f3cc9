package apitest

import (
	"regexp"
	"testing"
)

// CheckEchoedModel fails unless body (a JSON answer or an event stream)
// names a model in field (a JSON key: "model", "modelVersion") at least
// once, and every time as want.
func CheckEchoedModel(t testing.TB, body, field, want string) {
	t.Helper()
	re := regexp.MustCompile(`"` + regexp.QuoteMeta(field) + `":"([^"]*)"`)
	found := re.FindAllStringSubmatch(body, -1)
	if len(found) == 0 {
		t.Fatalf("no %q in the answer: %.400s", field, body)
	}
	for _, m := range found {
		if m[1] != want {
			t.Fatalf("the answer names %s %q, want %q: %.400s", field, m[1], want, body)
		}
	}
}
