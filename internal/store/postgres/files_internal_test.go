package postgres

import (
	"bytes"
	"io"
	"testing"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/storetest"
)

// openTestDB opens a new database sealed with a key of bytes key, and
// closes it when the test ends.
func openTestDB(t *testing.T, key byte) *DB {
	t.Helper()
	s, err := secret.NewSealer(bytes.Repeat([]byte{key}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), storetest.PostgresURL(t), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestFileTamperingFailsToRead: content rows cut short, reordered or moved
// to another file do not read back as a (wrong) file.
func TestFileTamperingFailsToRead(t *testing.T) {
	t.Parallel()
	d := openTestDB(t, 3)
	ctx := t.Context()
	put := func(id string, n int) {
		t.Helper()
		_, err := d.PutFile(ctx, store.FileUpload{File: store.File{ID: id, Owner: "o", Filename: "f", Purpose: "user_data", MIMEType: "text/plain"},
			Content: bytes.NewReader(bytes.Repeat([]byte{byte(n)}, n))})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(id string) error {
		t.Helper()
		_, rc, err := d.OpenFile(ctx, "o", id)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		return err
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := d.pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	const chunk = store.FileChunkBytes
	put("file-cut", 2*chunk+10)
	put("file-swap", 2*chunk+10)
	put("file-a", 10)
	put("file-b", 10)
	for _, id := range []string{"file-cut", "file-swap", "file-a"} {
		if err := read(id); err != nil {
			t.Fatalf("%s before tampering: %v", id, err)
		}
	}

	// The last chunk dropped and the metadata made to match.
	exec(`DELETE FROM file_chunks WHERE file_seq = (SELECT seq FROM files WHERE id = 'file-cut') AND n = 2`)
	exec(`UPDATE files SET chunks = 2, bytes = $1 WHERE id = 'file-cut'`, 2*chunk)
	// A chunk's content put in another place of the same file.
	exec(`UPDATE file_chunks SET data = (SELECT data FROM file_chunks c WHERE c.file_seq = file_chunks.file_seq AND c.n = 1)
		WHERE n = 0 AND file_seq = (SELECT seq FROM files WHERE id = 'file-swap')`)
	// Another file's content moved in.
	exec(`UPDATE file_chunks SET data = (SELECT data FROM file_chunks WHERE file_seq = (SELECT seq FROM files WHERE id = 'file-b'))
		WHERE file_seq = (SELECT seq FROM files WHERE id = 'file-a')`)
	for _, id := range []string{"file-cut", "file-swap", "file-a"} {
		if err := read(id); err == nil {
			t.Errorf("%s read back after tampering", id)
		}
	}
	if err := read("file-b"); err != nil {
		t.Fatalf("the untouched file: %v", err)
	}
}
