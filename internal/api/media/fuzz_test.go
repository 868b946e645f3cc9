package media_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/media"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/llm/llmtest"
)

// fakeBackend serves models, resolves only those names and answers every
// exchange with one inline image, keeping the requests: no network.
type fakeBackend struct {
	models []llm.ModelInfo
	mu     sync.Mutex
	reqs   []*llm.Request
}

func (b *fakeBackend) Models(context.Context) []llm.ModelInfo { return b.models }

func (b *fakeBackend) Resolve(_ context.Context, model string) (llm.ModelInfo, bool, error) {
	for _, m := range b.models {
		if m.ID == model {
			return m, false, nil
		}
	}
	return llm.ModelInfo{}, false, &gw.Error{Code: gw.CodeUnknownModel, Param: "model", Message: "unknown"}
}

func (b *fakeBackend) Chat(_ context.Context, req *llm.Request) (llm.Stream, error) {
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	b.mu.Unlock()
	return oneImage(), nil
}

// oneImage is what the fake backends answer: one inline PNG, finish and
// usage.
func oneImage() llm.Stream {
	return &llmtest.Stream{Events: []llm.Event{
		{Type: llm.EventImage, Media: &llm.Media{MIMEType: "image/png", Data: []byte("\x89PNG\r\n\x1a\n")}},
		{Type: llm.EventFinish, FinishReason: llm.FinishStop},
		{Type: llm.EventUsage, Usage: &llm.Usage{}},
	}}
}

func (b *fakeBackend) take() []*llm.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.reqs
	b.reqs = nil
	return r
}

// FuzzImageEditForm sends arbitrary multipart bodies to /v1/images/edits
// under small limits and checks the work bound of the form parser: no
// panic; the body is read no further than its bound; what reaches the
// backend holds at most MaxFiles images, each at most MaxFileBytes and
// MaxTotalFileBytes together, and a bounded prompt; every refusal is an
// OpenAI error envelope with a 4xx status.
func FuzzImageEditForm(f *testing.F) {
	const (
		boundary      = "XyZ"
		maxFiles      = 3
		maxFileBytes  = 64
		maxTotalBytes = 100
	)
	signer, err := imageproxy.NewSigner(bytes.Repeat([]byte{1}, 32), imageproxy.SignerOptions{})
	if err != nil {
		f.Fatal(err)
	}
	fetcher, err := imageproxy.NewFetcher(imageproxy.FetcherOptions{})
	if err != nil {
		f.Fatal(err)
	}
	backend := &fakeBackend{models: jsonModels[:1]} // gpt-image-1
	h, err := media.New(backend, media.Options{Signer: signer, Fetcher: fetcher,
		MaxFiles: maxFiles, MaxFileBytes: maxFileBytes, MaxTotalFileBytes: maxTotalBytes})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	part := func(disposition, body string) string {
		return "--" + boundary + "\r\nContent-Disposition: form-data; " + disposition + "\r\n\r\n" + body + "\r\n"
	}
	for _, seed := range []string{
		part(`name="prompt"`, "draw") + part(`name="image"; filename="a.png"`, png) + "--" + boundary + "--\r\n",
		part(`name="prompt"`, "x") + part(`name="image[]"; filename="a.png"`, png) + part(`name="image[]"; filename="b.png"`, png) +
			part(`name="image[]"; filename="c.png"`, png) + part(`name="image[]"; filename="d.png"`, png) + "--" + boundary + "--\r\n",
		part(`name="prompt"`, "x") + part(`name="image"; filename="big.png"`, png+strings.Repeat("\x00", 80)) + "--" + boundary + "--\r\n",
		part(`name="prompt"`, "x") + part(`name="n"`, "2") + part(`name="model"`, "gpt-image-1") + part(`name="image"`, png) + "--" + boundary + "--\r\n",
		part(`name="mask"; filename="m.png"`, png) + "--" + boundary,
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"\r\nX: " + strings.Repeat("h", 100) + "\r\n\r\n",
		"garbage",
	} {
		f.Add([]byte(seed))
	}
	bodyBound := int64(maxTotalBytes + 8<<20 + 1) // MaxTotalFileBytes + the fields' room
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, read := apitest.PostCounted(mux, "/v1/images/edits", "multipart/form-data; boundary="+boundary, body)
		if read > bodyBound {
			t.Fatalf("read %d bytes of the body, bound %d", read, bodyBound)
		}
		for _, r := range backend.take() {
			images, text := 0, 0
			var data int
			for _, p := range r.Messages[0].Parts {
				switch p.Type {
				case llm.PartImage:
					images++
					if len(p.Media.Data) > maxFileBytes {
						t.Fatalf("an image of %d bytes reached the backend", len(p.Media.Data))
					}
					data += len(p.Media.Data)
				case llm.PartText:
					text += len(p.Text)
				}
			}
			if images == 0 || images > maxFiles || data > maxTotalBytes || text > 4*media.DefaultMaxPromptSize+100 {
				t.Fatalf("backend got %d images, %d bytes, %d prompt bytes", images, data, text)
			}
		}
		apitest.CheckOpenAIAnswer(t, rec.Code, rec.Body.Bytes())
	})
}
