package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/gw"
)

// BodyErrors words the errors of DecodeJSON for one front-end. Each field
// left zero takes the OpenAI wording, so the zero value is the OpenAI
// API's.
type BodyErrors struct {
	// TooLarge words the 413 for a body over limit bytes. Default:
	// "Request body too large: the limit is <limit> bytes."
	TooLarge func(limit int64) string
	// WrongType words the 400 for a value of the wrong JSON type in a field
	// (te.Field is never empty). Default: "Invalid type for '<field>':
	// expected <JSONKind>, but got a JSON <value>."
	WrongType func(te *json.UnmarshalTypeError) string
	// Malformed is the 400 message for a body that is not valid JSON.
	// Default: "We could not parse the JSON body of your request. ..."
	Malformed string
	// Unreadable is the error code for a body that could not be read (the
	// client went away or sent a broken chunked encoding). Default:
	// gw.CodeInvalidRequest.
	Unreadable gw.Code
	// UnreadableMessage is its message. Default: "Could not read the
	// request body."
	UnreadableMessage string
}

// MaxJSONDepth bounds the nesting of arrays and objects in a JSON request
// body. encoding/json decodes nested values recursively and allows 10000
// levels, which costs a request goroutine megabytes of stack; the deepest
// legitimate bodies (a tool's JSON Schema inside a message list) stay far
// below 128 levels.
const MaxJSONDepth = 128

// maxPrealloc bounds the buffer allocated up front from a body's
// Content-Length: a client that announces the whole limit and sends
// nothing does not get that much memory reserved.
const maxPrealloc = 1 << 20

// DecodeJSON reads the JSON body of r into v, at most limit bytes (the
// excess is refused through http.MaxBytesReader, which also makes the
// server close the connection), and decodes it with DecodeJSONBytes. It
// returns nil or a *gw.Error worded by words (nil means the OpenAI
// wording): a 413 CodeTooLarge for a body over limit, the *gw.Error the
// body reader itself failed with (the server's 408 when the body did not
// arrive before its read deadline), the Unreadable error when reading
// failed otherwise, else what DecodeJSONBytes returns.
//
// The decoding error is the Cause of the returned error.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, words *BodyErrors) error {
	if words == nil {
		words = &BodyErrors{}
	}
	body, err := readBody(w, r, limit)
	// Done with the body: closing it here (the server reads what is left,
	// for keep-alive) spares the server doing so when the answer starts,
	// deep in a streaming handler's stack.
	_ = r.Body.Close()
	if err != nil {
		var readErr *gw.Error
		if errors.As(err, &readErr) {
			return readErr
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			msg := fmt.Sprintf("Request body too large: the limit is %d bytes.", tooLarge.Limit)
			if words.TooLarge != nil {
				msg = words.TooLarge(tooLarge.Limit)
			}
			return &gw.Error{Code: gw.CodeTooLarge, Cause: err, Message: msg}
		}
		code, msg := words.Unreadable, words.UnreadableMessage
		if code == "" {
			code = gw.CodeInvalidRequest
		}
		if msg == "" {
			msg = "Could not read the request body."
		}
		return &gw.Error{Code: code, Cause: err, Message: msg}
	}
	return DecodeJSONBytes(body, v, words)
}

// readBody reads r's body, at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	size := int64(bytes.MinRead)
	if n := r.ContentLength; n > 0 {
		size = min(n, limit, maxPrealloc) + bytes.MinRead
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return buf.Bytes(), err
}

