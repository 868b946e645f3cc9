package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// liveFile is the condition of a file rows that a read may see, with the
// current time as its one argument.
const liveFile = `ready = 1 AND (expires_at = 0 OR expires_at > ?)`

// PutFile implements [store.FileStore]. The row is inserted first, not yet
// ready; each chunk of content is then read, sealed and inserted in its own
// short statement, so a slow upload never holds the database's write lock
// and holds one chunk in memory; the last statement checks the quota and
// marks the file ready. Any failure removes what was written.
func (d *DB) PutFile(ctx context.Context, u store.FileUpload) (_ store.File, err error) {
	f, content, quota := u.File, u.Content, u.Quota
	if f.ID == "" || f.Filename == "" || f.MIMEType == "" {
		return store.File{}, fmt.Errorf("%w: a file needs an id, a name and a media type", store.ErrInvalid)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = d.now()
	}
	f.CreatedAt, f.ExpiresAt = norm(f.CreatedAt), norm(f.ExpiresAt)
	name, err := d.sealer.Seal(store.PurposeFileName, []byte(f.Filename), store.FileAAD(f.ID, f.Owner))
	if err != nil {
		return store.File{}, fmt.Errorf("sqlite: put file: %w", err)
	}
	var seq int64
	err = d.db.QueryRowContext(ctx, `INSERT INTO files (id, owner, filename, purpose, mime_type, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		f.ID, f.Owner, name, f.Purpose, f.MIMEType, micros(f.CreatedAt), micros(f.ExpiresAt)).Scan(&seq)
	if err != nil {
		return store.File{}, constraint("put file", err)
	}
	defer func() {
		if err != nil {
			// The client may be gone: clean up regardless.
			_, _ = d.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM files WHERE seq = ?`, seq)
		}
	}()

	// Read one chunk ahead, so the last chunk is known when it is sealed.
	buf, next := make([]byte, store.FileChunkBytes), make([]byte, store.FileChunkBytes)
	n, rerr := readChunk(content, buf)
	chunks := 0
	for {
		if rerr != nil {
			return store.File{}, fmt.Errorf("sqlite: put file: read content: %w", rerr)
		}
		var m int
		last := n < len(buf)
		if !last {
			if m, rerr = readChunk(content, next); rerr == nil && m == 0 {
				last = true
			}
		}
		sealed, err := d.sealer.Seal(store.PurposeFileContent, buf[:n], store.FileChunkAAD(f.ID, f.Owner, chunks, last))
		if err != nil {
			return store.File{}, fmt.Errorf("sqlite: put file: %w", err)
		}
		if _, err := d.db.ExecContext(ctx, `INSERT INTO file_chunks (file_seq, n, data) VALUES (?, ?, ?)`, seq, chunks, sealed); err != nil {
			return store.File{}, fmt.Errorf("sqlite: put file chunk: %w", err)
		}
		f.Bytes += int64(n)
		chunks++
		if last {
			break
		}
		buf, next, n = next, buf, m
	}

	if u.Finish != nil {
		if err := u.Finish(&f); err != nil {
			return store.File{}, fmt.Errorf("sqlite: put file: %w", err)
		}
		f.ExpiresAt = norm(f.ExpiresAt)
	}
	if f.Purpose == "" {
		return store.File{}, fmt.Errorf("%w: a file needs a purpose", store.ErrInvalid)
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if quota > 0 {
			var used int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(bytes), 0) FROM files WHERE owner = ? AND `+liveFile,
				f.Owner, micros(d.now())).Scan(&used); err != nil {
				return fmt.Errorf("sqlite: put file: usage: %w", err)
			}
			if used+f.Bytes > quota {
				return fmt.Errorf("sqlite: put file: %w", store.ErrQuota)
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE files SET bytes = ?, chunks = ?, purpose = ?, expires_at = ?, ready = 1 WHERE seq = ?`,
			f.Bytes, chunks, f.Purpose, micros(f.ExpiresAt), seq)
		if err != nil {
			return fmt.Errorf("sqlite: put file: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.File{}, err
	}
	return f, nil
}

// readChunk fills buf from r as far as r goes; it returns io.EOF only as a
// short count.
func readChunk(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return n, err
}

// fileRow is a files row as scanned.
type fileRow struct {
	seq    int64
	chunks int
	file   store.File
}

const fileColumns = `seq, id, owner, filename, purpose, mime_type, bytes, chunks, created_at, expires_at`

// scanFile scans and opens one row of fileColumns.
func (d *DB) scanFile(sc interface{ Scan(...any) error }) (fileRow, error) {
	var (
		r                fileRow
		name             []byte
		created, expires int64
	)
	if err := sc.Scan(&r.seq, &r.file.ID, &r.file.Owner, &name, &r.file.Purpose, &r.file.MIMEType,
		&r.file.Bytes, &r.chunks, &created, &expires); err != nil {
		return fileRow{}, err
	}
	r.file.CreatedAt, r.file.ExpiresAt = fromMicros(created), fromMicros(expires)
	plain, err := d.sealer.Open(store.PurposeFileName, name, store.FileAAD(r.file.ID, r.file.Owner))
	if err != nil {
		return fileRow{}, store.FileOpenError("sqlite", r.file.ID, err)
	}
	r.file.Filename = string(plain)
	return r, nil
}

