package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
)

// tokenDepth measures the nesting of valid JSON with the streaming
// tokenizer, an implementation independent of JSONDepthExceeds.
func tokenDepth(b []byte) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return deepest, true
		}
		if err != nil {
			return 0, false
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

// FuzzDecodeJSONBytes checks the shared body decoder never panics, fails
// only with a 400 *gw.Error, and accepts only what the rules allow: one
// JSON object of UTF-8 text, nothing after it, at most MaxJSONDepth
// levels deep (the bound on the decoder's recursion).
func FuzzDecodeJSONBytes(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"a":{"b":[1,2,{"c":null}]}}`,
		`{"model":"m"} garbage`,
		`null`, `[]`, `"x"`, ``, ` `,
		"{\"model\":\"\xff\"}",
		`{"a":"[[[\"{{{"}`,
		`{"a":"\\"}`,
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
		`{"a":` + strings.Repeat("[", 130) + strings.Repeat("]", 130) + `}`,
		`{"model":"x","model":"y"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v map[string]any
		err := wire.DecodeJSONBytes(body, &v, nil)
		valid := json.Valid(body)
		depth, _ := tokenDepth(body)
		if valid && wire.JSONDepthExceeds(body, wire.MaxJSONDepth) != (depth > wire.MaxJSONDepth) {
			t.Fatalf("JSONDepthExceeds disagrees with the tokenizer (depth %d) on %q", depth, body)
		}
		if err != nil {
			var e *gw.Error
			if !errors.As(err, &e) || e.Code != gw.CodeInvalidRequest || e.Message == "" {
				t.Fatalf("error %#v is not a worded 400", err)
			}
			return
		}
		trimmed := bytes.TrimSpace(body)
		if !valid || !utf8.Valid(body) || len(trimmed) == 0 || trimmed[0] != '{' || v == nil {
			t.Fatalf("accepted %q: valid %v, decoded %v", body, valid, v)
		}
		if depth > wire.MaxJSONDepth {
			t.Fatalf("accepted a body %d levels deep", depth)
		}
	})
}

// FuzzJSONDepthExceeds checks the depth scan on arbitrary bytes: it never
// panics, and a text without quotes is judged by its bracket count alone.
func FuzzJSONDepthExceeds(f *testing.F) {
	f.Add([]byte(`[[["\\\"[["]]]`), 2)
	f.Add([]byte(`"\\`), 1)
	f.Add([]byte(`{"a":[{"b":"]"}]}`), 3)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		limit = max(limit, 0) % 300
		got := wire.JSONDepthExceeds(b, limit)
		if bytes.IndexByte(b, '"') >= 0 {
			return
		}
		depth, deepest := 0, 0
		for _, c := range b {
			switch c {
			case '[', '{':
				depth++
				deepest = max(deepest, depth)
			case ']', '}':
				depth--
			}
		}
		if got != (deepest > limit) {
			t.Fatalf("JSONDepthExceeds(%q, %d) = %v, deepest %d", b, limit, got, deepest)
		}
	})
}

// FuzzParseDataURL checks the data-URL decoders on arbitrary URLs: no
// panic, decoded data never larger than the URL (nor than
// MaxInlineMediaBytes), an image data URL only ever decodes to one of
// ImageMediaTypes, and every refusal is a 400 about the given param.
func FuzzParseDataURL(f *testing.F) {
	for _, seed := range []string{
		"data:image/png;base64,iVBORw0KGgo=",
		"data:text/html;base64,PGgxPg==",
		"data:,hello%20world",
		"data:;base64,aGk",
		"DATA: Image/JPG ; BASE64 ,/9j/",
		"data:image/png;base64",
		"data:text/plain,%zz",
		"data:image/png;base64,YQ=",
		"data:image/webp;base64, aG\r\nk= ",
		"https://example.com/a.png",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, u string) {
		m, err := wire.ParseDataURL(u)
		if err == nil {
			if len(m.Data) > len(u) || len(m.Data) > wire.MaxInlineMediaBytes {
				t.Fatalf("%q decoded to %d bytes", u, len(m.Data))
			}
		}
		img, err := wire.MediaFromURL(u, "p", true)
		if err != nil {
			var e *gw.Error
			if !errors.As(err, &e) || e.Code != gw.CodeInvalidRequest || e.Param != "p" {
				t.Fatalf("MediaFromURL(%q) error %#v is not a 400 about p", u, err)
			}
			return
		}
		if img.URL == "" {
			if _, ok := wire.ImageMediaType(img.MIMEType); !ok || img.MIMEType == "image/jpg" {
				t.Fatalf("MediaFromURL(%q) accepted an image of type %q", u, img.MIMEType)
			}
		} else if !wire.IsHTTPURL(img.URL) {
			t.Fatalf("MediaFromURL(%q) kept a URL that is not http(s)", u)
		}
	})
}
