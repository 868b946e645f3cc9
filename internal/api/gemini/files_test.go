package gemini_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/api/gemini"
	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// fakeFiles is a Files API holding files by owner and id.
type fakeFiles struct {
	mu    sync.Mutex
	files map[string]*llm.Media // "owner/id"
	opens int
}

func (f *fakeFiles) Open(_ context.Context, owner, id string, max int64) (*llm.Media, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	m, ok := f.files[owner+"/"+id]
	if !ok {
		return nil, fmt.Errorf("fake: %s: %w", id, wire.ErrNoSuchFile)
	}
	if int64(len(m.Data)) > max {
		return nil, fmt.Errorf("fake: %s: %w", id, wire.ErrFileTooLarge)
	}
	c := *m
	return &c, nil
}

func (f *fakeFiles) openCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens
}

// filesBase is the gateway's external base URL in the tests below.
const filesBase = "https://spark.example"

// newFilesServer serves a Handler with files as its Files API, for the
// owner "key-1" and the base URL filesBase, as the server middleware sets
// them.
func newFilesServer(t *testing.T, b gemini.Backend, files wire.Files) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	gemini.New(b, gemini.Options{Files: files}).Register(mux, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := reqctx.WithBaseURL(reqctx.WithKeyID(r.Context(), "key-1"), filesBase)
		mux.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testFiles() *fakeFiles {
	return &fakeFiles{files: map[string]*llm.Media{
		"key-1/file-txt":   {MIMEType: "text/plain", Name: "notes.txt", Data: []byte("the secret word is heron")},
		"key-1/file-pdf":   {MIMEType: "application/pdf", Name: "report.pdf", Data: []byte("%PDF-1.7 report")},
		"key-1/file-png":   {MIMEType: "image/png", Name: "dot.png", Data: []byte("\x89PNG\r\n\x1a\n")},
		"key-1/file-bin":   {MIMEType: "application/octet-stream", Name: "scan", Data: []byte("%PDF-1.4 scan")},
		"key-2/file-other": {MIMEType: "text/plain", Name: "theirs.txt", Data: []byte("another owner's text")},
	}}
}

// fileDataBody is a generateContent request whose user turn is a question
// and a fileData part.
func fileDataBody(mimeType, uri string) string {
	fd := fmt.Sprintf(`{"fileUri":%q}`, uri)
	if mimeType != "" {
		fd = fmt.Sprintf(`{"mimeType":%q,"fileUri":%q}`, mimeType, uri)
	}
	return `{"contents":[{"role":"user","parts":[{"text":"What does the file say?"},{"fileData":` + fd + `}]}]}`
}

// TestFileDataFilesAPI: a fileData part may name a file of the gateway's
// Files API by id, by resource name or by its URI on the gateway; the
// file's content reaches the backend as the part (text inline, images as
// images, other files as files), for the key's owner only.
func TestFileDataFilesAPI(t *testing.T) {
	for _, tc := range []struct {
		name, mimeType, uri string
		check               func(p llm.Part) bool
	}{
		{"id", "", "file-txt", func(p llm.Part) bool { return p.Type == llm.PartText && p.Text == "the secret word is heron" }},
		{"resource name", "", "files/file-txt", func(p llm.Part) bool { return p.Type == llm.PartText && p.Text == "the secret word is heron" }},
		{"v1beta URI", "", filesBase + "/v1beta/files/file-txt", func(p llm.Part) bool { return p.Type == llm.PartText && strings.Contains(p.Text, "heron") }},
		{"v1 URI", "", filesBase + "/v1/files/file-txt", func(p llm.Part) bool { return p.Type == llm.PartText && strings.Contains(p.Text, "heron") }},
		{"URI under a route prefix", "", filesBase + "/hf/v1beta/files/file-txt", func(p llm.Part) bool { return p.Type == llm.PartText && strings.Contains(p.Text, "heron") }},
		{"URI host in upper case", "", "HTTPS://SPARK.EXAMPLE/v1beta/files/file-txt", func(p llm.Part) bool { return p.Type == llm.PartText && strings.Contains(p.Text, "heron") }},
		{"pdf", "application/pdf", "files/file-pdf", func(p llm.Part) bool {
			return p.Type == llm.PartFile && p.Media.MIMEType == "application/pdf" && p.Media.Name == "report.pdf" && string(p.Media.Data) == "%PDF-1.7 report"
		}},
		{"image", "", "files/file-png", func(p llm.Part) bool {
			return p.Type == llm.PartImage && p.Media.MIMEType == "image/png" && len(p.Media.Data) == 8
		}},
		// The declared mimeType says how to read the bytes, over the type
		// the file was stored with.
		{"declared type", "Application/PDF", "files/file-bin", func(p llm.Part) bool {
			return p.Type == llm.PartFile && p.Media.MIMEType == "application/pdf" && p.Media.Name == "scan" && string(p.Media.Data) == "%PDF-1.4 scan"
		}},
		{"stored type", "", "files/file-bin", func(p llm.Part) bool {
			return p.Type == llm.PartFile && p.Media.MIMEType == "application/octet-stream"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{Events: []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1, 0)}}
			srv := newFilesServer(t, b, testFiles())
			resp, body := do(t, "POST", srv.URL+"/v1beta/models/m:generateContent", fileDataBody(tc.mimeType, tc.uri))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			parts := b.LastRequest(t).Messages[0].Parts
			if len(parts) != 2 || parts[0].Text != "What does the file say?" || !tc.check(parts[1]) {
				t.Fatalf("parts reaching the backend: %+v (media %+v)", parts, parts[len(parts)-1].Media)
			}
		})
	}

	t.Run("model turn and countTokens", func(t *testing.T) {
		files := testFiles()
		b := &fakeBackend{Events: []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1, 0)}}
		srv := newFilesServer(t, b, files)
		body := `{"contents":[{"role":"user","parts":[{"text":"q"}]},{"role":"model","parts":[{"fileData":{"fileUri":"files/file-pdf"}}]},{"role":"user","parts":[{"text":"and?"}]}]}`
		if resp, out := do(t, "POST", srv.URL+"/v1beta/models/m:generateContent", body); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
		if p := b.LastRequest(t).Messages[1].Parts[0]; p.Type != llm.PartFile || p.Media.Name != "report.pdf" {
			t.Fatalf("model turn's file: %+v", p)
		}
		count := func(uri string) int {
			var got struct{ TotalTokens int }
			resp, out := do(t, "POST", srv.URL+"/v1beta/models/m:countTokens", `{"contents":[{"parts":[{"text":"q"},{"fileData":{"fileUri":"`+uri+`"}}]}]}`)
			if resp.StatusCode != http.StatusOK || jsonUnmarshal(out, &got) != nil {
				t.Fatalf("countTokens: %d %s", resp.StatusCode, out)
			}
			return got.TotalTokens
		}
		withText, withData := count("files/file-txt"), count("data:text/plain,x")
		if withText <= withData {
			t.Fatalf("countTokens with the file's text: %d, with one character: %d", withText, withData)
		}
	})
}

