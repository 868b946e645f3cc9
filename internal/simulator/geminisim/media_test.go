package geminisim_test

import (
	"bytes"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
)

// uploadMultipart posts one file the way HanaokaYuzu does.
func (e *env) uploadMultipart(name, ctype string, data []byte) (*http.Response, string) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
	hdr.Set("Content-Type", ctype)
	pw, _ := mw.CreatePart(hdr)
	pw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/upload", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Push-ID", "feeds/mcudyrk2a4khkz")
	req.Header.Set("X-Tenant-Id", "bard-storage")
	resp, body := e.do(req)
	return resp, string(body)
}

func TestUploadThenReference(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("xena")
	doc := "System: x\nUser: first\nAssistant: ok\nUser: the question is in the file ✨ sim:long 2"
	resp, ref := e.uploadMultipart("conversation.txt", "text/plain", []byte(doc))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(ref, "/contrib_service/ttl_1d/") {
		t.Fatalf("upload: %d %q", resp.StatusCode, ref)
	}
	if ent := e.lastEntry("upload"); ent.Facts["upload_ref"] != ref || ent.Facts["file_name"] != "conversation.txt" {
		t.Fatalf("facts %v", ent.Facts)
	}
	_, img := e.uploadMultipart("photo.png", "application/octet-stream", pngBytes(t))
	files := []any{
		[]any{[]any{ref, 3, nil, "text/plain"}, "conversation.txt", nil, nil, nil, nil, nil, nil, []any{0}},
		[]any{[]any{img}, "photo.png"},
	}
	_, raw := e.generate(gen{prompt: "Answer the last user turn in the attached file.", cookie: cookie, at: at, files: files})
	ss := snaps(t, parseBody(t, raw))
	final := ss[len(ss)-1].text
	mustContain(t, final, "the question is in the file ✨")
	mustContain(t, final, `"conversation.txt"`)
	mustContain(t, final, "I don't seem to have access to that content") // wrong MIME for the PNG
	if n := len(textSnaps(ss)); n != 3 {
		t.Errorf("directive in the attachment gave %d text frames, want 3", n)
	}
	if ent := e.lastEntry("gemini"); ent.Facts["files"] != 2 {
		t.Fatalf("files fact %v", ent.Facts["files"])
	}
	// Missing Push-ID: 400.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/upload", strings.NewReader("x"))
	if resp, _ := e.do(req); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("upload without Push-ID: %d", resp.StatusCode)
	}
}

