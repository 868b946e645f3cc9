package files_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sparkgw/spark/internal/api/files"
	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
)

// clock is a settable time shared by the handler and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Files API over an in-memory store; the X-Owner header of a
// request plays the authenticated key.
type env struct {
	st    *memstore.Store
	clock *clock
	srv   *httptest.Server
}

func newEnv(t *testing.T, opts files.Options) *env {
	t.Helper()
	e := &env{st: memstore.New(nil), clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.st.Now = e.clock.now
	opts.Store, opts.Now = e.st, e.clock.now
	mux := http.NewServeMux()
	route.Mount(mux, "", files.New(opts).Routes())
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(reqctx.WithKeyID(r.Context(), r.Header.Get("X-Owner"))))
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// field is one multipart field; a file when name is set.
type field struct{ key, value, filename, ctype string }

func form(fields ...field) (io.Reader, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if f.filename == "" {
			mw.WriteField(f.key, f.value)
			continue
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.key, f.filename))
		if f.ctype != "" {
			h.Set("Content-Type", f.ctype)
		}
		w, _ := mw.CreatePart(h)
		w.Write([]byte(f.value))
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("not JSON (%d): %s", r.status, r.body)
	}
	return v
}

// do sends a request as owner; anthropic adds anthropic-version.
func (e *env) do(t *testing.T, method, path, owner string, anthropic bool, body io.Reader, ctype string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	req.Header.Set("X-Owner", owner)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if anthropic {
		req.Header.Set("Anthropic-Version", "2023-06-01")
		req.Header.Set("Anthropic-Beta", "files-api-2025-04-14")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, string(b)}
}

func (e *env) upload(t *testing.T, owner string, anthropic bool, fields ...field) reply {
	t.Helper()
	body, ctype := form(fields...)
	return e.do(t, http.MethodPost, "/v1/files", owner, anthropic, body, ctype)
}

// wantError checks an error reply: status, envelope of the dialect, and
// for OpenAI the param.
func wantError(t *testing.T, r reply, status int, anthropic bool, param string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	v := r.json(t)
	errObj, _ := v["error"].(map[string]any)
	if errObj == nil || errObj["message"] == "" {
		t.Fatalf("no error object: %s", r.body)
	}
	if anthropic {
		if v["type"] != "error" || errObj["type"] == nil {
			t.Fatalf("not an Anthropic envelope: %s", r.body)
		}
		if param != "" && !strings.HasPrefix(errObj["message"].(string), param+":") {
			t.Fatalf("message does not name %s: %s", param, r.body)
		}
		return
	}
	if _, ok := errObj["param"]; !ok {
		t.Fatalf("not an OpenAI envelope: %s", r.body)
	}
	if param != "" && errObj["param"] != param {
		t.Fatalf("param = %v, want %s: %s", errObj["param"], param, r.body)
	}
}