// TestFileDataFilesAPIRefused: a file id the owner has no file by (none,
// another owner's), a foreign Files API URI, a malformed URI on the
// gateway, a bad declared type, and any id without a Files API are 400
// INVALID_ARGUMENT naming the part's field, before any backend call.
func TestFileDataFilesAPIRefused(t *testing.T) {
	const param = "contents[0].parts[1].fileData."
	for _, tc := range []struct {
		name, mimeType, uri string
		noFiles             bool
		field, want         string
	}{
		{"another owner's id", "", "file-other", false, "fileUri", "No such File object: 'file-other'"},
		{"another owner's resource name", "", "files/file-other", false, "fileUri", "No such File object: 'file-other'"},
		{"another owner's URI", "", filesBase + "/v1beta/files/file-other", false, "fileUri", "No such File object: 'file-other'"},
		{"unknown id", "", "files/file-nope", false, "fileUri", "No such File object: 'file-nope'"},
		{"empty resource name", "", "files/", false, "fileUri", "Missing required parameter"},
		{"another service's file", "", "https://files.example.com/v1beta/files/file-txt", false, "fileUri", "another service's Files API"},
		{"another port", "", "https://spark.example:8443/v1beta/files/file-txt", false, "fileUri", "another service's Files API"},
		{"content path on the gateway", "", filesBase + "/v1/files/file-txt/content", false, "fileUri", "names no file of this gateway's Files API"},
		{"bad declared type", "not a type", "files/file-txt", false, "mimeType", "invalid MIME type"},
		{"Files API off", "", "files/file-txt", true, "fileUri", "Files API is off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{}
			var files wire.Files
			fake := testFiles()
			if !tc.noFiles {
				files = fake
			}
			srv := newFilesServer(t, b, files)
			resp, body := do(t, "POST", srv.URL+"/v1beta/models/m:generateContent", fileDataBody(tc.mimeType, tc.uri))
			e := googleError(t, body)
			wantMsg := "* GenerateContentRequest." + param + tc.field + ": "
			if resp.StatusCode != http.StatusBadRequest || e.Code != 400 || e.Status != "INVALID_ARGUMENT" ||
				!strings.HasPrefix(e.Message, wantMsg) || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("%d %+v, want 400 INVALID_ARGUMENT %q ... %q", resp.StatusCode, e, wantMsg, tc.want)
			}
			if strings.Contains(e.Message, "another owner's text") {
				t.Fatalf("the error shows another owner's file: %s", e.Message)
			}
			if b.Calls() != 0 {
				t.Fatalf("%d backend calls for a refused request", b.Calls())
			}
		})
	}
	t.Run("bounded ids", func(t *testing.T) {
		fake := testFiles()
		srv := newFilesServer(t, &fakeBackend{}, fake)
		var parts []string
		for i := range wire.MaxFileRefs + 1 {
			parts = append(parts, fmt.Sprintf(`{"fileData":{"fileUri":"files/file-%d"}}`, i))
			fake.files[fmt.Sprintf("key-1/file-%d", i)] = &llm.Media{MIMEType: "text/plain", Data: []byte("x")}
		}
		resp, body := do(t, "POST", srv.URL+"/v1beta/models/m:generateContent", `{"contents":[{"parts":[`+strings.Join(parts, ",")+`]}]}`)
		if e := googleError(t, body); resp.StatusCode != 400 || !strings.Contains(e.Message, fmt.Sprintf("parts[%d].fileData.fileUri", wire.MaxFileRefs)) {
			t.Fatalf("%d %+v", resp.StatusCode, e)
		}
		if n := fake.openCount(); n != wire.MaxFileRefs {
			t.Fatalf("%d files opened, want at most %d", n, wire.MaxFileRefs)
		}
	})
}
