package wire_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

func TestHasPrefixFold(t *testing.T) {
	tests := []struct {
		s, prefix string
		want      bool
	}{
		{"data:x", "data:", true},
		{"DATA:x", "data:", true},
		{"Https://a", "https://", true},
		{"dat", "data:", false},
		{"", "data:", false},
		{"xdata:", "data:", false},
	}
	for _, tt := range tests {
		if got := wire.HasPrefixFold(tt.s, tt.prefix); got != tt.want {
			t.Errorf("HasPrefixFold(%q, %q) = %v", tt.s, tt.prefix, got)
		}
	}
}

func TestIsHTTPURL(t *testing.T) {
	tests := []struct {
		u    string
		want bool
	}{
		{"https://example.com/cat.png", true},
		{"HTTP://example.com", true},
		{"http://[::1]:8080/x", true},
		{"https://", false},
		{"https:///path", false},
		{"http://exa mple.com/%zz", false},
		{"ftp://example.com/x", false},
		{"data:image/png;base64,AAAA", false},
		{"example.com/cat.png", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := wire.IsHTTPURL(tt.u); got != tt.want {
			t.Errorf("IsHTTPURL(%q) = %v", tt.u, got)
		}
	}
}

func TestDecodeBase64(t *testing.T) {
	tests := []struct {
		in        string
		strict    string // DecodeBase64's result; "!" for invalid
		anyPadded string // DecodeBase64AnyPadding's result; "!" for invalid
	}{
		{"aGk=", "hi", "hi"},
		{"aGk", "hi", "hi"},
		{"aGVsbG8gd29ybGQ=", "hello world", "hello world"},
		{" aGVs\r\nbG8g\td29y bGQ= ", "hello world", "hello world"},
		{"-_8=", "\xfb\xff", "\xfb\xff"}, // URL-safe alphabet
		{"-_8", "\xfb\xff", "\xfb\xff"},
		{"+/8=", "\xfb\xff", "\xfb\xff"},
		{"YQ==", "a", "a"},
		{"YQ", "a", "a"},
		{"YQ=", "!", "a"},   // incomplete padding
		{"YQ===", "!", "a"}, // excess padding
		{"YWJj", "abc", "abc"},
		{"", "!", "!"},
		{"  \n", "!", "!"},
		{"====", "!", "!"},
		{"Y", "!", "!"},
		{"YQ==YQ==", "!", "!"},
		{"!!!", "!", "!"},
		{"a+b_", "!", "!"}, // mixed alphabets
	}
	for _, tt := range tests {
		for _, fn := range []struct {
			name   string
			decode func(string) ([]byte, bool)
			want   string
		}{
			{"DecodeBase64", wire.DecodeBase64, tt.strict},
			{"DecodeBase64AnyPadding", wire.DecodeBase64AnyPadding, tt.anyPadded},
		} {
			b, ok := fn.decode(tt.in)
			got := string(b)
			if !ok {
				got = "!"
			}
			if got != fn.want {
				t.Errorf("%s(%q) = %q, want %q", fn.name, tt.in, got, fn.want)
			}
		}
	}
}

func TestDecodeBase64Limit(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
		err   error
	}{
		{"YWJj", 3, "abc", nil},
		{"YWJjZA==", 4, "abcd", nil},
		{"YWJjZA", 4, "abcd", nil},
		{"YWJjZA==", 3, "", wire.ErrMediaTooLarge},
		{"YWJj\r\nZA==", 4, "abcd", nil},
		{"YWJj\r\n\r\n\r\n\r\n\r\n\r\n\r\nZA==", 4, "", wire.ErrMediaTooLarge}, // refused on length alone
		{"YW!j", 3, "", wire.ErrBase64},
		{"", 3, "", wire.ErrBase64},
	}
	for _, tt := range tests {
		b, err := wire.DecodeBase64Limit(tt.in, tt.limit)
		if string(b) != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("DecodeBase64Limit(%q, %d) = %q, %v; want %q, %v", tt.in, tt.limit, b, err, tt.want, tt.err)
		}
	}
}

