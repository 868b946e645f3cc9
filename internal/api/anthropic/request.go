package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/structured"
	"github.com/sparkgw/spark/internal/toolcall"
)

// messagesRequest is the subset of MessageCreateParams (and of the
// count_tokens body) spark reads. Unknown fields are ignored: the SDKs and
// Claude Code add new ones monthly (metadata, context_management,
// container, service_tier, top_k, cache_control, betas, ...).
type messagesRequest struct {
	Model         string            `json:"model"`
	MaxTokens     *int              `json:"max_tokens"`
	Messages      []wireMessage     `json:"messages"`
	System        json.RawMessage   `json:"system"`
	StopSequences []string          `json:"stop_sequences"`
	Stream        bool              `json:"stream"`
	Temperature   *float64          `json:"temperature"`
	TopP          *float64          `json:"top_p"`
	TopK          *int              `json:"top_k"`
	Metadata      *wireMetadata     `json:"metadata"`
	Tools         []wireTool        `json:"tools"`
	ToolChoice    *wireToolChoice   `json:"tool_choice"`
	Thinking      *wireThinking     `json:"thinking"`
	OutputConfig  *wireOutputConfig `json:"output_config"`
	MCPServers    json.RawMessage   `json:"mcp_servers"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// wireBlock is any content block; which fields matter depends on Type.
type wireBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`        // text
	Source    json.RawMessage `json:"source"`      // image, document (object); search_result (string)
	Title     string          `json:"title"`       // document, search_result
	Context   string          `json:"context"`     // document
	ID        string          `json:"id"`          // tool_use
	Name      string          `json:"name"`        // tool_use
	Input     json.RawMessage `json:"input"`       // tool_use
	ToolUseID string          `json:"tool_use_id"` // tool_result
	Content   json.RawMessage `json:"content"`     // tool_result, search_result
	IsError   bool            `json:"is_error"`    // tool_result
	ToolName  string          `json:"tool_name"`   // tool_reference
}

type wireSource struct {
	Type      string          `json:"type"`
	MediaType string          `json:"media_type"`
	Data      string          `json:"data"`
	URL       string          `json:"url"`
	FileID    string          `json:"file_id"`
	Content   json.RawMessage `json:"content"`
}

type wireTool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	DeferLoading bool            `json:"defer_loading"`
}

type wireToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

type wireThinking struct {
	Type         string `json:"type"`
	BudgetTokens *int   `json:"budget_tokens"`
	Display      string `json:"display"`
}

type wireMetadata struct {
	UserID *string `json:"user_id"`
}

type wireOutputConfig struct {
	Effort string          `json:"effort"`
	Format json.RawMessage `json:"format"`
}

// params is a parsed request: the neutral request plus what only shapes the
// wire answer.
type params struct {
	req    llm.Request
	model  string // as requested; once answered, the model the backend resolved it to (llm.ModelOf)
	stream bool
	// stop holds the stop sequences, applied by the front-end because the
	// upstreams ignore them.
	stop []string
	// thinking says whether reasoning is answered as thinking blocks: the
	// client enabled thinking and did not ask for display "omitted".
	thinking bool
}

// bodyErrors words the errors of a JSON request body the way the Anthropic
// API does.
var bodyErrors = wire.BodyErrors{
	TooLarge: func(limit int64) string {
		return fmt.Sprintf("Request exceeds the maximum allowed number of bytes (%d).", limit)
	},
	WrongType: func(te *json.UnmarshalTypeError) string {
		return fmt.Sprintf("%s: Input should be %s", te.Field, jsonKind(te.Type.String()))
	},
	Malformed: "There was an error parsing the body of your request: it is not valid JSON.",
}

// jsonKind names a Go type in JSON terms for error messages.
func jsonKind(goType string) string {
	switch {
	case goType == "string":
		return "a valid string"
	case goType == "bool":
		return "a valid boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a valid integer"
	case strings.HasPrefix(goType, "float"):
		return "a valid number"
	case strings.HasPrefix(goType, "[]"):
		return "a valid list"
	default:
		return "a valid object"
	}
}

// decodeRequest reads the request body: a JSON object (null is refused).
func (h *Handler) decodeRequest(w http.ResponseWriter, r *http.Request) (*messagesRequest, error) {
	return wire.DecodeObject[messagesRequest](w, r, h.opts.MaxBodyBytes, &bodyErrors, "")
}

