package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/llm"
)

// Limits on what a client sends that is stored or echoed, shared by the
// chat front-ends (openai, responses, anthropic). Where the official APIs
// document a limit it is theirs; the others are generous bounds that no
// real client reaches, so that nothing a client controls grows the
// database or the answers without bound.
const (
	// MaxModelBytes bounds a model name. Model names reach the chat
	// bindings table (one row per account, model and client key) and
	// every answer's "model".
	MaxModelBytes = llm.MaxModelBytes
	// MaxToolNameBytes bounds a function (tool) name: the OpenAI limit.
	MaxToolNameBytes = 64
	// MaxAnthropicToolNameBytes bounds an Anthropic tool name (its
	// schema's ^[a-zA-Z0-9_-]{1,128}$).
	MaxAnthropicToolNameBytes = 128
	// MaxIDBytes bounds ids a client sends back (previous_response_id,
	// tool call ids, item ids): spark's own ids are under 64 bytes.
	MaxIDBytes = 256
	// MaxUserBytes bounds the end-user identifiers (OpenAI "user",
	// Anthropic metadata.user_id, which the Anthropic API caps at 256).
	MaxUserBytes = 256
	// MaxMetadataPairs, MaxMetadataKeyBytes and MaxMetadataValueBytes are
	// the OpenAI limits of "metadata": at most 16 pairs, keys up to 64
	// and values up to 512 characters.
	MaxMetadataPairs      = 16
	MaxMetadataKeyBytes   = 64
	MaxMetadataValueBytes = 512
	// MaxChatStops is the Chat Completions limit on stop strings.
	MaxChatStops = 4
	// MaxStopSequences and MaxStopBytes bound Anthropic stop_sequences,
	// which the front-end itself matches against the answer (its API
	// documents no limit).
	MaxStopSequences = 32
	MaxStopBytes     = 1024
	// MinThinkingBudget is the smallest Anthropic thinking budget.
	MinThinkingBudget = 1024
)

// ValidToolName reports whether name is a valid function name: non-empty,
// at most max bytes, only ASCII letters, digits, '_' and '-' (the pattern
// ^[a-zA-Z0-9_-]+$ of both official APIs).
func ValidToolName(name string, max int) bool {
	if name == "" || len(name) > max {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// DecodeObject is DecodeJSON for a request body that must be a JSON
// object: a body of JSON null, which decodes without error into any Go
// value, is refused with 400 "The request body must be a JSON object."
// (worded as notObject says, when it is not empty). v must be a non-nil
// pointer to a struct.
func DecodeObject[T any](w http.ResponseWriter, r *http.Request, limit int64, words *BodyErrors, notObject string) (*T, error) {
	var v *T
	if err := DecodeJSON(w, r, limit, &v, words); err != nil {
		return nil, err
	}
	if v == nil {
		if notObject == "" {
			notObject = "The request body must be a JSON object."
		}
		return nil, Invalid("", "%s", notObject)
	}
	return v, nil
}

// IsEmptyArray reports whether raw is the JSON array [] (spaces allowed).
func IsEmptyArray(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("[]"))
}

// The checks below word their errors as the OpenAI API does (400
// invalid_request_error with the field as param); the Anthropic front-end
// words its own.

// CheckRange refuses a number outside [lo, hi]; nil (absent) passes.
func CheckRange(param string, v *float64, lo, hi float64) error {
	switch {
	case v == nil:
		return nil
	case math.IsNaN(*v) || *v < lo:
		return Invalid(param, "Invalid '%s': decimal below minimum value. Expected a value >= %s, but got %s instead.", param, num(lo), num(*v))
	case *v > hi:
		return Invalid(param, "Invalid '%s': decimal above maximum value. Expected a value <= %s, but got %s instead.", param, num(hi), num(*v))
	}
	return nil
}

// CheckIntRange refuses an integer outside [lo, hi]; nil (absent) passes.
func CheckIntRange(param string, v *int, lo, hi int) error {
	switch {
	case v == nil:
		return nil
	case *v < lo:
		return Invalid(param, "Invalid '%s': integer below minimum value. Expected a value >= %d, but got %d instead.", param, lo, *v)
	case *v > hi:
		return Invalid(param, "Invalid '%s': integer above maximum value. Expected a value <= %d, but got %d instead.", param, hi, *v)
	}
	return nil
}

// CheckLength refuses a string longer than max bytes.
func CheckLength(param, s string, max int) error {
	if len(s) > max {
		return Invalid(param, "Invalid '%s': string too long. Expected a string with maximum length %d, but got a string with length %d instead.", param, max, len(s))
	}
	return nil
}

// CheckToolName refuses a function name that is not ValidToolName(name,
// MaxToolNameBytes) (an empty one is the caller's "missing" error).
func CheckToolName(param, name string) error {
	if err := CheckLength(param, name, MaxToolNameBytes); err != nil {
		return err
	}
	if !ValidToolName(name, MaxToolNameBytes) {
		return Invalid(param, "Invalid '%s': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", param)
	}
	return nil
}

// DecodeMetadata decodes an OpenAI "metadata" object (null or absent: an
// empty map) within the OpenAI limits: at most MaxMetadataPairs string
// pairs, keys up to MaxMetadataKeyBytes, values up to
// MaxMetadataValueBytes.
func DecodeMetadata(raw json.RawMessage) (map[string]string, error) {
	md := map[string]string{}
	if IsNull(raw) {
		return md, nil
	}
	if err := json.Unmarshal(raw, &md); err != nil {
		return nil, Invalid("metadata", "Invalid type for 'metadata': expected an object with string values.")
	}
	if len(md) > MaxMetadataPairs {
		return nil, Invalid("metadata", "Invalid 'metadata': too many properties. Expected an object with at most %d properties, but got an object with %d properties instead.", MaxMetadataPairs, len(md))
	}
	for k, v := range md {
		if len(k) > MaxMetadataKeyBytes {
			return nil, Invalid("metadata", "Invalid 'metadata': key too long. Expected keys with maximum length %d, but got a key with length %d instead.", MaxMetadataKeyBytes, len(k))
		}
		if err := CheckLength("metadata."+k, v, MaxMetadataValueBytes); err != nil {
			return nil, err
		}
	}
	return md, nil
}

// num formats a number as the OpenAI API's errors do (5, -0.5).
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Truncate returns s cut to at most max bytes (on a rune boundary) with
// "..." appended when it was cut, for echoing client values in error
// messages.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// MaxFileNameBytes bounds the name of an uploaded file (a multipart file
// name), the common file-system limit; names go upstream with the file.
const MaxFileNameBytes = 255

// CheckModelName is CheckLength for a model name: at most MaxModelBytes.
func CheckModelName(param, name string) error {
	return CheckLength(param, name, MaxModelBytes)
}
