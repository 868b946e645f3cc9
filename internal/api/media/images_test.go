package media_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/api/media"
)

func TestGenerationsURL(t *testing.T) {
	e := newEnv(t, envOptions{})
	res, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{
		Prompt: "a red fox",
		Model:  "gpt-image-1",
		Size:   openai.ImageGenerateParamsSize1792x1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 1 || res.Created == 0 || res.Data[0].RevisedPrompt != "a red fox" {
		t.Fatalf("response = %+v", res)
	}
	q := e.proxyQuery(res.Data[0].URL)
	if q.Get("a") != e.gsAcct.ID {
		t.Errorf("owning account = %q, want %q", q.Get("a"), e.gsAcct.ID)
	}
	resp, body := e.get(res.Data[0].URL)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("proxy answered %d %q: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	decodePNG(t, body)
	asks := e.asks()
	if len(asks) != 1 {
		t.Fatalf("%d asks", len(asks))
	}
	if got := fact(asks[0], "aspect_ratio"); got != "16:9" {
		t.Errorf("aspect_ratio = %v, want 16:9", got)
	}
	if got := fact(asks[0], "type"); got != "COPILOT_MOA_IMAGE" {
		t.Errorf("type = %v", got)
	}
}

func TestGenerationsB64AndN(t *testing.T) {
	e := newEnv(t, envOptions{})
	res, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{
		Prompt:         "two owls",
		Model:          "dall-e-3",
		N:              openai.Int(2),
		ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 {
		t.Fatalf("%d images, want 2", len(res.Data))
	}
	for i, d := range res.Data {
		if d.URL != "" {
			t.Errorf("image %d has a url with b64_json", i)
		}
		raw, err := base64.StdEncoding.DecodeString(d.B64JSON)
		if err != nil {
			t.Fatalf("image %d: b64_json: %v", i, err)
		}
		decodePNG(t, raw)
	}
	if n := len(e.asks()); n != 2 {
		t.Errorf("%d asks, want 2 (one per image)", n)
	}
	for _, a := range e.asks() {
		if fact(a, "model") != "dalle-3" {
			t.Errorf("model = %v", fact(a, "model"))
		}
	}
}

func TestSizeMapping(t *testing.T) {
	e := newEnv(t, envOptions{})
	for size, want := range map[string]string{
		"":          "auto",
		"auto":      "auto",
		"1024x1024": "1:1",
		"256x256":   "1:1",
		"1792x1024": "16:9",
		"1024x1792": "9:16",
		"1536x1024": "3:2",
		"1024x1536": "2:3",
	} {
		params := openai.ImageGenerateParams{Prompt: "size " + size, Model: "gpt-image-1"}
		if size != "" {
			params.Size = openai.ImageGenerateParamsSize(size)
		}
		if _, err := e.client.Images.Generate(context.Background(), params); err != nil {
			t.Fatalf("size %q: %v", size, err)
		}
		asks := e.asks()
		if got := fact(asks[len(asks)-1], "aspect_ratio"); got != want {
			t.Errorf("size %q: aspect_ratio = %v, want %s", size, got, want)
		}
	}
}

func TestDefaultModel(t *testing.T) {
	e := newEnv(t, envOptions{})
	if _, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "no model"}); err != nil {
		t.Fatal(err)
	}
	if got := fact(e.asks()[0], "model"); got != "gpt-image-1" {
		t.Errorf("default model = %v, want the first catalog image model", got)
	}

	e = newEnv(t, envOptions{media: func(o *media.Options) { o.DefaultImageModel = "fal-ai/flux-2" }})
	if _, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "no model", Model: "dall-e-2"}); err != nil {
		t.Fatal(err)
	}
	if got := fact(e.asks()[0], "model"); got != "fal-ai/flux-2" {
		t.Errorf("model = %v, want the configured default", got)
	}
	// An OpenAI image name no catalog lists is served by the default too.
	if _, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "x", Model: "gpt-image-2"}); err != nil {
		t.Fatal(err)
	}
	if got := fact(e.asks()[1], "model"); got != "fal-ai/flux-2" {
		t.Errorf("gpt-image-2 served by %v, want the configured default", got)
	}
}

func TestGenerationsValidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		body  string
		param string
		text  string
	}{
		{`{"model":"gpt-image-1"}`, "prompt", "prompt is required"},
		{`{"prompt":"x","n":5}`, "n", "between 1 and 4"},
		{`{"prompt":"x","n":0}`, "n", "Expected a value >= 1"},
		{`{"prompt":"x","size":"big"}`, "size", "not supported"},
		{`{"prompt":"x","response_format":"png"}`, "response_format", "url or b64_json"},
		{`{"prompt":"x","model":"sora-2"}`, "model", "is a video model"},
		{`{"prompt":"x","model":"gpt-5.2"}`, "model", "cannot generate images"},
		{`{"prompt":"x","stream":true}`, "stream", "not supported"},
		{`{"prompt":5}`, "prompt", "Invalid type"},
		{`not json`, "", "could not parse"},
	}
	for _, tt := range tests {
		var res map[string]any
		err := e.client.Post(context.Background(), "images/generations", []byte(tt.body), &res)
		ae := apiError(t, err, 400)
		if ae.Param != tt.param || !strings.Contains(ae.Message, tt.text) || ae.Type != "invalid_request_error" {
			t.Errorf("%s: error param %q type %q message %q", tt.body, ae.Param, ae.Type, ae.Message)
		}
	}
	var res map[string]any
	err := e.client.Post(context.Background(), "images/generations", map[string]any{"prompt": strings.Repeat("x", 2<<20)}, &res)
	if ae := apiError(t, err, http.StatusRequestEntityTooLarge); !strings.Contains(ae.Message, "too large") {
		t.Errorf("2 MB body: %q", ae.Message)
	}
	err = e.client.Post(context.Background(), "images/generations", map[string]any{"prompt": strings.Repeat("é", media.DefaultMaxPromptSize+1)}, &res)
	if ae := apiError(t, err, 400); ae.Param != "prompt" || !strings.Contains(ae.Message, "the limit is 32000") {
		t.Errorf("long prompt: %q", ae.Message)
	}
	if n := len(e.asks()); n != 0 {
		t.Errorf("%d asks sent for invalid requests", n)
	}
}