func TestUploadErrors(t *testing.T) {
	e := newEnv(t, files.Options{MaxFileBytes: 1000, QuotaBytes: 1500})
	file := func(data string) field { return field{key: "file", filename: "a.txt", value: data} }
	purpose := field{key: "purpose", value: "user_data"}
	long := strings.Repeat("n", 256) + ".txt"
	tests := []struct {
		name      string
		anthropic bool
		fields    []field
		raw       string // a body sent as is
		ctype     string // its Content-Type (default application/json)
		status    int
		param     string
	}{
		{name: "not multipart", raw: `{"purpose":"user_data"}`, status: 400, param: "file"},
		{name: "no file", fields: []field{purpose}, status: 400, param: "file"},
		{name: "no purpose", fields: []field{file("x")}, status: 400, param: "purpose"},
		{name: "bad purpose first", fields: []field{{key: "purpose", value: "fine-tuning"}, file("x")}, status: 400, param: "purpose"},
		{name: "two files", fields: []field{purpose, file("x"), file("y")}, status: 400, param: "file"},
		{name: "bad purpose after the file", fields: []field{file("x"), {key: "purpose", value: "bogus"}}, status: 400, param: "purpose"},
		{name: "too big", fields: []field{purpose, file(strings.Repeat("a", 1001))}, status: 413},
		{name: "file name too long", fields: []field{purpose, {key: "file", filename: long, value: "x"}}, status: 400, param: "file"},
		{name: "expiry too short", fields: []field{file("x"), purpose, {key: "expires_after[anchor]", value: "created_at"}, {key: "expires_after[seconds]", value: "60"}}, status: 400, param: "expires_after.seconds"},
		{name: "bad anchor", fields: []field{purpose, {key: "expires_after[anchor]", value: "last_active_at"}, {key: "expires_after[seconds]", value: "3600"}, file("x")}, status: 400, param: "expires_after.anchor"},
		{name: "anthropic too big", anthropic: true, fields: []field{file(strings.Repeat("a", 1001))}, status: 413},
		{name: "anthropic expiry", anthropic: true, fields: []field{file("x"), {key: "expires_in_seconds", value: "10"}}, status: 400, param: "expires_in_seconds"},
		{name: "anthropic not multipart", anthropic: true, raw: "{}", status: 400, param: "file"},
		{name: "multipart cut short", raw: "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nabc",
			ctype: "multipart/form-data; boundary=XX", status: 400},
		{name: "multipart without boundary", raw: "--XX\r\n", ctype: "multipart/form-data", status: 400, param: "file"},
		{name: "too many parts", fields: func() []field {
			var fs []field
			for i := range 17 {
				fs = append(fs, field{key: fmt.Sprintf("x%d", i), value: "1"})
			}
			return fs
		}(), status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reply
			if tt.raw != "" {
				ctype := tt.ctype
				if ctype == "" {
					ctype = "application/json"
				}
				r = e.do(t, http.MethodPost, "/v1/files", "k1", tt.anthropic, strings.NewReader(tt.raw), ctype)
			} else {
				r = e.upload(t, "k1", tt.anthropic, tt.fields...)
			}
			wantError(t, r, tt.status, tt.anthropic, tt.param)
		})
	}
	if n, _ := e.st.FileUsage(context.Background(), "k1"); n != 0 {
		t.Fatalf("refused uploads stored %d bytes", n)
	}

	// The quota: 1500 bytes per owner.
	if r := e.upload(t, "k1", false, purpose, file(strings.Repeat("a", 1000))); r.status != 200 {
		t.Fatalf("first upload: %d %s", r.status, r.body)
	}
	wantError(t, e.upload(t, "k1", false, purpose, file(strings.Repeat("b", 501))), 413, false, "")
	wantError(t, e.upload(t, "k1", true, file(strings.Repeat("b", 501))), 413, true, "")
	if r := e.upload(t, "k2", false, purpose, file(strings.Repeat("c", 1000))); r.status != 200 {
		t.Fatalf("another owner's quota is its own: %d %s", r.status, r.body)
	}
	if r := e.upload(t, "k1", false, purpose, file(strings.Repeat("d", 500))); r.status != 200 {
		t.Fatalf("an upload up to the quota: %d %s", r.status, r.body)
	}
}

