package openai

import (
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/structured"
	"github.com/sparkgw/spark/internal/toolcall"
)

// chatRequest is the subset of CreateChatCompletionRequest spark reads.
// Unknown fields are ignored (clients add new ones monthly).
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int            `json:"n"`
	ReasoningEffort     string          `json:"reasoning_effort"`
	Reasoning           json.RawMessage `json:"reasoning"`         // OpenRouter style {effort}
	IncludeReasoning    *bool           `json:"include_reasoning"` // OpenRouter style
	ResponseFormat      json.RawMessage `json:"response_format"`
	Tools               []chatTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	Functions           []functionDef   `json:"functions"`     // legacy
	FunctionCall        json.RawMessage `json:"function_call"` // legacy
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	User                string          `json:"user"`
	Metadata            json.RawMessage `json:"metadata"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	Name         string          `json:"name"`
	Refusal      *string         `json:"refusal"`
	ToolCalls    []wireToolCall  `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	FunctionCall *wireFunction   `json:"function_call"` // legacy assistant call
}

type wireToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"` // a JSON string; some clients send the object
}

type contentPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text"`
	Refusal    string          `json:"refusal"`
	ImageURL   json.RawMessage `json:"image_url"` // {"url","detail"} or, leniently, a string
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
	File *struct {
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
		FileData string `json:"file_data"`
	} `json:"file"`
}

type chatTool struct {
	Type     string          `json:"type"`
	Function *functionDef    `json:"function"`
	Custom   json.RawMessage `json:"custom"`
}

type functionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