func TestGeminiImage(t *testing.T) {
	e := newEnv(t, envOptions{})
	res, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{
		Prompt: "a cat in a hat sim:image",
		Model:  "gemini-3-flash",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 1 {
		t.Fatalf("response = %+v", res)
	}
	gen := e.entries(streamGenerate)
	if len(gen) != 1 || !strings.Contains(fmt.Sprint(fact(gen[0], "prompt")), "Generate an image: a cat in a hat sim:image") {
		t.Fatalf("StreamGenerate calls = %d, prompt %v", len(gen), gen)
	}
	q := e.proxyQuery(res.Data[0].URL)
	if q.Get("a") != e.gemini.ID {
		t.Errorf("owning account = %q, want the Gemini account %q", q.Get("a"), e.gemini.ID)
	}
	resp, body := e.get(res.Data[0].URL)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("proxy answered %d %q: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if b := decodePNG(t, body).Bounds(); b.Dx() != 256 {
		t.Errorf("full-size image is %dpx wide, want the original 256", b.Dx())
	}
	// Both hops (lh3 /gg-dl/ → work.fife /rd-gg-dl/) got the account's
	// Google cookies, and never the host-only one.
	hops := map[string]bool{}
	for _, en := range e.entries("/") {
		hop, _ := fact(en, "hop").(string)
		if hop == "" {
			continue
		}
		hops[hop] = true
		c := en.Header["Cookie"]
		if !strings.Contains(c, "__Secure-1PSID=ivan") || strings.Contains(c, "__Host-1PLSID") {
			t.Errorf("hop %s cookie = %q", hop, c)
		}
		if en.Outcome != "completed" || fact(en, "image_opts") != "s0" {
			t.Errorf("hop %s: outcome %s, opts %v", hop, en.Outcome, fact(en, "image_opts"))
		}
	}
	if !hops["gg-dl"] || !hops["rd-gg-dl"] {
		t.Errorf("hops = %v, want gg-dl and rd-gg-dl", hops)
	}

	// sz asks for a smaller render.
	resp, body = e.get(res.Data[0].URL + "&sz=64")
	if resp.StatusCode != 200 {
		t.Fatalf("sz=64: %d %s", resp.StatusCode, body)
	}
	if b := decodePNG(t, body).Bounds(); b.Dx() != 64 {
		t.Errorf("sz=64 image is %dpx wide", b.Dx())
	}
}

func TestGeminiImageB64(t *testing.T) {
	e := newEnv(t, envOptions{})
	res, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{
		Prompt:         "a boat sim:image",
		Model:          "gemini-3-flash",
		ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(res.Data[0].B64JSON)
	if err != nil {
		t.Fatal(err)
	}
	decodePNG(t, raw)
}

func TestGeminiImageNeedsCookies(t *testing.T) {
	// The production rule sends cookies over HTTPS to Google hosts only:
	// the simulator on loopback gets none and refuses, which is what the
	// proxy reports.
	e := newEnv(t, envOptions{productionHosts: true})
	res, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "sim:image", Model: "gemini-3-flash"})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.get(res.Data[0].URL)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "refused") {
		t.Errorf("proxy without cookies: %d %s", resp.StatusCode, body)
	}
	for _, en := range e.entries("/gg-dl/") {
		if en.Header["Cookie"] != "" {
			t.Errorf("cookie sent to a host the rule refuses: %q", en.Header["Cookie"])
		}
	}
}

func TestGeminiTextOnlyRetries(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "just talk", Model: "gemini-3-flash"})
	ae := apiError(t, err, http.StatusBadGateway)
	if !strings.Contains(ae.Message, "did not return an image") {
		t.Errorf("message = %q", ae.Message)
	}
	if n := len(e.entries(streamGenerate)); n != 3 {
		t.Errorf("%d Gemini asks, want 3 (2 retries)", n)
	}

	e = newEnv(t, envOptions{media: func(o *media.Options) { o.ImageRetries = -1 }})
	_, err = e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "just talk", Model: "gemini-3-flash"})
	apiError(t, err, http.StatusBadGateway)
	if n := len(e.entries(streamGenerate)); n != 1 {
		t.Errorf("%d Gemini asks with retries off, want 1", n)
	}
}

func TestGeminiImageN(t *testing.T) {
	e := newEnv(t, envOptions{})
	res, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "sim:image", Model: "gemini-3-flash", N: openai.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || res.Data[0].URL == res.Data[1].URL {
		t.Errorf("data = %+v", res.Data)
	}
	if n := len(e.entries(streamGenerate)); n != 2 {
		t.Errorf("%d asks, want 2", n)
	}
}

