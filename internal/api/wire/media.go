package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sparkgw/spark/internal/llm"
)

// Media decoding failures, for front-ends to word in their own style.
var (
	// ErrNotDataURL: the string does not start with "data:".
	ErrNotDataURL = errors.New("not a data URL")
	// ErrDataURLComma: a data URL without the ',' before its data.
	ErrDataURLComma = errors.New("invalid data URL: missing ','")
	// ErrDataURLEscape: a data URL whose percent-encoded data is broken.
	ErrDataURLEscape = errors.New("invalid data URL")
	// ErrBase64: invalid (or empty) base64 data.
	ErrBase64 = errors.New("invalid base64 data")
	// ErrMediaTooLarge: inline data that would decode to more than
	// MaxInlineMediaBytes (nothing was decoded).
	ErrMediaTooLarge = errors.New("inline data too large")
)

// MaxInlineMediaBytes bounds the decoded size of one inline media item (a
// data URL or raw base64): 32 MiB, the largest file the official APIs take
// inline (OpenAI's PDF inputs; images are at most 20 MB there, 5 MB at
// Anthropic). The encoded length is checked before anything is decoded or
// copied, so the cost of refusing is constant.
const MaxInlineMediaBytes = 32 << 20

// maxEncodedLen is the longest base64 text (whitespace excluded) that
// decodes to at most n bytes.
func maxEncodedLen(n int) int { return (n + 2) / 3 * 4 }

// ImageMediaTypes are the image types the official APIs take inline:
// OpenAI's PNG, JPEG, WEBP and GIF, Anthropic's image/jpeg, image/png,
// image/gif and image/webp.
var ImageMediaTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// ImageMediaType returns the canonical form of mt, a lower-case media type
// without parameters, when it is one of ImageMediaTypes ("image/jpg", a
// common misspelling, is image/jpeg).
func ImageMediaType(mt string) (string, bool) {
	if mt == "image/jpg" || mt == "image/pjpeg" {
		mt = "image/jpeg"
	}
	return mt, slices.Contains(ImageMediaTypes, mt)
}

// HasPrefixFold is strings.HasPrefix ignoring ASCII case.
func HasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// IsHTTPURL reports whether u is an http or https URL (the scheme in any
// case) with a host: a URL the gateway may fetch for the client.
func IsHTTPURL(u string) bool {
	if !hasHTTPScheme(u) {
		return false
	}
	pu, err := url.Parse(u)
	return err == nil && pu.Host != ""
}

// hasHTTPScheme reports whether u starts with "http://" or "https://", in
// any case.
func hasHTTPScheme(u string) bool {
	return HasPrefixFold(u, "http://") || HasPrefixFold(u, "https://")
}

// stripSpace removes ASCII whitespace (space, tab, CR, LF) from s.
func stripSpace(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// base64Encoding is the URL-safe alphabet when s uses one of its own
// characters, else the standard one.
func base64Encoding(s string) *base64.Encoding {
	if strings.ContainsAny(s, "-_") {
		return base64.URLEncoding
	}
	return base64.StdEncoding
}

// DecodeBase64 decodes standard or URL-safe base64, padded or not,
// ignoring whitespace anywhere. Padding, when present, must be complete
// ("YQ==", not "YQ="). Empty input is invalid, and so is input that would
// decode to more than MaxInlineMediaBytes.
func DecodeBase64(s string) ([]byte, bool) {
	b, err := DecodeBase64Limit(s, MaxInlineMediaBytes)
	return b, err == nil
}

// DecodeBase64Limit is DecodeBase64 refusing with ErrMediaTooLarge, before
// decoding, input that would decode to more than limit bytes; its other
// error is ErrBase64.
func DecodeBase64Limit(s string, limit int) ([]byte, error) {
	// Whitespace (line-wrapped base64) may double the text at most.
	if len(s) > 2*maxEncodedLen(limit)+4 {
		return nil, ErrMediaTooLarge
	}
	s = stripSpace(strings.TrimSpace(s))
	if s == "" {
		return nil, ErrBase64
	}
	if len(s) > maxEncodedLen(limit) {
		return nil, ErrMediaTooLarge
	}
	enc := base64Encoding(s)
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, ErrBase64
	}
	return b, nil
}