type toolChoiceObject struct {
	Type     string `json:"type"`
	Name     string `json:"name"` // Responses-style flat form, tolerated
	Function *struct {
		Name string `json:"name"`
	} `json:"function"`
	AllowedTools *struct {
		Mode  string `json:"mode"`
		Tools []struct {
			Type     string `json:"type"`
			Name     string `json:"name"`
			Function *struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	} `json:"allowed_tools"`
}

// chatParams is a parsed request: the neutral request plus the options that
// only shape the wire answer.
type chatParams struct {
	req          llm.Request
	stream       bool
	includeUsage bool
	// model is the name answers echo: the requested one until the backend's
	// stream reports the model it resolved to (llm.ModelOf), then that.
	model string
}

// decodeRequest reads the request body: a JSON object (null is refused).
func (h *Handler) decodeRequest(w http.ResponseWriter, r *http.Request) (*chatRequest, error) {
	return wire.DecodeObject[chatRequest](w, r, h.opts.MaxBodyBytes, nil, "")
}

// validate applies the limits of the official API to the top-level
// parameters (ranges, counts, lengths), so that what the real API refuses
// is refused here too, with its param and wording. The messages and tools
// are checked as they are converted (buildRequest).
func (cr *chatRequest) validate() error {
	if strings.TrimSpace(cr.Model) == "" {
		return wire.Invalid("model", "you must provide a model parameter")
	}
	if err := wire.CheckLength("model", cr.Model, wire.MaxModelBytes); err != nil {
		return err
	}
	if cr.Messages == nil {
		return wire.Invalid("messages", "Missing required parameter: 'messages'.")
	}
	if len(cr.Messages) == 0 {
		return wire.Invalid("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	if err := wire.CheckIntRange("n", cr.N, 1, 128); err != nil {
		return err
	}
	if cr.N != nil && *cr.N != 1 {
		return wire.Invalid("n", "Invalid 'n': only n=1 is supported by this gateway; send one request per completion.")
	}
	for _, c := range []struct {
		param  string
		v      *float64
		lo, hi float64
	}{
		{"temperature", cr.Temperature, 0, 2},
		{"top_p", cr.TopP, 0, 1},
		{"presence_penalty", cr.PresencePenalty, -2, 2},
		{"frequency_penalty", cr.FrequencyPenalty, -2, 2},
	} {
		if err := wire.CheckRange(c.param, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	if err := wire.CheckIntRange("max_tokens", cr.MaxTokens, 1, math.MaxInt); err != nil {
		return err
	}
	if err := wire.CheckIntRange("max_completion_tokens", cr.MaxCompletionTokens, 1, math.MaxInt); err != nil {
		return err
	}
	if err := wire.CheckLength("user", cr.User, wire.MaxUserBytes); err != nil {
		return err
	}
	if _, err := wire.DecodeMetadata(cr.Metadata); err != nil {
		return err
	}
	return nil
}

// buildRequest converts a validated cr to neutral form (and refuses what
// only the conversion finds wrong).
func buildRequest(cr *chatRequest, files *wire.FileResolver) (*chatParams, error) {
	p := &chatParams{stream: cr.Stream, model: cr.Model}
	req := &p.req
	var err error
	if cr.StreamOptions != nil {
		p.includeUsage = cr.StreamOptions.IncludeUsage
	}
	req.Model = cr.Model
	if req.Output, err = parseResponseFormat(cr.ResponseFormat); err != nil {
		return nil, err
	}

	msgs, err := parseMessages(cr.Messages, files)
	if err != nil {
		return nil, err
	}
	req.Messages = msgs

	if err := parseTools(cr, req); err != nil {
		return nil, err
	}
	req.ParallelToolCalls = cr.ParallelToolCalls == nil || *cr.ParallelToolCalls

	switch {
	case cr.MaxCompletionTokens != nil:
		req.MaxTokens = *cr.MaxCompletionTokens
	case cr.MaxTokens != nil:
		req.MaxTokens = *cr.MaxTokens
	}
	req.Temperature = cr.Temperature
	req.TopP = cr.TopP
	if req.Stop, err = parseStop(cr.Stop); err != nil {
		return nil, err
	}

	effort := cr.ReasoningEffort
	if effort == "" && len(cr.Reasoning) > 0 && cr.Reasoning[0] == '{' {
		var r struct {
			Effort string `json:"effort"`
		}
		if json.Unmarshal(cr.Reasoning, &r) == nil {
			effort = r.Effort
		}
	}
	if effort != "" {
		req.ReasoningEffort = effort
		req.Reasoning = effort != "none"
	}
	if cr.IncludeReasoning != nil && *cr.IncludeReasoning && effort != "none" {
		req.Reasoning = true
	}
	return p, nil
}

// parseResponseFormat reads response_format: text (or absent) asks for
// free text, json_object for a JSON object, json_schema for a JSON value
// valid against json_schema.schema. A schema the structured-output
// emulator cannot use is refused here, naming the parameter.
func parseResponseFormat(raw json.RawMessage) (*llm.OutputFormat, error) {
	if wire.IsNull(raw) {
		return nil, nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(raw, &rf); err != nil {
		return nil, wire.Invalid("response_format", "Invalid type for 'response_format': expected an object.")
	}
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return &llm.OutputFormat{Kind: llm.OutputJSONObject}, nil
	case "json_schema":
		js := rf.JSONSchema
		if js == nil {
			return nil, wire.Invalid("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.")
		}
		if err := wire.CheckLength("response_format.json_schema.name", js.Name, maxFormatNameBytes); err != nil {
			return nil, err
		}
		if err := wire.CheckLength("response_format.json_schema.description", js.Description, maxFormatDescriptionBytes); err != nil {
			return nil, err
		}
		of := &llm.OutputFormat{Kind: llm.OutputJSONSchema, Name: js.Name, Description: js.Description,
			Strict: js.Strict != nil && *js.Strict}
		if wire.IsNull(js.Schema) {
			// The API lets the schema out; the answer is then any JSON object.
			of.Kind = llm.OutputJSONObject
			return of, nil
		}
		if err := structured.CheckSchema(js.Schema); err != nil {
			return nil, wire.Invalid("response_format.json_schema.schema", "Invalid schema for response_format '%s': %v.", js.Name, err)
		}
		of.Schema = js.Schema
		return of, nil
	default:
		return nil, wire.Invalid("response_format.type", "Invalid value for 'response_format.type': '%s'. Supported values are: 'text', 'json_object' and 'json_schema'.", rf.Type)
	}
}

// Bounds of a response format's name and description (the schema is
// bounded by the structured-output emulator).
const (
	maxFormatNameBytes        = 256
	maxFormatDescriptionBytes = 64 << 10
)

// parseStop accepts a string, an array of at most wire.MaxChatStops
// strings, or null.
func parseStop(raw json.RawMessage) ([]string, error) {
	if wire.IsNull(raw) {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		if err := wire.CheckLength("stop", one, wire.MaxStopBytes); err != nil {
			return nil, err
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, wire.Invalid("stop", "Invalid type for 'stop': expected a string or an array of strings.")
	}
	if len(many) > wire.MaxChatStops {
		return nil, wire.Invalid("stop", "Invalid 'stop': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", wire.MaxChatStops, len(many))
	}
	out := many[:0]
	for i, s := range many {
		if err := wire.CheckLength("stop["+strconv.Itoa(i)+"]", s, wire.MaxStopBytes); err != nil {
			return nil, err
		}
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseMessages converts the conversation. Legacy function calls, which have
// no ids, get synthetic ones so that their results can refer to them.
//
// As the official API does, a tool message must answer a call of the
// assistant message before it (only tool messages may come between).
func parseMessages(in []chatMessage, files *wire.FileResolver) ([]llm.Message, error) {
	out := make([]llm.Message, 0, len(in))
	var legacyIDs map[string]string // function name → id of its latest legacy call
	var calls map[string]bool       // ids of the calls tool messages may answer now
	for i := range in {
		m := &in[i]
		param := "messages[" + strconv.Itoa(i) + "]"
		var (
			msg llm.Message
			err error
		)
		if m.Role != "tool" && m.Role != "function" {
			calls = nil
		}
		switch m.Role {
		case "system", "developer":
			msg = llm.Message{Role: llm.RoleSystem, Name: m.Name}
			msg.Parts, err = parseContent(m.Content, param+".content", false, nil)
		case "user":
			msg = llm.Message{Role: llm.RoleUser, Name: m.Name}
			msg.Parts, err = parseContent(m.Content, param+".content", true, files)
		case "assistant":
			msg = llm.Message{Role: llm.RoleAssistant, Name: m.Name}
			msg.Parts, err = parseContent(m.Content, param+".content", false, nil)
			if err == nil && len(msg.Parts) == 0 && m.Refusal != nil && *m.Refusal != "" {
				msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartText, Text: *m.Refusal})
			}
			for j := range m.ToolCalls {
				tc := &m.ToolCalls[j]
				tparam := param + ".tool_calls[" + strconv.Itoa(j) + "]"
				if tc.Type != "" && tc.Type != "function" {
					return nil, wire.Invalid(tparam+".type", "Invalid value for '%s.type': '%s'. Only function tool calls are supported.", tparam, tc.Type)
				}
				if tc.Function.Name == "" {
					return nil, wire.Invalid(tparam+".function.name", "Missing required parameter: '%s.function.name'.", tparam)
				}
				if err := wire.CheckLength(tparam+".function.name", tc.Function.Name, wire.MaxIDBytes); err != nil {
					return nil, err
				}
				if err := wire.CheckLength(tparam+".id", tc.ID, wire.MaxIDBytes); err != nil {
					return nil, err
				}
				if calls == nil {
					calls = map[string]bool{}
				}
				calls[tc.ID] = true
				args, aerr := wire.ArgumentsText(tc.Function.Arguments, tparam+".function.arguments")
				if aerr != nil {
					return nil, aerr
				}
				msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartToolCall,
					ToolCall: &llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args}})
			}
			if fc := m.FunctionCall; fc != nil && fc.Name != "" {
				args, aerr := wire.ArgumentsText(fc.Arguments, param+".function_call.arguments")
				if aerr != nil {
					return nil, aerr
				}
				if legacyIDs == nil {
					legacyIDs = map[string]string{}
				}
				id := "call_fn" + strconv.Itoa(i)
				legacyIDs[fc.Name] = id
				if calls == nil {
					calls = map[string]bool{}
				}
				calls[id] = true
				msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartToolCall,
					ToolCall: &llm.ToolCall{ID: id, Name: fc.Name, Arguments: args}})
			}
		case "tool", "function":
			callID := m.ToolCallID
			if m.Role == "function" {
				if m.Name == "" {
					return nil, wire.Invalid(param+".name", "Missing required parameter: '%s.name'.", param)
				}
				if callID == "" {
					callID = legacyIDs[m.Name]
				}
			} else {
				if callID == "" {
					return nil, wire.Invalid(param+".tool_call_id", "Missing required parameter: '%s.tool_call_id'.", param)
				}
				if calls == nil {
					return nil, wire.Invalid(param+".role", "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.")
				}
				if !calls[callID] {
					return nil, wire.Invalid(param+".tool_call_id", "Invalid parameter: 'tool_call_id' of '%s' not found in 'tool_calls' of previous message.", wire.Truncate(callID, 64))
				}
			}
			text, terr := toolResultText(m.Content, param+".content")
			if terr != nil {
				return nil, terr
			}
			msg = llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult,
				ToolResult: &llm.ToolResult{CallID: callID, Name: m.Name, Content: text}}}}
		case "":
			return nil, wire.Invalid(param+".role", "Missing required parameter: '%s.role'.", param)
		default:
			return nil, wire.Invalid(param+".role", "Invalid value: '%s'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.", m.Role)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	return out, nil
}