// TestInlineMediaBound checks an oversized data URL or base64 text is
// refused before anything is decoded or copied: no allocation at all.
func TestInlineMediaBound(t *testing.T) {
	huge := strings.Repeat("A", (wire.MaxInlineMediaBytes+2)/3*4+4)
	dataURL := "data:image/png;base64," + huge
	tests := []struct {
		name string
		run  func() error
	}{
		{"ParseDataURL", func() error { _, err := wire.ParseDataURL(dataURL); return err }},
		{"DecodeBase64Limit", func() error { _, err := wire.DecodeBase64Limit(huge, wire.MaxInlineMediaBytes); return err }},
		{"DecodeBase64", func() error {
			if _, ok := wire.DecodeBase64(huge); ok {
				return nil
			}
			return wire.ErrMediaTooLarge
		}},
		{"DecodeBase64AnyPadding", func() error {
			if _, ok := wire.DecodeBase64AnyPadding(huge); ok {
				return nil
			}
			return wire.ErrMediaTooLarge
		}},
	}
	for _, tt := range tests {
		var err error
		allocs := testing.AllocsPerRun(1, func() { err = tt.run() })
		if !errors.Is(err, wire.ErrMediaTooLarge) || allocs != 0 {
			t.Errorf("%s on %d MB: %v after %v allocations; want ErrMediaTooLarge and none", tt.name, len(huge)>>20, err, allocs)
		}
	}
	_, err := wire.MediaFromURL(dataURL, "p", true)
	if msg := invalidMismatch(err, "p", "The data in 'p' is too large: at most 32 MB inline."); msg != "" {
		t.Error(msg)
	}
}

func TestSplitDataURL(t *testing.T) {
	tests := []struct {
		u    string
		want wire.DataURL
		err  error
	}{
		{"data:image/png;base64,AAAA", wire.DataURL{MediaType: "image/png", Base64: true, Data: "AAAA"}, nil},
		{"DATA: Image/PNG ;charset=x; BASE64 ,AA,AA", wire.DataURL{MediaType: "image/png", Base64: true, Data: "AA,AA"}, nil},
		{"data:;base64,AAAA", wire.DataURL{Base64: true, Data: "AAAA"}, nil},
		{"data:,hello%20world", wire.DataURL{Data: "hello%20world"}, nil},
		{"data:text/plain;name=base64.txt,hi", wire.DataURL{MediaType: "text/plain", Data: "hi"}, nil},
		{"data:base64,AAAA", wire.DataURL{MediaType: "base64", Data: "AAAA"}, nil},
		{"data:image/png;base64", wire.DataURL{}, wire.ErrDataURLComma},
		{"https://example.com/x.png", wire.DataURL{}, wire.ErrNotDataURL},
		{"dat", wire.DataURL{}, wire.ErrNotDataURL},
	}
	for _, tt := range tests {
		got, err := wire.SplitDataURL(tt.u)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("SplitDataURL(%q) = %+v, %v; want %+v, %v", tt.u, got, err, tt.want, tt.err)
		}
	}
}

func TestParseDataURL(t *testing.T) {
	tests := []struct {
		u        string
		mimeType string
		data     string
		err      error
	}{
		{"data:image/png;base64,iVBORw0KGgo=", "image/png", "\x89PNG\r\n\x1a\n", nil},
		{"data:IMAGE/JPEG;Base64,/9j/", "image/jpeg", "\xff\xd8\xff", nil},
		{"data:;base64,aGk", "", "hi", nil}, // no media type: left to the caller
		{"data:,hello%20world", "", "hello world", nil},
		{"data:text/plain;charset=utf-8,caf%C3%A9", "text/plain", "café", nil},
		{"data:text/plain,", "text/plain", "", nil},
		{"data:image/png;base64,", "", "", wire.ErrBase64},
		{"data:image/png;base64,YQ=", "", "", wire.ErrBase64},
		{"data:image/png;base64,!!!", "", "", wire.ErrBase64},
		{"data:text/plain,%zz", "", "", wire.ErrDataURLEscape},
		{"data:image/png;base64", "", "", wire.ErrDataURLComma},
		{"image/png;base64,AAAA", "", "", wire.ErrNotDataURL},
	}
	for _, tt := range tests {
		m, err := wire.ParseDataURL(tt.u)
		if tt.err != nil {
			if !errors.Is(err, tt.err) || m != nil {
				t.Errorf("ParseDataURL(%q) = %+v, %v; want %v", tt.u, m, err, tt.err)
			}
			continue
		}
		if err != nil || m.MIMEType != tt.mimeType || string(m.Data) != tt.data || m.URL != "" {
			t.Errorf("ParseDataURL(%q) = %+v, %v; want %q %q", tt.u, m, err, tt.mimeType, tt.data)
		}
	}
}

