package files

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/store"
)

// Bounds of an upload's form besides its file.
const (
	maxFormParts  = 16
	maxFieldBytes = 1 << 10
	// formOverhead is what the body may hold besides the file's bytes:
	// part headers and text fields.
	formOverhead = 64 << 10
	// sniffBytes is how much of the content is looked at to guess a media
	// type the client did not give.
	sniffBytes = 512
)

// uploadBodyLimit bounds the body of POST /v1/files.
func (h *Handler) uploadBodyLimit() int64 { return h.opts.MaxFileBytes + formOverhead }

// uploadForm holds the text fields of an upload.
type uploadForm struct {
	fields map[string]string
	parts  int
	word   wire.Wording
}

// next returns the next part of mr, checked against the form's bounds, or
// nil at the end of the form. Text fields are read into f.fields; the
// file part is returned unread.
func (f *uploadForm) next(mr *multipart.Reader) (*multipart.Part, error) {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, bodyError(err, f.word)
		}
		f.parts++
		if err := wire.CheckPart(part, f.parts, maxFormParts); err != nil {
			var ge *gw.Error
			if errors.As(err, &ge) {
				return nil, f.word(ge.Param, "%s", ge.Message)
			}
			return nil, err
		}
		name := part.FormName()
		if name == "file" {
			return part, nil
		}
		if part.FileName() != "" {
			part.Close()
			continue // another file: not part of the API, ignored
		}
		data, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return nil, bodyError(err, f.word)
		}
		if len(data) > maxFieldBytes {
			return nil, f.word(name, "The field '%s' is longer than %d bytes.", name, maxFieldBytes)
		}
		if err := wire.CheckFormText(name, data); err != nil {
			return nil, err
		}
		f.fields[name] = string(data)
	}
}

// bodyError words a failure to read the multipart body.
func bodyError(err error, word wire.Wording) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &gw.Error{Code: gw.CodeTooLarge, Message: fmt.Sprintf("Request body too large: the limit is %d bytes.", mbe.Limit), Cause: err}
	}
	e := word("", "Could not read the multipart/form-data body: %v", err)
	e.Cause = err
	return e
}

// settings are the validated purpose and expiry of an upload.
type settings struct {
	purpose string
	expiry  time.Duration // 0: never
}

// check validates the text fields seen so far; with final, missing
// required fields too.
func (f *uploadForm) check(anthropic, final bool) (settings, error) {
	word := f.word
	var s settings
	purpose, has := f.fields["purpose"]
	switch {
	case has && !validPurpose(purpose):
		return s, word("purpose", "Invalid value for 'purpose': '%s'. Supported values are: '%s'.", clip(purpose), strings.Join(Purposes, "', '"))
	case has:
		s.purpose = purpose
	case anthropic:
		s.purpose = anthropicPurpose
	case final:
		return s, word("purpose", "Missing required parameter: 'purpose'.")
	}
	if anthropic {
		if v, ok := f.fields["expires_in_seconds"]; ok {
			d, err := seconds(v, maxAnthropicExpiry)
			if err != nil {
				return s, word("expires_in_seconds", "Invalid 'expires_in_seconds': %v.", err)
			}
			s.expiry = d
		}
		return s, nil
	}
	anchor, hasAnchor := f.fields["expires_after[anchor]"]
	secs, hasSecs := f.fields["expires_after[seconds]"]
	if hasAnchor && anchor != "created_at" {
		return s, word("expires_after.anchor", "Invalid value for 'expires_after.anchor': '%s'. Supported values are: 'created_at'.", clip(anchor))
	}
	switch {
	case hasSecs:
		d, err := seconds(secs, maxOpenAIExpiry)
		if err != nil {
			return s, word("expires_after.seconds", "Invalid 'expires_after.seconds': %v.", err)
		}
		s.expiry = d
	case hasAnchor && final:
		return s, word("expires_after.seconds", "Missing required parameter: 'expires_after.seconds'.")
	case s.purpose == "batch":
		s.expiry = batchExpiry // OpenAI's default for batch files
	}
	return s, nil
}