// validate applies the limits of the Anthropic API to the top-level
// parameters (required fields, ranges, counts, lengths), worded as the
// API words them. count relaxes it for count_tokens, which takes no
// max_tokens and refuses nothing only generation needs. The messages and
// tools are checked as they are converted (buildRequest).
func (mr *messagesRequest) validate(count bool) error {
	if strings.TrimSpace(mr.Model) == "" {
		return wire.InvalidField("model", "Field required")
	}
	if len(mr.Model) > wire.MaxModelBytes {
		return wire.InvalidField("model", "String should have at most %d characters", wire.MaxModelBytes)
	}
	if !count {
		if mr.MaxTokens == nil {
			return wire.InvalidField("max_tokens", "Field required")
		}
		if *mr.MaxTokens < 1 {
			return wire.InvalidField("max_tokens", "Input should be greater than or equal to 1")
		}
	}
	if mr.Messages == nil {
		return wire.InvalidField("messages", "Field required")
	}
	if len(mr.Messages) == 0 {
		return wire.InvalidField("messages", "at least one message is required")
	}
	for _, c := range []struct {
		param string
		v     *float64
	}{{"temperature", mr.Temperature}, {"top_p", mr.TopP}} {
		switch {
		case c.v == nil:
		case math.IsNaN(*c.v) || *c.v < 0:
			return wire.InvalidField(c.param, "Input should be greater than or equal to 0")
		case *c.v > 1:
			return wire.InvalidField(c.param, "Input should be less than or equal to 1")
		}
	}
	if mr.TopK != nil && *mr.TopK < 0 {
		return wire.InvalidField("top_k", "Input should be greater than or equal to 0")
	}
	if len(mr.StopSequences) > wire.MaxStopSequences {
		return wire.InvalidField("stop_sequences", "List should have at most %d items after validation, not %d", wire.MaxStopSequences, len(mr.StopSequences))
	}
	for i, s := range mr.StopSequences {
		if len(s) > wire.MaxStopBytes {
			return wire.InvalidField("stop_sequences."+strconv.Itoa(i), "String should have at most %d characters", wire.MaxStopBytes)
		}
	}
	if md := mr.Metadata; md != nil && md.UserID != nil && len(*md.UserID) > wire.MaxUserBytes {
		return wire.InvalidField("metadata.user_id", "String should have at most %d characters", wire.MaxUserBytes)
	}
	if t := mr.Thinking; t != nil {
		switch t.Type {
		case "enabled":
			b := t.BudgetTokens
			if b == nil {
				return wire.InvalidField("thinking.enabled.budget_tokens", "Field required")
			}
			if *b < wire.MinThinkingBudget {
				return wire.InvalidField("thinking.enabled.budget_tokens", "Input should be greater than or equal to %d", wire.MinThinkingBudget)
			}
			if !count && *b >= *mr.MaxTokens {
				return wire.InvalidField("max_tokens", "`max_tokens` must be greater than `thinking.budget_tokens` (%d)", *b)
			}
		case "disabled", "adaptive":
		case "":
			return wire.InvalidField("thinking.type", "Field required")
		default:
			return wire.InvalidField("thinking", "Input tag '%s' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'", wire.Truncate(t.Type, 64))
		}
	}
	if !count {
		if !wire.IsNull(mr.MCPServers) && !wire.IsEmptyArray(mr.MCPServers) {
			return wire.InvalidField("mcp_servers", "the MCP connector is not supported by this gateway; connect MCP servers in your client (Claude Code does) and pass their tools as custom tools")
		}
	}
	return nil
}

