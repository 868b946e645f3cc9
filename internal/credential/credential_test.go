package credential_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/credential"
)

func TestCookieNormalize(t *testing.T) {
	bare := credential.Cookie{Name: "sid", Bare: true}
	jar := credential.Cookie{Name: "PSID"}
	tests := []struct {
		name    string
		rule    credential.Cookie
		in      string
		want    string
		wantErr string // part of the error; "" = no error
	}{
		{"bare value", bare, " secretA ", "sid=secretA", ""},
		{"full cookie", bare, "a=1; sid=secretA", "a=1; sid=secretA", ""},
		{"trailing separator", jar, "PSID=secretA; ", "PSID=secretA;", ""},
		{"empty", bare, "  ", "", "empty"},
		{"pairs without the identity", bare, "a=1; b=secretA", "", "no sid= value"},
		{"empty identity", bare, "sid=; b=secretA", "", "no sid= value"},
		{"bare value with a space", bare, "secret A", "", "has no '='"},
		{"no = at all", jar, "secretA", "", "has no '='"},
		{"part without =", jar, "PSID=x; secretA", "", "part 2"},
		{"part without name", jar, "PSID=x; =secretA", "", "part 2"},
		{"missing identity", jar, "PSIDTS=secretA", "", "no PSID= value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rule.Normalize(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Normalize(%q) = %q, %v; want an error about %q", tt.in, got, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secretA") {
				t.Fatalf("error %q echoes the credential", err)
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	var k credential.APIKey
	if got, err := k.Normalize(" AIza-secretA "); err != nil || got != "AIza-secretA" {
		t.Fatalf("Normalize = %q, %v", got, err)
	}
	if _, err := k.Normalize("a b"); err == nil {
		t.Fatal("a key with a space was accepted")
	}
	if _, err := k.Normalize(""); !errors.Is(err, credential.ErrEmpty) {
		t.Fatalf("empty key: %v", err)
	}
	if id, _ := k.Identity("AIza"); id != "AIza" {
		t.Fatalf("Identity = %q", id)
	}
}

func TestKeep(t *testing.T) {
	got := credential.Keep("A=1; host=2; B=3", []string{"B", "A"})
	if got != "A=1; B=3" {
		t.Fatalf("Keep = %q", got)
	}
}