func TestUploadShapes(t *testing.T) {
	e := newEnv(t, files.Options{})
	r := e.upload(t, "k1", false, field{key: "file", filename: `C:\docs\notes.json`, value: `{"a":1}`},
		field{key: "purpose", value: "assistants"}, field{key: "expires_after[anchor]", value: "created_at"},
		field{key: "expires_after[seconds]", value: "3600"})
	if r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	v := r.json(t)
	created := e.clock.now().Unix()
	want := map[string]any{"object": "file", "bytes": 7.0, "created_at": float64(created), "expires_at": float64(created + 3600),
		"filename": "notes.json", "purpose": "assistants", "status": "processed"}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %v, want %v (%s)", k, v[k], w, r.body)
		}
	}
	id := v["id"].(string)
	if !strings.HasPrefix(id, "file-") {
		t.Fatalf("id %q", id)
	}
	// The same file read by an Anthropic client.
	a := e.do(t, http.MethodGet, "/v1/files/"+id, "k1", true, nil, "").json(t)
	wantA := map[string]any{"type": "file", "id": id, "filename": "notes.json", "mime_type": "application/json", "size_bytes": 7.0,
		"created_at": "2026-03-01T12:00:00.000000Z", "expires_at": "2026-03-01T13:00:00.000000Z", "downloadable": true}
	for k, w := range wantA {
		if a[k] != w {
			t.Errorf("anthropic %s = %v, want %v", k, a[k], w)
		}
	}
	c := e.do(t, http.MethodGet, "/v1/files/"+id+"/content", "k1", false, nil, "")
	if c.status != 200 || c.body != `{"a":1}` || c.header.Get("Content-Type") != "application/json" ||
		c.header.Get("Content-Disposition") != `attachment; filename=notes.json` {
		t.Fatalf("content: %d %q %v", c.status, c.body, c.header)
	}
	// An Anthropic upload has no purpose (user_data) and names its expiry
	// in seconds; an unknown type is sniffed.
	r = e.upload(t, "k1", true, field{key: "file", filename: "blob", value: "%PDF-1.7 ...", ctype: "application/octet-stream"},
		field{key: "expires_in_seconds", value: "7200"})
	a = r.json(t)
	if r.status != 200 || a["mime_type"] != "application/pdf" || a["expires_at"] != "2026-03-01T14:00:00.000000Z" {
		t.Fatalf("anthropic upload: %d %s", r.status, r.body)
	}
	if o := e.do(t, http.MethodGet, "/v1/files/"+a["id"].(string), "k1", false, nil, "").json(t); o["purpose"] != "user_data" {
		t.Fatalf("purpose of an Anthropic upload: %v", o["purpose"])
	}
	d := e.do(t, http.MethodDelete, "/v1/files/"+id, "k1", true, nil, "")
	if d.status != 200 || d.body != `{"id":"`+id+`","type":"file_deleted"}`+"\n" {
		t.Fatalf("anthropic delete: %d %s", d.status, d.body)
	}
	d = e.do(t, http.MethodDelete, "/v1/files/"+a["id"].(string), "k1", false, nil, "")
	if d.status != 200 || d.body != `{"id":"`+a["id"].(string)+`","object":"file","deleted":true}`+"\n" {
		t.Fatalf("openai delete: %d %s", d.status, d.body)
	}
}

