package secret_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/secret"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secret.KeySize) }

func mustSealer(t *testing.T, primary []byte, previous ...[]byte) *secret.Sealer {
	t.Helper()
	s, err := secret.NewSealer(primary, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	s := mustSealer(t, key(1))
	pt := []byte("session_id=abc123; other=1")
	sealed, err := s.Seal("account-cookie", pt, []byte("acct_1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, pt) || bytes.Contains(sealed, []byte("abc123")) {
		t.Fatal("sealed value contains the plaintext")
	}
	if !s.IsCurrent(sealed) {
		t.Error("IsCurrent = false for a value sealed with the primary key")
	}
	again, _ := s.Seal("account-cookie", pt, []byte("acct_1"))
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same plaintext are identical (nonce reuse)")
	}

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	badVersion := bytes.Clone(sealed)
	badVersion[0] = 9
	otherKey := mustSealer(t, key(2))

	tests := []struct {
		name    string
		s       *secret.Sealer
		purpose string
		sealed  []byte
		aad     string
		wantErr error
	}{
		{"OK", s, "account-cookie", sealed, "acct_1", nil},
		{"OtherPurpose", s, "account-proxy", sealed, "acct_1", secret.ErrInvalid},
		{"OtherAAD", s, "account-cookie", sealed, "acct_2", secret.ErrInvalid},
		{"Tampered", s, "account-cookie", tampered, "acct_1", secret.ErrInvalid},
		{"BadVersion", s, "account-cookie", badVersion, "acct_1", secret.ErrInvalid},
		{"Short", s, "account-cookie", sealed[:10], "acct_1", secret.ErrInvalid},
		{"Empty", s, "account-cookie", nil, "acct_1", secret.ErrInvalid},
		{"UnknownKey", otherKey, "account-cookie", sealed, "acct_1", secret.ErrUnknownKey},
		{"PreviousKeyOpens", mustSealer(t, key(2), key(1)), "account-cookie", sealed, "acct_1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Open(tt.purpose, tt.sealed, []byte(tt.aad))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, pt) {
				t.Fatalf("Open = %q, want %q", got, pt)
			}
		})
	}
}

func TestRotationIsCurrent(t *testing.T) {
	old := mustSealer(t, key(1))
	sealed, _ := old.Seal("p", []byte("x"), nil)
	rotated := mustSealer(t, key(2), key(1))
	if rotated.IsCurrent(sealed) {
		t.Error("IsCurrent = true for a value sealed with a previous key")
	}
	if rotated.KeyID() != secret.KeyID(key(2)) || rotated.KeyID() == old.KeyID() {
		t.Error("KeyID does not identify the primary key")
	}
}

func TestNewSealerRejectsBadKeys(t *testing.T) {
	for _, tt := range []struct {
		name     string
		primary  []byte
		previous [][]byte
	}{
		{"ShortPrimary", make([]byte, 16), nil},
		{"LongPrevious", key(1), [][]byte{make([]byte, 33)}},
		{"DuplicatePrevious", key(1), [][]byte{key(2), key(2)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := secret.NewSealer(tt.primary, tt.previous...); err == nil {
				t.Fatal("NewSealer accepted a bad key set")
			}
		})
	}
}

func TestMAC(t *testing.T) {
	s := mustSealer(t, key(1))
	a := s.MAC("identity", []byte("v"))
	if len(a) != 32 {
		t.Fatalf("MAC length %d", len(a))
	}
	if !bytes.Equal(a, s.MAC("identity", []byte("v"))) {
		t.Error("MAC is not deterministic")
	}
	if bytes.Equal(a, s.MAC("other", []byte("v"))) {
		t.Error("MAC does not depend on the purpose")
	}
	if bytes.Equal(a, mustSealer(t, key(2)).MAC("identity", []byte("v"))) {
		t.Error("MAC does not depend on the key")
	}
}