// buildRequest converts a validated mr to neutral form (and refuses what
// only the conversion finds wrong). count relaxes it for count_tokens:
// features the gateway cannot run (server tools) are counted instead of
// refused, since nothing is generated.
func buildRequest(mr *messagesRequest, count bool, files *wire.FileResolver) (*params, error) {
	p := &params{stream: mr.Stream && !count, model: mr.Model}
	req := &p.req
	req.Model = mr.Model
	if !count {
		req.MaxTokens = *mr.MaxTokens
	}

	c := converter{files: files}
	sys, err := c.system(mr.System)
	if err != nil {
		return nil, err
	}
	if len(sys) > 0 {
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleSystem, Parts: sys})
	}
	for i := range mr.Messages {
		if err := c.message(&mr.Messages[i], "messages."+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	req.Messages = append(req.Messages, c.out...)

	if err := parseTools(mr, req, c.refs, count); err != nil {
		return nil, err
	}

	req.Temperature = mr.Temperature
	req.TopP = mr.TopP
	for _, s := range mr.StopSequences {
		if s != "" {
			p.stop = append(p.stop, s)
		}
	}
	req.Stop = p.stop

	if t := mr.Thinking; t != nil && t.Type != "disabled" {
		// enabled or adaptive: the client wants the model to think.
		req.Reasoning = true
		p.thinking = t.Display != "omitted"
	}
	if mr.OutputConfig != nil && mr.OutputConfig.Effort != "" {
		req.ReasoningEffort = mr.OutputConfig.Effort
	}
	if mr.OutputConfig != nil {
		if req.Output, err = parseOutputFormat(mr.OutputConfig.Format); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parseOutputFormat reads output_config.format: {"type": "json_schema",
// "schema": {...}} asks for a JSON value valid against the schema. A schema
// the structured-output emulator cannot use is refused here.
func parseOutputFormat(raw json.RawMessage) (*llm.OutputFormat, error) {
	if wire.IsNull(raw) {
		return nil, nil
	}
	var f struct {
		Type   string          `json:"type"`
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, wire.InvalidField("output_config.format", "Input should be a valid dictionary")
	}
	switch f.Type {
	case "json_schema":
	case "":
		return nil, wire.InvalidField("output_config.format.type", "Field required")
	default:
		return nil, wire.InvalidField("output_config.format", "Input tag '%s' found using 'type' does not match any of the expected tags: 'json_schema'", wire.Truncate(f.Type, 64))
	}
	if wire.IsNull(f.Schema) {
		return nil, wire.InvalidField("output_config.format.schema", "Field required")
	}
	if err := structured.CheckSchema(f.Schema); err != nil {
		return nil, wire.InvalidField("output_config.format.schema", "invalid JSON Schema: %v", err)
	}
	return &llm.OutputFormat{Kind: llm.OutputJSONSchema, Schema: f.Schema, Strict: true}, nil
}

// converter turns Anthropic messages into neutral ones.
type converter struct {
	out []llm.Message
	// names maps tool_use ids of the history to their tool names, so that
	// results carry the name too.
	names map[string]string
	// refs holds the tool names of tool_reference blocks (tool search
	// results): deferred tools they name are offered to the model.
	refs map[string]bool
	// uses holds the tool_use ids of the latest assistant turn (consecutive
	// assistant messages make one turn, as the API merges them): the ids
	// tool_result blocks may answer.
	uses map[string]bool
	// lastRole is the role of the previous message.
	lastRole string
	// files resolves the ids of "file" sources (nil refuses them).
	files *wire.FileResolver
}

// system converts the system prompt: a string or an array of text blocks
// (cache_control and citations are ignored).
func (c *converter) system(raw json.RawMessage) ([]llm.Part, error) {
	if wire.IsNull(raw) {
		return nil, nil
	}
	if raw[0] == '"' {
		s, ok := wire.UnquoteString(raw)
		if !ok && json.Unmarshal(raw, &s) != nil || s == "" {
			return nil, nil
		}
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	}
	if raw[0] != '[' {
		return nil, wire.InvalidField("system", "Input should be a valid string or a list of text blocks")
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, wire.InvalidField("system", "Input should be a list of text blocks (%s)", typeErrorDetail(err))
	}
	var parts []llm.Part
	for i := range blocks {
		b := &blocks[i]
		if b.Type != "text" {
			return nil, wire.InvalidField("system."+strconv.Itoa(i)+".type", "Input should be 'text' (system prompts hold text blocks only), got '%s'", b.Type)
		}
		if b.Text != "" {
			parts = append(parts, llm.Part{Type: llm.PartText, Text: b.Text})
		}
	}
	return parts, nil
}

// message converts one message and appends the result to c.out: usually one
// message, but each tool_result block of a user turn becomes its own
// RoleTool message, in order.
func (c *converter) message(m *wireMessage, param string) error {
	var role llm.Role
	switch m.Role {
	case "user":
		role = llm.RoleUser
	case "assistant":
		role = llm.RoleAssistant
	case "system":
		role = llm.RoleSystem
	case "":
		return wire.InvalidField(param+".role", "Field required")
	default:
		return wire.InvalidField(param+".role", "Input should be 'user' or 'assistant', got '%s'", m.Role)
	}
	if wire.IsNull(m.Content) {
		return wire.InvalidField(param+".content", "Field required")
	}
	if role == llm.RoleAssistant && c.lastRole != m.Role {
		c.uses = nil
	}
	c.lastRole = m.Role
	cparam := param + ".content"
	if m.Content[0] == '"' {
		s, ok := wire.UnquoteString(m.Content)
		if !ok {
			if err := json.Unmarshal(m.Content, &s); err != nil {
				return wire.InvalidField(cparam, "Input should be a valid string or a list of content blocks")
			}
		}
		if s != "" {
			c.out = append(c.out, llm.TextMessage(role, s))
		}
		return nil
	}
	if m.Content[0] != '[' {
		return wire.InvalidField(cparam, "Input should be a valid string or a list of content blocks")
	}
	var blocks []wireBlock
	if err := json.Unmarshal(m.Content, &blocks); err != nil {
		return wire.InvalidField(cparam, "Input should be a list of content blocks (%s)", typeErrorDetail(err))
	}
	switch role {
	case llm.RoleAssistant:
		return c.assistant(blocks, cparam)
	case llm.RoleSystem:
		parts := make([]llm.Part, 0, len(blocks))
		for i := range blocks {
			if blocks[i].Type != "text" {
				return wire.InvalidField(cparam+"."+strconv.Itoa(i)+".type", "Input should be 'text' in a system message, got '%s'", blocks[i].Type)
			}
			if blocks[i].Text != "" {
				parts = append(parts, llm.Part{Type: llm.PartText, Text: blocks[i].Text})
			}
		}
		if len(parts) > 0 {
			c.out = append(c.out, llm.Message{Role: llm.RoleSystem, Parts: parts})
		}
		return nil
	default:
		return c.user(blocks, cparam)
	}
}

// assistant converts an assistant turn: text and tool_use blocks. Thinking
// and redacted_thinking blocks are dropped (they are never sent upstream),
// as are the records of Anthropic-run server tools (server_tool_use,
// *_tool_result, mcp_*), which only an Anthropic upstream could replay.
func (c *converter) assistant(blocks []wireBlock, param string) error {
	msg := llm.Message{Role: llm.RoleAssistant}
	for i := range blocks {
		b := &blocks[i]
		bparam := param + "." + strconv.Itoa(i)
		switch b.Type {
		case "text":
			if b.Text != "" {
				msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartText, Text: b.Text})
			}
		case "tool_use":
			if b.ID == "" {
				return wire.InvalidField(bparam+".id", "Field required")
			}
			if b.Name == "" {
				return wire.InvalidField(bparam+".name", "Field required")
			}
			if len(b.ID) > wire.MaxIDBytes {
				return wire.InvalidField(bparam+".id", "String should have at most %d characters", wire.MaxIDBytes)
			}
			if len(b.Name) > wire.MaxIDBytes {
				return wire.InvalidField(bparam+".name", "String should have at most %d characters", wire.MaxIDBytes)
			}
			args, err := inputText(b.Input, bparam+".input")
			if err != nil {
				return err
			}
			if c.names == nil {
				c.names = map[string]string{}
			}
			c.names[b.ID] = b.Name
			if c.uses == nil {
				c.uses = map[string]bool{}
			}
			c.uses[b.ID] = true
			msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartToolCall,
				ToolCall: &llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: args}})
		case "image", "document":
			parts, err := c.media(b, bparam)
			if err != nil {
				return err
			}
			msg.Parts = append(msg.Parts, parts...)
		case "":
			return wire.InvalidField(bparam+".type", "Field required")
		default:
			// thinking, redacted_thinking, server tool records, and
			// unknown server-produced blocks.
		}
	}
	if len(msg.Parts) > 0 {
		c.out = append(c.out, msg)
	}
	return nil
}

