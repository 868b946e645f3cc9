package genspark_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// countingAsks answers every generation ask with a new project and task:
// proj-1/t1, proj-2/t2, ... failAt > 0 answers that ask with a rate limit.
func countingAsks(key string, failAt int64) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if i == failAt {
			respond(200, "", "Rate limit exceeded cf1")(w, r)
			return
		}
		body := taskAnswer(key, fmt.Sprintf("t%d", i))
		body = strings.Replace(body, "proj-img", fmt.Sprintf("proj-%d", i), 1)
		respond(200, "", body)(w, r)
	}
}

// modelConfig returns extra_data.model_configs[0] of a recorded ask.
func modelConfig(t *testing.T, r recorded) map[string]any {
	t.Helper()
	extra, _ := r.JSON(t)["extra_data"].(map[string]any)
	cfgs, _ := extra["model_configs"].([]any)
	if len(cfgs) != 1 {
		t.Fatalf("model_configs = %v", extra["model_configs"])
	}
	return cfgs[0].(map[string]any)
}

func TestGenerateImageOptions(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", countingAsks("generated_images", 0))
	f.handle("/api/ig_tasks_status", respond(200, "", statusAnswer(map[string]any{
		"t1": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://cdn.example/1.png"}},
		"t2": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://cdn.example/2.png"}},
		"t3": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://cdn.example/3.png"}},
	})))
	f.handle("/api/project/delete", respond(200, "", "{}"))
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoDelete = true })
	req := userReq("gpt-image-1", "three foxes")
	req.Generation = &llm.GenerationOptions{N: 3, Size: "1792x1024", Quality: "hd", AutoPrompt: true}
	a, err := chat(t, p, account("a1", "c1"), req)
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, im := range a.Images {
		urls = append(urls, im.URL)
	}
	if want := []string{"https://cdn.example/1.png", "https://cdn.example/2.png", "https://cdn.example/3.png"}; !reflect.DeepEqual(urls, want) {
		t.Errorf("images = %v, want %v", urls, want)
	}
	asks := f.reqs("/api/copilot/ask")
	if len(asks) != 3 {
		t.Fatalf("%d asks, want 3 (one per image)", len(asks))
	}
	want := map[string]any{
		"model": "gpt-image-1", "aspect_ratio": "16:9", "use_personalized_models": false,
		"fashion_profile_id": nil, "hd": true, "reflection_enabled": true, "style": "auto",
	}
	for i, ask := range asks {
		if got := modelConfig(t, ask); !reflect.DeepEqual(got, want) {
			t.Errorf("ask %d model_configs[0] = %v, want %v", i, got, want)
		}
	}
	st := f.reqs("/api/ig_tasks_status")
	if len(st) != 1 || !reflect.DeepEqual(st[0].JSON(t)["task_ids"], []any{"t1", "t2", "t3"}) {
		t.Errorf("status requests = %+v", st)
	}
	p.Wait()
	var deleted []string
	for _, d := range f.reqs("/api/project/delete") {
		deleted = append(deleted, d.Query)
	}
	if len(deleted) != 3 {
		t.Errorf("deleted projects = %v, want the 3 jobs' chats", deleted)
	}
}

