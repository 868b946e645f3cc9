package media_test

import (
	"context"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/api/media"
	"github.com/sparkgw/spark/internal/api/wire"
)

// nested returns a JSON body with depth levels of arrays under "prompt".
func nested(depth int) string {
	return `{"prompt":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
}

// TestMediaRequestValidation is the bad-input table of the media routes:
// each malformed or hostile request gets its status and an OpenAI error
// envelope with the official type, code and param, before any upstream
// call.
func TestMediaRequestValidation(t *testing.T) {
	e := newEnv(t, envOptions{media: func(o *media.Options) {
		o.MaxFileBytes = 1 << 20
		o.MaxTotalFileBytes = 2 << 20
	}})
	png := pngBytes(t)
	bigPNG := append(append([]byte{}, png...), make([]byte, 900<<10)...)
	const jsonCT = "application/json"
	type row struct {
		name   string
		path   string
		ct     string
		body   []byte
		status int
		typ    string
		code   string // "" for null
		param  string // "" for null
		text   string // in the message
	}
	gen := func(name, body string, status int, code, param, text string) row {
		typ := "invalid_request_error"
		return row{name, "/v1/images/generations", jsonCT, []byte(body), status, typ, code, param, text}
	}
	video := func(name, body string, status int, code, param, text string) row {
		return row{name, "/v1/videos/generations", jsonCT, []byte(body), status, "invalid_request_error", code, param, text}
	}
	edit := func(name string, status int, code, param, text string, parts ...apitest.FormPart) row {
		ct, body := apitest.MultipartForm(t, parts...)
		return row{name, "/v1/images/edits", ct, body, status, "invalid_request_error", code, param, text}
	}
	pngPart := textproto.MIMEHeader{"Content-Type": {"image/png"}} // file parts are PNG images
	image := func(filename string, data []byte) apitest.FormPart {
		return apitest.FormPart{Name: "image[]", Filename: filename, Header: pngPart, Data: data}
	}
	field := func(name, value string) apitest.FormPart { return apitest.FormPart{Name: name, Data: []byte(value)} }
	manyFields := []apitest.FormPart{image("a.png", png), field("prompt", "x")}
	for i := range 100 {
		manyFields = append(manyFields, field(fmt.Sprintf("extra%d", i), "v"))
	}
	const parseErr = "We could not parse the JSON body"
	long := strings.Repeat("m", wire.MaxModelBytes+1)
	tests := []row{
		// Decoding (shared decoder).
		gen("TrailingData", `{"prompt":"x","model":"gpt-image-1"} garbage`, 400, "", "", parseErr),
		gen("TrailingObject", `{"prompt":"x"}{"prompt":"y"}`, 400, "", "", parseErr),
		gen("NullBody", `null`, 400, "", "", "must be a JSON object"),
		gen("ArrayBody", `[{"prompt":"x"}]`, 400, "", "", "must be a JSON object"),
		gen("EmptyBody", ``, 400, "", "", "empty"),
		gen("InvalidUTF8", "{\"prompt\":\"\xff\xfe\"}", 400, "", "", parseErr),
		gen("TooDeep", nested(wire.MaxJSONDepth+10), 400, "", "", "too deeply"),
		gen("WrongType", `{"prompt":["x"]}`, 400, "", "prompt", "Invalid type"),
		gen("WrongTypeN", `{"prompt":"x","n":"2"}`, 400, "", "n", "Invalid type"),
		{"NotJSONContentType", "/v1/images/generations", "text/plain", []byte(`{"prompt":"x"}`), 400, "invalid_request_error", "", "", "Content-Type"},
		gen("TooLarge", `{"prompt":"`+strings.Repeat("x", 1<<20)+`"}`, 413, "request_too_large", "", "too large"),
		// Models: refused before any upstream call, listing valid ids.
		gen("UnknownModel", `{"prompt":"x","model":"no-such-model"}`, 400, "model_not_found", "model", "gpt-image-1"),
		gen("VideoModel", `{"prompt":"x","model":"sora-2"}`, 400, "model_not_found", "model", "video model"),
		gen("ChatModelOfOtherProvider", `{"prompt":"x","model":"gpt-5.2"}`, 400, "model_not_found", "model", "cannot generate images"),
		gen("ModelTooLong", `{"prompt":"x","model":"`+long+`"}`, 400, "", "model", "string too long"),
		// Ranges and enumerations.
		gen("PromptMissing", `{"model":"gpt-image-1"}`, 400, "", "prompt", "prompt is required"),
		gen("PromptTooLong", `{"prompt":"`+strings.Repeat("é", media.DefaultMaxPromptSize+1)+`"}`, 400, "", "prompt", "the limit is 32000"),
		gen("NZero", `{"prompt":"x","n":0}`, 400, "", "n", "Expected a value >= 1"),
		gen("NNegative", `{"prompt":"x","n":-3}`, 400, "", "n", "Expected a value >= 1"),
		gen("NAboveOpenAI", `{"prompt":"x","n":11}`, 400, "", "n", "Expected a value <= 10"),
		gen("NAboveGateway", `{"prompt":"x","n":5}`, 400, "", "n", "between 1 and 4"),
		gen("SizeUnknown", `{"prompt":"x","size":"big"}`, 400, "", "size", "not supported"),
		gen("SizeTooLong", `{"prompt":"x","size":"`+strings.Repeat("1", 100)+`"}`, 400, "", "size", "string too long"),
		gen("Quality", `{"prompt":"x","quality":"ultra"}`, 400, "", "quality", "Supported values"),
		gen("Style", `{"prompt":"x","style":"baroque"}`, 400, "", "style", "Supported values"),
		gen("ResponseFormat", `{"prompt":"x","response_format":"png"}`, 400, "", "response_format", "url or b64_json"),
		gen("ResponseFormatTooLong", `{"prompt":"x","response_format":"`+strings.Repeat("u", 65)+`"}`, 400, "", "response_format", "string too long"),
		gen("Stream", `{"prompt":"x","stream":true}`, 400, "", "stream", "not supported"),
		// Edits (multipart).
		{"EditNotMultipart", "/v1/images/edits", jsonCT, []byte(`{"prompt":"x"}`), 400, "invalid_request_error", "", "", "multipart/form-data"},
		{"EditBrokenMultipart", "/v1/images/edits", "multipart/form-data; boundary=XYZ", []byte("--XYZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx\r\n--XY"), 400, "invalid_request_error", "", "", "multipart"},
		{"EditNoBoundary", "/v1/images/edits", "multipart/form-data", []byte("x"), 400, "invalid_request_error", "", "", "multipart/form-data"},
		edit("EditNoImage", 400, "", "image", "image is required", field("prompt", "x")),
		edit("EditNotAnImage", 400, "", "image", "not a PNG", image("a.txt", []byte("hello")), field("prompt", "x")),
		edit("EditTooManyFiles", 400, "", "image", "at most 10", append(slices.Repeat([]apitest.FormPart{image("a.png", png)}, 11), field("prompt", "x"))...),
		edit("EditFileTooLarge", 400, "", "image", "larger than the 1 MB limit per file",
			image("big.png", append(append([]byte{}, png...), make([]byte, 1<<20)...)), field("prompt", "x")),
		edit("EditFilesTooLargeTogether", 400, "", "image", "2 MB limit per request",
			image("a.png", bigPNG), image("b.png", bigPNG), image("c.png", bigPNG), field("prompt", "x")),
		edit("EditTooManyParts", 400, "", "", "at most 100", manyFields...),
		edit("EditPartHeaderTooLarge", 400, "", "", "part header",
			apitest.FormPart{Name: "prompt", Header: textproto.MIMEHeader{"X-Pad": {strings.Repeat("p", 20<<10)}}, Data: []byte("x")}, image("a.png", png)),
		edit("EditFileNameTooLong", 400, "", "image[]", "file name", image(strings.Repeat("n", 300)+".png", png), field("prompt", "x")),
		edit("EditFieldTooLong", 400, "", "prompt", "longer than", image("a.png", png), field("prompt", strings.Repeat("x", 300<<10))),
		edit("EditFieldNotUTF8", 400, "", "prompt", "not valid UTF-8", image("a.png", png), field("prompt", "caf\xe9")),
		edit("EditNNotInteger", 400, "", "n", "integer", image("a.png", png), field("prompt", "x"), field("n", "two")),
		edit("EditUnknownModel", 400, "model_not_found", "model", "gpt-image-1", image("a.png", png), field("prompt", "x"), field("model", "nope")),
		edit("EditModelTooLong", 400, "", "model", "string too long", image("a.png", png), field("prompt", "x"), field("model", long)),
		edit("EditBodyTooLarge", 413, "request_too_large", "", "too large",
			image("a.png", png), field("prompt", "x"), apitest.FormPart{Name: "pad", Filename: "pad.bin", Header: pngPart, Data: make([]byte, 11<<20)}),
		// Videos.
		video("VideoUnknownModel", `{"model":"nope","prompt":"p"}`, 400, "model_not_found", "model", "sora-2"),
		video("VideoImageModel", `{"model":"gpt-image-1","prompt":"p"}`, 400, "model_not_found", "model", "not a video model"),
		video("VideoCatchAllOnlyModel", `{"model":"claude-video","prompt":"p"}`, 400, "model_not_found", "model", "sora-2"),
		video("VideoNoModel", `{"prompt":"p"}`, 400, "", "model", "Missing required parameter: 'model'"),
		video("VideoModelTooLong", `{"model":"`+long+`","prompt":"p"}`, 400, "", "model", "string too long"),
		video("VideoTrailingData", `{"model":"sora-2","prompt":"p"} x`, 400, "", "", parseErr),
		video("VideoNull", `null`, 400, "", "", "must be a JSON object"),
		video("VideoHTMLDataURL", `{"model":"sora-2","prompt":"p","image":"data:text/html;base64,PGgxPmhpPC9oMT4="}`, 400, "", "image", "Invalid MIME type"),
		video("VideoBadBase64", `{"model":"sora-2","prompt":"p","image":"data:image/png;base64,iV!BOR"}`, 400, "", "image", "base64"),
		video("VideoPercentDataURL", `{"model":"sora-2","prompt":"p","image":"data:image/png,abc"}`, 400, "", "image", "base64"),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := apitest.PostOpenAIError(t, e.url+tt.path, tt.ct, tt.body)
			code, param := got.CodeParam()
			if status != tt.status || got.Type != tt.typ || code != tt.code || param != tt.param || !strings.Contains(got.Message, tt.text) {
				t.Errorf("got %d type %q code %q param %q message %.200q\nwant %d type %q code %q param %q message with %q",
					status, got.Type, code, param, got.Message, tt.status, tt.typ, tt.code, tt.param, tt.text)
			}
		})
	}
	if n := e.chats.Load(); n != 0 {
		t.Errorf("%d gateway exchanges started for refused requests", n)
	}
	if n := len(e.asks()) + len(e.entries(streamGenerate)); n != 0 {
		t.Errorf("%d upstream calls for refused requests", n)
	}
	// The server still serves.
	if _, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "after", Model: "gpt-image-1"}); err != nil {
		t.Fatalf("after the bad requests: %v", err)
	}
}

// TestImageModelNames checks the names an image request may use without
// being listed: an alias of a Gemini model goes to the chat flow, an
// unlisted OpenAI image name to the default image model.
func TestImageModelNames(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, name := range []string{"gemini-flash", "Gemini 3 Flash"} {
		res, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "a cat sim:image", Model: openai.ImageModel(name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Data) != 1 {
			t.Fatalf("%s: %+v", name, res)
		}
	}
	if n := len(e.entries(streamGenerate)); n != 2 {
		t.Errorf("%d Gemini asks, want 2 (one per alias)", n)
	}
	if _, err := e.client.Images.Generate(context.Background(), openai.ImageGenerateParams{Prompt: "x", Model: "dall-e-2"}); err != nil {
		t.Fatal(err)
	}
	if got := fact(e.asks()[0], "model"); got != "gpt-image-1" {
		t.Errorf("dall-e-2 served by %v, want the first image model", got)
	}
}
