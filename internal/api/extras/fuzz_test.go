package extras_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/llm"
)

// FuzzAudioForm sends arbitrary multipart bodies to
// /v1/audio/transcriptions under a small upload limit and checks the work
// bound of the form parser: no panic; the body is read no further than
// MaxUploadBytes + 1 MiB; the file that reaches the chat model is at most
// MaxUploadBytes; every refusal is an OpenAI error envelope with a 4xx
// status.
func FuzzAudioForm(f *testing.F) {
	const (
		boundary  = "AbC"
		maxUpload = 256
	)
	var oversized atomic.Int64 // size of a file out of bounds that reached the model
	chat := &fakeChat{reply: func(req *llm.Request, _ int) (string, error) {
		for _, p := range req.Messages[0].Parts {
			if p.Type == llm.PartFile && (len(p.Media.Data) == 0 || len(p.Media.Data) > maxUpload) {
				oversized.Store(int64(len(p.Media.Data)) + 1)
			}
		}
		return "hello", nil
	}}
	mux := http.NewServeMux()
	extras.New(extras.Options{Chat: chat, DefaultChatModel: "m", MaxUploadBytes: maxUpload}).Register(mux, "")
	part := func(disposition, body string) string {
		return "--" + boundary + "\r\nContent-Disposition: form-data; " + disposition + "\r\n\r\n" + body + "\r\n"
	}
	wav := "RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"
	for _, seed := range []string{
		part(`name="file"; filename="a.wav"`, wav) + part(`name="model"`, "whisper-1") + "--" + boundary + "--\r\n",
		part(`name="file"; filename="a.mp3"`, "ID3"+strings.Repeat("\x00", 300)) + "--" + boundary + "--\r\n",
		part(`name="model"`, "whisper-1") + part(`name="response_format"`, "srt") + part(`name="file"; filename="a.wav"`, wav) + "--" + boundary + "--\r\n",
		part(`name="language"`, "en") + part(`name="temperature"`, "0.2") + part(`name="file"; filename="x.bin"`, "x") + "--" + boundary,
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"\r\nX: " + strings.Repeat("h", 100) + "\r\n\r\n",
		"garbage",
	} {
		f.Add([]byte(seed))
	}
	bodyBound := int64(maxUpload + 1<<20 + 1)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, read := apitest.PostCounted(mux, "/v1/audio/transcriptions", "multipart/form-data; boundary="+boundary, body)
		if read > bodyBound {
			t.Fatalf("read %d bytes of the body, bound %d", read, bodyBound)
		}
		if n := oversized.Load(); n != 0 {
			t.Fatalf("a file of %d bytes reached the model", n-1)
		}
		chat.mu.Lock()
		chat.reqs = nil // bounded memory over a long run
		chat.mu.Unlock()
		apitest.CheckOpenAIAnswer(t, rec.Code, rec.Body.Bytes())
	})
}
