package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sparkgw/spark/internal/store"
)

// liveFile is the condition of a files row that a read may see, with the
// current time as the parameter numbered by its argument.
func liveFile(n int) string {
	return fmt.Sprintf(`ready AND (expires_at IS NULL OR expires_at > $%d)`, n)
}

// quotaLockKey namespaces the advisory locks PutFile takes per owner
// ("quot" in ASCII).
const quotaLockKey int32 = 0x71756f74

// PutFile implements [store.FileStore]. The row is inserted first, not yet
// ready; each chunk of content is then read, sealed and inserted in its own
// short statement, so a slow upload holds no lock and one chunk in memory;
// the last transaction takes the owner's advisory lock, checks the quota
// and marks the file ready, so two replicas storing files of one owner at
// once cannot both pass the quota. Any failure removes what was written.
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
		return store.File{}, fmt.Errorf("postgres: put file: %w", err)
	}
	var seq int64
	err = d.pool.QueryRow(ctx, `INSERT INTO files (id, owner, filename, purpose, mime_type, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`,
		f.ID, f.Owner, name, f.Purpose, f.MIMEType, tv(f.CreatedAt), tv(f.ExpiresAt)).Scan(&seq)
	if err != nil {
		return store.File{}, constraint("put file", err)
	}
	defer func() {
		if err != nil {
			// The client may be gone: clean up regardless.
			_, _ = d.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM files WHERE seq = $1`, seq)
		}
	}()

	// Read one chunk ahead, so the last chunk is known when it is sealed.
	buf, next := make([]byte, store.FileChunkBytes), make([]byte, store.FileChunkBytes)
	n, rerr := readChunk(content, buf)
	chunks := 0
	for {
		if rerr != nil {
			return store.File{}, fmt.Errorf("postgres: put file: read content: %w", rerr)
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
			return store.File{}, fmt.Errorf("postgres: put file: %w", err)
		}
		if _, err := d.pool.Exec(ctx, `INSERT INTO file_chunks (file_seq, n, data) VALUES ($1, $2, $3)`, seq, chunks, sealed); err != nil {
			return store.File{}, fmt.Errorf("postgres: put file chunk: %w", err)
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
			return store.File{}, fmt.Errorf("postgres: put file: %w", err)
		}
		f.ExpiresAt = norm(f.ExpiresAt)
	}
	if f.Purpose == "" {
		return store.File{}, fmt.Errorf("%w: a file needs a purpose", store.ErrInvalid)
	}
	err = d.tx(ctx, func(tx pgx.Tx) error {
		if quota > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, quotaLockKey, f.Owner); err != nil {
				return fmt.Errorf("postgres: put file: lock the quota: %w", err)
			}
			var used int64
			if err := tx.QueryRow(ctx, `SELECT COALESCE(SUM(bytes), 0)::bigint FROM files WHERE owner = $1 AND `+liveFile(2),
				f.Owner, d.now()).Scan(&used); err != nil {
				return fmt.Errorf("postgres: put file: usage: %w", err)
			}
			if used+f.Bytes > quota {
				return fmt.Errorf("postgres: put file: %w", store.ErrQuota)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE files SET bytes = $1, chunks = $2, purpose = $3, expires_at = $4, ready = TRUE WHERE seq = $5`,
			f.Bytes, chunks, f.Purpose, tv(f.ExpiresAt), seq)
		if err != nil {
			return fmt.Errorf("postgres: put file: %w", err)
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
func (d *DB) scanFile(sc pgx.Row) (fileRow, error) {
	var (
		r    fileRow
		name []byte
	)
	if err := sc.Scan(&r.seq, &r.file.ID, &r.file.Owner, &name, &r.file.Purpose, &r.file.MIMEType,
		&r.file.Bytes, &r.chunks, timeCol{&r.file.CreatedAt}, timeCol{&r.file.ExpiresAt}); err != nil {
		return fileRow{}, err
	}
	plain, err := d.sealer.Open(store.PurposeFileName, name, store.FileAAD(r.file.ID, r.file.Owner))
	if err != nil {
		return fileRow{}, store.FileOpenError("postgres", r.file.ID, err)
	}
	r.file.Filename = string(plain)
	return r, nil
}

// getFile returns owner's current file id.
func (d *DB) getFile(ctx context.Context, owner, id string) (fileRow, error) {
	r, err := d.scanFile(d.pool.QueryRow(ctx, `SELECT `+fileColumns+` FROM files WHERE id = $1 AND owner = $2 AND `+liveFile(3),
		id, owner, d.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return fileRow{}, fmt.Errorf("postgres: file: %w", store.ErrNotFound)
	}
	if err != nil {
		return fileRow{}, fmt.Errorf("postgres: get file: %w", err)
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
	return r.file, store.NewChunkReader("postgres", r.file, r.chunks, d.sealer, func(n int) ([]byte, error) {
		var sealed []byte
		err := d.pool.QueryRow(ctx, `SELECT data FROM file_chunks WHERE file_seq = $1 AND n = $2`, r.seq, n).Scan(&sealed)
		if errors.Is(err, pgx.ErrNoRows) {
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
	where := `owner = $1 AND ` + liveFile(2)
	args := []any{owner, d.now()}
	if ff.Purpose != "" {
		args = append(args, ff.Purpose)
		where += fmt.Sprintf(` AND purpose = $%d`, len(args))
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
		var (
			cAt  time.Time
			cSeq int64
		)
		err := d.pool.QueryRow(ctx, fmt.Sprintf(`SELECT created_at, seq FROM files WHERE id = $%d AND `, len(args)+1)+where,
			append(args, cursor)...).Scan(&cAt, &cSeq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, fmt.Errorf("postgres: list files: cursor: %w", store.ErrNotFound)
		}
		if err != nil {
			return nil, false, fmt.Errorf("postgres: list files: %w", err)
		}
		op := "<"
		if asc {
			op = ">"
		}
		args = append(args, cAt, cSeq)
		where += fmt.Sprintf(` AND (created_at, seq) %s ($%d, $%d)`, op, len(args)-1, len(args))
	}
	dir := "DESC"
	if asc {
		dir = "ASC"
	}
	args = append(args, ff.Limit+1)
	rows, err := d.pool.Query(ctx, `SELECT `+fileColumns+` FROM files WHERE `+where+
		` ORDER BY created_at `+dir+`, seq `+dir+fmt.Sprintf(` LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: list files: %w", err)
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
		return nil, false, fmt.Errorf("postgres: list files: %w", err)
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
	tag, err := d.pool.Exec(ctx, `DELETE FROM files WHERE id = $1 AND owner = $2 AND `+liveFile(3), id, owner, d.now())
	if err != nil {
		return fmt.Errorf("postgres: delete file: %w", err)
	}
	return affected(tag, "delete file")
}

// FileUsage implements [store.FileStore].
func (d *DB) FileUsage(ctx context.Context, owner string) (int64, error) {
	var used int64
	err := d.pool.QueryRow(ctx, `SELECT COALESCE(SUM(bytes), 0)::bigint FROM files WHERE owner = $1 AND `+liveFile(2),
		owner, d.now()).Scan(&used)
	if err != nil {
		return 0, fmt.Errorf("postgres: file usage: %w", err)
	}
	return used, nil
}

// PruneFiles implements [store.FileStore].
func (d *DB) PruneFiles(ctx context.Context, now time.Time) (int, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM files WHERE (expires_at IS NOT NULL AND expires_at <= $1) OR (NOT ready AND created_at < $2)`,
		norm(now), norm(now.Add(-store.StaleUploadAge)))
	if err != nil {
		return 0, fmt.Errorf("postgres: prune files: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