func TestResumableUpload(t *testing.T) {
	e := newEnv(t)
	data := []byte("hello resumable")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/upload/", strings.NewReader("File name: notes.txt"))
	req.Header.Set("Push-ID", "feeds/mcudyrk2a4khkz")
	req.Header.Set("X-Tenant-Id", "bard-storage")
	req.Header.Set("X-Goog-Upload-Protocol", "resumable")
	req.Header.Set("X-Goog-Upload-Command", "start")
	req.Header.Set("X-Goog-Upload-Header-Content-Length", strconv.Itoa(len(data)))
	req.Header.Set("X-Goog-Upload-Header-Content-Type", "text/plain")
	resp, _ := e.do(req)
	id, next := resp.Header.Get("X-GUploader-UploadID"), resp.Header.Get("X-Goog-Upload-URL")
	if resp.StatusCode != http.StatusOK || id == "" || !strings.Contains(next, "upload_id="+id) {
		t.Fatalf("start: %d %q %q", resp.StatusCode, id, next)
	}
	req, _ = http.NewRequest(http.MethodPut, next, bytes.NewReader(data))
	req.Header.Set("X-Goog-Upload-Command", "upload, finalize")
	req.Header.Set("X-Goog-Upload-Offset", "0")
	resp, ref := e.do(req)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(ref), "/contrib_service/ttl_1d/") {
		t.Fatalf("finalize: %d %q", resp.StatusCode, ref)
	}
	if ent := e.lastEntry("upload"); ent.Facts["file_name"] != "notes.txt" || ent.Facts["size"] != len(data) {
		t.Fatalf("facts %v", ent.Facts)
	}
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	e := newEnv(t)
	cookie, at := e.signedIn("pngmaker")
	_, raw := e.generate(gen{prompt: "sim:image", cookie: cookie, at: at})
	ss := snaps(t, parseBody(t, raw))
	u := dig(ss[len(ss)-1].inner, 4, 0, 12, 7, 0, 0, 0, 3, 3).(string)
	req, _ := http.NewRequest(http.MethodGet, u+"=s64", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func TestGeneratedImage(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("yuri")
	_, raw := e.generate(gen{prompt: "a cat sim:image", cookie: cookie, at: at})
	ss := snaps(t, parseBody(t, raw))
	last := ss[len(ss)-1]
	cand := dig(last.inner, 4, 0)
	u, _ := dig(cand, 12, 7, 0, 0, 0, 3, 3).(string)
	if !strings.Contains(u, "/gg-dl/") || dig(cand, 12, 7, 0, 0, 1, 0) != "http://googleusercontent.com/image_generation_content/0" {
		t.Fatalf("image slot %v", dig(cand, 12))
	}
	mustContain(t, last.text, "http://googleusercontent.com/image_generation_content/0")
	// The first frame is the sparse tool status {"7": ...}.
	if _, ok := dig(ss[0].inner, 2).(map[string]any); !ok {
		t.Errorf("first frame %v", ss[0].inner)
	}

	// gg-dl redirects to the fife host; cookies are needed at each hop.
	req, _ := http.NewRequest(http.MethodGet, u+"=s128", nil)
	req.Header.Set("Cookie", cookie)
	resp, _ := e.do(req)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/rd-gg-dl/") {
		t.Fatalf("gg-dl: %d %q", resp.StatusCode, loc)
	}
	req, _ = http.NewRequest(http.MethodGet, loc, nil)
	if resp, _ := e.do(req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second hop without cookies: %d", resp.StatusCode)
	}
	req.Header.Set("Cookie", cookie)
	resp, b := e.do(req)
	img, err := png.Decode(bytes.NewReader(b))
	if resp.StatusCode != http.StatusOK || err != nil || img.Bounds().Dx() != 128 {
		t.Fatalf("image: %d %v", resp.StatusCode, err)
	}
	// -rj forces JPEG.
	req, _ = http.NewRequest(http.MethodGet, strings.Replace(u, "/gg-dl/", "/rd-gg-dl/", 1)+"=s1024-rj", nil)
	req.Header.Set("Cookie", cookie)
	if _, b := e.do(req); func() error { _, err := jpeg.Decode(bytes.NewReader(b)); return err }() != nil {
		t.Fatal("=s1024-rj is not a JPEG")
	}
	// Another account, host-only cookies: 403.
	other, _ := e.signedIn("zack")
	for _, c := range []string{other, cookie + "; __Host-1PLSID=x"} {
		req, _ = http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Cookie", c)
		if resp, _ := e.do(req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cookie %q: %d, want 403", c, resp.StatusCode)
		}
	}
	// Full-size flow: c8o8Fe, then two text/plain hops, then bytes.
	rcid := dig(cand, 0).(string)
	cid, rid := dig(last.inner, 1, 0).(string), dig(last.inner, 1, 1).(string)
	payload := `[[[null,null,null,[null,null,null,null,null,""]],["http://googleusercontent.com/image_generation_content/0",0],null,[19,""],null,null,null,null,null,""],["` + rid + `","` + rcid + `","` + cid + `",null,""],1,0,1]`
	_, raw = e.batch(cookie, at, [2]string{"c8o8Fe", payload})
	orig, _ := dig(results(t, parseBody(t, raw))[0].body, 0).(string)
	if orig != u {
		t.Fatalf("c8o8Fe gave %q, want %q", orig, u)
	}
	next := orig + "=d-I?alr=yes"
	for hop := 0; hop < 2; hop++ {
		req, _ = http.NewRequest(http.MethodGet, next, nil)
		req.Header.Set("Cookie", cookie)
		resp, b := e.do(req)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("hop %d: %d %s", hop, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		next = string(b)
	}
	req, _ = http.NewRequest(http.MethodGet, next, nil)
	req.Header.Set("Cookie", cookie)
	if resp, b := e.do(req); resp.Header.Get("Content-Type") != "image/png" || len(b) < 100 {
		t.Fatalf("full size: %s %d bytes", resp.Header.Get("Content-Type"), len(b))
	}
}
