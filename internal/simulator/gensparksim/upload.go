package gensparksim

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// blob is one uploaded file.
type blob struct {
	data        []byte
	contentType string
	modified    time.Time
}

// blobStore keeps uploaded blobs in memory: at most perBlob bytes each and
// total bytes overall, the oldest evicted first.
type blobStore struct {
	mu      sync.Mutex
	perBlob int
	total   int
	used    int
	blobs   map[string]*blob
	order   []string // ids, oldest first
}

func newBlobStore(perBlob, total int) *blobStore {
	return &blobStore{perBlob: perBlob, total: total, blobs: map[string]*blob{}}
}

func (bs *blobStore) put(id string, b *blob) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.removeLocked(id)
	bs.blobs[id] = b
	bs.order = append(bs.order, id)
	bs.used += len(b.data)
	for bs.used > bs.total && len(bs.order) > 1 {
		bs.removeLocked(bs.order[0])
	}
}

func (bs *blobStore) removeLocked(id string) {
	old, ok := bs.blobs[id]
	if !ok {
		return
	}
	bs.used -= len(old.data)
	delete(bs.blobs, id)
	for i, o := range bs.order {
		if o == id {
			bs.order = append(bs.order[:i], bs.order[i+1:]...)
			break
		}
	}
}

func (bs *blobStore) get(id string) *blob {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.blobs[id]
}

// compactJSON encodes v the way the upstream's plain JSON endpoints do
// (Starlette's JSONResponse: compact separators, non-ASCII and `&`/`<`/`>`
// unescaped; compare the real not-login body). Struct field order is kept.
func compactJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// handleUploadURL serves GET /api/get_upload_personal_image_url (docs/genspark-upstream.md §1.8):
// a fresh upload slot on this simulator's Azure-blob-like store.
func (s *Server) handleUploadURL(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.begin(w, r, "genspark", maxRequestBody)
	if !ok {
		return
	}
	defer c.finish(simcore.OutcomeCompleted)
	if r.Method != http.MethodGet {
		c.methodNotAllowed(w, http.MethodGet)
		return
	}
	if !c.checkLogin(w) {
		return
	}
	id := newID()
	blobURL := baseURL(r) + "/genspark-blob/user-upload-image/" + id
	q := url.Values{}
	q.Set("sv", "2023-11-03")
	q.Set("se", time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04:05Z"))
	q.Set("sr", "b")
	q.Set("sp", "cw")
	q.Set("sig", s.sign(id))
	type data struct {
		UploadImageURL    string `json:"upload_image_url"`
		PrivateStorageURL string `json:"private_storage_url"`
	}
	resp := struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Data    data   `json:"data"`
	}{0, "success", data{blobURL + "?" + q.Encode(), blobURL}}
	c.h.Set("blob_id", id)
	writeRaw(w, http.StatusOK, "application/json", compactJSON(resp))
}

// azureError answers an Azure Blob Storage style XML error.
func azureError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("X-Ms-Error-Code", code)
	body := `<?xml version="1.0" encoding="utf-8"?><Error><Code>` + code + `</Code><Message>` + message +
		"\nRequestId:" + newID() + "\nTime:" + time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z") + `</Message></Error>`
	writeRaw(w, status, "application/xml", body)
}

// handleBlob serves the upload target: PUT (with the signed query of the
// upload slot and `x-ms-blob-type: BlockBlob`, like Azure; 201 Created) and
// GET/HEAD of the stored bytes at the private_storage_url.
func (s *Server) handleBlob(w http.ResponseWriter, r *http.Request) {
	c, body, ok := s.begin(w, r, "genspark", maxBlobSize)
	if !ok {
		return
	}
	defer c.finish(simcore.OutcomeCompleted)
	id := r.PathValue("id")
	c.h.Set("blob_id", id)
	switch r.Method {
	case http.MethodPut:
		if !hmac.Equal([]byte(r.URL.Query().Get("sig")), []byte(s.sign(id))) {
			azureError(w, http.StatusForbidden, "AuthenticationFailed",
				"Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
			c.reject("bad upload signature")
			return
		}
		switch bt := r.Header.Get("X-Ms-Blob-Type"); bt {
		case "BlockBlob":
		case "":
			azureError(w, http.StatusBadRequest, "MissingRequiredHeader",
				"An HTTP header that's mandatory for this request is not specified.")
			c.reject("x-ms-blob-type missing")
			return
		default:
			azureError(w, http.StatusBadRequest, "InvalidHeaderValue",
				"The value for one of the HTTP headers is not in the correct format.")
			c.reject("x-ms-blob-type " + bt)
			return
		}
		ctype := r.Header.Get("Content-Type")
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		b := &blob{data: body, contentType: ctype, modified: time.Now().UTC()}
		s.blobs.put(id, b)
		sum := md5.Sum(body)
		c.h.Set("size", len(body))
		c.h.Set("content_type", ctype)
		h := w.Header()
		h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		h.Set("ETag", fmt.Sprintf(`"0x%X"`, b.modified.UnixNano()))
		h.Set("Last-Modified", b.modified.Format(http.TimeFormat))
		h.Set("X-Ms-Request-Server-Encrypted", "true")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet, http.MethodHead:
		b := s.blobs.get(id)
		if b == nil {
			azureError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			c.reject("unknown blob")
			return
		}
		c.h.Set("size", len(b.data))
		w.Header().Set("Last-Modified", b.modified.Format(http.TimeFormat))
		writeRaw(w, http.StatusOK, b.contentType, string(b.data))
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		azureError(w, http.StatusMethodNotAllowed, "UnsupportedHttpVerb",
			"The resource doesn't support specified Http Verb.")
		c.reject("method not allowed")
	}
}