// DecodeJSONBytes decodes body, a whole JSON request body, into v (a
// pointer to a struct or a map), strictly:
//
//   - 400 "The request body is empty; expected a JSON object." for an
//     empty (or all-space) body;
//   - 400 words.Malformed for invalid JSON: a syntax error, a truncated
//     value, data after the value ({...} garbage), or bytes that are not
//     UTF-8 (RFC 8259, section 8.1; the official APIs refuse them too);
//   - 400 "The request body must be a JSON object." for valid JSON of
//     another kind (null, an array, a string, a number, a boolean);
//   - 400 "The request body nests arrays and objects too deeply ..." past
//     MaxJSONDepth levels, checked before any decoding;
//   - 400 with Param set to the field's path for a field of the wrong type
//     (words.WrongType).
//
// Escaped invalid code points ("\ud800") are valid JSON and decode to
// U+FFFD, as encoding/json does. A key given twice keeps its last value,
// as Python's json module behind the official APIs does; keys match field
// names case-insensitively (encoding/json's rule). The work is linear in
// len(body) and the decoder's recursion is bounded by MaxJSONDepth.
func DecodeJSONBytes(body []byte, v any, words *BodyErrors) error {
	if words == nil {
		words = &BodyErrors{}
	}
	malformed := func(cause error) error {
		msg := words.Malformed
		if msg == "" {
			msg = "We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON."
		}
		return &gw.Error{Code: gw.CodeInvalidRequest, Cause: cause, Message: msg}
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return gw.Errorf(gw.CodeInvalidRequest, "The request body is empty; expected a JSON object.")
	}
	if !utf8.Valid(body) {
		return malformed(errInvalidUTF8)
	}
	if JSONDepthExceeds(body, MaxJSONDepth) {
		return &gw.Error{Code: gw.CodeInvalidRequest, Cause: errTooDeep,
			Message: fmt.Sprintf("The request body nests arrays and objects too deeply: at most %d levels are allowed.", MaxJSONDepth)}
	}
	if trimmed[0] != '{' {
		if !json.Valid(body) {
			return malformed(errors.New("invalid JSON"))
		}
		return &gw.Error{Code: gw.CodeInvalidRequest, Cause: errNotObject, Message: "The request body must be a JSON object."}
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &gw.Error{Code: gw.CodeInvalidRequest, Cause: err, Message: "The request body must be a JSON object."}
		}
		var msg string
		if words.WrongType != nil {
			msg = words.WrongType(typeErr)
		} else {
			msg = fmt.Sprintf("Invalid type for '%s': expected %s, but got a JSON %s.", typeErr.Field, JSONKind(typeErr.Type.String()), typeErr.Value)
		}
		return &gw.Error{Code: gw.CodeInvalidRequest, Param: typeErr.Field, Cause: err, Message: msg}
	default:
		// Syntax errors, trailing data and truncation; also the failure of
		// a field's own UnmarshalJSON, which only sees valid JSON.
		return malformed(err)
	}
}

// Causes of DecodeJSONBytes's errors that encoding/json does not name.
var (
	errInvalidUTF8 = errors.New("the body is not valid UTF-8")
	errTooDeep     = errors.New("JSON nesting too deep")
	errNotObject   = errors.New("the body is not a JSON object")
)

// JSONDepthExceeds reports whether the JSON text b nests arrays and objects
// more than max levels deep, counting brackets outside strings. It runs in
// time linear in len(b) without recursion; on invalid JSON its answer is
// only a bound (the decoder then reports the syntax error).
func JSONDepthExceeds(b []byte, max int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string: find its closing quote, one not escaped by
			// an odd run of backslashes.
			for {
				j := bytes.IndexByte(b[i+1:], '"')
				if j < 0 {
					return false // unterminated: a syntax error
				}
				i += 1 + j
				k := i - 1
				for b[k] == '\\' { // stops at the opening quote at worst
					k--
				}
				if (i-1-k)%2 == 0 {
					break
				}
			}
		case '[', '{':
			depth++
			if depth > max {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// JSONKind names a Go type (as reflect.Type.String spells it) in JSON terms
// for error messages, the OpenAI way: "a string", "a boolean", "a number",
// "an array" or "an object". Pointers name what they point to.
func JSONKind(goType string) string {
	goType = strings.TrimLeft(goType, "*")
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "float"), strings.HasPrefix(goType, "uint"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	default:
		return "an object"
	}
}

// TypeErrorDetail describes err, the failure to decode a nested value, for
// an error message: "'<field>' must be <JSONKind>" for a field of the wrong
// type, else fallback (such as "malformed part").
func TypeErrorDetail(err error, fallback string) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("'%s' must be %s", te.Field, JSONKind(te.Type.String()))
	}
	return fallback
}

// IsNull reports whether raw is absent or JSON null.
func IsNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// ArgumentsText returns the arguments of a function call in an
// OpenAI-style request as JSON text: the string the API specifies ("" and
// an absent or null value meaning "{}") or, leniently, the object some
// clients send instead. Anything else is a 400 about param.
func ArgumentsText(raw json.RawMessage, param string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if IsNull(raw) {
		return "{}", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalid(param, "Invalid type for '%s': expected a string.", param)
		}
		if s == "" {
			s = "{}"
		}
		return s, nil
	case '{':
		return string(raw), nil
	}
	return "", invalid(param, "Invalid type for '%s': expected a string.", param)
}