// TestNotFound: another owner's id, an unknown id, an expired file and a
// deleted one are all 404 on every route, in the client's envelope.
func TestNotFound(t *testing.T) {
	e := newEnv(t, files.Options{})
	up := func(fields ...field) string {
		r := e.upload(t, "owner", false, fields...)
		if r.status != 200 {
			t.Fatalf("upload: %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	mine := up(field{key: "file", filename: "a.txt", value: "a"}, field{key: "purpose", value: "user_data"})
	expiring := up(field{key: "file", filename: "b.txt", value: "b"}, field{key: "purpose", value: "user_data"},
		field{key: "expires_after[anchor]", value: "created_at"}, field{key: "expires_after[seconds]", value: "3600"})
	if r := e.do(t, http.MethodGet, "/v1/files/"+expiring, "owner", false, nil, ""); r.status != 200 {
		t.Fatalf("before expiry: %d", r.status)
	}
	e.clock.add(time.Hour)
	cases := []struct{ name, id, owner string }{
		{"another owner's", mine, "intruder"},
		{"unknown", "file-doesnotexist", "owner"},
		{"expired", expiring, "owner"},
	}
	for _, c := range cases {
		for _, anthropic := range []bool{false, true} {
			for _, rt := range []struct{ method, suffix string }{{"GET", ""}, {"GET", "/content"}, {"DELETE", ""}} {
				t.Run(fmt.Sprintf("%s %s%s anthropic=%v", c.name, rt.method, rt.suffix, anthropic), func(t *testing.T) {
					r := e.do(t, rt.method, "/v1/files/"+c.id+rt.suffix, c.owner, anthropic, nil, "")
					wantError(t, r, 404, anthropic, "")
					typ := r.json(t)["error"].(map[string]any)["type"]
					if anthropic && typ != "not_found_error" || strings.Contains(r.body, "a.txt") {
						t.Fatalf("body %s", r.body)
					}
				})
			}
		}
	}
	if r := e.do(t, http.MethodGet, "/v1/files/"+mine+"/content", "owner", false, nil, ""); r.status != 200 || r.body != "a" {
		t.Fatalf("the owner's own file: %d %s", r.status, r.body)
	}
}

func TestList(t *testing.T) {
	e := newEnv(t, files.Options{})
	var ids []string
	for i := range 5 {
		purpose := "user_data"
		if i == 2 {
			purpose = "batch"
		}
		r := e.upload(t, "k", false, field{key: "file", filename: fmt.Sprintf("f%d.txt", i), value: "x"}, field{key: "purpose", value: purpose})
		ids = append(ids, r.json(t)["id"].(string))
		e.clock.add(time.Second)
	}
	e.upload(t, "other", false, field{key: "file", filename: "o.txt", value: "x"}, field{key: "purpose", value: "user_data"})
	list := func(query string, anthropic bool) map[string]any {
		t.Helper()
		r := e.do(t, http.MethodGet, "/v1/files"+query, "k", anthropic, nil, "")
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", query, r.status, r.body)
		}
		return r.json(t)
	}
	names := func(v map[string]any) string {
		var out []string
		for _, d := range v["data"].([]any) {
			for i, id := range ids {
				if d.(map[string]any)["id"] == id {
					out = append(out, fmt.Sprint(i))
				}
			}
		}
		return strings.Join(out, ",")
	}
	v := list("", false)
	if v["object"] != "list" || names(v) != "4,3,2,1,0" || v["has_more"] != false || v["first_id"] != ids[4] || v["last_id"] != ids[0] {
		t.Fatalf("list: %v", v)
	}
	if v = list("?limit=2&after="+ids[3], false); names(v) != "2,1" || v["has_more"] != true {
		t.Fatalf("after: %v", v)
	}
	if v = list("?order=asc&limit=3", false); names(v) != "0,1,2" || v["has_more"] != true {
		t.Fatalf("asc: %v", v)
	}
	if v = list("?purpose=batch", false); names(v) != "2" {
		t.Fatalf("purpose: %v", v)
	}
	// Anthropic: 20 a page by default, next_page, after_id, before_id.
	v = list("?limit=2", true)
	if names(v) != "4,3" || v["has_more"] != true || v["next_page"] != "page_"+ids[3] || v["object"] != nil {
		t.Fatalf("anthropic page: %v", v)
	}
	if v = list("?page=page_"+ids[3], true); names(v) != "2,1,0" || v["has_more"] != false || v["next_page"] != nil {
		t.Fatalf("anthropic next page: %v", v)
	}
	if v = list("?before_id="+ids[1]+"&limit=2", true); names(v) != "3,2" || v["has_more"] != true {
		t.Fatalf("anthropic before_id: %v", v)
	}
	if v = list("?ids[]="+ids[1]+"&ids[]=file-nope&ids[]="+ids[3], true); names(v) != "1,3" || v["has_more"] != false || v["first_id"] != ids[1] || v["last_id"] != ids[3] {
		t.Fatalf("anthropic ids: %v", v)
	}
	if v = list("?scope_id=sesn_1", true); names(v) != "" || len(v["data"].([]any)) != 0 {
		t.Fatalf("anthropic scope_id: %v", v)
	}
	for _, c := range []struct {
		query     string
		anthropic bool
		param     string
	}{
		{"?limit=0", false, "limit"},
		{"?limit=10001", false, "limit"},
		{"?order=up", false, "order"},
		{"?after=file-nope", false, "after"},
		{"?limit=1001", true, "limit"},
		{"?after_id=a&before_id=b", true, "before_id"},
		{"?page=nope", true, "page"},
		{"?ids[]=a&limit=2", true, "ids"},
	} {
		wantError(t, e.do(t, http.MethodGet, "/v1/files"+c.query, "k", c.anthropic, nil, ""), 400, c.anthropic, c.param)
	}
}

// TestSweep: the sweeper removes a file once it has expired, and returns
// when its context ends.
func TestSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memstore.New(nil)
		h := files.New(files.Options{Store: st})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); h.Sweep(ctx, time.Minute) }()
		_, err := st.PutFile(ctx, store.FileUpload{
			File:    store.File{ID: "file-1", Owner: "k", Filename: "a", Purpose: "batch", MIMEType: "text/plain", ExpiresAt: time.Now().Add(90 * time.Second)},
			Content: strings.NewReader("x"),
		})
		if err != nil {
			t.Fatal(err)
		}
		far := time.Now().Add(24 * time.Hour)
		time.Sleep(time.Minute) // first sweep: not yet expired
		synctest.Wait()
		time.Sleep(time.Minute) // second sweep: expired 30 s ago
		synctest.Wait()
		if n, _ := st.PruneFiles(ctx, far); n != 0 {
			t.Fatalf("the sweeper left %d expired files", n)
		}
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Sweep did not return when its context ended")
		}
	})
}