// parseContent converts message content: null, a string, or an array of
// parts. Media parts are accepted only when media is true (user messages);
// other roles carry text (and refusal) parts.
func parseContent(raw json.RawMessage, param string, media bool, files *wire.FileResolver) ([]llm.Part, error) {
	if wire.IsNull(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		s, ok := wire.UnquoteString(raw)
		if !ok {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, wire.Invalid(param, "Invalid type for '%s': expected a string or an array of content parts.", param)
			}
		}
		if s == "" {
			return nil, nil
		}
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	case '[':
	default:
		return nil, wire.Invalid(param, "Invalid type for '%s': expected a string or an array of content parts.", param)
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, wire.Invalid(param, "Invalid content parts in '%s': %s", param, wire.TypeErrorDetail(err, "malformed part"))
	}
	out := make([]llm.Part, 0, len(parts))
	for j := range parts {
		cp := &parts[j]
		pparam := param + "[" + strconv.Itoa(j) + "]"
		switch cp.Type {
		case "text", "input_text", "output_text":
			if cp.Text != "" {
				out = append(out, llm.Part{Type: llm.PartText, Text: cp.Text})
			}
			continue
		case "refusal":
			if cp.Refusal != "" {
				out = append(out, llm.Part{Type: llm.PartText, Text: cp.Refusal})
			}
			continue
		case "":
			return nil, wire.Invalid(pparam+".type", "Missing required parameter: '%s.type'.", pparam)
		}
		if !media {
			return nil, wire.Invalid(pparam+".type", "Invalid value: '%s'. Supported values are: 'text' and 'refusal'.", cp.Type)
		}
		part, err := parseMediaPart(cp, pparam, files)
		if err != nil {
			return nil, err
		}
		out = append(out, part)
	}
	return out, nil
}

