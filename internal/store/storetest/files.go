package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// fileTests are the suite's rows for [store.FileStore].
var fileTests = []struct {
	name string
	fn   func(t *testing.T, db DB)
}{
	{"Files", testFiles},
	{"FilesOwnerScoped", testFilesOwnerScoped},
	{"FilesQuota", testFilesQuota},
	{"FilesReadErrorStoresNothing", testFilesReadError},
	{"FilesFinish", testFilesFinish},
	{"FilesList", testFilesList},
	{"FilesExpiry", testFilesExpiry},
	{"FilesPersist", testFilesPersist},
	{"FilesSealedAtRest", testFilesSealedAtRest},
}

// content returns n bytes of a pattern that differs between chunks.
func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/store.FileChunkBytes)
	}
	return b
}

func readFile(t *testing.T, s store.Store, owner, id string) (store.File, []byte) {
	t.Helper()
	f, rc, err := s.OpenFile(t.Context(), owner, id)
	if err != nil {
		t.Fatalf("OpenFile %s: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return f, b
}

func putFile(t *testing.T, s store.Store, f store.File, data []byte) store.File {
	t.Helper()
	if f.Filename == "" {
		f.Filename = f.ID + ".txt"
	}
	if f.Purpose == "" {
		f.Purpose = "user_data"
	}
	if f.MIMEType == "" {
		f.MIMEType = "text/plain"
	}
	got, err := s.PutFile(t.Context(), store.FileUpload{File: f, Content: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("PutFile %s: %v", f.ID, err)
	}
	return got
}

func testFiles(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	before := time.Now()
	for _, size := range []int{0, 1, store.FileChunkBytes, 2*store.FileChunkBytes + 12345} {
		id := fmt.Sprintf("file-%d", size)
		data := content(size)
		f := store.File{ID: id, Owner: "key_1", Filename: "notes é.pdf", Purpose: "assistants", MIMEType: "application/pdf",
			ExpiresAt: before.Add(48 * time.Hour)}
		put, err := s.PutFile(ctx, store.FileUpload{File: f, Content: bytes.NewReader(data)})
		ok(t, err)
		if put.Bytes != int64(size) || !near(put.CreatedAt, before, time.Now()) || put.CreatedAt.Location() != time.UTC {
			t.Fatalf("PutFile %s returned %+v", id, put)
		}
		got := must[store.File](t)(s.GetFile(ctx, "key_1", id))
		want := f
		want.Bytes, want.CreatedAt, want.ExpiresAt = int64(size), put.CreatedAt, store.NormTime(f.ExpiresAt)
		if got != want {
			t.Fatalf("GetFile %s = %+v, want %+v", id, got, want)
		}
		meta, b := readFile(t, s, "key_1", id)
		if meta != want || !bytes.Equal(b, data) {
			t.Fatalf("OpenFile %s: meta %+v, %d bytes (equal: %v)", id, meta, len(b), bytes.Equal(b, data))
		}
	}
	if n := must[int64](t)(s.FileUsage(ctx, "key_1")); n != 3*store.FileChunkBytes+12345+1 {
		t.Fatalf("FileUsage = %d", n)
	}
	ok(t, s.DeleteFile(ctx, "key_1", "file-1"))
	wantErr(t, "GetFile deleted", func() error { _, err := s.GetFile(ctx, "key_1", "file-1"); return err }(), store.ErrNotFound)
	wantErr(t, "DeleteFile twice", s.DeleteFile(ctx, "key_1", "file-1"), store.ErrNotFound)
	_, _, err := s.OpenFile(ctx, "key_1", "file-1")
	wantErr(t, "OpenFile deleted", err, store.ErrNotFound)

	// An id is taken whoever asks.
	_, err = s.PutFile(ctx, store.FileUpload{File: store.File{ID: "file-0", Owner: "key_2", Filename: "a", Purpose: "batch", MIMEType: "text/plain"}, Content: strings.NewReader("x")})
	wantErr(t, "PutFile with a taken id", err, store.ErrConflict)
	for _, f := range []store.File{
		{Filename: "a", Purpose: "batch", MIMEType: "text/plain"},
		{ID: "file-x", Purpose: "batch", MIMEType: "text/plain"},
		{ID: "file-x", Filename: "a", Purpose: "batch"},
	} {
		_, err := s.PutFile(ctx, store.FileUpload{File: f, Content: strings.NewReader("x")})
		wantErr(t, fmt.Sprintf("PutFile %+v", f), err, store.ErrInvalid)
	}
}

func testFilesOwnerScoped(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	putFile(t, s, store.File{ID: "file-a", Owner: "key_a"}, []byte("mine"))
	if _, err := s.GetFile(ctx, "key_b", "file-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFile by another owner: %v", err)
	}
	if _, _, err := s.OpenFile(ctx, "key_b", "file-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OpenFile by another owner: %v", err)
	}
	if _, _, err := s.OpenFile(ctx, "", "file-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OpenFile by the empty owner: %v", err)
	}
	wantErr(t, "DeleteFile by another owner", s.DeleteFile(ctx, "key_b", "file-a"), store.ErrNotFound)
	files, _, err := s.ListFiles(ctx, "key_b", store.FileFilter{Limit: 10})
	ok(t, err)
	if len(files) != 0 {
		t.Fatalf("another owner lists %v", ids(files))
	}
	_, _, err = s.ListFiles(ctx, "key_b", store.FileFilter{Limit: 10, After: "file-a"})
	wantErr(t, "ListFiles after another owner's file", err, store.ErrNotFound)
	if n := must[int64](t)(s.FileUsage(ctx, "key_b")); n != 0 {
		t.Fatalf("another owner's usage = %d", n)
	}
	if _, b := readFile(t, s, "key_a", "file-a"); string(b) != "mine" {
		t.Fatalf("the owner reads %q", b)
	}
}

