package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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

// DecodeJSON reads the JSON body of r into v, at most limit bytes (the
// excess is refused through http.MaxBytesReader, which also makes the
// server close the connection). It returns nil or a *gw.Error worded by
// words (nil means the OpenAI wording):
//
//   - 413 CodeTooLarge for a body over limit;
//   - 400 "The request body must be a JSON object." when the body is a JSON
//     value of another kind;
//   - 400 with Param set to the field's path for a field of the wrong type;
//   - 400 "The request body is empty; expected a JSON object.";
//   - 400 for invalid JSON (truncated included);
//   - the *gw.Error the body reader itself failed with (the server's 408
//     when the body did not arrive before its read deadline);
//   - the Unreadable error when reading failed otherwise.
//
// The decoding error is the Cause of the returned error.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, words *BodyErrors) error {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v)
	if err == nil {
		// Done with the body: closing it here (the server reads what is
		// left, for keep-alive) spares the server doing so when the answer
		// starts, deep in a streaming handler's stack.
		_ = r.Body.Close()
		return nil
	}
	if words == nil {
		words = &BodyErrors{}
	}
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
		readErr  *gw.Error
	)
	switch {
	case errors.As(err, &readErr):
		return readErr
	case errors.As(err, &tooLarge):
		msg := fmt.Sprintf("Request body too large: the limit is %d bytes.", tooLarge.Limit)
		if words.TooLarge != nil {
			msg = words.TooLarge(tooLarge.Limit)
		}
		return &gw.Error{Code: gw.CodeTooLarge, Cause: err, Message: msg}
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
	case errors.Is(err, io.EOF):
		return gw.Errorf(gw.CodeInvalidRequest, "The request body is empty; expected a JSON object.")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		msg := words.Malformed
		if msg == "" {
			msg = "We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON."
		}
		return &gw.Error{Code: gw.CodeInvalidRequest, Cause: err, Message: msg}
	default:
		code, msg := words.Unreadable, words.UnreadableMessage
		if code == "" {
			code = gw.CodeInvalidRequest
		}
		if msg == "" {
			msg = "Could not read the request body."
		}
		return &gw.Error{Code: code, Cause: err, Message: msg}
	}
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
