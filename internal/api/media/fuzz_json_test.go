package media_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/media"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/llm"
)

// jsonModels are an image model (task flow), a video model, a chat model
// that can draw (its provider is an ImageChatProvider) and one that cannot.
var jsonModels = []llm.ModelInfo{
	{ID: "gpt-image-1", Kind: llm.KindImage, OwnedBy: "genspark"},
	{ID: "veo-3", Kind: llm.KindVideo, OwnedBy: "genspark"},
	{ID: "gemini-3-flash", Kind: llm.KindChat, OwnedBy: "geminiweb"},
	{ID: "gpt-5", Kind: llm.KindChat, OwnedBy: "genspark"},
}

// FuzzJSONRequest feeds arbitrary bodies to POST /v1/images/generations
// and POST /v1/videos/generations (video): the handler must not panic; it
// answers 200 or a 4xx OpenAI error envelope; and its work is bounded by
// the body: a video asks the backend at most once, an image request at
// most MaxImages times (exactly once for an image model, which makes all
// n images in one task), each time with a request of at most
// apitest.WorkBound bytes (prompt, template, first frame).
func FuzzJSONRequest(f *testing.F) {
	const (
		png       = "iVBORw0KGgoAAAANSUhEUg=="
		maxImages = 4
	)
	for _, seed := range []struct {
		body  string
		video bool
	}{
		{`{"prompt":"a cat"}`, false},
		{`{"model":"gpt-image-1","prompt":"a cat","n":2,"size":"1792x1024","quality":"hd","style":"vivid","response_format":"b64_json"}`, false},
		{`{"model":"gemini-3-flash","prompt":"a cat","n":3,"size":"16:9","quality":"high"}`, false},
		{`{"model":"dall-e-3","prompt":"a cat","size":"auto","response_format":"url"}`, false},
		{`{"model":"gpt-5","prompt":"a cat"}`, false},
		{`{"model":"veo-3","prompt":"a cat","n":11,"stream":true,"size":"0x0"}`, false},
		{`{"model":"veo-3","prompt":"a cat walking","aspect_ratio":"9:16","duration":"8","auto_prompt":true}`, true},
		{`{"model":"veo-3","prompt":"a cat","duration":5,"image":"data:image/png;base64,` + png + `"}`, true},
		{`{"model":"veo-3","prompt":"a cat","image":"` + png + `","stream":true}`, true},
		{`{"model":"veo-3","prompt":"a cat","image":"https://x.example/a.png","duration":61}`, true},
		{`{"model":"gpt-image-1","prompt":"a cat","image":"data:text/html;base64,PGI+"}`, true},
		{`{"prompt":"x"} garbage`, true},
		{`null`, false},
	} {
		f.Add([]byte(seed.body), seed.video)
	}
	signer, err := imageproxy.NewSigner(bytes.Repeat([]byte{1}, 32), imageproxy.SignerOptions{})
	if err != nil {
		f.Fatal(err)
	}
	fetcher, err := imageproxy.NewFetcher(imageproxy.FetcherOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, video bool) {
		b := &fakeBackend{models: jsonModels}
		h, err := media.New(b, media.Options{Signer: signer, Fetcher: fetcher, MaxJSONBytes: 1 << 20,
			MaxImages: maxImages, ImageChatProviders: []string{"geminiweb"}})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		h.Register(mux)
		path := "/v1/images/generations"
		if video {
			path = "/v1/videos/generations"
		}
		w := apitest.PostJSON(mux, path, body)
		apitest.CheckOpenAIAnswer(t, w.Code, w.Body.Bytes())
		calls := len(b.reqs)
		switch {
		case video && calls > 1:
			t.Fatalf("one video request made %d backend calls", calls)
		case calls > maxImages:
			t.Fatalf("one image request made %d backend calls (n ≤ %d)", calls, maxImages)
		}
		for _, r := range b.reqs {
			if r.Model == "gpt-image-1" && calls != 1 {
				t.Fatalf("an image model was asked %d times for one request", calls)
			}
			apitest.CheckWork(t, r, len(body))
		}
	})
}
