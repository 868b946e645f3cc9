package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/sparkgw/spark/internal/secret"
)

// ErrQuota means a file would take its owner's stored bytes over the quota
// PutFile was given; nothing was stored.
var ErrQuota = errors.New("store: file quota exceeded")

// FileChunkBytes is the size of the pieces in which engines that write to
// disk seal a file's content: an upload or a download holds one or two of
// them in memory, never the whole file.
const FileChunkBytes = 1 << 20

// StaleUploadAge is how old an upload that never completed (the gateway
// stopped while it was being written) must be before PruneFiles removes it.
const StaleUploadAge = time.Hour

// File is the metadata of one file of the Files API. Its content is kept
// apart and read with FileStore.OpenFile.
type File struct {
	ID string // file-...
	// Owner is whom the file belongs to: an opaque string (today the id of
	// the client API key that uploaded it, "" when authentication is off;
	// later the user owning that key). Every read is scoped to it.
	Owner     string
	Filename  string
	Purpose   string // assistants, batch, fine-tune, vision, user_data, evals
	MIMEType  string
	Bytes     int64     // the content's size; set by the store
	CreatedAt time.Time // defaults to now
	ExpiresAt time.Time // zero: the file does not expire
}

// FileUpload is a file to store with its content (FileStore.PutFile).
type FileUpload struct {
	File    File
	Content io.Reader
	Quota   int64 // bytes the owner's current files may take; <= 0: no bound
	// Finish, when set, is called once Content has been read to its end
	// and before the file is committed; it may set the file's Purpose and
	// ExpiresAt (a multipart upload may name them after the file's bytes).
	// An error it returns aborts the upload.
	Finish func(f *File) error
}

// FileFilter selects and pages an owner's files for ListFiles. Files are
// ordered by creation (ties in upload order), newest first unless
// Ascending.
type FileFilter struct {
	Purpose   string // "" = any purpose
	Ascending bool   // oldest first
	// After is a file id: the page starts right after that file in the
	// list's order. Before is a file id: the page ends right before it.
	// At most one is set; an id that is not one of the owner's current
	// files is ErrNotFound.
	After, Before string
	// Limit is the page size; it must be positive.
	Limit int
}

// FileStore keeps the files of the Files API with their content. Every
// file belongs to an owner and every read is scoped to it: a file of
// another owner, an expired file and a file still being uploaded are all
// reported as ErrNotFound. Engines that write to disk seal the content and
// the file name (package secret; purposes PurposeFileContent and
// PurposeFileName). Implementations are safe for concurrent use.
type FileStore interface {
	// PutFile stores u.File with u.Content, read to its end, and returns
	// the file as stored (Bytes set, CreatedAt defaulted). u.Quota, when
	// positive, bounds the bytes of the owner's current files, this one
	// included: over it PutFile returns ErrQuota. A read error of the
	// content, or an error of u.Finish, aborts the upload and is returned
	// (wrapped); nothing is kept then. Returns ErrInvalid when ID,
	// Filename or MIMEType is empty, or Purpose once finished, and
	// ErrConflict when the id exists.
	PutFile(ctx context.Context, u FileUpload) (File, error)

	// GetFile returns the metadata of owner's file id, or ErrNotFound.
	GetFile(ctx context.Context, owner, id string) (File, error)

	// OpenFile returns the metadata and the content of owner's file id, or
	// ErrNotFound. The caller closes the content; reading it fails if the
	// file is deleted meanwhile or its content was tampered with.
	OpenFile(ctx context.Context, owner, id string) (File, io.ReadCloser, error)

	// ListFiles returns a page of owner's current files selected by f, and
	// whether more files follow the page in the direction of paging (past
	// its last file, or with Before, before its first).
	ListFiles(ctx context.Context, owner string, f FileFilter) (files []File, more bool, err error)

	// DeleteFile removes owner's file id with its content, or returns
	// ErrNotFound.
	DeleteFile(ctx context.Context, owner, id string) error

	// FileUsage returns the bytes of owner's current files.
	FileUsage(ctx context.Context, owner string) (int64, error)

	// PruneFiles removes, of every owner, the files that expired at or
	// before now and the uploads begun more than StaleUploadAge before now
	// that never completed, and returns how many it removed.
	PruneFiles(ctx context.Context, now time.Time) (int, error)
}

// Sealer purposes of stored files. The associated data binds a sealed value
// to its file and owner (FileAAD), and a content chunk also to its place.
const (
	PurposeFileContent = "file-content" // one chunk of a file's content
	PurposeFileName    = "file-name"    // File.Filename
)

// FileAAD is the associated data engines bind a stored file's sealed name
// to.
func FileAAD(id, owner string) []byte { return []byte(id + "\x00" + owner) }

// FileChunkAAD is the associated data of chunk n of a file's content;
// last marks the final chunk, so a file cut short fails to open.
func FileChunkAAD(id, owner string, n int, last bool) []byte {
	b := append(FileAAD(id, owner), 0)
	b = strconv.AppendInt(b, int64(n), 10)
	if last {
		b = append(b, 0, 'L')
	}
	return b
}

// FileLive reports whether a file that expires at expiresAt is still
// readable at now.
func FileLive(expiresAt, now time.Time) bool {
	return expiresAt.IsZero() || expiresAt.After(now)
}

// FileOpenError words a failure of engine (its name, for the message) to
// open one of file id's sealed values: one sealed with another key means
// the secret key changed (the file reads as missing, ErrNotFound, with the
// hint); anything else is wrapped as it is.
func FileOpenError(engine, id string, err error) error {
	if errors.Is(err, secret.ErrUnknownKey) {
		return fmt.Errorf("%s: file %s was sealed with another key (did SPARK_SECRET_KEY or %s change?): %w: %w",
			engine, id, secret.KeyFileName, ErrNotFound, err)
	}
	return fmt.Errorf("%s: open file %s: %w", engine, id, err)
}

// NewChunkReader returns the reader of file f's content, stored sealed in
// chunks numbered 0 to chunks-1, which engine (its name, for errors) loads
// one at a time with load (one row per call; a missing chunk is
// ErrNotFound). Each chunk is opened with the AAD that binds it to the
// file, its owner, its place and whether it is the last; a content whose
// length is not f.Bytes is an error, not a short read.
func NewChunkReader(engine string, f File, chunks int, s *secret.Sealer, load func(n int) ([]byte, error)) io.ReadCloser {
	return &chunkReader{engine: engine, file: f, chunks: chunks, sealer: s, load: load}
}

type chunkReader struct {
	engine string
	file   File
	chunks int
	sealer *secret.Sealer
	load   func(n int) ([]byte, error)
	next   int    // number of the next chunk to load
	buf    []byte // the unread rest of the loaded chunk
	read   int64
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.next >= c.chunks {
			if c.read != c.file.Bytes {
				return 0, fmt.Errorf("%s: file %s: content is %d bytes, want %d", c.engine, c.file.ID, c.read, c.file.Bytes)
			}
			return 0, io.EOF
		}
		sealed, err := c.load(c.next)
		if err != nil {
			return 0, fmt.Errorf("%s: file %s: chunk %d: %w", c.engine, c.file.ID, c.next, err)
		}
		plain, err := c.sealer.Open(PurposeFileContent, sealed, FileChunkAAD(c.file.ID, c.file.Owner, c.next, c.next == c.chunks-1))
		if err != nil {
			return 0, FileOpenError(c.engine, c.file.ID, err)
		}
		c.next++
		c.buf = plain
		c.read += int64(len(plain))
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *chunkReader) Close() error { c.buf = nil; c.next = c.chunks; return nil }