// TestOpenForMessages: the resolver the chat front-ends use reads the
// owner's file, and no one else's, and refuses one over the bound before
// reading it.
func TestOpenForMessages(t *testing.T) {
	st := memstore.New(nil)
	h := files.New(files.Options{Store: st})
	ctx := context.Background()
	_, err := st.PutFile(ctx, store.FileUpload{
		File:    store.File{ID: "file-1", Owner: "k", Filename: "a.pdf", Purpose: "user_data", MIMEType: "application/pdf"},
		Content: strings.NewReader("%PDF-1.7"),
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.Open(ctx, "k", "file-1", 100)
	if err != nil || string(m.Data) != "%PDF-1.7" || m.MIMEType != "application/pdf" || m.Name != "a.pdf" {
		t.Fatalf("Open = %+v, %v", m, err)
	}
	if _, err := h.Open(ctx, "intruder", "file-1", 100); !errors.Is(err, wire.ErrNoSuchFile) {
		t.Fatalf("another owner: %v", err)
	}
	if _, err := h.Open(ctx, "k", "file-2", 100); !errors.Is(err, wire.ErrNoSuchFile) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := h.Open(ctx, "k", "file-1", 7); !errors.Is(err, wire.ErrFileTooLarge) {
		t.Fatalf("over the bound: %v", err)
	}
}

// TestSweepOnlyWhenClaimed: with several replicas, only the replica whose
// claim wins sweeps.
func TestSweepOnlyWhenClaimed(t *testing.T) {
	for _, claimed := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			st := memstore.New(nil)
			h := files.New(files.Options{Store: st, Claim: func(context.Context) bool { return claimed }})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go h.Sweep(ctx, time.Minute)
			_, err := st.PutFile(ctx, store.FileUpload{
				File:    store.File{ID: "file-1", Owner: "k", Filename: "a", Purpose: "batch", MIMEType: "text/plain", ExpiresAt: time.Now().Add(30 * time.Second)},
				Content: strings.NewReader("x"),
			})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute) // one sweep, the file expired 30 s ago
			synctest.Wait()
			left, _ := st.PruneFiles(ctx, time.Now())
			if want := map[bool]int{false: 1, true: 0}[claimed]; left != want {
				t.Fatalf("claimed %v: %d expired files left after the sweep, want %d", claimed, left, want)
			}
		})
	}
}
