package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
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
)

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
// ("YQ==", not "YQ="). Empty input is invalid.
func DecodeBase64(s string) ([]byte, bool) {
	s = stripSpace(strings.TrimSpace(s))
	if s == "" {
		return nil, false
	}
	enc := base64Encoding(s)
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

// DecodeBase64AnyPadding is DecodeBase64 ignoring any number of trailing
// '=' ("YQ", "YQ=", "YQ==" and "YQ===" all decode to "a"). Input that is
// empty once whitespace and padding are removed is invalid.
func DecodeBase64AnyPadding(s string) ([]byte, bool) {
	s = strings.TrimRight(stripSpace(s), "=")
	if s == "" {
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
// ErrDataURLComma, ErrBase64 and ErrDataURLEscape.
func ParseDataURL(u string) (*llm.Media, error) {
	d, err := SplitDataURL(u)
	if err != nil {
		return nil, err
	}
	m := &llm.Media{MIMEType: d.MediaType}
	if d.Base64 {
		b, ok := DecodeBase64(d.Data)
		if !ok {
			return nil, ErrBase64
		}
		m.Data = b
	} else {
		s, err := url.PathUnescape(d.Data)
		if err != nil {
			return nil, ErrDataURLEscape
		}
		m.Data = []byte(s)
	}
	return m, nil
}

// MediaFromURL converts an image or file URL of an OpenAI-style request: a
// data URL becomes inline bytes (text/plain when it names no media type),
// an http(s) URL is kept for the gateway to fetch. Failures are 400s about
// param in the OpenAI wording; image picks "image" or "file" in the message
// for other URLs.
func MediaFromURL(u, param string, image bool) (*llm.Media, error) {
	if HasPrefixFold(u, "data:") {
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
	switch {
	case errors.Is(err, ErrBase64):
		return nil, invalid(param, "Invalid base64 data in '%s'.", param)
	case errors.Is(err, ErrDataURLComma):
		return nil, invalid(param, "Invalid data URL in '%s': missing ','.", param)
	case err != nil:
		return nil, invalid(param, "Invalid data URL in '%s'.", param)
	}
	if m.MIMEType == "" {
		m.MIMEType = "text/plain"
	}
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
