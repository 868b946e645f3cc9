package genspark_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// taskAnswer is an image/video ask body announcing tasks (docs/genspark-upstream.md §2.7).
func taskAnswer(key string, ids ...string) string {
	var tasks []map[string]string
	for _, id := range ids {
		tasks = append(tasks, map[string]string{"task_id": id})
	}
	inner, _ := json.Marshal(map[string]any{key: tasks})
	content, _ := json.Marshal(string(inner))
	return sse(`{"id": "proj-img", "type": "project_start"}`,
		`{"id": "m9", "role": "assistant", "content": `+string(content)+`, "type": "message_result"}`)
}

func statusAnswer(final map[string]any) string {
	b, _ := json.Marshal(map[string]any{"type": "TASKS_STATUS_COMPLETE", "final_status": final})
	return sse(`{"type": "TASKS_STATUS_PROGRESS"}`, string(b))
}

func TestGenerateImage(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", taskAnswer("generated_images", "t1", "t2")))
	f.handle("/api/ig_tasks_status", respond(200, "text/event-stream", statusAnswer(map[string]any{
		"t1":    map[string]any{"status": "SUCCESS", "image_urls": []string{"https://cdn.example/a.png", "https://cdn.example/a2.png"}},
		"t2":    map[string]any{"status": "FAILURE", "image_urls": []string{}},
		"other": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://cdn.example/not-mine.png"}},
	})))
	f.handle("/api/project/delete", respond(200, "", "{}"))
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoDelete = true })
	a, err := chat(t, p, account("a1", "c1"), userReq("dall-e-3", "a red fox"))
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Media{{URL: "https://cdn.example/a.png", MIMEType: "image/png"}}
	if !reflect.DeepEqual(a.Images, want) || a.Text != "" || a.FinishReason != llm.FinishStop {
		t.Errorf("answer = %+v", a)
	}
	ask := f.lastAsk(t)
	if ask.Header.Get("Accept") != "*/*" {
		t.Errorf("Accept = %q", ask.Header.Get("Accept"))
	}
	wantBody := map[string]any{
		"type":                 "COPILOT_MOA_IMAGE",
		"current_query_string": "type=COPILOT_MOA_IMAGE",
		"messages":             []any{map[string]any{"role": "user", "content": "a red fox"}},
		"user_s_input":         "a red fox",
		"action_params":        map[string]any{},
		"extra_data": map[string]any{
			"model_configs": []any{map[string]any{
				"model": "dalle-3", "aspect_ratio": "auto", "use_personalized_models": false,
				"fashion_profile_id": nil, "hd": false, "reflection_enabled": false, "style": "auto",
			}},
			"llm_model": "gpt-4o", "imageModelMap": map[string]any{}, "writingContent": nil,
		},
	}
	if got := ask.JSON(t); !reflect.DeepEqual(got, wantBody) {
		t.Errorf("ask body = %v\nwant %v", got, wantBody)
	}
	st := f.reqs("/api/ig_tasks_status")
	if len(st) != 1 || !reflect.DeepEqual(st[0].JSON(t), map[string]any{"task_ids": []any{"t1", "t2"}}) || st[0].Header.Get("Cookie") != "session_id=c1" {
		t.Errorf("status requests = %+v", st)
	}
	p.Wait()
	if d := f.reqs("/api/project/delete"); len(d) != 1 || d[0].Query != "project_id=proj-img" {
		t.Errorf("deletes = %+v", d)
	}
}

func TestGenerateImageToImageAndVideo(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n0000")
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", taskAnswer("generated_videos", "v1")))
	f.handle("/api/vg_tasks_status", respond(200, "", statusAnswer(map[string]any{
		"v1": map[string]any{"status": "SUCCESS", "video_urls": []string{"https://cdn.example/v.mp4"}},
	})))
	p := newProvider(t, f.srv.URL, nil)
	req := &llm.Request{Model: "sora-2", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
		{Type: llm.PartText, Text: "make it move"},
		{Type: llm.PartImage, Media: &llm.Media{Data: png}},
	}}}}
	a, err := chat(t, p, account("a1", "c1"), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Images) != 1 || a.Images[0].URL != "https://cdn.example/v.mp4" || a.Images[0].MIMEType == "" {
		t.Errorf("answer = %+v", a)
	}
	body := f.lastAsk(t).JSON(t)
	wantMsgs := []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}},
		map[string]any{"type": "text", "text": "make it move"},
	}}}
	if body["type"] != "COPILOT_MOA_VIDEO" || !reflect.DeepEqual(body["messages"], wantMsgs) {
		t.Errorf("body = %v", body)
	}
	wantExtra := map[string]any{"model_configs": []any{map[string]any{
		"model": "sora-2", "aspect_ratio": "16:9", "reflection_enabled": false, "duration": float64(5),
	}}, "imageModelMap": map[string]any{}}
	if !reflect.DeepEqual(body["extra_data"], wantExtra) {
		t.Errorf("extra_data = %v", body["extra_data"])
	}
}