// wantMedia is an expected MediaFromURL / MediaFromBase64OrDataURL result:
// the media, or the 400's param and message.
type wantMedia struct {
	mimeType, data, url string
	param, message      string
}

// notImage is the 400 message for a data URL of type mt given as an image
// about param p.
func notImage(mt string) string {
	return fmt.Sprintf("Invalid MIME type %q in 'p': only image types are supported (image/png, image/jpeg, image/gif, image/webp).", mt)
}

func TestMediaFromURL(t *testing.T) {
	tests := []struct {
		u     string
		image bool
		want  wantMedia
	}{
		{"data:,hi", false, wantMedia{mimeType: "text/plain", data: "hi"}}, // RFC 2397's default type
		{"data:text/html;base64,PGgxPg==", false, wantMedia{mimeType: "text/html", data: "<h1>"}},
		// An image must have an image type.
		{"data:text/html;base64,PGgxPg==", true, wantMedia{param: "p", message: notImage("text/html")}},
		{"data:,hi", true, wantMedia{param: "p", message: notImage("text/plain")}},
		{"data:image/svg+xml;base64,PHN2Zz4=", true, wantMedia{param: "p", message: notImage("image/svg+xml")}},
		{"data:application/octet-stream;base64,iVBORw0KGgo=", true, wantMedia{param: "p", message: notImage("application/octet-stream")}},
		{"data:image/jpg;base64,/9j/", true, wantMedia{mimeType: "image/jpeg", data: "\xff\xd8\xff"}},
		{"data:image/webp;base64,aGk=", true, wantMedia{mimeType: "image/webp", data: "hi"}},
		{"data:IMAGE/GIF;base64,aGk=", true, wantMedia{mimeType: "image/gif", data: "hi"}},
		{"data:;base64,iVBORw0KGgo=", true, wantMedia{mimeType: "image/png", data: "\x89PNG\r\n\x1a\n"}}, // sniffed
		{"data:image/png;base64,aGk=", true, wantMedia{mimeType: "image/png", data: "hi"}},
		{"DATA:;base64,aGk", false, wantMedia{mimeType: "text/plain", data: "hi"}},
		{"https://example.com/cat.png", true, wantMedia{url: "https://example.com/cat.png"}},
		{"HTTP://example.com/doc.pdf", false, wantMedia{url: "HTTP://example.com/doc.pdf"}},
		{"data:image/png;base64,!!", true, wantMedia{param: "p", message: "Invalid base64 data in 'p'."}},
		{"data:image/png;base64", true, wantMedia{param: "p", message: "Invalid data URL in 'p': missing ','."}},
		{"data:text/plain,%zz", true, wantMedia{param: "p", message: "Invalid data URL in 'p'."}},
		{"https://", true, wantMedia{param: "p", message: "Invalid URL in 'p'."}},
		{"ftp://example.com/cat.png", true, wantMedia{param: "p", message: "Invalid image URL in 'p': expected an http(s) URL or a base64 data URL."}},
		{"cat.pdf", false, wantMedia{param: "p", message: "Invalid file URL in 'p': expected an http(s) URL or a base64 data URL."}},
	}
	for _, tt := range tests {
		m, err := wire.MediaFromURL(tt.u, "p", tt.image)
		if msg := mediaMismatch(m, err, tt.want); msg != "" {
			t.Errorf("MediaFromURL(%q, %v): %s", tt.u, tt.image, msg)
		}
	}
}