// user converts a user turn. Text and media blocks collect into user
// messages; each tool_result becomes a RoleTool message at its position.
// Images and PDFs inside tool results cannot travel in a tool message (its
// content is text), so they follow the results in a user message and the
// result text says so.
func (c *converter) user(blocks []wireBlock, param string) error {
	var cur, deferred []llm.Part
	flush := func() {
		if len(cur) > 0 {
			c.out = append(c.out, llm.Message{Role: llm.RoleUser, Parts: cur})
			cur = nil
		}
	}
	for i := range blocks {
		b := &blocks[i]
		bparam := param + "." + strconv.Itoa(i)
		if b.Type == "tool_result" {
			flush()
			tr, media, err := c.toolResult(b, bparam)
			if err != nil {
				return err
			}
			c.out = append(c.out, llm.Message{Role: llm.RoleTool,
				Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: tr}}})
			deferred = append(deferred, media...)
			continue
		}
		if len(deferred) > 0 {
			cur = append(cur, deferred...)
			deferred = nil
		}
		switch b.Type {
		case "text":
			if b.Text != "" {
				cur = append(cur, llm.Part{Type: llm.PartText, Text: b.Text})
			}
		case "image", "document":
			parts, err := c.media(b, bparam)
			if err != nil {
				return err
			}
			cur = append(cur, parts...)
		case "search_result":
			t, err := searchResultText(b, bparam)
			if err != nil {
				return err
			}
			cur = append(cur, llm.Part{Type: llm.PartText, Text: t})
		case "thinking", "redacted_thinking":
			// Not valid in user turns; never sent upstream anyway.
		case "":
			return wire.InvalidField(bparam+".type", "Field required")
		default:
			return wire.InvalidField(bparam+".type", "content blocks of type '%s' are not supported by this gateway in user messages (supported: text, image, document, search_result, tool_result)", b.Type)
		}
	}
	cur = append(cur, deferred...)
	flush()
	return nil
}

