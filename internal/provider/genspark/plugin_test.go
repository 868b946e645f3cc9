package genspark_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

func TestCredential(t *testing.T) {
	for in, want := range map[string]string{
		"abc":                   "session_id=abc",
		" session_id=abc; x=1 ": "session_id=abc; x=1",
		"x=1; b=2":              "", // no session_id
		"session_id=":           "",
		"two words":             "",
	} {
		got, err := genspark.Credential.Normalize(in)
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "session_id") && !strings.Contains(err.Error(), "'='") {
				t.Errorf("Normalize(%q) = %q, %v; want an error naming what is missing", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	im := genspark.Plugin().Images
	for host, want := range map[string]bool{"www.genspark.ai": true, "genspark.ai": true, "evilgenspark.ai": false, "google.com": false} {
		if im.CookieHost(host) != want {
			t.Errorf("CookieHost(%q) != %v", host, want)
		}
	}
	if got := im.Cookie("bare-session"); got != "session_id=bare-session" {
		t.Errorf("image cookie of a bare value: %q", got)
	}
}

// TestCheck: the doctor probes /api/is_login and reads its answer.
func TestCheck(t *testing.T) {
	f := newFake(t)
	f.handle("/api/is_login", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.Header.Get("Cookie"), "session_id=good"):
			w.Write([]byte(`{"status":0,"message":"success","data":{"cogen_id":"x","is_login":true}}`))
		case strings.Contains(r.Header.Get("Cookie"), "session_id=limited"):
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.Write([]byte(`{"status":-5,"message":"not login","data":{}}`))
		}
	})
	p := newProvider(t, f.srv.URL, nil)
	for cookie, want := range map[string]string{
		"session_id=goodSecret1":    provider.CheckOK,
		"session_id=goneSecret2":    provider.CheckLoggedOut,
		"session_id=limitedSecret3": provider.CheckRateLimited,
	} {
		c := p.Check(context.Background(), account("a1", cookie))
		if c.State != want || (want != provider.CheckOK) == (c.Problem == "") {
			t.Errorf("%s: %+v, want state %q (a problem unless ok)", cookie, c, want)
		}
		if strings.Contains(c.Problem, strings.TrimPrefix(cookie, "session_id=")) {
			t.Errorf("problem %q reveals the cookie", c.Problem)
		}
	}
	if n := len(f.reqs("/api/copilot/ask")); n != 0 {
		t.Errorf("the check chatted (%d asks)", n)
	}
}
