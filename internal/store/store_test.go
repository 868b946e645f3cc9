package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/credential"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
)

// rules are two cookie providers as in storetest.
var rules = store.Rules{
	"sess": credential.Cookie{Name: "sid", Bare: true},
	"jar":  credential.Cookie{Name: "PSID"},
}

func TestRulesNormalize(t *testing.T) {
	tests := []struct {
		provider, in, want string
		err                error
	}{
		{"sess", "abc123", "sid=abc123", nil},
		{"sess", "  sid=abc; x=1 ", "sid=abc; x=1", nil},
		{"sess", "x=1; sid=abc", "x=1; sid=abc", nil},
		{"sess", "", "", store.ErrInvalid},
		{"sess", "x=1; y=secretA", "", store.ErrInvalid}, // no sid
		{"jar", " PSID=a ", "PSID=a", nil},
		{"jar", "secretA", "", store.ErrInvalid}, // no '='
		{"other", " anything ", "anything", nil},
		{"other", "  ", "", store.ErrInvalid},
	}
	for _, tt := range tests {
		got, err := rules.Normalize(tt.provider, tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q, %v", tt.provider, tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "secretA") {
			t.Errorf("error %q echoes the credential", err)
		}
	}
}

func TestRulesIdentity(t *testing.T) {
	tests := []struct {
		provider, cookie, want string
		err                    error
	}{
		{"sess", "sid=abc; x=1", "abc", nil},
		{"sess", "x=1;sid = abc ", "abc", nil},
		{"sess", "x=1", "", store.ErrInvalid},
		{"sess", "sid=", "", store.ErrInvalid},
		{"jar", "PSIDTS=t; PSID=p", "p", nil},
		{"jar", "PSIDTS=t", "", store.ErrInvalid},
		{"other", "a=1; b=2", "a=1; b=2", nil},
		{"other", "", "", store.ErrInvalid},
	}
	for _, tt := range tests {
		got, err := rules.Identity(tt.provider, tt.cookie)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Identity(%q, %q) = %q, %v; want %q, %v", tt.provider, tt.cookie, got, err, tt.want, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "=t") {
			t.Errorf("error %q echoes the cookie", err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	s1, _ := secret.NewSealer(bytes.Repeat([]byte{1}, 32))
	s2, _ := secret.NewSealer(bytes.Repeat([]byte{2}, 32))
	fp := func(s *secret.Sealer, provider, cookie string) string {
		t.Helper()
		f, err := store.Fingerprint(s, rules, provider, cookie)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := fp(s1, "sess", "sid=abc; x=1")
	if a != fp(s1, "sess", "x=2; sid=abc") {
		t.Error("non-identity cookie parts change the fingerprint")
	}
	if a == fp(s1, "sess", "sid=abd") {
		t.Error("another session has the same fingerprint")
	}
	if a == fp(s1, "other", "sid=abc; x=1") {
		t.Error("fingerprint ignores the provider")
	}
	if a == fp(s2, "sess", "sid=abc") {
		t.Error("fingerprint is not keyed")
	}
	if len(a) != 64 || strings.Contains(a, "abc") {
		t.Errorf("fingerprint %q", a)
	}
	if !strings.HasPrefix(store.DefaultLabel("genspark", a), "genspark-"+a[:8]) {
		t.Error("DefaultLabel")
	}
}

func TestAccountNeverFormatsSecrets(t *testing.T) {
	a := store.Account{ID: "acct_1", Provider: "genspark", Label: "main", Cookie: "session_id=TopSecret1",
		Proxy: "http://u:ProxySecret2@h:1", State: store.StateActive}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "account", a)
	out := fmt.Sprintf("%v %+v %#v %s", a, a, a, a) + logs.String()
	for _, s := range []string{"TopSecret1", "ProxySecret2"} {
		if strings.Contains(out, s) {
			t.Fatalf("formatted account reveals %s: %s", s, out)
		}
	}
	if !strings.Contains(out, "acct_1") || !strings.Contains(out, "main") {
		t.Fatalf("formatted account lacks its id or label: %s", out)
	}
}

func TestEffectiveState(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		a    store.Account
		want store.AccountState
	}{
		{store.Account{State: store.StateActive}, store.StateActive},
		{store.Account{State: store.StateResting, RestUntil: now.Add(time.Second)}, store.StateResting},
		{store.Account{State: store.StateResting, RestUntil: now}, store.StateActive},
		{store.Account{State: store.StateDisabled}, store.StateDisabled},
	}
	for _, tt := range tests {
		if got := tt.a.EffectiveState(now); got != tt.want {
			t.Errorf("EffectiveState(%s until %v) = %s, want %s", tt.a.State, tt.a.RestUntil, got, tt.want)
		}
	}
}
