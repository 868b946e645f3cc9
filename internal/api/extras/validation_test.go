package extras_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/api/wire"
)

// countingEmbedder answers one zero vector per input and counts calls.
type countingEmbedder struct{ calls atomic.Int64 }

func (c *countingEmbedder) Embed(_ context.Context, _ string, inputs []string, _ int) ([][]float32, error) {
	c.calls.Add(1)
	out := make([][]float32, len(inputs))
	for i := range out {
		out[i] = []float32{1, 0}
	}
	return out, nil
}

// TestExtrasRequestValidation is the bad-input table of embeddings,
// moderations and audio: each request gets its status and an OpenAI error
// envelope with the official type, code and param, and no model call.
func TestExtrasRequestValidation(t *testing.T) {
	chat := &fakeChat{reply: scriptedModerator}
	emb := &countingEmbedder{}
	url, _ := serve(t, extras.Options{Chat: chat, Embedder: emb, DefaultChatModel: "m", MaxUploadBytes: 1 << 20})
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 64)...)
	file := func(name string) apitest.FormPart { return apitest.FormPart{Name: "file", Filename: name, Data: wav} }
	field := func(name, v string) apitest.FormPart { return apitest.FormPart{Name: name, Data: []byte(v)} }
	many := []apitest.FormPart{file("a.wav")}
	for i := range 100 {
		many = append(many, field(fmt.Sprintf("f%d", i), "v"))
	}
	long := strings.Repeat("m", wire.MaxModelBytes+1)
	const parseErr = "We could not parse the JSON body"
	type row struct {
		name   string
		path   string
		ct     string
		body   []byte
		status int
		code   string // "" for null
		param  string // "" for null
		text   string
	}
	js := func(name, path, body string, status int, code, param, text string) row {
		return row{name, path, "application/json", []byte(body), status, code, param, text}
	}
	audio := func(name string, status int, code, param, text string, parts ...apitest.FormPart) row {
		ct, body := apitest.MultipartForm(t, parts...)
		return row{name, "/v1/audio/transcriptions", ct, body, status, code, param, text}
	}
	imageInput := func(url string) string {
		return `{"input":[{"type":"image_url","image_url":{"url":"` + url + `"}}]}`
	}
	manyParts := `{"input":[` + strings.TrimSuffix(strings.Repeat(`{"type":"text","text":"x"},`, extras.MaxModerationInputs+1), ",") + `]}`
	const e, m = "/v1/embeddings", "/v1/moderations"
	tests := []row{
		js("EmbeddingsTrailingData", e, `{"input":"x","model":"m"} garbage`, 400, "", "", parseErr),
		js("EmbeddingsNull", e, `null`, 400, "", "", "must be a JSON object"),
		js("EmbeddingsString", e, `"x"`, 400, "", "", "must be a JSON object"),
		js("EmbeddingsInvalidUTF8", e, "{\"input\":\"\xc3\x28\"}", 400, "", "", parseErr),
		js("EmbeddingsTooDeep", e, `{"input":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}`, 400, "", "", "too deeply"),
		js("EmbeddingsModelTooLong", e, `{"input":"x","model":"`+long+`"}`, 400, "", "model", "string too long"),
		js("EmbeddingsModelWrongType", e, `{"input":"x","model":7}`, 400, "", "model", "Invalid type"),
		js("EmbeddingsFormatTooLong", e, `{"input":"x","encoding_format":"`+strings.Repeat("f", 65)+`"}`, 400, "", "encoding_format", "string too long"),
		js("EmbeddingsFormat", e, `{"input":"x","encoding_format":"hex"}`, 400, "", "encoding_format", "Supported values"),
		js("EmbeddingsDimensionsZero", e, `{"input":"x","dimensions":0}`, 400, "", "dimensions", "at least 1"),
		js("EmbeddingsDimensionsHuge", e, `{"input":"x","dimensions":100000}`, 400, "", "dimensions", "at most 3072"),
		js("EmbeddingsNoInput", e, `{"model":"m"}`, 400, "", "input", "Missing required parameter"),
		js("EmbeddingsEmptyArray", e, `{"input":[]}`, 400, "", "input", "empty array"),
		js("EmbeddingsTooManyInputs", e, `{"input":[`+strings.TrimSuffix(strings.Repeat(`"x",`, extras.MaxEmbeddingInputs+1), ",")+`]}`, 400, "", "input", "at most 2048"),
		js("EmbeddingsWrongInputType", e, `{"input":{"a":1}}`, 400, "", "input", "Invalid type"),
		js("EmbeddingsNegativeToken", e, `{"input":[1,-2]}`, 400, "", "input", "invalid token id"),
		js("ModerationsTrailingData", m, `{"input":"x"}x`, 400, "", "", parseErr),
		js("ModerationsNull", m, `null`, 400, "", "", "must be a JSON object"),
		js("ModerationsModelTooLong", m, `{"input":"x","model":"`+long+`"}`, 400, "", "model", "string too long"),
		js("ModerationsNoInput", m, `{}`, 400, "", "input", "Missing required parameter"),
		js("ModerationsTooManyStrings", m, `{"input":[`+strings.TrimSuffix(strings.Repeat(`"x",`, extras.MaxModerationInputs+1), ",")+`]}`, 400, "", "input", "at most 32"),
		js("ModerationsTooManyParts", m, manyParts, 400, "", "input", "at most 32"),
		js("ModerationsHTMLDataURL", m, imageInput("data:text/html;base64,PGgxPmhpPC9oMT4="), 400, "", "input[0].image_url.url", "Invalid MIME type \"text/html\""),
		js("ModerationsUntypedText", m, imageInput("data:;base64,aGVsbG8="), 400, "", "input[0].image_url.url", "Invalid MIME type \"text/plain\""),
		js("ModerationsBadBase64", m, imageInput("data:image/png;base64,iV!!"), 400, "", "input[0].image_url.url", "Invalid base64"),
		js("ModerationsJavascriptURL", m, imageInput("javascript:alert(1)"), 400, "", "input[0].image_url.url", "Invalid image URL"),
		js("ModerationsPartType", m, `{"input":[{"type":"video","text":"x"}]}`, 400, "", "input[0].type", "Supported values"),
		{"AudioNotMultipart", "/v1/audio/transcriptions", "application/json", []byte(`{"file":"x"}`), 400, "", "", "multipart/form-data"},
		{"AudioBrokenMultipart", "/v1/audio/transcriptions", "multipart/form-data; boundary=B", []byte("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF"), 400, "", "", "multipart/form-data"},
		audio("AudioNoFile", 400, "", "file", "Missing required parameter: 'file'", field("model", "whisper-1")),
		audio("AudioTooManyParts", 400, "", "", "at most 100", many...),
		audio("AudioPartHeaderTooLarge", 400, "", "", "part header",
			apitest.FormPart{Name: "model", Header: textproto.MIMEHeader{"X-Pad": {strings.Repeat("p", 20<<10)}}, Data: []byte("whisper-1")}, file("a.wav")),
		audio("AudioFileNameTooLong", 400, "", "file", "file name", file(strings.Repeat("n", 300)+".wav")),
		audio("AudioModelTooLong", 400, "", "model", "string too long", file("a.wav"), field("model", long)),
		audio("AudioLanguageTooLong", 400, "", "language", "string too long", file("a.wav"), field("language", strings.Repeat("l", 65))),
		audio("AudioFormatTooLong", 400, "", "response_format", "string too long", file("a.wav"), field("response_format", strings.Repeat("j", 65))),
		audio("AudioFormat", 400, "", "response_format", "Supported values", file("a.wav"), field("response_format", "mp3")),
		audio("AudioTemperature", 400, "", "temperature", "between 0 and 1", file("a.wav"), field("temperature", "3")),
		audio("AudioFieldTooLong", 400, "", "prompt", "too long", file("a.wav"), field("prompt", strings.Repeat("p", 70<<10))),
		audio("AudioFieldNotUTF8", 400, "", "prompt", "not valid UTF-8", file("a.wav"), field("prompt", "caf\xe9")),
		audio("AudioNotAudio", 400, "", "file", "Invalid file format", apitest.FormPart{Name: "file", Filename: "a.txt", Data: []byte("hello")}),
		audio("AudioFileTooLarge", 413, "request_too_large", "file", "too large", apitest.FormPart{Name: "file", Filename: "a.wav", Data: make([]byte, 3<<20)}),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := apitest.PostOpenAIError(t, url+tt.path, tt.ct, tt.body)
			code, param := got.CodeParam()
			if status != tt.status || got.Type != "invalid_request_error" || code != tt.code || param != tt.param || !strings.Contains(got.Message, tt.text) {
				t.Errorf("got %d type %q code %q param %q message %.200q\nwant %d code %q param %q message with %q",
					status, got.Type, code, param, got.Message, tt.status, tt.code, tt.param, tt.text)
			}
		})
	}
	if n, c := emb.calls.Load(), len(chat.requests()); n != 0 || c != 0 {
		t.Errorf("%d embedder and %d chat calls for refused requests", n, c)
	}
	// The handler still serves.
	status := postStatus(t, url+e, `{"input":"x","model":"text-embedding-3-small"}`)
	if status != 200 {
		t.Errorf("embeddings after the bad requests: %d", status)
	}
	if n := len(chat.requests()); n != 0 {
		t.Fatalf("chat calls: %d", n)
	}
}

func postStatus(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