func testFilesQuota(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	put := func(id string, n int, quota int64) error {
		_, err := s.PutFile(ctx, store.FileUpload{File: store.File{ID: id, Owner: "key_q", Filename: "f", Purpose: "user_data", MIMEType: "text/plain"}, Content: bytes.NewReader(content(n)), Quota: quota})
		return err
	}
	ok(t, put("file-1", 600, 1000))
	wantErr(t, "PutFile over the quota", put("file-2", 401, 1000), store.ErrQuota)
	if _, err := s.GetFile(ctx, "key_q", "file-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a file refused for the quota is readable: %v", err)
	}
	ok(t, put("file-2", 400, 1000)) // exactly the quota
	if n := must[int64](t)(s.FileUsage(ctx, "key_q")); n != 1000 {
		t.Fatalf("usage = %d, want 1000", n)
	}
	// The quota is per owner.
	_, err := s.PutFile(ctx, store.FileUpload{File: store.File{ID: "file-3", Owner: "key_other", Filename: "f", Purpose: "user_data", MIMEType: "text/plain"}, Content: bytes.NewReader(content(900)), Quota: 1000})
	ok(t, err)
	// Deleting frees the space; an expired file takes none.
	ok(t, s.DeleteFile(ctx, "key_q", "file-1"))
	_, err = s.PutFile(ctx, store.FileUpload{File: store.File{ID: "file-4", Owner: "key_q", Filename: "f", Purpose: "user_data", MIMEType: "text/plain",
		CreatedAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)}, Content: bytes.NewReader(content(600)), Quota: 1000})
	ok(t, err)
	ok(t, put("file-5", 600, 1000))
}

// failingReader yields n bytes, then fails.
type failingReader struct{ n int }

var errBrokenUpload = errors.New("client went away")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errBrokenUpload
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

func testFilesReadError(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	for _, n := range []int{0, 10, 3 * store.FileChunkBytes / 2} {
		id := fmt.Sprintf("file-broken-%d", n)
		_, err := s.PutFile(ctx, store.FileUpload{File: store.File{ID: id, Owner: "key_r", Filename: "f", Purpose: "user_data", MIMEType: "text/plain"}, Content: &failingReader{n: n}})
		wantErr(t, "PutFile with a failing reader", err, errBrokenUpload)
		if _, err := s.GetFile(ctx, "key_r", id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s after a failed upload: %v", id, err)
		}
	}
	if n := must[int64](t)(s.FileUsage(ctx, "key_r")); n != 0 {
		t.Fatalf("usage after failed uploads = %d", n)
	}
	// The id of a failed upload is free again.
	putFile(t, s, store.File{ID: "file-broken-10", Owner: "key_r"}, []byte("ok"))
}

