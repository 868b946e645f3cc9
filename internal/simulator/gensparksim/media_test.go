package gensparksim_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// generationTaskID runs an image/video ask and returns the task id named in
// the message_result content.
func generationTaskID(t *testing.T, s *sim, body []byte, listKey string) (string, []event) {
	t.Helper()
	status, _, raw := s.ask(t, okCookie, body)
	if status != http.StatusOK {
		t.Fatalf("ask status %d: %s", status, raw)
	}
	evs := parseStream(t, raw, false)
	if evs[0].str("type") != "project_start" || evs[0].str("id") == "" {
		t.Fatalf("first event %s", evs[0].raw)
	}
	var ids []string
	for _, e := range evs {
		if !strings.Contains(e.raw, "task_id") {
			continue
		}
		// docs/genspark-upstream.md §2.6: the line's top-level content is a JSON string.
		content, ok := e.m["content"].(string)
		if !ok {
			t.Fatalf("content is not a string: %s", e.raw)
		}
		var inner map[string][]map[string]string
		if err := json.Unmarshal([]byte(content), &inner); err != nil {
			t.Fatalf("content %q: %v", content, err)
		}
		for _, g := range inner[listKey] {
			ids = append(ids, g["task_id"])
		}
	}
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("want one task id under %s, got %v", listKey, ids)
	}
	return ids[0], evs
}

// taskStatus posts a status request and returns the final_status of the
// TASKS_STATUS_COMPLETE event, checking it is the last event.
func taskStatus(t *testing.T, s *sim, path string, ids ...string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"task_ids": ids})
	status, _, raw := s.do(t, http.MethodPost, path, okCookie, body, map[string]string{"Accept": "*/*"})
	if status != http.StatusOK {
		t.Fatalf("%s: %d %s", path, status, raw)
	}
	evs := parseStream(t, raw, false)
	if len(evs) < 2 {
		t.Errorf("want progress events before completion, got %d events", len(evs))
	}
	lastEv := evs[len(evs)-1]
	if lastEv.str("type") != "TASKS_STATUS_COMPLETE" {
		t.Fatalf("last event %s", lastEv.raw)
	}
	fs, ok := lastEv.m["final_status"].(map[string]any)
	if !ok {
		t.Fatalf("final_status %s", lastEv.raw)
	}
	return fs
}

func firstURL(t *testing.T, entry any, key string) string {
	t.Helper()
	m, _ := entry.(map[string]any)
	if m["status"] != "SUCCESS" {
		t.Fatalf("status %v", m)
	}
	urls, _ := m[key].([]any)
	if len(urls) == 0 {
		t.Fatalf("no %s in %v", key, m)
	}
	return urls[0].(string)
}

