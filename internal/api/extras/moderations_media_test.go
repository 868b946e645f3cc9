package extras_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/llm"
)

// TestModerationImageURLs checks how a moderation image_url is read: the
// accepted forms, and the 400s (param and message) for the refused ones.
func TestModerationImageURLs(t *testing.T) {
	const png = "\x89PNG\r\n\x1a\n"
	tests := []struct {
		name     string
		imageURL string // the JSON value of image_url
		param    string // "" when accepted
		message  string // the 400's message, or the accepted image's MIME type
		data     string // the accepted image's bytes, or its URL
	}{
		{"DataURL", `{"url":"data:image/png;base64,iVBORw0KGgo="}`, "", "image/png", png},
		{"StringForm", `"data:image/png;base64,iVBORw0KGgo="`, "", "image/png", png},
		{"AnyPadding", `{"url":"data:image/png;base64,iVBORw0KGgo==="}`, "", "image/png", png},
		{"Unpadded", `{"url":"data:;BASE64,iVBORw0KGgo"}`, "", "image/png", png},
		{"HTTP", `{"url":"https://example.com/cat.png"}`, "", "", "https://example.com/cat.png"},
		{"Missing", `null`, "input[0].image_url", "Missing required parameter: 'input[0].image_url'.", ""},
		{"EmptyURL", `{"url":""}`, "input[0].image_url.url", "Missing required parameter: 'input[0].image_url.url'.", ""},
		{"WrongType", `[1]`, "input[0].image_url", "Invalid type for 'input[0].image_url': expected an object.", ""},
		{"NoComma", `{"url":"data:image/png;base64"}`, "input[0].image_url.url", "Invalid data URL in 'input[0].image_url.url'.", ""},
		{"NotBase64", `{"url":"data:image/png,abc"}`, "input[0].image_url.url", "Invalid data URL in 'input[0].image_url.url': expected base64 data.", ""},
		// A parameter that merely contains "base64" does not make the data
		// base64 (it used to).
		{"Base64Substring", `{"url":"data:image/png;name=base64.png,iVBORw0KGgo="}`, "input[0].image_url.url", "Invalid data URL in 'input[0].image_url.url': expected base64 data.", ""},
		{"BadBase64", `{"url":"data:image/png;base64,!!!"}`, "input[0].image_url.url", "Invalid base64 data in 'input[0].image_url.url'.", ""},
		// Empty data is no image (it used to be accepted as zero bytes).
		{"EmptyBase64", `{"url":"data:image/png;base64,"}`, "input[0].image_url.url", "Invalid base64 data in 'input[0].image_url.url'.", ""},
		{"OnlyPadding", `{"url":"data:image/png;base64,=="}`, "input[0].image_url.url", "Invalid base64 data in 'input[0].image_url.url'.", ""},
		{"HTTPNoHost", `{"url":"https://"}`, "input[0].image_url.url", "Invalid URL in 'input[0].image_url.url'.", ""},
		{"FTP", `{"url":"ftp://example.com/cat.png"}`, "input[0].image_url.url", "Invalid image URL in 'input[0].image_url.url': expected an http(s) URL or a base64 data URL.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chat := &fakeChat{reply: scriptedModerator}
			url, _ := serve(t, extras.Options{Chat: chat, DefaultChatModel: "m"})
			body := `{"input":[{"type":"image_url","image_url":` + tt.imageURL + `}]}`
			res, err := http.Post(url+"/v1/moderations", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if tt.param != "" {
				var env struct {
					Error struct {
						Message string  `json:"message"`
						Param   *string `json:"param"`
					} `json:"error"`
				}
				if res.StatusCode != 400 || json.Unmarshal(raw, &env) != nil || env.Error.Param == nil ||
					*env.Error.Param != tt.param || env.Error.Message != tt.message {
					t.Fatalf("%d %s\nwant 400 on %q: %q", res.StatusCode, raw, tt.param, tt.message)
				}
				if n := len(chat.requests()); n != 0 {
					t.Errorf("%d chat calls for a refused input", n)
				}
				return
			}
			if res.StatusCode != 200 {
				t.Fatalf("%d %s", res.StatusCode, raw)
			}
			var got *llm.Media
			for _, m := range chat.requests()[0].Messages {
				for _, p := range m.Parts {
					if p.Type == llm.PartImage {
						got = p.Media
					}
				}
			}
			switch {
			case got == nil:
				t.Fatal("no image part sent")
			case strings.HasPrefix(tt.data, "https:"):
				if got.URL != tt.data || got.Data != nil {
					t.Errorf("image %+v, want URL %s", got, tt.data)
				}
			case string(got.Data) != tt.data || got.MIMEType != tt.message:
				t.Errorf("image %q (%s), want %q (%s)", got.Data, got.MIMEType, tt.data, tt.message)
			}
		})
	}
}