// DecodeBase64AnyPadding is DecodeBase64 ignoring any number of trailing
// '=' ("YQ", "YQ=", "YQ==" and "YQ===" all decode to "a"). Input that is
// empty once whitespace and padding are removed is invalid, and so is input
// that would decode to more than MaxInlineMediaBytes.
func DecodeBase64AnyPadding(s string) ([]byte, bool) {
	if len(s) > 2*maxEncodedLen(MaxInlineMediaBytes)+4 {
		return nil, false
	}
	s = strings.TrimRight(stripSpace(s), "=")
	if s == "" || len(s) > maxEncodedLen(MaxInlineMediaBytes) {
		return nil, false
	}
	b, err := base64Encoding(s).WithPadding(base64.NoPadding).DecodeString(s)
	return b, err == nil
}

// DataURL is a data URL, "data:[<mediatype>][;param...][;base64],<data>"
// (RFC 2397), split into its parts.
type DataURL struct {
	// MediaType is the media type, lower-cased and trimmed, without its
	// parameters; "" when the URL names none (RFC 2397's default,
	// text/plain, is left to the caller).
	MediaType string
	// Base64 says the data is base64: one parameter is "base64" (in any
	// case, spaces around it ignored).
	Base64 bool
	// Data is the data after ',', still encoded.
	Data string
}

// SplitDataURL splits u, which starts with "data:" in any case, into its
// parts. The errors are ErrNotDataURL and ErrDataURLComma.
func SplitDataURL(u string) (DataURL, error) {
	if !HasPrefixFold(u, "data:") {
		return DataURL{}, ErrNotDataURL
	}
	meta, data, ok := strings.Cut(u[len("data:"):], ",")
	if !ok {
		return DataURL{}, ErrDataURLComma
	}
	d := DataURL{Data: data}
	mt, rest, _ := strings.Cut(meta, ";")
	for rest != "" {
		var p string
		p, rest, _ = strings.Cut(rest, ";")
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			d.Base64 = true
		}
	}
	d.MediaType = strings.ToLower(strings.TrimSpace(mt))
	return d, nil
}

// ParseDataURL decodes a data URL (see SplitDataURL) to inline media: its
// base64 data (see DecodeBase64) or its percent-encoded bytes, and its
// media type ("" when the URL names none). The errors are ErrNotDataURL,
// ErrDataURLComma, ErrBase64, ErrDataURLEscape and ErrMediaTooLarge (data
// over MaxInlineMediaBytes, refused before decoding).
func ParseDataURL(u string) (*llm.Media, error) {
	d, err := SplitDataURL(u)
	if err != nil {
		return nil, err
	}
	var data []byte
	if d.Base64 {
		if data, err = DecodeBase64Limit(d.Data, MaxInlineMediaBytes); err != nil {
			return nil, err
		}
	} else {
		if len(d.Data) > MaxInlineMediaBytes*3 { // "%XX" per byte at most
			return nil, ErrMediaTooLarge
		}
		s, err := url.PathUnescape(d.Data)
		if err != nil {
			return nil, ErrDataURLEscape
		}
		data = []byte(s)
	}
	return &llm.Media{MIMEType: d.MediaType, Data: data}, nil
}

// MediaFromURL converts an image or file URL of an OpenAI-style request: a
// data URL becomes inline bytes (text/plain when it names no media type),
// an http(s) URL is kept for the gateway to fetch. Failures are 400s about
// param in the OpenAI wording; image picks "image" or "file" in the message
// for other URLs, and makes a data URL's media type one of ImageMediaTypes
// (one that names none is sniffed from the bytes): data:text/html is no
// image.
func MediaFromURL(u, param string, image bool) (*llm.Media, error) {
	if HasPrefixFold(u, "data:") {
		if image {
			return ImageDataURL(u, param)
		}
		return openAIDataURL(u, param)
	}
	if hasHTTPScheme(u) {
		if !IsHTTPURL(u) {
			return nil, invalid(param, "Invalid URL in '%s'.", param)
		}
		return &llm.Media{URL: u}, nil
	}
	what := "file"
	if image {
		what = "image"
	}
	return nil, invalid(param, "Invalid %s URL in '%s': expected an http(s) URL or a base64 data URL.", what, param)
}