func TestImageFlow(t *testing.T) {
	s := newSim(t, 0)
	body := genBody(t, "COPILOT_MOA_IMAGE", "a red fox in the snow", map[string]any{
		"model": "nano-banana-pro", "aspect_ratio": "auto", "use_personalized_models": false,
		"fashion_profile_id": nil, "hd": false, "reflection_enabled": false, "style": "auto",
	})
	id, _ := generationTaskID(t, s, body, "generated_images")
	e := s.last(t, "/api/copilot/ask")
	if e.Facts["type"] != "COPILOT_MOA_IMAGE" || e.Facts["model"] != "nano-banana-pro" || e.Facts["aspect_ratio"] != "auto" ||
		e.Facts["last_user"] != "a red fox in the snow" || e.Outcome != simcore.OutcomeCompleted {
		t.Errorf("ask entry %v %q", e.Facts, e.Outcome)
	}

	fs := taskStatus(t, s, "/api/ig_tasks_status", id, "no-such-task")
	u := firstURL(t, fs[id], "image_urls")
	if !strings.HasPrefix(u, s.srv.URL+"/") {
		t.Errorf("image URL %q is not served by the simulator", u)
	}
	if m, _ := fs["no-such-task"].(map[string]any); m["status"] != "FAILURE" {
		t.Errorf("unknown task: %v", fs["no-such-task"])
	}

	status, hdr, data := s.do(t, http.MethodGet, u, "", nil, nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("GET image: %d %q", status, hdr.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
		t.Errorf("size %v", b)
	}

	// Deterministic: the same prompt and model give the same bytes.
	id2, _ := generationTaskID(t, s, body, "generated_images")
	u2 := firstURL(t, taskStatus(t, s, "/api/ig_tasks_status", id2)[id2], "image_urls")
	if _, _, data2 := s.do(t, http.MethodGet, u2, "", nil, nil); !bytes.Equal(data, data2) {
		t.Error("same prompt gave different images")
	}

	// An image task is unknown to the video status stream.
	fs = taskStatus(t, s, "/api/vg_tasks_status", id)
	if m, _ := fs[id].(map[string]any); m["status"] != "FAILURE" {
		t.Errorf("image task on vg_tasks_status: %v", fs[id])
	}
}

func TestVideoFlow(t *testing.T) {
	s := newSim(t, 0)
	body := genBody(t, "COPILOT_MOA_VIDEO", "waves at dusk", map[string]any{
		"model": "sora-2", "aspect_ratio": "16:9", "reflection_enabled": true, "duration": 8,
	})
	id, _ := generationTaskID(t, s, body, "generated_videos")
	e := s.last(t, "/api/copilot/ask")
	if e.Facts["model"] != "sora-2" || e.Facts["aspect_ratio"] != "16:9" || e.Facts["duration"] != 8 ||
		e.Facts["reflection_enabled"] != true || e.Facts["type"] != "COPILOT_MOA_VIDEO" {
		t.Errorf("facts %v", e.Facts)
	}
	u := firstURL(t, taskStatus(t, s, "/api/vg_tasks_status", id)[id], "video_urls")
	status, hdr, data := s.do(t, http.MethodGet, u, "", nil, nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != "video/mp4" {
		t.Fatalf("GET video: %d %q", status, hdr.Get("Content-Type"))
	}
	if len(data) < 16 || string(data[4:8]) != "ftyp" || !bytes.Contains(data, []byte("moov")) || !bytes.Contains(data, []byte("mdat")) {
		t.Errorf("not an MP4: % x", data[:min(len(data), 32)])
	}
}

func TestGenerationDrop(t *testing.T) {
	s := newSim(t, 0)
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/api/copilot/ask", bytes.NewReader(
		genBody(t, "COPILOT_MOA_IMAGE", "fox sim:drop", map[string]any{"model": "recraft-v3"})))
	req.Header.Set("Cookie", okCookie)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err == nil {
		t.Error("image ask with sim:drop ended cleanly")
	}
	if strings.Contains(buf.String(), "task_id") {
		t.Error("task ids sent before the drop")
	}
	if e := s.last(t, "/api/copilot/ask"); e.Outcome != simcore.OutcomeDropped {
		t.Errorf("outcome %q", e.Outcome)
	}
}

