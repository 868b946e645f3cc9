package sqlite

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/sparkgw/spark/internal/secret"
)

// TestPragmas checks that the DSN settings reach every connection.
func TestPragmas(t *testing.T) {
	d := openTestDB(t, 1)
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1",
	} {
		var got string
		if err := d.db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

// openTestDB opens a new database in a temporary directory, sealed with a
// key of bytes key, and closes it when the test ends.
func openTestDB(t *testing.T, key byte) *DB {
	t.Helper()
	s, err := secret.NewSealer(bytes.Repeat([]byte{key}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), filepath.Join(t.TempDir(), FileName), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
