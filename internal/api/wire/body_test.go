package wire_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
)

// body is the request body DecodeJSON is tested on.
type body struct {
	Model    string   `json:"model"`
	N        *int     `json:"n"`
	Stream   bool     `json:"stream"`
	Stop     []string `json:"stop"`
	Messages []struct {
		Role string `json:"role"`
	} `json:"messages"`
	Nested struct {
		Temperature float64 `json:"temperature"`
	} `json:"nested"`
}

// failingReader fails every read.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// anthropicWords is a non-default wording, like the Anthropic front-end's.
var anthropicWords = wire.BodyErrors{
	TooLarge: func(limit int64) string {
		return fmt.Sprintf("Request exceeds the maximum allowed number of bytes (%d).", limit)
	},
	WrongType: func(te *json.UnmarshalTypeError) string {
		return fmt.Sprintf("%s: Input should be %s", te.Field, te.Value)
	},
	Malformed:         "not JSON",
	Unreadable:        gw.CodeCanceled,
	UnreadableMessage: "gone",
}

// malformed is the OpenAI message for a body that is not valid JSON.
const malformed = "We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON."

func TestDecodeJSON(t *testing.T) {
	const limit = 64
	tests := []struct {
		name    string
		body    string
		words   *wire.BodyErrors
		code    gw.Code
		param   string
		message string
	}{
		{"OK", `{"model":"m","n":1,"stop":["x"]}`, nil, "", "", ""},
		{"OKTrailingSpace", "{\"model\":\"m\"} \r\n\t", nil, "", "", ""},
		{"OKDuplicateKeyLastWins", `{"model":"x","model":"m"}`, nil, "", "", ""},
		{"OKEscapedSurrogate", `{"model":"m","stop":["\ud800"]}`, nil, "", "", ""},
		{"TrailingData", `{"model":"m"} garbage`, nil, gw.CodeInvalidRequest, "", malformed},
		{"TrailingObject", `{"model":"m"}{}`, nil, gw.CodeInvalidRequest, "", malformed},
		{"TrailingDataWorded", `{"model":"m"}]`, &anthropicWords, gw.CodeInvalidRequest, "", "not JSON"},
		{"Null", `null`, nil, gw.CodeInvalidRequest, "", "The request body must be a JSON object."},
		{"NullSpaced", " null ", &anthropicWords, gw.CodeInvalidRequest, "", "The request body must be a JSON object."},
		{"Number", `12`, nil, gw.CodeInvalidRequest, "", "The request body must be a JSON object."},
		{"Bool", `true`, nil, gw.CodeInvalidRequest, "", "The request body must be a JSON object."},
		{"NullThenGarbage", `null x`, nil, gw.CodeInvalidRequest, "", malformed},
		{"InvalidUTF8", "{\"model\":\"m\xff\"}", nil, gw.CodeInvalidRequest, "", malformed},
		{"InvalidUTF8Worded", "{\"model\":\"\xc3\"}", &anthropicWords, gw.CodeInvalidRequest, "", "not JSON"},
		{"ByteOrderMark", "\xef\xbb\xbf{\"model\":\"m\"}", nil, gw.CodeInvalidRequest, "", malformed},
		{"TooLarge", `{"model":"` + strings.Repeat("x", limit) + `"}`, nil, gw.CodeTooLarge, "",
			"Request body too large: the limit is 64 bytes."},
		{"TooLargeWorded", `{"model":"` + strings.Repeat("x", limit) + `"}`, &anthropicWords, gw.CodeTooLarge, "",
			"Request exceeds the maximum allowed number of bytes (64)."},
		{"NotAnObject", `[1,2]`, nil, gw.CodeInvalidRequest, "", "The request body must be a JSON object."},
		{"NotAnObjectWorded", `"text"`, &anthropicWords, gw.CodeInvalidRequest, "", "The request body must be a JSON object."},
		{"WrongTypeString", `{"model":5}`, nil, gw.CodeInvalidRequest, "model",
			"Invalid type for 'model': expected a string, but got a JSON number."},
		{"WrongTypePointer", `{"n":"one"}`, nil, gw.CodeInvalidRequest, "n",
			"Invalid type for 'n': expected a number, but got a JSON string."},
		{"WrongTypeBool", `{"stream":"yes"}`, nil, gw.CodeInvalidRequest, "stream",
			"Invalid type for 'stream': expected a boolean, but got a JSON string."},
		{"WrongTypeArray", `{"stop":"x"}`, nil, gw.CodeInvalidRequest, "stop",
			"Invalid type for 'stop': expected an array, but got a JSON string."},
		{"WrongTypeNested", `{"nested":{"temperature":"hot"}}`, nil, gw.CodeInvalidRequest, "nested.temperature",
			"Invalid type for 'nested.temperature': expected a number, but got a JSON string."},
		{"WrongTypeObject", `{"messages":[1]}`, nil, gw.CodeInvalidRequest, "messages",
			"Invalid type for 'messages': expected an object, but got a JSON number."},
		{"WrongTypeWorded", `{"model":true}`, &anthropicWords, gw.CodeInvalidRequest, "model", "model: Input should be bool"},
		{"Empty", ``, nil, gw.CodeInvalidRequest, "", "The request body is empty; expected a JSON object."},
		{"OnlySpace", " \n", &anthropicWords, gw.CodeInvalidRequest, "", "The request body is empty; expected a JSON object."},
		{"Malformed", `{"model":}`, nil, gw.CodeInvalidRequest, "",
			"We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON."},
		{"Truncated", `{"model":"m"`, nil, gw.CodeInvalidRequest, "",
			"We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON."},
		{"MalformedWorded", `{,}`, &anthropicWords, gw.CodeInvalidRequest, "", "not JSON"},
		{"Unreadable", "", nil, gw.CodeInvalidRequest, "", "Could not read the request body."},
		{"UnreadableWorded", "", &anthropicWords, gw.CodeCanceled, "", "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *http.Request
			if strings.HasPrefix(tt.name, "Unreadable") {
				r = httptest.NewRequest(http.MethodPost, "/", failingReader{})
			} else {
				r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			}
			var v body
			err := wire.DecodeJSON(httptest.NewRecorder(), r, limit, &v, tt.words)
			if tt.code == "" {
				if err != nil || v.Model != "m" {
					t.Fatalf("err %v, model %q", err, v.Model)
				}
				return
			}
			var e *gw.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Param != tt.param || e.Message != tt.message {
				t.Fatalf("error %#v\nwant %s on %q: %q", err, tt.code, tt.param, tt.message)
			}
			if tt.name != "Empty" && tt.name != "OnlySpace" && e.Cause == nil {
				t.Error("the decoding error is not the cause")
			}
		})
	}
}

