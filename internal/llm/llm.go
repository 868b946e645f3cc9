// Package llm is spark's provider-neutral model of a chat exchange: a
// conversation of messages with typed parts, the options of one request, and
// the stream of typed events an upstream answers with.
//
// Client front-ends (OpenAI Chat and Responses, Anthropic Messages) translate
// their wire formats to and from these types; providers (the consumer web
// apps spark drives) consume and produce only these types. Nothing here knows a wire
// format.
package llm

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Role is who wrote a message.
type Role string

// Roles of a conversation. Developer messages of the OpenAI API map to
// RoleSystem; tool results travel as RoleTool messages.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// PartType says which field of a Part is meaningful.
type PartType string

// Kinds of message parts.
const (
	PartText       PartType = "text"
	PartImage      PartType = "image"
	PartFile       PartType = "file"
	PartToolCall   PartType = "tool_call"
	PartToolResult PartType = "tool_result"
	PartReasoning  PartType = "reasoning"
)

// Part is one typed piece of a message.
type Part struct {
	Type PartType
	// Text holds the text of PartText and PartReasoning.
	Text string
	// Media holds the payload of PartImage and PartFile.
	Media *Media
	// ToolCall holds an assistant's call (PartToolCall).
	ToolCall *ToolCall
	// ToolResult holds the answer to a call (PartToolResult).
	ToolResult *ToolResult
}

// Media is an image or file attached to a message: inline bytes or a URL
// that the gateway fetches (guarded) before handing it to an upstream.
type Media struct {
	MIMEType string // e.g. image/png, application/pdf; may be empty for URLs
	Name     string // file name if the client gave one
	Data     []byte // inline bytes (decoded base64)
	URL      string // http(s) URL when not inline
	// Account is the id of the upstream account that produced a generated
	// image or video (set on llm.EventImage media by the gateway). Fetching
	// URL may need that account's cookies (Gemini generated images); the
	// image proxy signs it into the URLs it mints. Empty on client media.
	Account string
}

// ToolCall is a function call made by the model.
type ToolCall struct {
	ID        string // call id (call_..., toolu_...)
	Name      string // function name
	Arguments string // JSON object text
}

// ToolResult is the output of a tool call, sent back by the client.
type ToolResult struct {
	CallID  string
	Name    string // function name when the client API carries it
	Content string // result text (structured results are rendered to text)
	IsError bool
}

// Message is one turn of a conversation.
type Message struct {
	Role  Role
	Name  string // optional participant name
	Parts []Part
}