// media converts an image or document block to parts.
func (c *converter) media(b *wireBlock, param string) ([]llm.Part, error) {
	if b.Type == "image" {
		m, err := c.imageSource(b.Source, param+".source")
		if err != nil {
			return nil, err
		}
		return []llm.Part{{Type: llm.PartImage, Media: m}}, nil
	}
	return c.document(b, param)
}

// imageTypes are the media types of image blocks the Anthropic API takes.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// checkImageType refuses an image whose declared media type (media_type,
// or the type of a data URL; "" when none was declared) is not one of
// imageTypes.
func checkImageType(m *llm.Media, param string) error {
	if m.MIMEType != "" && !imageTypes[m.MIMEType] {
		return wire.InvalidField(param, "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
	}
	return nil
}

// imageSource converts the source of an image block.
func (c *converter) imageSource(raw json.RawMessage, param string) (*llm.Media, error) {
	src, err := decodeSource(raw, param)
	if err != nil {
		return nil, err
	}
	switch src.Type {
	case "base64":
		m, err := base64Media(src, param)
		if err != nil {
			return nil, err
		}
		if err := checkImageType(m, param+".media_type"); err != nil {
			return nil, err
		}
		if m.MIMEType == "" {
			m.MIMEType = http.DetectContentType(m.Data)
		}
		return m, nil
	case "url":
		m, err := urlMedia(src.URL, param+".url")
		if err != nil {
			return nil, err
		}
		if err := checkImageType(m, param+".url"); err != nil {
			return nil, err
		}
		return m, nil
	case "file":
		if !c.files.Enabled() {
			return nil, fileIDError(param)
		}
		m, err := c.files.Media(src.FileID, param+".file_id")
		if err != nil {
			return nil, err
		}
		mt, ok := wire.ImageMediaType(m.MIMEType)
		if !ok {
			return nil, wire.InvalidField(param+".file_id", "the file '%s' is not an image (%s)", src.FileID, m.MIMEType)
		}
		m.MIMEType = mt
		return m, nil
	case "":
		return nil, wire.InvalidField(param+".type", "Field required")
	default:
		return nil, wire.InvalidField(param+".type", "Input should be 'base64', 'url' or 'file', got '%s'", src.Type)
	}
}

// document converts a document block: PDFs (inline or by URL) become file
// parts, text sources become text with the title and context as a header,
// content sources become their text and image parts.
func (c *converter) document(b *wireBlock, param string) ([]llm.Part, error) {
	sparam := param + ".source"
	src, err := decodeSource(b.Source, sparam)
	if err != nil {
		return nil, err
	}
	switch src.Type {
	case "base64":
		m, err := base64Media(src, sparam)
		if err != nil {
			return nil, err
		}
		if m.MIMEType == "" {
			m.MIMEType = "application/pdf"
		}
		if strings.HasPrefix(m.MIMEType, "text/") {
			return []llm.Part{{Type: llm.PartText, Text: docText(b.Title, b.Context, string(m.Data))}}, nil
		}
		m.Name = fileName(b.Title, m.MIMEType)
		return []llm.Part{{Type: llm.PartFile, Media: m}}, nil
	case "text":
		return []llm.Part{{Type: llm.PartText, Text: docText(b.Title, b.Context, src.Data)}}, nil
	case "content":
		var parts []llm.Part
		if head := docText(b.Title, b.Context, ""); head != "" {
			parts = append(parts, llm.Part{Type: llm.PartText, Text: strings.TrimRight(head, "\n")})
		}
		inner, err := c.contentSource(src.Content, sparam+".content")
		if err != nil {
			return nil, err
		}
		return append(parts, inner...), nil
	case "url":
		m, err := urlMedia(src.URL, sparam+".url")
		if err != nil {
			return nil, err
		}
		m.Name = b.Title
		if m.Data != nil {
			m.Name = fileName(b.Title, m.MIMEType)
		}
		return []llm.Part{{Type: llm.PartFile, Media: m}}, nil
	case "file":
		if !c.files.Enabled() {
			return nil, fileIDError(sparam)
		}
		m, err := c.files.Media(src.FileID, sparam+".file_id")
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(m.MIMEType, "text/") {
			title := b.Title
			if title == "" {
				title = m.Name
			}
			return []llm.Part{{Type: llm.PartText, Text: docText(title, b.Context, string(m.Data))}}, nil
		}
		if b.Title != "" {
			m.Name = fileName(b.Title, m.MIMEType)
		}
		return []llm.Part{{Type: llm.PartFile, Media: m}}, nil
	case "":
		return nil, wire.InvalidField(sparam+".type", "Field required")
	default:
		return nil, wire.InvalidField(sparam+".type", "Input should be 'base64', 'text', 'content', 'url' or 'file', got '%s'", src.Type)
	}
}

// contentSource converts the content of a "content" document source: a
// string or text and image blocks.
func (c *converter) contentSource(raw json.RawMessage, param string) ([]llm.Part, error) {
	if wire.IsNull(raw) {
		return nil, wire.InvalidField(param, "Field required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, wire.InvalidField(param, "Input should be a valid string or a list of content blocks")
		}
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, wire.InvalidField(param, "Input should be a valid string or a list of content blocks")
	}
	var parts []llm.Part
	for i := range blocks {
		b := &blocks[i]
		bparam := param + "." + strconv.Itoa(i)
		switch b.Type {
		case "text":
			if b.Text != "" {
				parts = append(parts, llm.Part{Type: llm.PartText, Text: b.Text})
			}
		case "image":
			m, err := c.imageSource(b.Source, bparam+".source")
			if err != nil {
				return nil, err
			}
			parts = append(parts, llm.Part{Type: llm.PartImage, Media: m})
		default:
			return nil, wire.InvalidField(bparam+".type", "Input should be 'text' or 'image', got '%s'", b.Type)
		}
	}
	return parts, nil
}

// toolResult converts a tool_result block. Its content (a string or blocks)
// is rendered to text; images and PDFs are returned separately to be sent
// after the results, with a note in the text.
func (c *converter) toolResult(b *wireBlock, param string) (*llm.ToolResult, []llm.Part, error) {
	if b.ToolUseID == "" {
		return nil, nil, wire.InvalidField(param+".tool_use_id", "Field required")
	}
	if !c.uses[b.ToolUseID] {
		return nil, nil, wire.InvalidField(param, "unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", wire.Truncate(b.ToolUseID, 64))
	}
	tr := &llm.ToolResult{CallID: b.ToolUseID, Name: c.names[b.ToolUseID], IsError: b.IsError}
	raw := b.Content
	if wire.IsNull(raw) {
		return tr, nil, nil
	}
	cparam := param + ".content"
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &tr.Content); err != nil {
			return nil, nil, wire.InvalidField(cparam, "Input should be a valid string or a list of content blocks")
		}
		return tr, nil, nil
	}
	var blocks []wireBlock
	if raw[0] != '[' || json.Unmarshal(raw, &blocks) != nil {
		return nil, nil, wire.InvalidField(cparam, "Input should be a valid string or a list of content blocks")
	}
	var (
		texts []string
		media []llm.Part
	)
	attached := func(what string, parts []llm.Part) {
		media = append(media, parts...)
		texts = append(texts, "["+what+" attached in the next message]")
	}
	for i := range blocks {
		ib := &blocks[i]
		bparam := cparam + "." + strconv.Itoa(i)
		switch ib.Type {
		case "text":
			texts = append(texts, ib.Text)
		case "image":
			parts, err := c.media(ib, bparam)
			if err != nil {
				return nil, nil, err
			}
			attached("image", parts)
		case "document":
			parts, err := c.media(ib, bparam)
			if err != nil {
				return nil, nil, err
			}
			for _, p := range parts {
				switch p.Type {
				case llm.PartText:
					texts = append(texts, p.Text)
				case llm.PartImage:
					attached("image", []llm.Part{p})
				default:
					attached("document", []llm.Part{p})
				}
			}
		case "search_result":
			t, err := searchResultText(ib, bparam)
			if err != nil {
				return nil, nil, err
			}
			texts = append(texts, t)
		case "tool_reference":
			if ib.ToolName != "" {
				if c.refs == nil {
					c.refs = map[string]bool{}
				}
				c.refs[ib.ToolName] = true
				texts = append(texts, "Tool loaded: "+ib.ToolName)
			}
		default:
			texts = append(texts, "["+ib.Type+" content omitted]")
		}
	}
	tr.Content = strings.Join(texts, "\n")
	return tr, media, nil
}

