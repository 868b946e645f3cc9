package wire

import (
	"bytes"
	"encoding/json"
	"net/http"
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
	MaxModelBytes = 256
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
