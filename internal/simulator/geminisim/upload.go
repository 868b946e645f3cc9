package geminisim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

const (
	maxUploadFile  = 64 << 20  // per file
	maxUploadTotal = 256 << 20 // files plus unfinished resumable sessions
	maxSessions    = 64
	uploadTTL      = 24 * time.Hour // the references say ttl_1d
	refPrefix      = "/contrib_service/ttl_1d/"
)

// upFile is a stored upload.
type upFile struct {
	id, name, mime string
	data           []byte
	created        time.Time
	seq            uint64
}

// upSession is an unfinished resumable upload.
type upSession struct {
	id, name, mime string
	declared       int64
	data           []byte
	created        time.Time
}

// uploadStore keeps uploads in memory within maxUploadTotal, evicting the
// oldest files first.
type uploadStore struct {
	mu       sync.Mutex
	files    map[string]*upFile
	sessions map[string]*upSession
	total    int64
	seq      uint64
}

var errUploadTooLarge = errors.New("upload too large")

// makeRoomLocked drops expired items and then the oldest files until n more
// bytes fit. u.mu must be held.
func (u *uploadStore) makeRoomLocked(n int64) error {
	now := time.Now()
	for id, f := range u.files {
		if now.Sub(f.created) > uploadTTL {
			u.total -= int64(len(f.data))
			delete(u.files, id)
		}
	}
	for id, ss := range u.sessions {
		if now.Sub(ss.created) > time.Hour {
			u.total -= int64(len(ss.data))
			delete(u.sessions, id)
		}
	}
	for u.total+n > maxUploadTotal {
		var oldest *upFile
		for _, f := range u.files {
			if oldest == nil || f.seq < oldest.seq {
				oldest = f
			}
		}
		if oldest == nil {
			return errUploadTooLarge
		}
		u.total -= int64(len(oldest.data))
		delete(u.files, oldest.id)
	}
	return nil
}

// add stores a finished file and returns its reference.
func (u *uploadStore) add(name, mimeType string, data []byte) (string, error) {
	if len(data) > maxUploadFile {
		return "", errUploadTooLarge
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.makeRoomLocked(int64(len(data))); err != nil {
		return "", err
	}
	u.seq++
	now := time.Now()
	id := strconv.FormatInt(now.Unix(), 10) + idChars(30, "upload", name, strconv.FormatUint(u.seq, 10), strconv.FormatInt(now.UnixNano(), 10))
	u.files[id] = &upFile{id: id, name: name, mime: mimeType, data: data, created: now, seq: u.seq}
	u.total += int64(len(data))
	return refPrefix + id, nil
}

// get returns the file behind a reference, or nil.
func (u *uploadStore) get(ref string) *upFile {
	id, ok := strings.CutPrefix(ref, refPrefix)
	if !ok {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	f := u.files[id]
	if f == nil || time.Since(f.created) > uploadTTL {
		return nil
	}
	return f
}

// idChars returns n lowercase letters and digits derived from parts.
func idChars(n int, parts ...string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	h := hashOf(parts...)
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[int(h[i%len(h)]+byte(i/len(h))*7)%len(alphabet)]
	}
	return string(out)
}

// handleUpload simulates content-push.googleapis.com/upload: multipart
// (one part named "file") or the resumable protocol (start, then upload,
// finalize). The answer body is the plain-text reference
// `/contrib_service/ttl_1d/<id>` that StreamGenerate accepts in inner[0][3].
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, maxUploadFile+1<<20)
	h := s.rec.Start(r, "upload", body)
	if err != nil {
		s.bodyFailed(w, r, h, err)
		return
	}
	h.Set("push_id", r.Header.Get("Push-ID"))
	h.Set("tenant", r.Header.Get("X-Tenant-Id"))
	reject := func(status int, why string) {
		h.Set("error", why)
		googleErrorPage(w, status)
		s.finish(h, r, simcore.OutcomeRejected)
	}
	cmd := strings.ToLower(r.Header.Get("X-Goog-Upload-Command"))
	uploadID := r.URL.Query().Get("upload_id")
	switch {
	case uploadID != "":
		h.Set("protocol", "resumable")
		s.resumableContinue(w, r, h, uploadID, cmd, body, reject)
		return
	case r.Header.Get("Push-ID") == "":
		reject(http.StatusBadRequest, "missing Push-ID")
		return
	case strings.Contains(cmd, "start"):
		h.Set("protocol", "resumable")
		s.resumableStart(w, r, h, body, reject)
		return
	}
	h.Set("protocol", "multipart")
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		reject(http.StatusBadRequest, "not multipart/form-data")
		return
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			reject(http.StatusBadRequest, "no file part")
			return
		}
		if part.FormName() != "file" && part.FileName() == "" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, maxUploadFile+1))
		if err != nil {
			reject(http.StatusBadRequest, "unreadable file part")
			return
		}
		s.storeUpload(w, h, r, part.FileName(), part.Header.Get("Content-Type"), data, reject)
		return
	}
}