func TestGenerateAspectRatios(t *testing.T) {
	tests := []struct {
		opts *llm.GenerationOptions
		want string
	}{
		{nil, "auto"},
		{&llm.GenerationOptions{Size: "auto"}, "auto"},
		{&llm.GenerationOptions{Size: "1024x1024"}, "1:1"},
		{&llm.GenerationOptions{Size: "512x512"}, "1:1"},
		{&llm.GenerationOptions{Size: "1792x1024"}, "16:9"},
		{&llm.GenerationOptions{Size: "1024x1792"}, "9:16"},
		{&llm.GenerationOptions{Size: "1536x1024"}, "3:2"},
		{&llm.GenerationOptions{Size: "1024x1536"}, "2:3"},
		{&llm.GenerationOptions{Size: "1200x900"}, "4:3"},
		{&llm.GenerationOptions{Size: "4:3"}, "4:3"},
		{&llm.GenerationOptions{Size: "1024x1024", AspectRatio: "9:16"}, "9:16"}, // an explicit ratio wins
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.opts), func(t *testing.T) {
			f := newFake(t)
			f.handle("/api/copilot/ask", respond(200, "", taskAnswer("generated_images", "t1")))
			f.handle("/api/ig_tasks_status", respond(200, "", statusAnswer(map[string]any{"t1": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://x/a.png"}}})))
			p := newProvider(t, f.srv.URL, nil)
			req := userReq("gpt-image-1", "x")
			req.Generation = tt.opts
			if _, err := chat(t, p, account("a1", "c1"), req); err != nil {
				t.Fatal(err)
			}
			if got := modelConfig(t, f.lastAsk(t))["aspect_ratio"]; got != tt.want {
				t.Errorf("aspect_ratio = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestGenerateBadSize(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f.srv.URL, nil)
	req := userReq("gpt-image-1", "x")
	req.Generation = &llm.GenerationOptions{Size: "huge"}
	_, err := chat(t, p, account("a1", "c1"), req)
	if ge := wantCode(t, err, gw.CodeInvalidRequest); ge.Param != "size" {
		t.Errorf("param = %q", ge.Param)
	}
	if n := len(f.reqs("/api/copilot/ask")); n != 0 {
		t.Errorf("%d asks sent for an invalid size", n)
	}
}

func TestGenerateVideoOptions(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", taskAnswer("generated_videos", "v1")))
	f.handle("/api/vg_tasks_status", respond(200, "", statusAnswer(map[string]any{
		"v1": map[string]any{"status": "SUCCESS", "video_urls": []string{"https://cdn.example/v.mp4"}},
	})))
	p := newProvider(t, f.srv.URL, nil)
	req := userReq("gemini/veo3", "a wave")
	req.Generation = &llm.GenerationOptions{AspectRatio: "9:16", Duration: 8, AutoPrompt: true}
	a, err := chat(t, p, account("a1", "c1"), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Images) != 1 || a.Images[0].MIMEType != "video/mp4" {
		t.Errorf("answer = %+v", a)
	}
	want := map[string]any{"model": "gemini/veo3", "aspect_ratio": "9:16", "reflection_enabled": true, "duration": float64(8)}
	if got := modelConfig(t, f.lastAsk(t)); !reflect.DeepEqual(got, want) {
		t.Errorf("model_configs[0] = %v, want %v", got, want)
	}

	// auto has no video equivalent: the default 16:9 is sent; durations
	// are bounded.
	req.Generation = &llm.GenerationOptions{AspectRatio: "auto", Duration: 100000}
	if _, err := chat(t, p, account("a1", "c1"), req); err != nil {
		t.Fatal(err)
	}
	got := modelConfig(t, f.lastAsk(t))
	if got["aspect_ratio"] != "16:9" || got["duration"] != float64(60) || got["reflection_enabled"] != false {
		t.Errorf("model_configs[0] = %v", got)
	}
}

func TestGenerateCountIsBounded(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", countingAsks("generated_images", 0))
	f.handle("/api/ig_tasks_status", respond(200, "", statusAnswer(map[string]any{
		"t1": map[string]any{"status": "SUCCESS", "image_urls": []string{"https://x/1.png"}},
	})))
	p := newProvider(t, f.srv.URL, nil)
	req := userReq("gpt-image-1", "x")
	req.Generation = &llm.GenerationOptions{N: 50}
	if _, err := chat(t, p, account("a1", "c1"), req); err != nil {
		t.Fatal(err)
	}
	if n := len(f.reqs("/api/copilot/ask")); n != genspark.MaxGenerations {
		t.Errorf("%d asks, want %d", n, genspark.MaxGenerations)
	}
}

func TestGenerateLaterAskFails(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", countingAsks("generated_images", 2))
	f.handle("/api/project/delete", respond(200, "", "{}"))
	p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.AutoDelete = true })
	req := userReq("gpt-image-1", "x")
	req.Generation = &llm.GenerationOptions{N: 3}
	_, err := chat(t, p, account("a1", "c1"), req)
	wantCode(t, err, gw.CodeRateLimited)
	if n := len(f.reqs("/api/copilot/ask")); n != 2 {
		t.Errorf("%d asks, want 2 (stop at the failure)", n)
	}
	if n := len(f.reqs("/api/ig_tasks_status")); n != 0 {
		t.Errorf("%d status requests after a failed ask", n)
	}
	p.Wait()
	if d := f.reqs("/api/project/delete"); len(d) != 1 || d[0].Query != "project_id=proj-1" {
		t.Errorf("deletes = %+v, want the first job's chat", d)
	}
}

func TestGenerateFirstFrame(t *testing.T) {
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", taskAnswer("generated_videos", "v1")))
	f.handle("/api/vg_tasks_status", respond(200, "", statusAnswer(map[string]any{
		"v1": map[string]any{"status": "SUCCESS", "video_urls": []string{"https://cdn.example/v.mp4"}},
	})))
	p := newProvider(t, f.srv.URL, nil)
	req := &llm.Request{Model: "sora-2", Generation: &llm.GenerationOptions{Duration: 4}, Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
		{Type: llm.PartImage, Media: &llm.Media{Data: []byte("\xff\xd8\xff\xe0jpeg"), MIMEType: "image/jpeg"}},
		{Type: llm.PartText, Text: "animate"},
	}}}}
	if _, err := chat(t, p, account("a1", "c1"), req); err != nil {
		t.Fatal(err)
	}
	msgs, _ := f.lastAsk(t).JSON(t)["messages"].([]any)
	content, _ := msgs[0].(map[string]any)["content"].([]any)
	if len(content) != 2 {
		t.Fatalf("content = %v", msgs)
	}
	img, _ := content[0].(map[string]any)["image_url"].(map[string]any)
	if u, _ := img["url"].(string); len(u) < 23 || u[:23] != "data:image/jpeg;base64," {
		t.Errorf("first frame = %v", content[0])
	}
}
