package app

import (
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/store"
)

// TestRedactSecrets: the doctor's message never carries the account's
// cookie, its values or its proxy's password.
func TestRedactSecrets(t *testing.T) {
	acct := store.Account{Cookie: "sid=abcdef123456; short=1", Proxy: "socks5://user:pw-secret@127.0.0.1:1080"}
	msg := redactSecrets("upstream said sid=abcdef123456; short=1 and abcdef123456 via socks5://user:pw-secret@127.0.0.1:1080 (pw-secret)", acct)
	for _, s := range []string{"abcdef123456", "pw-secret"} {
		if strings.Contains(msg, s) {
			t.Fatalf("%q still in %q", s, msg)
		}
	}
	if got := redactSecrets("plain message", acct); got != "plain message" {
		t.Fatalf("a message without secrets changed: %q", got)
	}
}