// storeUpload stores a finished upload and answers its reference.
func (s *Server) storeUpload(w http.ResponseWriter, h *simcore.Handle, r *http.Request, name, mimeType string, data []byte, reject func(int, string)) {
	if name == "" {
		name = "file"
	}
	h.Set("file_name", name)
	h.Set("mime", mimeType)
	h.Set("size", len(data))
	ref, err := s.uploads.add(name, mimeType, data)
	if err != nil {
		reject(http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	h.Set("upload_ref", ref)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Goog-Upload-Status", "final")
	fmt.Fprint(w, ref)
	s.finish(h, r, simcore.OutcomeCompleted)
}

// resumableStart opens a resumable session.
func (s *Server) resumableStart(w http.ResponseWriter, r *http.Request, h *simcore.Handle, body []byte, reject func(int, string)) {
	declared, _ := strconv.ParseInt(r.Header.Get("X-Goog-Upload-Header-Content-Length"), 10, 64)
	if declared > maxUploadFile {
		reject(http.StatusRequestEntityTooLarge, "declared size too large")
		return
	}
	name := r.Header.Get("X-Goog-Upload-File-Name")
	if n, ok := strings.CutPrefix(strings.TrimSpace(string(body)), "File name:"); ok && name == "" {
		name = strings.TrimSpace(n)
	}
	u := &s.uploads
	u.mu.Lock()
	if len(u.sessions) >= maxSessions {
		var oldest *upSession
		for _, ss := range u.sessions {
			if oldest == nil || ss.created.Before(oldest.created) {
				oldest = ss
			}
		}
		u.total -= int64(len(oldest.data))
		delete(u.sessions, oldest.id)
	}
	u.seq++
	id := "AFIdbg" + idChars(40, "session", name, strconv.FormatUint(u.seq, 10), strconv.FormatInt(time.Now().UnixNano(), 10))
	u.sessions[id] = &upSession{id: id, name: name, mime: r.Header.Get("X-Goog-Upload-Header-Content-Type"), declared: declared, created: time.Now()}
	u.mu.Unlock()
	h.Set("upload_id", id)
	next := baseURL(r) + "/upload/?upload_id=" + id + "&upload_protocol=resumable"
	hd := w.Header()
	hd.Set("X-GUploader-UploadID", id)
	hd.Set("X-Goog-Upload-Status", "active")
	hd.Set("X-Goog-Upload-URL", next)
	hd.Set("X-Goog-Upload-Control-URL", next)
	hd.Set("X-Goog-Upload-Chunk-Granularity", "262144")
	w.WriteHeader(http.StatusOK)
	s.finish(h, r, simcore.OutcomeCompleted)
}

// resumableContinue handles `upload`, `finalize`, `query` and `cancel`.
func (s *Server) resumableContinue(w http.ResponseWriter, r *http.Request, h *simcore.Handle, id, cmd string, body []byte, reject func(int, string)) {
	h.Set("upload_id", id)
	h.Set("command", cmd)
	u := &s.uploads
	u.mu.Lock()
	ss := u.sessions[id]
	if ss == nil {
		u.mu.Unlock()
		reject(http.StatusNotFound, "unknown upload_id")
		return
	}
	has := func(c string) bool {
		for part := range strings.SplitSeq(cmd, ",") {
			if strings.TrimSpace(part) == c {
				return true
			}
		}
		return false
	}
	w.Header().Set("X-GUploader-UploadID", id)
	switch {
	case has("cancel"):
		u.total -= int64(len(ss.data))
		delete(u.sessions, id)
		u.mu.Unlock()
		w.Header().Set("X-Goog-Upload-Status", "cancelled")
		w.WriteHeader(http.StatusOK)
		s.finish(h, r, simcore.OutcomeCompleted)
		return
	case has("query"):
		n := len(ss.data)
		u.mu.Unlock()
		w.Header().Set("X-Goog-Upload-Status", "active")
		w.Header().Set("X-Goog-Upload-Size-Received", strconv.Itoa(n))
		w.WriteHeader(http.StatusOK)
		s.finish(h, r, simcore.OutcomeCompleted)
		return
	}
	if has("upload") {
		off, err := strconv.ParseInt(r.Header.Get("X-Goog-Upload-Offset"), 10, 64)
		if err != nil || off != int64(len(ss.data)) {
			u.mu.Unlock()
			w.Header().Set("X-Goog-Upload-Status", "active")
			w.Header().Set("X-Goog-Upload-Size-Received", strconv.Itoa(len(ss.data)))
			reject(http.StatusBadRequest, "bad X-Goog-Upload-Offset")
			return
		}
		if len(ss.data)+len(body) > maxUploadFile {
			u.mu.Unlock()
			reject(http.StatusRequestEntityTooLarge, "upload too large")
			return
		}
		if err := u.makeRoomLocked(int64(len(body))); err != nil {
			u.mu.Unlock()
			reject(http.StatusRequestEntityTooLarge, err.Error())
			return
		}
		ss.data = append(ss.data, body...)
		u.total += int64(len(body))
	}
	if !has("finalize") {
		u.mu.Unlock()
		w.Header().Set("X-Goog-Upload-Status", "active")
		w.WriteHeader(http.StatusOK)
		s.finish(h, r, simcore.OutcomeCompleted)
		return
	}
	if ss.declared > 0 && int64(len(ss.data)) != ss.declared {
		u.mu.Unlock()
		reject(http.StatusBadRequest, "size differs from X-Goog-Upload-Header-Content-Length")
		return
	}
	u.total -= int64(len(ss.data))
	delete(u.sessions, id)
	u.mu.Unlock()
	mimeType := ss.mime
	if mimeType == "" {
		mimeType = r.Header.Get("Content-Type")
	}
	s.storeUpload(w, h, r, ss.name, mimeType, ss.data, reject)
}

// attachments resolves inner[0][3] references: a note per file for the
// answer, and the text of text attachments (bounded like the real server).
func (s *Server) attachments(files []fileRef) ([]attachmentNote, string) {
	var notes []attachmentNote
	var text strings.Builder
	for _, fr := range files {
		f := s.uploads.get(fr.ref)
		name := fr.name
		if f == nil {
			notes = append(notes, attachmentNote{name: name})
			continue
		}
		if name == "" {
			name = f.name
		}
		ok := mimeOK(f.mime, f.data)
		notes = append(notes, attachmentNote{name: name, mime: f.mime, size: len(f.data), ok: ok})
		if ok && strings.HasPrefix(http.DetectContentType(f.data), "text/") && !strings.HasPrefix(f.mime, "image/") {
			room := maxAttachText - text.Len()
			if room > 0 {
				if text.Len() > 0 {
					text.WriteByte('\n')
				}
				text.WriteString(truncateUTF8(string(f.data), room))
			}
		}
	}
	return notes, text.String()
}

// mimeOK reports whether the declared type fits the bytes: a missing or
// generic type, or an image type on non-image bytes (and vice versa), makes
// the model answer that it cannot access the content (HanaokaYuzu PR#198).
func mimeOK(declared string, data []byte) bool {
	declared = strings.ToLower(strings.TrimSpace(declared))
	if declared == "" || strings.HasPrefix(declared, "application/octet-stream") {
		return false
	}
	sniff := http.DetectContentType(data)
	return strings.HasPrefix(declared, "image/") == strings.HasPrefix(sniff, "image/")
}
