package files

import (
	"mime"
	"net/http"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/store"
)

// openAIFile is OpenAI's file object.
type openAIFile struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	ExpiresAt     *int64  `json:"expires_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"`
	StatusDetails *string `json:"status_details"`
}

// anthropicFile is Anthropic's file metadata object.
type anthropicFile struct {
	Type         string  `json:"type"`
	ID           string  `json:"id"`
	Filename     string  `json:"filename"`
	MIMEType     string  `json:"mime_type"`
	SizeBytes    int64   `json:"size_bytes"`
	CreatedAt    string  `json:"created_at"`
	ExpiresAt    *string `json:"expires_at"`
	Downloadable bool    `json:"downloadable"`
}

type openAIList struct {
	Object  string  `json:"object"`
	Data    []any   `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
}

// anthropicList is Anthropic's page of files: the first_id / last_id /
// has_more page of its API reference, and the next_page cursor its newer
// SDKs follow.
type anthropicList struct {
	Data     []any   `json:"data"`
	HasMore  bool    `json:"has_more"`
	FirstID  *string `json:"first_id"`
	LastID   *string `json:"last_id"`
	NextPage *string `json:"next_page"`
}

type openAIDeleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

type anthropicDeleted struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// rfc3339 is Anthropic's timestamp form (microseconds, UTC).
const rfc3339 = "2006-01-02T15:04:05.000000Z07:00"

// fileObject is f in the shape r's client reads.
func fileObject(r *http.Request, f store.File) any {
	if isAnthropic(r) {
		o := anthropicFile{Type: "file", ID: f.ID, Filename: f.Filename, MIMEType: f.MIMEType,
			SizeBytes: f.Bytes, CreatedAt: f.CreatedAt.UTC().Format(rfc3339), Downloadable: true}
		if !f.ExpiresAt.IsZero() {
			s := f.ExpiresAt.UTC().Format(rfc3339)
			o.ExpiresAt = &s
		}
		return o
	}
	o := openAIFile{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.CreatedAt.Unix(),
		Filename: f.Filename, Purpose: f.Purpose, Status: "processed"}
	if !f.ExpiresAt.IsZero() {
		at := f.ExpiresAt.Unix()
		o.ExpiresAt = &at
	}
	return o
}

// writeJSON writes v with status; the fallback is in r's envelope.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	fallback := `{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`
	if isAnthropic(r) {
		fallback = `{"type":"error","error":{"type":"api_error","message":"internal error"}}`
	}
	wire.WriteJSON(w, status, v, fallback)
}

// ownerOf is whom r's files belong to.
func ownerOf(r *http.Request) string { return reqctx.Owner(r.Context()) }

// contentDisposition is the attachment header of a download named name.
func contentDisposition(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}