func TestMediaFromBase64OrDataURL(t *testing.T) {
	tests := []struct {
		s    string
		want wantMedia
	}{
		{"aGk=", wantMedia{data: "hi"}}, // raw base64: type unknown
		{"aGk", wantMedia{data: "hi"}},
		{"data:audio/wav;base64,aGk=", wantMedia{mimeType: "audio/wav", data: "hi"}},
		{"data:,hi", wantMedia{mimeType: "text/plain", data: "hi"}},
		{"", wantMedia{param: "p", message: "Invalid base64 data in 'p'."}},
		{"aGk!", wantMedia{param: "p", message: "Invalid base64 data in 'p'."}},
		{"https://example.com/a.wav", wantMedia{param: "p", message: "Invalid base64 data in 'p'."}},
		{"data:x", wantMedia{param: "p", message: "Invalid data URL in 'p': missing ','."}},
	}
	for _, tt := range tests {
		m, err := wire.MediaFromBase64OrDataURL(tt.s, "p")
		if msg := mediaMismatch(m, err, tt.want); msg != "" {
			t.Errorf("MediaFromBase64OrDataURL(%q): %s", tt.s, msg)
		}
	}
}

// mediaMismatch describes how (m, err) differs from want, or is "".
func mediaMismatch(m *llm.Media, err error, want wantMedia) string {
	if want.param != "" {
		if m != nil {
			return fmt.Sprintf("media %+v, want an error", m)
		}
		return invalidMismatch(err, want.param, want.message)
	}
	if err != nil {
		return "error " + err.Error()
	}
	if m.MIMEType != want.mimeType || string(m.Data) != want.data || m.URL != want.url || (want.url != "" && m.Data != nil) {
		return fmt.Sprintf("media %q %q %q, want %q %q %q", m.MIMEType, m.Data, m.URL, want.mimeType, want.data, want.url)
	}
	return ""
}

func TestImageURL(t *testing.T) {
	tests := []struct {
		raw     string
		form    wire.ImageURLForm
		url     string
		param   string
		message string
	}{
		{`{"url":"https://a/x.png","detail":"low"}`, wire.ImageURLObject, "https://a/x.png", "", ""},
		{`"https://a/x.png"`, wire.ImageURLObject, "https://a/x.png", "", ""},
		{`"https://a/x.png"`, wire.ImageURLString, "https://a/x.png", "", ""},
		{`{"url":"https://a/x.png"}`, wire.ImageURLString, "https://a/x.png", "", ""},
		{``, wire.ImageURLObject, "", "p", "Missing required parameter: 'p'."},
		{`null`, wire.ImageURLString, "", "p", "Missing required parameter: 'p'."},
		{`{}`, wire.ImageURLObject, "", "p.url", "Missing required parameter: 'p.url'."},
		{`""`, wire.ImageURLObject, "", "p.url", "Missing required parameter: 'p.url'."},
		{`{"url":""}`, wire.ImageURLString, "", "p", "Missing required parameter: 'p'."},
		{`""`, wire.ImageURLString, "", "p", "Missing required parameter: 'p'."},
		{`[1]`, wire.ImageURLObject, "", "p", "Invalid type for 'p': expected an object."},
		{`{"url":5}`, wire.ImageURLObject, "", "p", "Invalid type for 'p': expected an object."},
		{`42`, wire.ImageURLString, "", "p", "Invalid type for 'p': expected a string."},
	}
	for _, tt := range tests {
		u, err := wire.ImageURL(json.RawMessage(tt.raw), "p", tt.form)
		if tt.param == "" {
			if err != nil || u != tt.url {
				t.Errorf("ImageURL(%s, %d) = %q, %v; want %q", tt.raw, tt.form, u, err, tt.url)
			}
			continue
		}
		if msg := invalidMismatch(err, tt.param, tt.message); msg != "" || u != "" {
			t.Errorf("ImageURL(%s, %d) = %q: %s", tt.raw, tt.form, u, msg)
		}
	}
}

// invalidMismatch describes how err differs from a 400 about param with
// message, or is "".
func invalidMismatch(err error, param, message string) string {
	var e *gw.Error
	if !errors.As(err, &e) {
		return "error " + errString(err) + ", want a *gw.Error"
	}
	if e.Code != gw.CodeInvalidRequest || e.Param != param || e.Message != message {
		return "error " + string(e.Code) + " on " + e.Param + ": " + e.Message + "; want invalid_request on " + param + ": " + message
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