// searchResultText renders a search_result block as text.
func searchResultText(b *wireBlock, param string) (string, error) {
	var src string
	if !wire.IsNull(b.Source) {
		_ = json.Unmarshal(b.Source, &src)
	}
	var sb strings.Builder
	if b.Title != "" {
		sb.WriteString("Search result: " + b.Title + "\n")
	}
	if src != "" {
		sb.WriteString("Source: " + src + "\n")
	}
	if sb.Len() > 0 {
		sb.WriteString("\n")
	}
	var blocks []wireBlock
	if !wire.IsNull(b.Content) {
		if err := json.Unmarshal(b.Content, &blocks); err != nil {
			return "", wire.InvalidField(param+".content", "Input should be a list of text blocks")
		}
	}
	for i, ib := range blocks {
		if i > 0 {
			sb.WriteString("\n")
		}
		sb.WriteString(ib.Text)
	}
	return sb.String(), nil
}

// docText renders a text document with its title and context as a header.
func docText(title, context, body string) string {
	var b strings.Builder
	if title != "" {
		b.WriteString("Document: " + title + "\n")
	}
	if context != "" {
		b.WriteString("Context: " + context + "\n")
	}
	if b.Len() > 0 && body != "" {
		b.WriteString("\n")
	}
	b.WriteString(body)
	return b.String()
}