// seconds parses a number of seconds from one hour to max.
func seconds(v string, max time.Duration) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < int64(minExpiry/time.Second) || n > int64(max/time.Second) {
		return 0, fmt.Errorf("expected an integer from %d to %d", int64(minExpiry/time.Second), int64(max/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// upload serves POST /v1/files. The file's bytes go to the store as they
// arrive (the store holds a chunk at a time); the form's fields may come
// before or after the file (the SDKs send the file first).
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) (err error) {
	anth := isAnthropic(r)
	word := wording(r)
	mt, params, perr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if perr != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		if anth {
			return word("file", "Expected a multipart/form-data body with a 'file' part.")
		}
		return word("file", "Expected a multipart/form-data body with a 'file' part and a 'purpose' field.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.uploadBodyLimit())
	defer func() {
		if err != nil {
			// Let the client finish sending (bounded by the body limit)
			// so that it reads the error rather than a reset.
			_, _ = io.Copy(io.Discard, r.Body)
		}
	}()
	mr, merr := r.MultipartReader()
	if merr != nil {
		return bodyError(merr, word)
	}
	form := &uploadForm{fields: map[string]string{}, word: word}
	part, err := form.next(mr)
	if err != nil {
		return err
	}
	if part == nil {
		return word("file", "Missing required parameter: 'file'.")
	}
	if _, err := form.check(anth, false); err != nil {
		return err
	}

	ctx, owner := r.Context(), ownerOf(r)
	room, quota := h.opts.MaxFileBytes, h.opts.QuotaBytes
	var used int64
	if quota > 0 {
		if used, err = h.st.FileUsage(ctx, owner); err != nil {
			return storeError(r, "", err)
		}
		if used >= quota {
			return quotaError(used, quota)
		}
	}
	br := bufio.NewReaderSize(part, sniffBytes)
	head, _ := br.Peek(sniffBytes)
	name := fileName(part.FileName())
	f := store.File{ID: store.NewID("file-"), Owner: owner, Filename: name,
		MIMEType: mediaType(part.Header.Get("Content-Type"), name, head), CreatedAt: h.now()}
	content := &bounded{r: br, max: room, quota: quota, used: used, word: word}
	stored, err := h.st.PutFile(ctx, store.FileUpload{File: f, Content: content, Quota: quota,
		Finish: func(f *store.File) error {
			extra, err := form.next(mr) // the fields after the file
			if err != nil {
				return err
			}
			if extra != nil {
				return word("file", "Only one 'file' part is allowed.")
			}
			s, err := form.check(anth, true)
			if err != nil {
				return err
			}
			f.Purpose = s.purpose
			if s.expiry > 0 {
				f.ExpiresAt = f.CreatedAt.Add(s.expiry)
			}
			return nil
		}})
	var ge *gw.Error
	switch {
	case err == nil:
	case errors.As(err, &ge):
		return ge
	case errors.Is(err, store.ErrQuota):
		u, _ := h.st.FileUsage(ctx, owner)
		return quotaError(u, quota)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyError(mbe, word)
		}
		return storeError(r, "", err)
	}
	writeJSON(w, r, http.StatusOK, fileObject(r, stored))
	return nil
}

// quotaError is the 413 of an owner whose files take the whole quota.
func quotaError(used, quota int64) error {
	return &gw.Error{Code: gw.CodeTooLarge,
		Message: fmt.Sprintf("File storage quota exceeded: your files take %d of the %d bytes allowed; delete some files first.", used, quota)}
}

// bounded reads a file part, failing once it passes the per-file bound or
// the owner's remaining quota.
type bounded struct {
	r           io.Reader
	max         int64 // per file
	quota, used int64 // the owner's quota (0: none) and usage before this file
	n           int64
	word        wire.Wording
}

func (b *bounded) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		return n, &gw.Error{Code: gw.CodeTooLarge, Param: "file",
			Message: fmt.Sprintf("File too large: the limit is %d bytes (%d MB) per file.", b.max, b.max>>20)}
	}
	if b.quota > 0 && b.used+b.n > b.quota {
		return n, quotaError(b.used+b.n, b.quota)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, bodyError(err, b.word) // a malformed or cut-off body
	}
	return n, err
}

// fileName is the stored name of an uploaded file: the final path element
// of the name the client gave (valid UTF-8), or "unnamed".
func fileName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || strings.TrimSpace(name) == "" {
		return "unnamed"
	}
	return name
}

// mediaType is the media type of an upload: the part's Content-Type,
// unless missing or generic, else the file name's extension, else what
// the first bytes look like. Parameters (charset) are dropped.
func mediaType(declared, name string, head []byte) string {
	if mt, _, err := mime.ParseMediaType(declared); err == nil && mt != "application/octet-stream" {
		return mt
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		if mt, _, err := mime.ParseMediaType(t); err == nil {
			return mt
		}
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	if mt == "" {
		return "application/octet-stream"
	}
	return mt
}
