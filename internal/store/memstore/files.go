package memstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// storedFile is a file with its content and upload order.
type storedFile struct {
	store.File
	seq     int64
	content []byte
}

// PutFile implements [store.FileStore].
func (s *Store) PutFile(ctx context.Context, u store.FileUpload) (store.File, error) {
	f, quota := u.File, u.Quota
	if f.ID == "" || f.Filename == "" || f.MIMEType == "" {
		return store.File{}, fmt.Errorf("%w: a file needs an id, a name and a media type", store.ErrInvalid)
	}
	data, err := io.ReadAll(u.Content)
	if err != nil {
		return store.File{}, fmt.Errorf("memstore: put file: read content: %w", err)
	}
	f.Bytes = int64(len(data))
	if u.Finish != nil {
		if err := u.Finish(&f); err != nil {
			return store.File{}, fmt.Errorf("memstore: put file: %w", err)
		}
	}
	if f.Purpose == "" {
		return store.File{}, fmt.Errorf("%w: a file needs a purpose", store.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return store.File{}, err
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = s.now()
	}
	f.CreatedAt, f.ExpiresAt = norm(f.CreatedAt), norm(f.ExpiresAt)
	f.Bytes = int64(len(data))
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[f.ID]; ok {
		return store.File{}, conflict("file id")
	}
	if quota > 0 && s.usageLocked(f.Owner)+f.Bytes > quota {
		return store.File{}, fmt.Errorf("memstore: put file: %w", store.ErrQuota)
	}
	s.seq++
	s.files[f.ID] = &storedFile{File: f, seq: s.seq, content: data}
	return f, nil
}

// liveLocked returns owner's current file id, or nil.
func (s *Store) liveLocked(owner, id string) *storedFile {
	f, ok := s.files[id]
	if !ok || f.Owner != owner || !store.FileLive(f.ExpiresAt, s.now()) {
		return nil
	}
	return f
}

// usageLocked sums the bytes of owner's current files.
func (s *Store) usageLocked(owner string) int64 {
	now := s.now()
	var n int64
	for _, f := range s.files {
		if f.Owner == owner && store.FileLive(f.ExpiresAt, now) {
			n += f.Bytes
		}
	}
	return n
}

// GetFile implements [store.FileStore].
func (s *Store) GetFile(_ context.Context, owner, id string) (store.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.liveLocked(owner, id)
	if f == nil {
		return store.File{}, notFound("file")
	}
	return f.File, nil
}

// OpenFile implements [store.FileStore]. The content is shared, read-only,
// with the store: a file's content never changes.
func (s *Store) OpenFile(_ context.Context, owner, id string) (store.File, io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.liveLocked(owner, id)
	if f == nil {
		return store.File{}, nil, notFound("file")
	}
	return f.File, io.NopCloser(bytes.NewReader(f.content)), nil
}

// ListFiles implements [store.FileStore].
func (s *Store) ListFiles(_ context.Context, owner string, ff store.FileFilter) ([]store.File, bool, error) {
	if ff.Limit <= 0 {
		return nil, false, fmt.Errorf("%w: list files: the limit must be positive", store.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var all []*storedFile
	for _, f := range s.files {
		if f.Owner == owner && store.FileLive(f.ExpiresAt, now) && (ff.Purpose == "" || f.Purpose == ff.Purpose) {
			all = append(all, f)
		}
	}
	// The list's order: by creation time, then upload order.
	slices.SortFunc(all, func(a, b *storedFile) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	if !ff.Ascending {
		slices.Reverse(all)
	}
	cursor := ff.After
	if cursor == "" {
		cursor = ff.Before
	}
	start, end := 0, len(all)
	if cursor != "" {
		i := slices.IndexFunc(all, func(f *storedFile) bool { return f.ID == cursor })
		if i < 0 {
			return nil, false, notFound("file (list cursor)")
		}
		if ff.After != "" {
			start = i + 1
		} else {
			end = i
		}
	}
	var page []*storedFile
	more := false
	if ff.Before != "" {
		from := max(start, end-ff.Limit)
		page, more = all[from:end], from > start
	} else {
		to := min(end, start+ff.Limit)
		page, more = all[start:to], to < end
	}
	out := make([]store.File, len(page))
	for i, f := range page {
		out[i] = f.File
	}
	return out, more, nil
}

// DeleteFile implements [store.FileStore].
func (s *Store) DeleteFile(_ context.Context, owner, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.liveLocked(owner, id) == nil {
		return notFound("file")
	}
	delete(s.files, id)
	return nil
}

// FileUsage implements [store.FileStore].
func (s *Store) FileUsage(_ context.Context, owner string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usageLocked(owner), nil
}

// PruneFiles implements [store.FileStore]. The in-memory store has no
// unfinished uploads: PutFile stores a file at once.
func (s *Store) PruneFiles(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, f := range s.files {
		if !store.FileLive(f.ExpiresAt, now) {
			delete(s.files, id)
			n++
		}
	}
	return n, nil
}