// fileName names an attached file after its title, with an extension that
// matches its MIME type.
func fileName(title, mimeType string) string {
	ext := ""
	if mimeType == "application/pdf" {
		ext = ".pdf"
	} else if exts, _ := mime.ExtensionsByType(mimeType); len(exts) > 0 {
		ext = exts[0]
	}
	if title == "" {
		return "document" + ext
	}
	if path.Ext(title) == "" {
		return title + ext
	}
	return title
}

// decodeSource decodes the source object of an image or document block.
func decodeSource(raw json.RawMessage, param string) (*wireSource, error) {
	if wire.IsNull(raw) {
		return nil, wire.InvalidField(param, "Field required")
	}
	var src wireSource
	if raw[0] != '{' || json.Unmarshal(raw, &src) != nil {
		return nil, wire.InvalidField(param, "Input should be a valid object")
	}
	return &src, nil
}

// base64Media decodes a base64 source (a data URL is accepted too).
func base64Media(src *wireSource, param string) (*llm.Media, error) {
	if src.Data == "" {
		return nil, wire.InvalidField(param+".data", "Field required")
	}
	if wire.HasPrefixFold(src.Data, "data:") {
		m, err := parseDataURL(src.Data, param+".data")
		if err != nil {
			return nil, err
		}
		if src.MediaType != "" {
			m.MIMEType = strings.ToLower(src.MediaType)
		}
		return m, nil
	}
	b, ok := wire.DecodeBase64(src.Data)
	if !ok {
		return nil, wire.InvalidField(param+".data", "invalid base64 data")
	}
	return &llm.Media{MIMEType: strings.ToLower(strings.TrimSpace(src.MediaType)), Data: b}, nil
}

// urlMedia keeps an http(s) URL for the gateway to fetch, or decodes a data
// URL.
func urlMedia(u, param string) (*llm.Media, error) {
	if u == "" {
		return nil, wire.InvalidField(param, "Field required")
	}
	if wire.HasPrefixFold(u, "data:") {
		return parseDataURL(u, param)
	}
	if wire.IsHTTPURL(u) {
		return &llm.Media{URL: u}, nil
	}
	return nil, wire.InvalidField(param, "invalid URL: expected an http(s) URL")
}

// fileIDError refuses Files API references.
func fileIDError(param string) *gw.Error {
	return wire.InvalidField(param+".type", "'file' sources (Files API ids) are not supported by this gateway; send the content inline as base64")
}

// parseDataURL decodes a data URL (see wire.ParseDataURL; the media type
// stays empty when the URL names none, for the caller's default) and words
// its errors the Anthropic way.
func parseDataURL(u, param string) (*llm.Media, error) {
	m, err := wire.ParseDataURL(u)
	switch {
	case errors.Is(err, wire.ErrDataURLComma):
		return nil, wire.InvalidField(param, "invalid data URL: missing ','")
	case errors.Is(err, wire.ErrBase64):
		return nil, wire.InvalidField(param, "invalid base64 data")
	case err != nil:
		return nil, wire.InvalidField(param, "invalid data URL")
	}
	return m, nil
}