func ids(files []store.File) string {
	var out []string
	for _, f := range files {
		out = append(out, f.ID)
	}
	return strings.Join(out, ",")
}

func testFilesList(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	base := time.Now().Add(-time.Hour)
	// f1..f5 created one second apart, f5 and f6 at the same time (upload
	// order breaks the tie); f3 is a batch file; another owner has one.
	for i := 1; i <= 6; i++ {
		purpose := "user_data"
		if i == 3 {
			purpose = "batch"
		}
		at := base.Add(time.Duration(min(i, 5)) * time.Second)
		putFile(t, s, store.File{ID: fmt.Sprintf("f%d", i), Owner: "key_l", Purpose: purpose, CreatedAt: at}, []byte{byte(i)})
	}
	putFile(t, s, store.File{ID: "g1", Owner: "key_m"}, nil)
	tests := []struct {
		f    store.FileFilter
		want string
		more bool
	}{
		{store.FileFilter{Limit: 10}, "f6,f5,f4,f3,f2,f1", false},
		{store.FileFilter{Limit: 2}, "f6,f5", true},
		{store.FileFilter{Limit: 2, After: "f5"}, "f4,f3", true},
		{store.FileFilter{Limit: 2, After: "f2"}, "f1", false},
		{store.FileFilter{Limit: 2, After: "f1"}, "", false},
		{store.FileFilter{Limit: 2, Before: "f2"}, "f4,f3", true},
		{store.FileFilter{Limit: 5, Before: "f2"}, "f6,f5,f4,f3", false},
		{store.FileFilter{Limit: 3, Ascending: true}, "f1,f2,f3", true},
		{store.FileFilter{Limit: 3, Ascending: true, After: "f3"}, "f4,f5,f6", false},
		{store.FileFilter{Limit: 2, Ascending: true, Before: "f5"}, "f3,f4", true},
		{store.FileFilter{Limit: 10, Purpose: "batch"}, "f3", false},
		{store.FileFilter{Limit: 10, Purpose: "user_data", After: "f4"}, "f2,f1", false},
		{store.FileFilter{Limit: 10, Purpose: "vision"}, "", false},
	}
	for _, tt := range tests {
		got, more, err := s.ListFiles(ctx, "key_l", tt.f)
		ok(t, err)
		if ids(got) != tt.want || more != tt.more {
			t.Errorf("ListFiles(%+v) = %s (more %v), want %s (more %v)", tt.f, ids(got), more, tt.want, tt.more)
		}
	}
	for _, f := range []store.FileFilter{{Limit: 2, After: "nope"}, {Limit: 2, Before: "g1"}, {Limit: 2, Purpose: "user_data", After: "f3"}} {
		_, _, err := s.ListFiles(ctx, "key_l", f)
		wantErr(t, fmt.Sprintf("ListFiles(%+v)", f), err, store.ErrNotFound)
	}
	_, _, err := s.ListFiles(ctx, "key_l", store.FileFilter{})
	wantErr(t, "ListFiles without a limit", err, store.ErrInvalid)
}