// getFile returns owner's current file id.
func (d *DB) getFile(ctx context.Context, owner, id string) (fileRow, error) {
	r, err := d.scanFile(d.db.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files WHERE id = ? AND owner = ? AND `+liveFile,
		id, owner, micros(d.now())))
	if errors.Is(err, sql.ErrNoRows) {
		return fileRow{}, fmt.Errorf("sqlite: file: %w", store.ErrNotFound)
	}
	if err != nil {
		return fileRow{}, fmt.Errorf("sqlite: get file: %w", err)
	}
	return r, nil
}

// GetFile implements [store.FileStore].
func (d *DB) GetFile(ctx context.Context, owner, id string) (store.File, error) {
	r, err := d.getFile(ctx, owner, id)
	return r.file, err
}

// OpenFile implements [store.FileStore]. The content is read one chunk per
// statement as the caller reads.
func (d *DB) OpenFile(ctx context.Context, owner, id string) (store.File, io.ReadCloser, error) {
	r, err := d.getFile(ctx, owner, id)
	if err != nil {
		return store.File{}, nil, err
	}
	return r.file, store.NewChunkReader("sqlite", r.file, r.chunks, d.sealer, func(n int) ([]byte, error) {
		var sealed []byte
		err := d.db.QueryRowContext(ctx, `SELECT data FROM file_chunks WHERE file_seq = ? AND n = ?`, r.seq, n).Scan(&sealed)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return sealed, err
	}), nil
}

// ListFiles implements [store.FileStore].
func (d *DB) ListFiles(ctx context.Context, owner string, ff store.FileFilter) ([]store.File, bool, error) {
	if ff.Limit <= 0 {
		return nil, false, fmt.Errorf("%w: list files: the limit must be positive", store.ErrInvalid)
	}
	now := micros(d.now())
	where := `owner = ? AND ` + liveFile
	args := []any{owner, now}
	if ff.Purpose != "" {
		where += ` AND purpose = ?`
		args = append(args, ff.Purpose)
	}
	// Page forward in the list's order, or, with Before, backward from
	// the cursor (then reversed).
	forward := ff.Before == ""
	asc := ff.Ascending == forward
	cursor := ff.After
	if !forward {
		cursor = ff.Before
	}
	if cursor != "" {
		var cAt, cSeq int64
		err := d.db.QueryRowContext(ctx, `SELECT created_at, seq FROM files WHERE id = ? AND `+where,
			append([]any{cursor}, args...)...).Scan(&cAt, &cSeq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, fmt.Errorf("sqlite: list files: cursor: %w", store.ErrNotFound)
		}
		if err != nil {
			return nil, false, fmt.Errorf("sqlite: list files: %w", err)
		}
		op := "<"
		if asc {
			op = ">"
		}
		where += ` AND (created_at, seq) ` + op + ` (?, ?)`
		args = append(args, cAt, cSeq)
	}
	dir := "DESC"
	if asc {
		dir = "ASC"
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+fileColumns+` FROM files WHERE `+where+
		` ORDER BY created_at `+dir+`, seq `+dir+` LIMIT ?`, append(args, ff.Limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: list files: %w", err)
	}
	defer rows.Close()
	var out []store.File
	for rows.Next() {
		r, err := d.scanFile(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, r.file)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("sqlite: list files: %w", err)
	}
	more := len(out) > ff.Limit
	if more {
		out = out[:ff.Limit]
	}
	if !forward {
		slices.Reverse(out)
	}
	return out, more, nil
}

// DeleteFile implements [store.FileStore].
func (d *DB) DeleteFile(ctx context.Context, owner, id string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM files WHERE id = ? AND owner = ? AND `+liveFile, id, owner, micros(d.now()))
	if err != nil {
		return fmt.Errorf("sqlite: delete file: %w", err)
	}
	return affected(res, "delete file")
}

// FileUsage implements [store.FileStore].
func (d *DB) FileUsage(ctx context.Context, owner string) (int64, error) {
	var used int64
	err := d.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(bytes), 0) FROM files WHERE owner = ? AND `+liveFile,
		owner, micros(d.now())).Scan(&used)
	if err != nil {
		return 0, fmt.Errorf("sqlite: file usage: %w", err)
	}
	return used, nil
}

// PruneFiles implements [store.FileStore].
func (d *DB) PruneFiles(ctx context.Context, now time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM files WHERE (expires_at > 0 AND expires_at <= ?) OR (ready = 0 AND created_at < ?)`,
		micros(norm(now)), micros(norm(now.Add(-store.StaleUploadAge))))
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune files: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune files: %w", err)
	}
	return int(n), nil
}
