package media_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/media"
)

// videoResponse is the seed's response shape.
type videoResponse struct {
	Created int64 `json:"created"`
	Data    []struct {
		URL string `json:"url"`
	} `json:"data"`
}

func TestVideos(t *testing.T) {
	e := newEnv(t, envOptions{})
	var res videoResponse
	err := e.client.Post(context.Background(), "videos/generations", map[string]any{
		"model": "sora-2", "aspect_ratio": "9:16", "duration": 8, "prompt": "waves at dusk", "auto_prompt": true,
	}, &res)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created == 0 || len(res.Data) != 1 {
		t.Fatalf("response = %+v", res)
	}
	e.proxyQuery(res.Data[0].URL)
	resp, body := e.get(res.Data[0].URL)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("proxy: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if len(body) < 12 || string(body[4:8]) != "ftyp" {
		t.Errorf("not an MP4: % x", body[:min(len(body), 16)])
	}
	ask := e.asks()[0]
	for k, want := range map[string]any{"type": "COPILOT_MOA_VIDEO", "model": "sora-2", "aspect_ratio": "9:16", "reflection_enabled": true, "last_user": "waves at dusk"} {
		if got := fact(ask, k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if d := fact(ask, "duration"); d != 8 && d != float64(8) {
		t.Errorf("duration = %v", d)
	}
}

func TestVideoDefaultsAndFirstFrame(t *testing.T) {
	e := newEnv(t, envOptions{})
	frame := base64.StdEncoding.EncodeToString(pngBytes(t))
	for _, img := range []string{frame, "data:image/png;base64," + frame} {
		var res videoResponse
		err := e.client.Post(context.Background(), "videos/generations", map[string]any{
			"model": "gemini/veo3", "prompt": "make it move", "image": img,
		}, &res)
		if err != nil {
			t.Fatal(err)
		}
		asks := e.asks()
		ask := asks[len(asks)-1]
		if fact(ask, "aspect_ratio") != "16:9" || fact(ask, "reflection_enabled") != false {
			t.Errorf("defaults: %v", ask.Facts)
		}
		if d := fact(ask, "duration"); d != 5 && d != float64(5) {
			t.Errorf("duration = %v, want the default 5", d)
		}
		if !strings.Contains(ask.Body, "data:image/png;base64,"+frame[:20]) {
			t.Errorf("first frame missing from the ask: %.300s", ask.Body)
		}
	}
}

// fetcherFunc is a gateway.MediaFetcher.
type fetcherFunc func(ctx context.Context, u string) ([]byte, string, error)

func (f fetcherFunc) Fetch(ctx context.Context, u string) ([]byte, string, error) { return f(ctx, u) }

func TestVideoImageURL(t *testing.T) {
	var fetched []string
	png := pngBytes(t)
	e := newEnv(t, envOptions{media: func(o *media.Options) {
		o.MediaFetcher = fetcherFunc(func(_ context.Context, u string) ([]byte, string, error) {
			fetched = append(fetched, u)
			return png, "image/png", nil
		})
	}})
	var res videoResponse
	err := e.client.Post(context.Background(), "videos/generations", map[string]any{
		"model": "sora-2", "prompt": "p", "image": "https://example.com/frame.png", "aspect_ratio": "1:1", "duration": 5, "auto_prompt": false,
	}, &res)
	if err != nil {
		t.Fatal(err)
	}
	if len(fetched) != 1 || fetched[0] != "https://example.com/frame.png" {
		t.Errorf("fetched = %v", fetched)
	}
	if !strings.Contains(e.asks()[0].Body, "data:image/png;base64,") {
		t.Error("the fetched frame is not in the ask")
	}
}

func TestVideoValidation(t *testing.T) {
	e := newEnv(t, envOptions{media: func(o *media.Options) { o.MaxFileBytes = 1 << 20 }})
	tests := []struct {
		body  map[string]any
		param string
		text  string
	}{
		{map[string]any{"model": "gpt-image-1", "prompt": "p"}, "model", "The model `gpt-image-1` is not a video model"},
		{map[string]any{"model": "nope", "prompt": "p"}, "model", "The model `nope` does not exist"},
		{map[string]any{"prompt": "p"}, "model", "Missing required parameter: 'model'"},
		{map[string]any{"model": "sora-2"}, "prompt", "prompt is required"},
		{map[string]any{"model": "sora-2", "prompt": "p", "aspect_ratio": "2:1"}, "aspect_ratio", "one of"},
		{map[string]any{"model": "sora-2", "prompt": "p", "duration": 0}, "duration", "between 1 and 60"},
		{map[string]any{"model": "sora-2", "prompt": "p", "duration": 2.5}, "duration", "whole number"},
		{map[string]any{"model": "sora-2", "prompt": "p", "duration": 61}, "duration", "between 1 and 60"},
		{map[string]any{"model": "sora-2", "prompt": "p", "image": "!!!"}, "image", "base64"},
		{map[string]any{"model": "sora-2", "prompt": "p", "image": base64.StdEncoding.EncodeToString([]byte("plain text"))}, "image", "not a PNG"},
		{map[string]any{"model": "sora-2", "prompt": "p", "image": strings.Repeat("A", 2<<20)}, "image", "larger than the 1 MB limit"},
		{map[string]any{"model": "sora-2", "prompt": "p", "image": "data:image/png;base64," + strings.Repeat("A", 2<<20)}, "image", "larger than the 1 MB limit"},
		{map[string]any{"model": "sora-2", "prompt": "p", "image": "https://example.com/x.png"}, "messages", "cannot be fetched"},
	}
	for _, tt := range tests {
		var res map[string]any
		err := e.client.Post(context.Background(), "videos/generations", tt.body, &res)
		ae := apiError(t, err, 400)
		if ae.Param != tt.param || !strings.Contains(ae.Message, tt.text) {
			t.Errorf("%.80v: param %q message %q", tt.body, ae.Param, ae.Message)
		}
	}
	if n := len(e.asks()); n != 0 {
		t.Errorf("%d asks sent for invalid requests", n)
	}
}

func TestVideoStreamKeepalive(t *testing.T) {
	e := newEnv(t, envOptions{media: func(o *media.Options) { o.KeepAlive = 20 * time.Millisecond }})
	body := `{"model":"sora-2","prompt":"slow waves sim:slow 150","aspect_ratio":"16:9","duration":5,"auto_prompt":false,"stream":true}`
	resp, err := http.Post(e.url+"/v1/videos/generations", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var keepalives int
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == ": keepalive":
			keepalives++
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
	if keepalives < 3 {
		t.Errorf("%d keepalives while waiting ~300 ms at 20 ms", keepalives)
	}
	if len(data) != 2 || data[1] != "[DONE]" {
		t.Fatalf("data events = %q", data)
	}
	var res videoResponse
	if err := json.Unmarshal([]byte(data[0]), &res); err != nil || len(res.Data) != 1 {
		t.Fatalf("result event %q: %v", data[0], err)
	}
	if r, b := e.get(res.Data[0].URL); r.StatusCode != 200 || string(b[4:8]) != "ftyp" {
		t.Errorf("video via proxy: %d", r.StatusCode)
	}

	// Accept: text/event-stream selects the stream too; errors come in band.
	e2 := newEnv(t, envOptions{media: func(o *media.Options) { o.VideoTimeout = 50 * time.Millisecond }})
	req := httptest.NewRequest(http.MethodPost, e2.url+"/v1/videos/generations",
		strings.NewReader(`{"model":"sora-2","prompt":"too slow sim:slow 1000"}`))
	req.RequestURI = ""
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	all := new(strings.Builder)
	sc = bufio.NewScanner(resp2.Body)
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
	}
	if resp2.StatusCode != 200 || !strings.Contains(all.String(), `data: {"error":{"message":"The video was not ready within 50ms."`) || !strings.Contains(all.String(), "data: [DONE]") {
		t.Errorf("timeout stream: %d\n%s", resp2.StatusCode, all)
	}
}

func TestVideoTimeout(t *testing.T) {
	e := newEnv(t, envOptions{media: func(o *media.Options) { o.VideoTimeout = 50 * time.Millisecond }})
	var res map[string]any
	err := e.client.Post(context.Background(), "videos/generations", map[string]any{"model": "sora-2", "prompt": "slow sim:slow 1000"}, &res)
	if ae := apiError(t, err, http.StatusGatewayTimeout); !strings.Contains(ae.Message, "not ready within") {
		t.Errorf("message %q", ae.Message)
	}
}
