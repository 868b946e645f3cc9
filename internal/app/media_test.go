package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/sparkgw/spark/internal/config"
)

func TestImageGenerationThroughTheGateway(t *testing.T) {
	h := start(t, nil)
	b64, err := h.client.Images.Generate(context.Background(), openai.ImageGenerateParams{
		Prompt: "a red square", Model: "gpt-image-1", ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].B64JSON)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Fatalf("b64_json is not a PNG: %v", err)
	}

	byURL, err := h.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "a blue square", Model: "gpt-image-1"})
	if err != nil {
		t.Fatal(err)
	}
	u := byURL.Data[0].URL
	if !strings.Contains(u, "/v1/images/proxy?") {
		t.Fatalf("url %q is not a spark proxy link", u)
	}
	// The signed link needs no API key; a tampered one is refused.
	resp, err := http.Get(u)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("proxy link: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(strings.Replace(u, "&e=", "&e=9", 1))
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered link: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A Gemini image in a chat answer comes back as a proxy link that serves
// the bytes with the owning account's cookies.
func TestChatImageIsAProxyLink(t *testing.T) {
	h := start(t, geminiOnly)
	resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-3-flash", Messages: userMsg("draw a cat sim:image"),
	})
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\((http[^)\s]+/v1/images/proxy\?[^)\s]+)\)`).FindStringSubmatch(resp.Choices[0].Message.Content)
	if m == nil {
		t.Fatalf("no proxy link in %q", resp.Choices[0].Message.Content)
	}
	img, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer img.Body.Close()
	body, _ := io.ReadAll(img.Body)
	if img.StatusCode != 200 || !bytes.HasPrefix(body, []byte("\x89PNG")) && !bytes.HasPrefix(body, []byte("\xff\xd8")) {
		t.Fatalf("proxy answered %d %q", img.StatusCode, img.Header.Get("Content-Type"))
	}
}

// TestGeminiImageNameGoesToGemini: with Genspark and Gemini web accounts,
// an official-API image name of a Gemini model (gemini-3-flash-image) is
// drawn by the Gemini web app, not answered by Genspark's catch-all.
func TestGeminiImageNameGoesToGemini(t *testing.T) {
	h := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie })
	resp, body := h.post("/v1/images/generations", testKey, `{"model":"gemini-3-flash-image","prompt":"a fox sim:image"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "/v1/images/proxy?") {
		t.Fatalf("images: %d %s", resp.StatusCode, body)
	}
	if len(h.requests("gemini")) == 0 || len(h.asks()) != 0 {
		t.Fatalf("drawn by genspark (%d asks), gemini saw %d requests", len(h.asks()), len(h.requests("gemini")))
	}
}