// Text concatenates the text parts of m (reasoning excluded).
func (m Message) Text() string {
	var b strings.Builder
	for _, p := range m.Parts {
		if p.Type == PartText {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// TextMessage returns a message holding a single text part.
func TextMessage(role Role, text string) Message {
	return Message{Role: role, Parts: []Part{{Type: PartText, Text: text}}}
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage // JSON Schema of the arguments object; may be nil
}

// ToolChoiceMode controls whether and which tools the model must call.
type ToolChoiceMode string

// Tool choice modes, common to the three client APIs.
const (
	ToolChoiceAuto     ToolChoiceMode = "auto"
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required"
	ToolChoiceNamed    ToolChoiceMode = "tool" // exactly the tool in ToolChoice.Name
)

// ToolChoice is the request's tool policy. The zero value means auto.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string
}

// MaxModelBytes bounds a client's model name. Model names are stored
// (provider chat bindings are keyed by them) and echoed in answers; the
// front-ends refuse longer ones with a 400 in their dialect, and the
// gateway refuses them for any other caller.
const MaxModelBytes = 256

// Request is one chat request in provider-neutral form.
type Request struct {
	// Model is the model name exactly as the client sent it, at most
	// MaxModelBytes long.
	Model string
	// Messages is the conversation, system messages included.
	Messages []Message
	// Tools and ToolChoice describe function calling.
	Tools      []Tool
	ToolChoice ToolChoice
	// ParallelToolCalls allows several calls in one turn (default true).
	ParallelToolCalls bool
	// Optional sampling options; upstream web apps mostly ignore them.
	MaxTokens   int
	Temperature *float64
	TopP        *float64
	Stop        []string
	// Reasoning asks for the model's thinking when the upstream can show it.
	Reasoning bool
	// ReasoningEffort is the client's effort hint (low, medium, high, ...).
	ReasoningEffort string
	// ClientKey identifies the API key the request came with (a key id, never
	// the secret). Conversation bindings are scoped to it.
	ClientKey string
	// Generation holds the options of an image or video generation request
	// (/v1/images/*, /v1/videos/generations); nil for ordinary chat, and
	// providers then use their defaults. Providers that cannot honour an
	// option ignore it.
	Generation *GenerationOptions
	// Output asks for the answer as JSON (structured outputs); nil means
	// free text.
	Output *OutputFormat
}

// OutputKind is the form a structured answer must take.
type OutputKind string

// Output kinds.
const (
	// OutputJSONObject: any JSON object (OpenAI json_object).
	OutputJSONObject OutputKind = "json_object"
	// OutputJSONSchema: a JSON value valid against Schema.
	OutputJSONSchema OutputKind = "json_schema"
)

// OutputFormat is a client's request for a structured answer: chat
// response_format, Responses text.format, Anthropic output_config.format,
// Gemini generationConfig.responseSchema. Upstream web apps have no JSON
// mode, so the gateway emulates it.
type OutputFormat struct {
	Kind OutputKind
	// Name is the schema's name as the client gave it (may be empty).
	Name string
	// Description tells the model what the answer is for (may be empty).
	Description string
	// Schema is the JSON Schema of the answer (OutputJSONSchema only).
	Schema json.RawMessage
	// Strict is the client's strict flag (OpenAI); spark always validates.
	Strict bool
}

// GenerationOptions are the parameters of an image or video generation. The
// zero value of every field means "the provider's default".
type GenerationOptions struct {
	// N is how many images (or videos) to generate; 0 means 1. Front-ends
	// bound it; providers clamp it to what they support.
	N int
	// AspectRatio is the upstream aspect ratio ("1:1", "16:9", "9:16",
	// "4:3", "3:4", "3:2", "2:3") or "auto"; empty means the default (auto
	// for images, 16:9 for videos). Front-ends derive it from an OpenAI
	// size with AspectRatioForSize when the client gave a size.
	AspectRatio string
	// Size is the client's OpenAI size ("1024x1024", "1792x1024", "auto",
	// ...), verbatim, for providers that take pixel sizes.
	Size string
	// Quality is the client's quality hint ("standard", "hd", "low",
	// "medium", "high", "auto"); "hd" and "high" ask for high definition.
	Quality string
	// Style is the client's style hint ("vivid", "natural"); most
	// upstreams ignore it.
	Style string
	// Duration is a video's length in seconds; 0 means the default (5).
	Duration int
	// AutoPrompt lets the upstream rewrite (optimise) the prompt before
	// generating (an upstream option where one exists).
	AutoPrompt bool
}

// Count returns the number of items to generate: N, at least 1.
func (g *GenerationOptions) Count() int {
	if g == nil || g.N < 1 {
		return 1
	}
	return g.N
}

// HighDefinition reports whether Quality asks for high definition.
func (g *GenerationOptions) HighDefinition() bool {
	if g == nil {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(g.Quality)) {
	case "hd", "high":
		return true
	}
	return false
}

// AspectRatios are the aspect ratios AspectRatioForSize answers with, as
// width:height.
var AspectRatios = []string{"1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"}

// AspectRatioForSize maps an OpenAI image size to an aspect ratio:
//
//	"" / "auto"                           → "auto"
//	1024x1024, 512x512, 256x256 (any WxW) → "1:1"
//	1792x1024 → "16:9"   1024x1792 → "9:16"
//	1536x1024 → "3:2"    1024x1536 → "2:3"
//	any other WxH                         → the nearest of AspectRatios
//	a ratio itself ("16:9", "4:3", ...)   → unchanged when in AspectRatios
//
// ok is false for anything else (not WxH with positive integers, nor a
// known ratio).
func AspectRatioForSize(size string) (ratio string, ok bool) {
	s := strings.ToLower(strings.TrimSpace(size))
	if s == "" || s == "auto" {
		return "auto", true
	}
	for _, r := range AspectRatios {
		if s == r {
			return r, true
		}
	}
	ws, hs, found := strings.Cut(s, "x")
	if !found {
		return "", false
	}
	w, werr := strconv.Atoi(ws)
	h, herr := strconv.Atoi(hs)
	if werr != nil || herr != nil || w <= 0 || h <= 0 || w > 100000 || h > 100000 {
		return "", false
	}
	want := math.Log(float64(w) / float64(h))
	best, bestDist := "", math.Inf(1)
	for _, r := range AspectRatios {
		a, b, _ := strings.Cut(r, ":")
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		if d := math.Abs(math.Log(float64(x)/float64(y)) - want); d < bestDist {
			best, bestDist = r, d
		}
	}
	return best, true
}

// LastUserText returns the text of the last user message.
func (r *Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == RoleUser {
			return r.Messages[i].Text()
		}
	}
	return ""
}

// Usage counts tokens of one exchange. spark's counts are estimates made
// once per request with an offline tokenizer.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	ReasoningTokens  int // part of CompletionTokens
}

// TotalTokens is prompt plus completion tokens.
func (u Usage) TotalTokens() int { return u.PromptTokens + u.CompletionTokens }

// FinishReason says why the model stopped.
type FinishReason string

// Finish reasons, named as in the OpenAI API; front-ends map them to their
// own vocabulary.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
)

// ModelInfo describes one model a provider serves.
type ModelInfo struct {
	ID          string // name clients use (slug)
	DisplayName string
	InternalID  string // upstream's own id when it differs from ID
	Description string
	OwnedBy     string // provider name
	// ClaudeID, when set, is a claude-… name the provider also serves the
	// model under, listed to Anthropic clients (Claude Code offers only
	// names that contain "claude").
	ClaudeID string
	Kind     ModelKind
	Created  int64 // unix seconds, for the OpenAI list
}

// ModelKind separates chat models from image and video models.
type ModelKind string

// Kinds of models.
const (
	KindChat  ModelKind = "chat"
	KindImage ModelKind = "image"
	KindVideo ModelKind = "video"
)