func TestLoadOrCreateKeyFromEnv(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, 32)
	tests := []struct {
		name     string
		env      string
		want     []byte // nil: derived, only checked for length and stability
		source   secret.KeySource
		warnings int
	}{
		{"Hex", hex.EncodeToString(raw), raw, secret.SourceEnvHex, 0},
		{"HexWithSpace", " " + hex.EncodeToString(raw) + "\n", raw, secret.SourceEnvHex, 0},
		{"Base64Std", base64.StdEncoding.EncodeToString(raw), raw, secret.SourceEnvBase64, 0},
		{"Base64RawURL", base64.RawURLEncoding.EncodeToString(raw), raw, secret.SourceEnvBase64, 0},
		{"Passphrase", "correct horse battery staple and more", nil, secret.SourceEnvPassphrase, 0},
		{"ShortPassphrase", "hunter2", nil, secret.SourceEnvPassphrase, 1},
		{"Base64OfWrongLength", base64.StdEncoding.EncodeToString(raw[:16]), nil, secret.SourceEnvPassphrase, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			k, err := secret.LoadOrCreateKey(dir, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if k.Source != tt.source || len(k.Warnings) != tt.warnings || len(k.Bytes) != secret.KeySize {
				t.Fatalf("got source %q, %d warnings, %d bytes", k.Source, len(k.Warnings), len(k.Bytes))
			}
			if tt.want != nil && !bytes.Equal(k.Bytes, tt.want) {
				t.Fatal("key bytes differ from the decoded value")
			}
			again, _ := secret.LoadOrCreateKey(dir, tt.env)
			if !bytes.Equal(again.Bytes, k.Bytes) {
				t.Fatal("the same SPARK_SECRET_KEY gave two keys")
			}
			if _, err := os.Stat(filepath.Join(dir, secret.KeyFileName)); err == nil {
				t.Fatal("a key file was created although SPARK_SECRET_KEY is set")
			}
			for _, w := range k.Warnings {
				if strings.Contains(w, strings.TrimSpace(tt.env)) {
					t.Fatal("warning contains the key")
				}
			}
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k, err := secret.LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, secret.KeyFileName)
	if !k.Created || k.Source != secret.SourceFile || k.Path != path || len(k.Warnings) != 0 {
		t.Fatalf("first call: %+v", k)
	}
	if strings.Contains(k.String(), base64.StdEncoding.EncodeToString(k.Bytes)) {
		t.Fatal("Key.String reveals the key")
	}
	if runtime.GOOS != "windows" {
		assertMode(t, path, 0o600)
		assertMode(t, dir, 0o700)
	}
	again, err := secret.LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || !bytes.Equal(again.Bytes, k.Bytes) {
		t.Fatal("second call did not read the same key")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("data dir holds %d entries, want only the key file", len(entries))
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s mode %04o, want %04o", filepath.Base(path), got, want)
	}
}

func TestLoadOrCreateKeyFileProblems(t *testing.T) {
	t.Run("LoosePermissionsWarn", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no unix permissions")
		}
		dir := t.TempDir()
		k, _ := secret.LoadOrCreateKey(dir, "")
		if err := os.Chmod(k.Path, 0o644); err != nil {
			t.Fatal(err)
		}
		again, err := secret.LoadOrCreateKey(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Warnings) != 1 || !strings.Contains(again.Warnings[0], "chmod 600") {
			t.Fatalf("warnings = %q", again.Warnings)
		}
		if !bytes.Equal(again.Bytes, k.Bytes) {
			t.Fatal("key changed")
		}
	})
	t.Run("CorruptFileIsAnError", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, secret.KeyFileName)
		if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := secret.LoadOrCreateKey(dir, ""); err == nil {
			t.Fatal("corrupt key file accepted")
		}
		if b, _ := os.ReadFile(path); string(b) != "not a key" {
			t.Fatal("corrupt key file was replaced")
		}
	})
	t.Run("NoDirNoEnv", func(t *testing.T) {
		if _, err := secret.LoadOrCreateKey("", ""); err == nil {
			t.Fatal("no error without a data dir or SPARK_SECRET_KEY")
		}
	})
	t.Run("ConcurrentCreateAgrees", func(t *testing.T) {
		dir := t.TempDir()
		keys := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				k, err := secret.LoadOrCreateKey(dir, "")
				if err != nil {
					t.Error(err)
					return
				}
				keys[i] = k.Bytes
			})
		}
		wg.Wait()
		for _, k := range keys[1:] {
			if !bytes.Equal(k, keys[0]) {
				t.Fatal("concurrent first starts produced different keys")
			}
		}
	})
}