// nest wraps inner in depth levels of alternating arrays and objects.
func nest(depth int, inner string) string {
	var open, closing strings.Builder
	for i := range depth {
		if i%2 == 0 {
			open.WriteString(`{"a":`)
			closing.WriteString("}")
		} else {
			open.WriteString("[")
			closing.WriteString("]")
		}
	}
	c := []byte(closing.String())
	slices.Reverse(c)
	return open.String() + inner + string(c)
}

func TestDecodeJSONDepth(t *testing.T) {
	tooDeep := fmt.Sprintf("The request body nests arrays and objects too deeply: at most %d levels are allowed.", wire.MaxJSONDepth)
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"AtTheLimit", nest(wire.MaxJSONDepth, "1"), true},
		{"OneTooDeep", nest(wire.MaxJSONDepth+1, "1"), false},
		{"JSONLimit", nest(10001, "1"), false},
		{"Unclosed", strings.Repeat("[", 1<<16), false},
		// Brackets inside strings, escaped quotes included, do not count.
		{"BracketsInStrings", `{"a":"` + strings.Repeat(`[{\"`, 300) + `","b":["\\",` + nest(100, `"]]]\"{{{"`) + `]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			var v map[string]any
			err := wire.DecodeJSON(httptest.NewRecorder(), r, 1<<20, &v, nil)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *gw.Error
			if !errors.As(err, &e) || e.Code != gw.CodeInvalidRequest || e.Message != tooDeep {
				t.Fatalf("error %#v, want %q", err, tooDeep)
			}
		})
	}
}

func TestJSONKind(t *testing.T) {
	tests := map[string]string{
		"string":          "a string",
		"bool":            "a boolean",
		"int":             "a number",
		"int64":           "a number",
		"uint8":           "a number",
		"float64":         "a number",
		"*int":            "a number",
		"**string":        "a string",
		"[]string":        "an array",
		"*[]int":          "an array",
		"map[string]any":  "an object",
		"openai.chatTool": "an object",
		"struct {}":       "an object",
	}
	for goType, want := range tests {
		if got := wire.JSONKind(goType); got != want {
			t.Errorf("JSONKind(%q) = %q, want %q", goType, got, want)
		}
	}
}

func TestTypeErrorDetail(t *testing.T) {
	var parts []struct {
		Text string `json:"text"`
	}
	err := json.Unmarshal([]byte(`[{"text":5}]`), &parts)
	if got := wire.TypeErrorDetail(err, "malformed part"); got != "'text' must be a string" {
		t.Errorf("field error: %q", got)
	}
	err = json.Unmarshal([]byte(`5`), &parts)
	if got := wire.TypeErrorDetail(err, "malformed part"); got != "malformed part" {
		t.Errorf("top-level error: %q", got)
	}
	err = json.Unmarshal([]byte(`[{`), &parts)
	if got := wire.TypeErrorDetail(err, "malformed value"); got != "malformed value" {
		t.Errorf("syntax error: %q", got)
	}
	if got := wire.TypeErrorDetail(io.EOF, "x"); got != "x" {
		t.Errorf("other error: %q", got)
	}
}

func TestIsNull(t *testing.T) {
	tests := map[string]bool{
		"":         true,
		"null":     true,
		" null\n":  true,
		"\t":       true,
		`"null"`:   false,
		"nul":      false,
		"0":        false,
		"{}":       false,
		"nullnull": false,
	}
	for raw, want := range tests {
		if got := wire.IsNull(json.RawMessage(raw)); got != want {
			t.Errorf("IsNull(%q) = %v", raw, got)
		}
	}
	if !wire.IsNull(nil) {
		t.Error("IsNull(nil) = false")
	}
}

func TestArgumentsText(t *testing.T) {
	tests := []struct {
		raw, want string
		bad       bool
	}{
		{``, "{}", false},
		{`null`, "{}", false},
		{`""`, "{}", false},
		{`"{\"a\":1}"`, `{"a":1}`, false},
		{`"not json"`, "not json", false}, // passed on as sent
		{`{"a":1}`, `{"a":1}`, false},
		{` {"a":1} `, `{"a":1}`, false},
		{`[1]`, "", true},
		{`5`, "", true},
		{`true`, "", true},
	}
	for _, tt := range tests {
		got, err := wire.ArgumentsText(json.RawMessage(tt.raw), "p")
		if tt.bad {
			var e *gw.Error
			if !errors.As(err, &e) || e.Code != gw.CodeInvalidRequest || e.Param != "p" || e.Message != "Invalid type for 'p': expected a string." {
				t.Errorf("ArgumentsText(%s) = %q, %v; want a 400", tt.raw, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ArgumentsText(%s) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

// BenchmarkDecodeJSON measures the shared decoder on a typical chat body
// and on one carrying a 1 MB base64 image (the checks before decoding
// are a small part of either).
func BenchmarkDecodeJSON(b *testing.B) {
	type message struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	type request struct {
		Model    string    `json:"model"`
		Messages []message `json:"messages"`
		Tools    []any     `json:"tools"`
	}
	chat := `{"model":"gpt-4o","messages":[` + strings.Repeat(`{"role":"user","content":"Explain the \"difference\" between [a] and {b}, please."},`, 20) +
		`{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}]}`
	image := `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` +
		strings.Repeat("iVBORw0KGgoAAAAN", 1<<16) + `"}}]}]}`
	for _, bb := range []struct{ name, body string }{{"Chat", chat}, {"Image1MB", image}} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.body)))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(bb.body))
				var v request
				if err := wire.DecodeJSON(httptest.NewRecorder(), r, 32<<20, &v, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