func TestUploadRoundTrip(t *testing.T) {
	s := newSim(t, 0)
	status, _, raw := s.do(t, http.MethodGet, "/api/get_upload_personal_image_url", okCookie, nil, nil)
	var slot struct {
		Status int `json:"status"`
		Data   struct {
			UploadImageURL    string `json:"upload_image_url"`
			PrivateStorageURL string `json:"private_storage_url"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &slot); err != nil || status != http.StatusOK || slot.Status != 0 {
		t.Fatalf("upload slot: %d %s %v", status, raw, err)
	}
	up, priv := slot.Data.UploadImageURL, slot.Data.PrivateStorageURL
	if !strings.HasPrefix(up, s.srv.URL+"/") || !strings.HasPrefix(priv, s.srv.URL+"/") || !strings.Contains(up, "sig=") {
		t.Fatalf("URLs %q %q", up, priv)
	}
	payload := []byte("%PDF-1.4 simulated document ✓")
	azure := map[string]string{"Content-Type": "application/octet-stream", "X-Ms-Blob-Type": "BlockBlob"}

	// Azure requires x-ms-blob-type.
	if st, _, _ := s.do(t, http.MethodPut, up, "", payload, map[string]string{"Content-Type": "application/octet-stream"}); st != http.StatusBadRequest {
		t.Errorf("PUT without x-ms-blob-type: %d", st)
	}
	// A forged signature is refused.
	bad, _ := url.Parse(up)
	q := bad.Query()
	q.Set("sig", "forged")
	bad.RawQuery = q.Encode()
	if st, _, _ := s.do(t, http.MethodPut, bad.String(), "", payload, azure); st != http.StatusForbidden {
		t.Errorf("PUT with a forged sig: %d", st)
	}
	// Nothing stored yet.
	if st, _, _ := s.do(t, http.MethodGet, priv, "", nil, nil); st != http.StatusNotFound {
		t.Errorf("GET before upload: %d", st)
	}

	if st, _, _ := s.do(t, http.MethodPut, up, "", payload, azure); st != http.StatusCreated {
		t.Fatalf("PUT: %d", st)
	}
	e := s.last(t, strings.TrimPrefix(priv, s.srv.URL))
	if e.Method != http.MethodPut || e.Facts["size"] != len(payload) || e.Upstream != "genspark" || e.Outcome != simcore.OutcomeCompleted {
		t.Errorf("upload entry %s %v %q", e.Method, e.Facts, e.Outcome)
	}
	status, hdr, got := s.do(t, http.MethodGet, priv, "", nil, nil)
	if status != http.StatusOK || !bytes.Equal(got, payload) || hdr.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET back: %d %q %q", status, hdr.Get("Content-Type"), got)
	}

	// A logged-out account gets no slot.
	if _, _, raw := s.do(t, http.MethodGet, "/api/get_upload_personal_image_url", "session_id=expiredZ", nil, nil); string(raw) != `{"status":-5,"message":"not login","data":{}}` {
		t.Errorf("expired slot: %s", raw)
	}
}

func TestRecaptchaService(t *testing.T) {
	s := newSim(t, 0)
	get := func(cookie string) (int, map[string]any) {
		status, _, raw := s.do(t, http.MethodGet, "/genspark", cookie, nil, map[string]string{"Content-Type": "application/json"})
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("recaptcha body %q: %v", raw, err)
		}
		return status, m
	}
	status, m := get("session_id=abc")
	tok, _ := m["token"].(string)
	if status != http.StatusOK || m["code"] != float64(200) || tok == "" {
		t.Fatalf("token: %d %v", status, m)
	}
	if _, m2 := get("session_id=abc"); m2["token"] != tok {
		t.Error("token not deterministic")
	}
	if _, m3 := get("session_id=other"); m3["token"] == tok {
		t.Error("different cookies got the same token")
	}
	e := s.last(t, "/genspark")
	if e.Upstream != "recaptcha" || e.Outcome != simcore.OutcomeCompleted {
		t.Errorf("entry %q %q", e.Upstream, e.Outcome)
	}

	if status, m := get(""); status != http.StatusBadRequest || m["code"] != float64(400) || m["message"] != "cookie required" {
		t.Errorf("no cookie: %d %v", status, m)
	}
	if status, _ := get("session_id=recaptchafail-1"); status != http.StatusInternalServerError {
		t.Errorf("recaptchafail: %d", status)
	}
	if e := s.last(t, "/genspark"); e.Outcome != simcore.OutcomeRejected {
		t.Errorf("failure outcome %q", e.Outcome)
	}

	// An ask carrying the token issued for its own cookie is recorded valid.
	body := chatBody(t, "type=COPILOT_MOA_CHAT", []string{"gpt-5.2"}, false, &tok, msg{"user", "hi"})
	s.ask(t, "session_id=abc", body)
	if e := s.last(t, "/api/copilot/ask"); e.Facts["recaptcha_valid"] != true || e.Facts["recaptcha_token"] != tok {
		t.Errorf("ask facts %v", e.Facts)
	}
}

func TestIsLoginAndDelete(t *testing.T) {
	s := newSim(t, 0)
	_, _, raw := s.do(t, http.MethodGet, "/api/is_login", okCookie, nil, nil)
	var login struct {
		Status int `json:"status"`
		Data   struct {
			CogenID string `json:"cogen_id"`
			IsLogin bool   `json:"is_login"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &login); err != nil || login.Status != 0 || !login.Data.IsLogin || login.Data.CogenID == "" {
		t.Errorf("is_login: %s %v", raw, err)
	}
	notLogin := string(fixture(t, "error_not_login_body.txt"))
	if _, _, raw := s.do(t, http.MethodGet, "/api/is_login", "session_id=expired1", nil, nil); string(raw) != notLogin {
		t.Errorf("expired is_login: %s", raw)
	}

	status, _, raw := s.do(t, http.MethodGet, "/api/project/delete?project_id=p-123", okCookie, nil, map[string]string{"Accept": "application/json"})
	if status != http.StatusOK || !strings.Contains(string(raw), `"status":0`) {
		t.Errorf("delete: %d %s", status, raw)
	}
	if e := s.last(t, "/api/project/delete"); e.Facts["project_id"] != "p-123" || e.Outcome != simcore.OutcomeCompleted {
		t.Errorf("delete entry %v %q", e.Facts, e.Outcome)
	}
	s.do(t, http.MethodGet, "/api/project/delete?project_id=", okCookie, nil, nil)
	if e := s.last(t, "/api/project/delete"); e.Facts["project_id"] != "" || e.Outcome != simcore.OutcomeRejected {
		t.Errorf("empty delete entry %v %q", e.Facts, e.Outcome)
	}
}