func TestGenerateFailures(t *testing.T) {
	okStatus := statusAnswer(map[string]any{"t1": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://x/a.png"}}})
	tests := []struct {
		name   string
		ask    http.HandlerFunc
		status http.HandlerFunc
		prompt string
		code   gw.Code
	}{
		{"empty prompt", respond(200, "", taskAnswer("generated_images", "t1")), respond(200, "", okStatus), " ", gw.CodeInvalidRequest},
		{"server overloaded (2025 capture)", respond(200, "", fixture(t, "ask_2025-05_image_server_overloaded.txt")), nil, "x", gw.CodeTransient},
		{"rate limited", respond(200, "", "Rate limit exceeded cf1"), nil, "x", gw.CodeRateLimited},
		{"free quota", respond(200, "", fixture(t, "ask_line_message_result_free_quota_exceeded.txt")), nil, "x", gw.CodeQuotaExhausted},
		{"no task ids", respond(200, "", sse(`{"id": "", "content": "I cannot draw that", "type": "message_result"}`)), nil, "x", gw.CodeUpstream},
		{"status stream ends early", respond(200, "", taskAnswer("generated_images", "t1")), respond(200, "", sse(`{"type": "TASKS_STATUS_PROGRESS"}`)), "x", gw.CodeTransient},
		{"all tasks failed", respond(200, "", taskAnswer("generated_images", "t1")), respond(200, "", statusAnswer(map[string]any{"t1": map[string]any{"status": "FAILURE"}})), "x", gw.CodeUpstream},
		{"status not logged in", respond(200, "", taskAnswer("generated_images", "t1")), respond(200, "", `{"status":-5,"message":"not login","data":{}}`), "x", gw.CodeLoggedOut},
		{"status HTTP 503 page", respond(200, "", taskAnswer("generated_images", "t1")), respond(503, "text/html", gensparkUnavailable), "x", gw.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("/api/copilot/ask", tt.ask)
			if tt.status != nil {
				f.handle("/api/ig_tasks_status", tt.status)
			}
			f.handle("/api/project/delete", respond(200, "", "{}"))
			p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoDelete = true })
			_, err := chat(t, p, account("a1", "c1"), userReq("gpt-image-1", tt.prompt))
			wantCode(t, err, tt.code)
			p.Wait()
			if n := len(f.reqs("/api/project/delete")); n != 0 {
				t.Errorf("failed job deleted its project (%d)", n)
			}
		})
	}
}

func TestGenerateRecaptcha(t *testing.T) {
	rc := newFake(t)
	rc.handle("/genspark", respond(200, "", `{"code":200,"token":"img-token"}`))
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", taskAnswer("generated_images", "t1")))
	f.handle("/api/ig_tasks_status", respond(200, "", statusAnswer(map[string]any{"t1": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://x/a.png?sig=1"}}})))
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.RecaptchaURL = rc.srv.URL })
	a, err := chat(t, p, account("a1", "c1"), userReq("gpt-image-1", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Images) != 1 {
		t.Fatalf("answer = %+v", a)
	}
	if u, _ := url.Parse(a.Images[0].URL); u.RawQuery != "sig=1" || a.Images[0].MIMEType != "image/png" {
		t.Errorf("image = %+v", a.Images[0])
	}
	if tok := f.lastAsk(t).JSON(t)["g_recaptcha_token"]; tok != "img-token" {
		t.Errorf("token = %v", tok)
	}
}

// A generation job is waited for in the first Recv; its results are then
// ready at once.
func TestGenerateBuffered(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", taskAnswer("generated_images", "t1")))
	f.handle("/api/ig_tasks_status", respond(200, "text/event-stream", statusAnswer(map[string]any{
		"t1": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://cdn.example/a.png"}},
	})))
	p := newProvider(t, f.srv.URL, nil)
	st, err := p.Chat(t.Context(), account("a1", "c1"), userReq("dall-e-3", "a red fox"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if llm.Buffered(st) {
		t.Error("Buffered before the job was waited for")
	}
	for _, want := range []llm.EventType{llm.EventImage, llm.EventFinish} {
		if ev, err := st.Recv(); err != nil || ev.Type != want {
			t.Fatalf("Recv = %+v, %v; want event type %d", ev, err, want)
		}
		if got := llm.Buffered(st); got != (want == llm.EventImage) {
			t.Errorf("Buffered after event type %d = %v", want, got)
		}
	}
}