// MediaFromBase64OrDataURL decodes the inline data of an OpenAI-style
// request: a data URL (as MediaFromURL) or raw base64 (see DecodeBase64;
// the media type is then unknown). Failures are 400s about param in the
// OpenAI wording.
func MediaFromBase64OrDataURL(s, param string) (*llm.Media, error) {
	if HasPrefixFold(s, "data:") {
		return openAIDataURL(s, param)
	}
	b, ok := DecodeBase64(s)
	if !ok {
		return nil, invalid(param, "Invalid base64 data in '%s'.", param)
	}
	return &llm.Media{Data: b}, nil
}

// openAIDataURL is ParseDataURL with RFC 2397's default media type and the
// OpenAI wording of its errors.
func openAIDataURL(u, param string) (*llm.Media, error) {
	m, err := ParseDataURL(u)
	if err != nil {
		return nil, dataURLError(err, param)
	}
	if m.MIMEType == "" {
		m.MIMEType = "text/plain"
	}
	return m, nil
}

// dataURLError words a ParseDataURL error about param the OpenAI way.
func dataURLError(err error, param string) error {
	switch {
	case errors.Is(err, ErrBase64):
		return invalid(param, "Invalid base64 data in '%s'.", param)
	case errors.Is(err, ErrDataURLComma):
		return invalid(param, "Invalid data URL in '%s': missing ','.", param)
	case errors.Is(err, ErrMediaTooLarge):
		return invalid(param, "The data in '%s' is too large: at most %d MB inline.", param, MaxInlineMediaBytes>>20)
	default:
		return invalid(param, "Invalid data URL in '%s'.", param)
	}
}

// ImageDataURL decodes the data URL of an image in an OpenAI-style request
// (image_url.url, image): base64 data whose media type is one of
// ImageMediaTypes, or, when the URL names none, whose bytes are sniffed as
// one. Failures are 400s about param in the OpenAI wording: the
// ParseDataURL errors, and "Invalid MIME type" for anything else
// (data:text/html, data:image/svg+xml, data:,text).
func ImageDataURL(u, param string) (*llm.Media, error) {
	m, err := ParseDataURL(u)
	if err != nil {
		return nil, dataURLError(err, param)
	}
	mt := m.MIMEType
	if mt == "" {
		mt, _, _ = strings.Cut(http.DetectContentType(m.Data), ";")
	}
	mt, ok := ImageMediaType(mt)
	if !ok {
		return nil, invalid(param, "Invalid MIME type %q in '%s': only image types are supported (%s).", mt, param, strings.Join(ImageMediaTypes, ", "))
	}
	m.MIMEType = mt
	return m, nil
}

// ImageURLForm is the form an API defines for an image_url value.
type ImageURLForm int

// Image URL forms.
const (
	// ImageURLObject is {"url": ...} (Chat Completions, moderations).
	ImageURLObject ImageURLForm = iota
	// ImageURLString is a bare URL string (Responses).
	ImageURLString
)

// ImageURL extracts the URL of an image_url value, accepting both a string
// and an object {"url": ...} whatever form the API defines. Failures are
// 400s in the OpenAI wording that name the defined form: a value of
// another JSON type ("expected an object" or "expected a string"), and a
// missing or empty URL, reported on param+".url" for the object form and
// on param for the string form.
func ImageURL(raw json.RawMessage, param string, form ImageURLForm) (string, error) {
	want, urlParam := "an object", param+".url"
	if form == ImageURLString {
		want, urlParam = "a string", param
	}
	if IsNull(raw) {
		return "", invalid(param, "Missing required parameter: '%s'.", param)
	}
	var u string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &u); err != nil {
			return "", invalid(param, "Invalid type for '%s': expected %s.", param, want)
		}
	} else {
		var obj struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return "", invalid(param, "Invalid type for '%s': expected %s.", param, want)
		}
		u = obj.URL
	}
	if u == "" {
		return "", invalid(urlParam, "Missing required parameter: '%s'.", urlParam)
	}
	return u, nil
}
