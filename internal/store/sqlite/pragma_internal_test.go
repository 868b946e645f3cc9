package sqlite

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/sparkgw/spark/internal/secret"
)

// TestPragmas checks that the DSN settings reach every connection.
func TestPragmas(t *testing.T) {
	s, err := secret.NewSealer(bytes.Repeat([]byte{1}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), filepath.Join(t.TempDir(), FileName), s)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
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