// parseMediaPart converts an image_url, input_audio or file part; files
// resolves the file_id of a file part (nil refuses it).
func parseMediaPart(cp *contentPart, param string, files *wire.FileResolver) (llm.Part, error) {
	switch cp.Type {
	case "image_url", "input_image":
		u, err := wire.ImageURL(cp.ImageURL, param+".image_url", wire.ImageURLObject)
		if err != nil {
			return llm.Part{}, err
		}
		m, err := wire.MediaFromURL(u, param+".image_url.url", true)
		if err != nil {
			return llm.Part{}, err
		}
		return llm.Part{Type: llm.PartImage, Media: m}, nil
	case "input_audio":
		a := cp.InputAudio
		if a == nil || a.Data == "" {
			return llm.Part{}, wire.Invalid(param+".input_audio.data", "Missing required parameter: '%s.input_audio.data'.", param)
		}
		format := strings.ToLower(a.Format)
		if format == "" {
			format = "wav"
		}
		m, err := wire.MediaFromBase64OrDataURL(a.Data, param+".input_audio.data")
		if err != nil {
			return llm.Part{}, err
		}
		if m.MIMEType == "" {
			m.MIMEType = audioMIME(format)
		}
		m.Name = "audio." + format
		return llm.Part{Type: llm.PartFile, Media: m}, nil
	case "file", "input_file":
		f := cp.File
		if f == nil {
			return llm.Part{}, wire.Invalid(param+".file", "Missing required parameter: '%s.file'.", param)
		}
		if f.FileData == "" {
			if f.FileID != "" && !files.Enabled() {
				return llm.Part{}, wire.Invalid(param+".file.file_id", "File ids are not supported by this gateway; send the file inline as 'file_data' with a 'filename'.")
			}
			if f.FileID != "" {
				m, err := files.Media(f.FileID, param+".file.file_id")
				if err != nil {
					return llm.Part{}, err
				}
				if f.Filename != "" {
					m.Name = f.Filename
				}
				return llm.Part{Type: llm.PartFile, Media: m}, nil
			}
			return llm.Part{}, wire.Invalid(param+".file.file_data", "Missing required parameter: '%s.file.file_data'.", param)
		}
		m, err := wire.MediaFromBase64OrDataURL(f.FileData, param+".file.file_data")
		if err != nil {
			return llm.Part{}, err
		}
		m.Name = f.Filename
		if m.MIMEType == "" || m.MIMEType == "application/octet-stream" {
			if t := mime.TypeByExtension(path.Ext(f.Filename)); t != "" {
				m.MIMEType, _, _ = strings.Cut(t, ";")
			}
		}
		if m.MIMEType == "" {
			m.MIMEType = "application/octet-stream"
		}
		return llm.Part{Type: llm.PartFile, Media: m}, nil
	default:
		return llm.Part{}, wire.Invalid(param+".type", "Invalid value: '%s'. Supported values are: 'text', 'image_url', 'input_audio', 'file' and 'refusal'.", cp.Type)
	}
}