func TestEdits(t *testing.T) {
	e := newEnv(t, envOptions{})
	var httpResp *http.Response
	res, err := e.client.Images.Edit(context.Background(), openai.ImageEditParams{
		Image:          openai.ImageEditParamsImageUnion{OfFile: openai.File(bytes.NewReader(pngBytes(t)), "photo.png", "image/png")},
		Prompt:         "add a thick blue border",
		Model:          "gpt-image-1",
		Mask:           openai.File(bytes.NewReader(pngBytes(t)), "mask.png", "image/png"),
		ResponseFormat: openai.ImageEditParamsResponseFormatB64JSON,
	}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(res.Data[0].B64JSON)
	decodePNG(t, raw)
	if w := httpResp.Header.Get("X-Spark-Warning"); !strings.Contains(w, "mask ignored") {
		t.Errorf("X-Spark-Warning = %q", w)
	}
	ask := e.asks()[0]
	if fact(ask, "attachments") != float64(1) && fact(ask, "attachments") != 1 {
		t.Errorf("attachments = %v, want the image", fact(ask, "attachments"))
	}
	if !strings.Contains(ask.Body, "data:image/png;base64,") || fact(ask, "last_user") != "add a thick blue border" {
		t.Errorf("ask body %.300s / last_user %v", ask.Body, fact(ask, "last_user"))
	}
}

func TestEditsGeminiArray(t *testing.T) {
	e := newEnv(t, envOptions{})
	res, err := e.client.Images.Edit(context.Background(), openai.ImageEditParams{
		Image: openai.ImageEditParamsImageUnion{OfFileArray: []io.Reader{
			openai.File(bytes.NewReader(pngBytes(t)), "a.png", "image/png"),
			openai.File(bytes.NewReader(pngBytes(t)), "b.png", "image/png"),
		}},
		Prompt: "merge them sim:image",
		Model:  "gemini-3-flash",
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.get(res.Data[0].URL)
	if resp.StatusCode != 200 {
		t.Fatalf("proxy: %d %s", resp.StatusCode, body)
	}
	decodePNG(t, body)
	gen := e.entries(streamGenerate)
	if len(gen) != 1 || fmt.Sprint(fact(gen[0], "files")) != "2" {
		t.Errorf("files = %v", fact(gen[0], "files"))
	}
	if n := len(e.entries("/upload")); n < 2 {
		t.Errorf("%d uploads, want the 2 images", n)
	}
}

func TestEditsLimits(t *testing.T) {
	e := newEnv(t, envOptions{})
	var files []io.Reader
	for i := range 11 {
		files = append(files, openai.File(bytes.NewReader(pngBytes(t)), fmt.Sprintf("%d.png", i), "image/png"))
	}
	_, err := e.client.Images.Edit(context.Background(), openai.ImageEditParams{
		Image: openai.ImageEditParamsImageUnion{OfFileArray: files}, Prompt: "x", Model: "gpt-image-1",
	})
	if ae := apiError(t, err, 400); !strings.Contains(ae.Message, "at most 10") || ae.Param != "image" {
		t.Errorf("11 files: %q (param %q)", ae.Message, ae.Param)
	}

	big := append(pngBytes(t), make([]byte, 26<<20)...)
	_, err = e.client.Images.Edit(context.Background(), openai.ImageEditParams{
		Image: openai.ImageEditParamsImageUnion{OfFile: openai.File(bytes.NewReader(big), "big.png", "image/png")}, Prompt: "x", Model: "gpt-image-1",
	})
	if ae := apiError(t, err, 400); !strings.Contains(ae.Message, "larger than the 25 MB limit") || !strings.Contains(ae.Message, "big.png") {
		t.Errorf("26 MB file: %q", ae.Message)
	}

	_, err = e.client.Images.Edit(context.Background(), openai.ImageEditParams{
		Image: openai.ImageEditParamsImageUnion{OfFile: openai.File(strings.NewReader("not an image"), "a.txt", "text/plain")}, Prompt: "x", Model: "gpt-image-1",
	})
	if ae := apiError(t, err, 400); !strings.Contains(ae.Message, "not a PNG") {
		t.Errorf("text file: %q", ae.Message)
	}

	var res map[string]any
	err = e.client.Post(context.Background(), "images/edits", map[string]any{"prompt": "x"}, &res)
	if ae := apiError(t, err, 400); !strings.Contains(ae.Message, "multipart/form-data") {
		t.Errorf("JSON edit: %q", ae.Message)
	}
	if n := len(e.asks()); n != 0 {
		t.Errorf("%d asks for refused edits", n)
	}
}

func TestImageTimeout(t *testing.T) {
	e := newEnv(t, envOptions{media: func(o *media.Options) { o.ImageTimeout = 100 * time.Millisecond }})
	_, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "slow sim:slow 2000", Model: "gpt-image-1"})
	apiError(t, err, http.StatusGatewayTimeout)
}
