package app_test

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
)

// TestImportRejectsMalformedEntries: an account entry without the shape of
// its provider's credential stops the start with an error that names the
// variable, the entry and what is missing, never the entry's content.
func TestImportRejectsMalformedEntries(t *testing.T) {
	tests := []struct {
		name         string
		gs, gemini   string
		want         []string
		secretInside string
	}{
		{"Genspark pairs without session_id", "session_id=good-one,foo=secretA; bar=1", "",
			[]string{"GS_COOKIE entry 2", "session_id="}, "secretA"},
		{"Genspark empty session_id", "session_id=; x=secretA", "",
			[]string{"GS_COOKIE entry 1", "session_id="}, "secretA"},
		{"Gemini without __Secure-1PSID", "", "__Secure-1PSIDTS=secretA; NID=1",
			[]string{"GEMINI_COOKIE entry 1", "__Secure-1PSID="}, "secretA"},
		{"Gemini cookie without =", "", "__Secure-1PSID=ok; __Secure-1PSIDTS=t,secretA",
			[]string{"GEMINI_COOKIE entry 2", "no '='"}, "secretA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{
				APISecret: testKey, DataDir: t.TempDir(), GSCookie: tt.gs, GeminiCookie: tt.gemini,
				GensparkBaseURL: "http://127.0.0.1:9", GeminiBaseURL: "http://127.0.0.1:9", GeminiUploadURL: "http://127.0.0.1:9",
				GoogleAccountsURL: "http://127.0.0.1:9", GoogleAIBaseURL: "http://127.0.0.1:9",
				PoolStrategy: "random", AutoModelChatMapType: 1,
			}
			a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				a.Close()
				t.Fatal("a malformed entry was accepted")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tt.secretInside) {
				t.Errorf("error %q reveals the entry", err)
			}
		})
	}
}

// TestAccountCheckOnStart: ACCOUNT_CHECK_ON_START=1 tests every account
// through its provider's doctor against the simulators and logs one line
// each, a logged-out account as such.
func TestAccountCheckOnStart(t *testing.T) {
	h := start(t, func(c *config.Config) {
		c.AccountCheckOnStart = true
		c.GSCookie = "session_id=healthy-gs,session_id=expired-gs"
		c.GeminiCookie = "__Secure-1PSID=healthy-gem; __Secure-1PSIDTS=t1,__Secure-1PSID=expired-gem; __Secure-1PSIDTS=t2"
	})
	var lines []string
	for line := range strings.SplitSeq(h.logs.String(), "\n") {
		if strings.Contains(line, `msg="account check"`) {
			lines = append(lines, line)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("want one check line per account (4), got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	field := func(line, name string) string {
		m := regexp.MustCompile(` ` + name + `=("[^"]*"|\S*)`).FindStringSubmatch(line)
		if m == nil {
			return ""
		}
		return strings.Trim(m[1], `"`)
	}
	t.Log(strings.Join(lines, "\n"))
	states := map[string]int{}
	for _, l := range lines {
		p, state := field(l, "provider"), field(l, "state")
		states[p+" "+state]++
		if field(l, "label") == "" {
			t.Errorf("no label: %s", l)
		}
		switch {
		case state == "logged out" && field(l, "problem") == "":
			t.Errorf("logged out without a problem: %s", l)
		case state == "ok" && p == "geminiweb" && !strings.Contains(field(l, "models"), "gemini-"):
			t.Errorf("Gemini account check lists no models: %s", l)
		}
		for _, secret := range []string{"healthy-gs", "expired-gs", "healthy-gem", "expired-gem"} {
			if strings.Contains(l, secret) {
				t.Errorf("check line reveals a cookie: %s", l)
			}
		}
	}
	for _, want := range []string{"genspark ok", "genspark logged out", "geminiweb ok", "geminiweb logged out"} {
		if states[want] != 1 {
			t.Errorf("want one %q check, got %v", want, states)
		}
	}
}