// audioMIME maps an input_audio format to its MIME type.
func audioMIME(format string) string {
	switch format {
	case "mp3", "mpeg":
		return "audio/mpeg"
	case "wav":
		return "audio/wav"
	case "":
		return "application/octet-stream"
	}
	if t := mime.TypeByExtension("." + format); t != "" {
		t, _, _ = strings.Cut(t, ";")
		return t
	}
	return "audio/" + format
}

// toolResultText returns the text of a tool message's content: a string or
// an array of text parts.
func toolResultText(raw json.RawMessage, param string) (string, error) {
	if wire.IsNull(raw) {
		return "", nil
	}
	parts, err := parseContent(raw, param, false, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// parseTools converts tools, tool_choice and their legacy forms.
func parseTools(cr *chatRequest, req *llm.Request) error {
	for i := range cr.Tools {
		t := &cr.Tools[i]
		param := "tools[" + strconv.Itoa(i) + "]"
		switch t.Type {
		case "function", "":
		case "custom":
			return wire.Invalid(param+".type", "Custom tools are not supported by this gateway; declare a function tool ({\"type\":\"function\",\"function\":{...}}) instead.")
		default:
			return wire.Invalid(param+".type", "Invalid value: '%s'. Only 'function' tools are supported.", t.Type)
		}
		if t.Function == nil {
			return wire.Invalid(param+".function", "Missing required parameter: '%s.function'.", param)
		}
		tool, err := convertFunction(t.Function, param+".function")
		if err != nil {
			return err
		}
		req.Tools = append(req.Tools, tool)
	}
	if len(cr.Tools) == 0 {
		for i := range cr.Functions {
			tool, err := convertFunction(&cr.Functions[i], "functions["+strconv.Itoa(i)+"]")
			if err != nil {
				return err
			}
			req.Tools = append(req.Tools, tool)
		}
	}

	raw, param := cr.ToolChoice, "tool_choice"
	if wire.IsNull(raw) && len(cr.Tools) == 0 {
		raw, param = cr.FunctionCall, "function_call"
	}
	tc, err := parseToolChoice(raw, param, req)
	if err != nil {
		return err
	}
	req.ToolChoice = tc
	return nil
}

// convertFunction converts one function definition.
func convertFunction(f *functionDef, param string) (llm.Tool, error) {
	if f.Name == "" {
		return llm.Tool{}, wire.Invalid(param+".name", "Missing required parameter: '%s.name'.", param)
	}
	if err := wire.CheckToolName(param+".name", f.Name); err != nil {
		return llm.Tool{}, err
	}
	t := llm.Tool{Name: f.Name, Description: f.Description}
	if !wire.IsNull(f.Parameters) {
		if f.Parameters[0] != '{' {
			return llm.Tool{}, wire.Invalid(param+".parameters", "Invalid type for '%s.parameters': expected an object.", param)
		}
		if err := toolcall.CheckParameters(f.Parameters); err != nil {
			return llm.Tool{}, wire.Invalid(param+".parameters", "Invalid schema for function '%s': %v.", f.Name, err)
		}
		t.Parameters = f.Parameters
	}
	return t, nil
}

// parseToolChoice converts tool_choice (or legacy function_call). An
// allowed_tools choice narrows req.Tools to the allowed ones.
func parseToolChoice(raw json.RawMessage, param string, req *llm.Request) (llm.ToolChoice, error) {
	if wire.IsNull(raw) {
		return llm.ToolChoice{Mode: llm.ToolChoiceAuto}, nil
	}
	var tc llm.ToolChoice
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "auto", "":
			tc.Mode = llm.ToolChoiceAuto
		case "none":
			tc.Mode = llm.ToolChoiceNone
		case "required", "any":
			tc.Mode = llm.ToolChoiceRequired
		default:
			return tc, wire.Invalid(param, "Invalid value for '%s': '%s'. Supported values are: 'none', 'auto' and 'required'.", param, s)
		}
	} else {
		var o toolChoiceObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return tc, wire.Invalid(param, "Invalid type for '%s': expected a string or an object.", param)
		}
		switch {
		case o.Type == "allowed_tools" && o.AllowedTools != nil:
			allowed := map[string]bool{}
			for _, t := range o.AllowedTools.Tools {
				if t.Function != nil && t.Function.Name != "" {
					allowed[t.Function.Name] = true
				} else if t.Name != "" {
					allowed[t.Name] = true
				}
			}
			kept := req.Tools[:0]
			for _, t := range req.Tools {
				if allowed[t.Name] {
					kept = append(kept, t)
				}
			}
			req.Tools = kept
			switch o.AllowedTools.Mode {
			case "required":
				tc.Mode = llm.ToolChoiceRequired
			case "auto", "":
				tc.Mode = llm.ToolChoiceAuto
			default:
				return tc, wire.Invalid(param+".allowed_tools.mode", "Invalid value: '%s'. Supported values are: 'auto' and 'required'.", o.AllowedTools.Mode)
			}
		case o.Type == "function" || (o.Type == "" && (o.Function != nil || o.Name != "")):
			tc.Mode = llm.ToolChoiceNamed
			if o.Function != nil {
				tc.Name = o.Function.Name
			}
			if tc.Name == "" {
				tc.Name = o.Name
			}
			if tc.Name == "" {
				return tc, wire.Invalid(param+".function.name", "Missing required parameter: '%s.function.name'.", param)
			}
		case o.Type == "custom":
			return tc, wire.Invalid(param+".type", "Custom tools are not supported by this gateway.")
		default:
			return tc, wire.Invalid(param+".type", "Invalid value for '%s.type': '%s'.", param, o.Type)
		}
	}
	switch tc.Mode {
	case llm.ToolChoiceRequired:
		if len(req.Tools) == 0 {
			return tc, wire.Invalid(param, "Invalid value for '%s': '%s' requires at least one tool in 'tools'.", param, tc.Mode)
		}
	case llm.ToolChoiceNamed:
		found := false
		for _, t := range req.Tools {
			found = found || t.Name == tc.Name
		}
		if !found {
			return tc, wire.Invalid(param, "Invalid value for '%s': no function named '%s' was declared in 'tools'.", param, tc.Name)
		}
	}
	return tc, nil
}