func testFilesExpiry(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	now := time.Now()
	putFile(t, s, store.File{ID: "file-old", Owner: "key_e", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Minute)}, []byte("gone"))
	putFile(t, s, store.File{ID: "file-soon", Owner: "key_e", ExpiresAt: now.Add(time.Hour)}, []byte("soon"))
	putFile(t, s, store.File{ID: "file-kept", Owner: "key_e"}, []byte("kept"))
	if _, err := s.GetFile(ctx, "key_e", "file-old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFile expired: %v", err)
	}
	if _, _, err := s.OpenFile(ctx, "key_e", "file-old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OpenFile expired: %v", err)
	}
	wantErr(t, "DeleteFile expired", s.DeleteFile(ctx, "key_e", "file-old"), store.ErrNotFound)
	got, _, err := s.ListFiles(ctx, "key_e", store.FileFilter{Limit: 10})
	ok(t, err)
	if ids(got) != "file-kept,file-soon" {
		t.Fatalf("ListFiles = %s", ids(got))
	}
	if n := must[int64](t)(s.FileUsage(ctx, "key_e")); n != 8 {
		t.Fatalf("usage = %d, want 8 (the expired file takes none)", n)
	}
	if n := must[int](t)(s.PruneFiles(ctx, now)); n != 1 {
		t.Fatalf("PruneFiles(now) removed %d, want 1", n)
	}
	if n := must[int](t)(s.PruneFiles(ctx, now.Add(2*time.Hour))); n != 1 {
		t.Fatalf("PruneFiles(now+2h) removed %d, want 1 (file-soon)", n)
	}
	if _, b := readFile(t, s, "key_e", "file-kept"); string(b) != "kept" {
		t.Fatalf("file-kept = %q", b)
	}
}

func testFilesPersist(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	data := content(store.FileChunkBytes + 5)
	put := putFile(t, s, store.File{ID: "file-p", Owner: "key_p", Filename: "report.pdf", MIMEType: "application/pdf"}, data)
	s = reopen(t, db, s)
	got, b := readFile(t, s, "key_p", "file-p")
	if got != put || !bytes.Equal(b, data) {
		t.Fatalf("after reopen: %+v (%d bytes), want %+v", got, len(b), put)
	}
	ok(t, s.DeleteFile(ctx, "key_p", "file-p"))
}

func testFilesSealedAtRest(t *testing.T, db DB) {
	s := open(t, db)
	if db.AtRest(t) == nil {
		t.Skip("engine keeps nothing at rest")
	}
	secrets := []string{"FileBodySecret0123456789", "SecretFileName9876543210"}
	body := bytes.Repeat([]byte(secrets[0]+" "), store.FileChunkBytes/20)
	putFile(t, s, store.File{ID: "file-sealed", Owner: "key_s", Filename: secrets[1] + ".txt"}, body)
	checkSealedAtRest(t, db, s, "file-sealed", secrets)
}

func testFilesFinish(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	exp := time.Now().Add(time.Hour)
	var seen int64
	f, err := s.PutFile(ctx, store.FileUpload{
		File:    store.File{ID: "file-late", Owner: "key_f", Filename: "f.jsonl", MIMEType: "application/jsonl"},
		Content: bytes.NewReader(content(store.FileChunkBytes + 1)),
		Finish: func(f *store.File) error {
			seen = f.Bytes
			f.Purpose, f.ExpiresAt = "batch", exp
			return nil
		},
	})
	ok(t, err)
	if seen != store.FileChunkBytes+1 {
		t.Errorf("Finish saw %d bytes, want the whole content", seen)
	}
	got := must[store.File](t)(s.GetFile(ctx, "key_f", "file-late"))
	if got != f || got.Purpose != "batch" || !got.ExpiresAt.Equal(store.NormTime(exp)) {
		t.Fatalf("GetFile = %+v, PutFile returned %+v", got, f)
	}
	refused := errors.New("bad purpose")
	_, err = s.PutFile(ctx, store.FileUpload{
		File:    store.File{ID: "file-refused", Owner: "key_f", Filename: "f", MIMEType: "text/plain"},
		Content: strings.NewReader("x"),
		Finish:  func(*store.File) error { return refused },
	})
	wantErr(t, "PutFile with a failing Finish", err, refused)
	_, err = s.PutFile(ctx, store.FileUpload{
		File:    store.File{ID: "file-nopurpose", Owner: "key_f", Filename: "f", MIMEType: "text/plain"},
		Content: strings.NewReader("x"),
	})
	wantErr(t, "PutFile without a purpose", err, store.ErrInvalid)
	for _, id := range []string{"file-refused", "file-nopurpose"} {
		if _, err := s.GetFile(ctx, "key_f", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s was kept: %v", id, err)
		}
	}
	if n := must[int64](t)(s.FileUsage(ctx, "key_f")); n != store.FileChunkBytes+1 {
		t.Fatalf("usage = %d", n)
	}
}
