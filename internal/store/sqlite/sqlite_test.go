package sqlite_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/sqlite"
	"github.com/sparkgw/spark/internal/store/storetest"
)

func sealer(t testing.TB, b byte) *secret.Sealer {
	t.Helper()
	s, err := secret.NewSealer(bytes.Repeat([]byte{b}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testDB is a storetest.DB over one SQLite file.
type testDB struct {
	path   string
	sealer *secret.Sealer
	opts   []store.Option
}

func (d *testDB) Open(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), d.path, d.sealer, d.opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (d *testDB) AtRest(t *testing.T) []byte {
	t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(d.path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.DB {
		return &testDB{path: filepath.Join(t.TempDir(), "data", sqlite.FileName), sealer: sealer(t, 7), opts: []store.Option{store.WithRules(storetest.Rules)}}
	})
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "data dir?#") // characters that need escaping in a URI
	path := filepath.Join(dir, sqlite.FileName)
	db, err := sqlite.Open(t.Context(), path, sealer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	if _, err := db.CreateAccount(t.Context(), store.Account{Provider: "genspark", Cookie: "session_id=x"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode %04o, want %04o", filepath.Base(name), got, want)
		}
	}
}

func TestOpenWithAnotherKeyFailsClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	db, err := sqlite.Open(t.Context(), path, sealer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.CreateAccount(t.Context(), store.Account{Provider: "genspark", Cookie: "session_id=x"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = sqlite.Open(t.Context(), path, sealer(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.GetAccount(t.Context(), a.ID)
	if !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("GetAccount with another key: %v, want ErrUnknownKey", err)
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	for range 3 {
		db, err := sqlite.Open(t.Context(), path, sealer(t, 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRequiresSealer(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), nil); err == nil {
		t.Fatal("Open without a sealer succeeded")
	}
}
