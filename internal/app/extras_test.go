package app_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

func TestEmbeddingsFloatAndBase64(t *testing.T) {
	h := start(t, nil)
	in := openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta"}}
	floats, err := h.client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: in, EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat, Dimensions: openai.Int(256),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(floats.Data) != 2 || len(floats.Data[0].Embedding) != 256 {
		t.Fatalf("got %d vectors of %d", len(floats.Data), len(floats.Data[0].Embedding))
	}
	// Raw HTTP for base64, since the Go SDK decodes floats itself.
	resp, body := h.post("/v1/embeddings", testKey, `{"model":"text-embedding-3-small","input":["alpha","beta"],"encoding_format":"base64","dimensions":256}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	i := strings.Index(body, `"embedding":"`) + len(`"embedding":"`)
	raw, err := base64.StdEncoding.DecodeString(body[i : i+strings.IndexByte(body[i:], '"')])
	if err != nil || len(raw) != 256*4 {
		t.Fatalf("base64 embedding: %v (%d bytes)", err, len(raw))
	}
	for k := range 256 {
		got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
		if got != float32(floats.Data[0].Embedding[k]) {
			t.Fatalf("dimension %d: base64 %v, float %v", k, got, floats.Data[0].Embedding[k])
		}
	}
	if n := len(h.requests("googleai")); n != 2 {
		t.Fatalf("%d Google AI calls", n)
	}
}

// Client-given image URLs that point inside the network are refused before
// any connection, whatever the front-end.
func TestMediaURLGuard(t *testing.T) {
	h := start(t, nil)
	for _, u := range []string{h.simURL + "/genspark-cdn/image/x.png", "http://10.0.0.1/a.png", "http://169.254.169.254/latest/meta-data", "http://[::1]/x.png", "http://localhost/x.png", "file:///etc/passwd"} {
		_, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-5.2", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("look"), openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: u}),
			})},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: want 400, got %v", u, err)
		}
	}
	if n := len(h.asks()); n != 0 {
		t.Fatalf("%d asks reached the upstream", n)
	}
}

func TestModerationAndSpeech(t *testing.T) {
	h := start(t, nil)
	resp, body := h.post("/v1/audio/speech", testKey, `{"model":"tts-1","input":"hi","voice":"alloy"}`)
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(body, `"error"`) {
		t.Fatalf("speech: %d %s", resp.StatusCode, body)
	}
	// Moderation asks for its scores as a structured answer: the simulated
	// model answers the schema's minimal instance (all scores 0)...
	resp, body = h.post("/v1/moderations", testKey, `{"input":"hello"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"flagged":false`) || !strings.Contains(body, `"violence":0`) {
		t.Fatalf("moderation over the simulator: %d %s", resp.StatusCode, body)
	}
	if ask := h.lastAsk(); !strings.Contains(ask.Body, "json-schema") || !strings.Contains(ask.Body, "violence/graphic") {
		t.Fatalf("the upstream was not given the scores' schema: %s", ask.Body)
	}
	// ... or the scores sim:json gives, all 13 (the schema requires them).
	scores := `{"harassment":0,"harassment/threatening":0,"hate":0,"hate/threatening":0,"illicit":0,"illicit/violent":0,"self-harm":0,"self-harm/instructions":0,"self-harm/intent":0,"sexual":0,"sexual/minors":0,"violence":0.97,"violence/graphic":0.2}`
	input, _ := json.Marshal("I will fight. sim:json " + scores)
	resp, body = h.post("/v1/moderations", testKey, `{"input":`+string(input)+`}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"flagged":true`) || !strings.Contains(body, `"violence":0.97`) {
		t.Fatalf("moderation with sim:json: %d %s", resp.StatusCode, body)
	}
}

func TestAttachmentLimits(t *testing.T) {
	h := start(t, nil)
	png := "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nxxxx"))
	var parts []string
	for range 11 {
		parts = append(parts, `{"type":"image_url","image_url":{"url":"`+png+`"}}`)
	}
	resp, body := h.post("/v1/chat/completions", testKey,
		`{"model":"gpt-5.2","messages":[{"role":"user","content":[{"type":"text","text":"x"},`+strings.Join(parts, ",")+`]}]}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "at most 10") {
		t.Fatalf("11 images: %d %s", resp.StatusCode, body)
	}
	if n := len(h.asks()); n != 0 {
		t.Fatalf("%d asks", n)
	}
}