// inputText returns a tool_use input as compact JSON object text.
func inputText(raw json.RawMessage, param string) (string, error) {
	if wire.IsNull(raw) {
		return "{}", nil
	}
	raw = bytes.TrimSpace(raw)
	if raw[0] == '"' {
		// Lenient: some clients send the arguments as a JSON string.
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if strings.TrimSpace(s) == "" {
				return "{}", nil
			}
			raw = json.RawMessage(s)
		}
	}
	var buf bytes.Buffer
	if raw[0] != '{' || json.Compact(&buf, raw) != nil {
		return "", wire.InvalidField(param, "Input should be a valid object")
	}
	return buf.String(), nil
}

// parseTools converts tools and tool_choice. Only custom tools (name,
// description, input_schema; type absent or "custom") can run here: the
// versioned Anthropic tools (web_search_*, web_fetch_*, code_execution_*,
// bash_*, text_editor_*, computer_*, memory_*, tool_search_*, ...) are
// refused with one message naming them all. Deferred tools (defer_loading)
// are hidden from the model, as Anthropic hides them, until a
// tool_reference in the conversation names them.
func parseTools(mr *messagesRequest, req *llm.Request, refs map[string]bool, count bool) error {
	var builtin []string
	for i := range mr.Tools {
		t := &mr.Tools[i]
		param := "tools." + strconv.Itoa(i)
		if t.Type != "" && t.Type != "custom" {
			if len(t.Name) > wire.MaxAnthropicToolNameBytes || len(t.Type) > wire.MaxAnthropicToolNameBytes {
				return wire.InvalidField(param, "String should have at most %d characters", wire.MaxAnthropicToolNameBytes)
			}
			if count {
				req.Tools = append(req.Tools, llm.Tool{Name: t.Name, Description: t.Type})
				continue
			}
			builtin = append(builtin, fmt.Sprintf("'%s' (%s)", t.Type, t.Name))
			continue
		}
		if t.Name == "" {
			return wire.InvalidField(param+".name", "Field required")
		}
		if len(t.Name) > wire.MaxAnthropicToolNameBytes {
			return wire.InvalidField(param+".name", "String should have at most %d characters", wire.MaxAnthropicToolNameBytes)
		}
		if !wire.ValidToolName(t.Name, wire.MaxAnthropicToolNameBytes) {
			return wire.InvalidField(param+".name", "String should match pattern '^[a-zA-Z0-9_-]{1,%d}$'", wire.MaxAnthropicToolNameBytes)
		}
		if wire.IsNull(t.InputSchema) {
			return wire.InvalidField(param+".input_schema", "Field required")
		}
		if bytes.TrimSpace(t.InputSchema)[0] != '{' {
			return wire.InvalidField(param+".input_schema", "Input should be a valid object")
		}
		if err := toolcall.CheckParameters(t.InputSchema); err != nil {
			return wire.InvalidField(param+".input_schema", "JSON schema is invalid: %v", err)
		}
		named := mr.ToolChoice != nil && mr.ToolChoice.Type == "tool" && mr.ToolChoice.Name == t.Name
		if t.DeferLoading && !refs[t.Name] && !named {
			continue
		}
		req.Tools = append(req.Tools, llm.Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	if len(builtin) > 0 {
		return wire.InvalidField("tools", "this gateway runs only custom tools (name, description, input_schema); these Anthropic server or built-in tools cannot run here: %s", strings.Join(builtin, ", "))
	}

	req.ParallelToolCalls = true
	req.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceAuto}
	tc := mr.ToolChoice
	if tc == nil {
		return nil
	}
	req.ParallelToolCalls = !tc.DisableParallelToolUse
	switch tc.Type {
	case "auto", "":
		return nil
	case "none":
		req.ToolChoice.Mode = llm.ToolChoiceNone
		return nil
	case "any":
		if len(req.Tools) == 0 {
			return wire.InvalidField("tool_choice", "tool_choice 'any' requires at least one tool in 'tools'")
		}
		req.ToolChoice.Mode = llm.ToolChoiceRequired
		return nil
	case "tool":
		if tc.Name == "" {
			return wire.InvalidField("tool_choice.name", "Field required")
		}
		for _, t := range req.Tools {
			if t.Name == tc.Name {
				req.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceNamed, Name: tc.Name}
				return nil
			}
		}
		return wire.InvalidField("tool_choice.name", "no tool named '%s' was declared in 'tools'", wire.Truncate(tc.Name, 128))
	default:
		return wire.InvalidField("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none', got '%s'", tc.Type)
	}
}

// typeErrorDetail describes a json error inside a nested value.
func typeErrorDetail(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("'%s' should be %s", te.Field, jsonKind(te.Type.String()))
	}
	return "malformed block"
}
