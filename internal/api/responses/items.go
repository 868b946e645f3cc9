package responses

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/sparkgw/spark/internal/api/wire"
)

// Item types spark understands. Input items of other types (hosted-tool
// calls and their outputs, custom tool calls) are refused.
const (
	typeMessage      = "message"
	typeFunctionCall = "function_call"
	typeCallOutput   = "function_call_output"
	typeReasoning    = "reasoning"
	typeItemRef      = "item_reference"
)

// Part types.
const (
	partInputText   = "input_text"
	partOutputText  = "output_text"
	partRefusal     = "refusal"
	partInputImage  = "input_image"
	partInputFile   = "input_file"
	partSummaryText = "summary_text"
)

// Item is one item of a Responses conversation: an input item as spark
// normalizes and stores it, or an output item. Only the fields of its Type
// are meaningful; MarshalJSON writes exactly the keys of that type.
type Item struct {
	Type   string
	ID     string
	Status string // in_progress, completed, incomplete; "" omits it

	// message
	Role    string // user, assistant, system, developer
	Content []Part

	// function_call (CallID, Name, Namespace, Arguments) and
	// function_call_output (CallID, Output or OutputParts)
	CallID      string
	Name        string
	Namespace   string // the namespace tool the function belongs to (Codex)
	Arguments   string
	Output      string
	OutputParts []Part // non-nil: the output was an array of parts

	// reasoning
	Summary []Part

	param string // where the item came from in the request ("input[3]"), for errors
}

// Part is one content part: text (input_text, output_text, refusal,
// summary_text: Text), an image (input_image: ImageURL or FileID, Detail)
// or a file (input_file: FileData with Filename, FileURL or FileID).
type Part struct {
	Type     string
	Text     string
	ImageURL string
	FileID   string
	Detail   string
	FileData string
	Filename string
	FileURL  string
}

// Wire shapes, one per type, so that each item carries exactly its keys in
// the order OpenAI writes them.

type messageJSON struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Status  string `json:"status,omitempty"`
	Role    string `json:"role"`
	Content []Part `json:"content"`
}

type functionCallJSON struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Arguments string `json:"arguments"`
	Status    string `json:"status,omitempty"`
}

type callOutputJSON struct {
	Type   string `json:"type"`
	ID     string `json:"id,omitempty"`
	CallID string `json:"call_id"`
	Output any    `json:"output"`
	Status string `json:"status,omitempty"`
}

type reasoningJSON struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Summary []Part `json:"summary"`
	Status  string `json:"status,omitempty"`
}

// empty is an always-empty JSON array (annotations, logprobs).
type empty struct{}

func (empty) MarshalJSON() ([]byte, error) { return []byte("[]"), nil }

// MarshalJSON writes it in its type's wire shape.
func (it Item) MarshalJSON() ([]byte, error) {
	switch it.Type {
	case typeMessage:
		c := it.Content
		if c == nil {
			c = []Part{}
		}
		return marshal(messageJSON{Type: it.Type, ID: it.ID, Status: it.Status, Role: it.Role, Content: c})
	case typeFunctionCall:
		return marshal(functionCallJSON{Type: it.Type, ID: it.ID, CallID: it.CallID, Name: it.Name,
			Namespace: it.Namespace, Arguments: it.Arguments, Status: it.Status})
	case typeCallOutput:
		var out any = it.Output
		if it.OutputParts != nil {
			out = it.OutputParts
		}
		return marshal(callOutputJSON{Type: it.Type, ID: it.ID, CallID: it.CallID, Output: out, Status: it.Status})
	case typeReasoning:
		s := it.Summary
		if s == nil {
			s = []Part{}
		}
		return marshal(reasoningJSON{Type: it.Type, ID: it.ID, Summary: s, Status: it.Status})
	}
	return marshal(struct {
		Type string `json:"type"`
		ID   string `json:"id,omitempty"`
	}{it.Type, it.ID})
}

// MarshalJSON writes p in its type's wire shape.
func (p Part) MarshalJSON() ([]byte, error) {
	switch p.Type {
	case partOutputText:
		return marshal(struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			Annotations empty  `json:"annotations"`
			Logprobs    empty  `json:"logprobs"`
		}{Type: p.Type, Text: p.Text})
	case partRefusal:
		return marshal(struct {
			Type    string `json:"type"`
			Refusal string `json:"refusal"`
		}{p.Type, p.Text})
	case partInputImage:
		d := p.Detail
		if d == "" {
			d = "auto"
		}
		return marshal(struct {
			Type     string `json:"type"`
			ImageURL string `json:"image_url,omitempty"`
			FileID   string `json:"file_id,omitempty"`
			Detail   string `json:"detail"`
		}{p.Type, p.ImageURL, p.FileID, d})
	case partInputFile:
		return marshal(struct {
			Type     string `json:"type"`
			Filename string `json:"filename,omitempty"`
			FileData string `json:"file_data,omitempty"`
			FileURL  string `json:"file_url,omitempty"`
			FileID   string `json:"file_id,omitempty"`
		}{p.Type, p.Filename, p.FileData, p.FileURL, p.FileID})
	default: // input_text, summary_text
		return marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{p.Type, p.Text})
	}
}

// wireItem is the lenient decoding of any input item.
type wireItem struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Arguments json.RawMessage `json:"arguments"`
	Output    json.RawMessage `json:"output"`
	Summary   []wirePart      `json:"summary"`
}

// wirePart is the lenient decoding of any content part.
type wirePart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"` // a string; leniently {"url": ...}
	FileID   string          `json:"file_id"`
	Detail   string          `json:"detail"`
	FileData string          `json:"file_data"`
	Filename string          `json:"filename"`
	FileName string          `json:"file_name"` // n8n's spelling
	FileURL  string          `json:"file_url"`
}

// hostedItemTypes are item types of OpenAI's built-in tools, which spark
// cannot have produced and cannot replay.
var hostedItemTypes = map[string]bool{
	"web_search_call": true, "file_search_call": true, "computer_call": true, "computer_call_output": true,
	"code_interpreter_call": true, "image_generation_call": true, "local_shell_call": true,
	"local_shell_call_output": true, "shell_call": true, "shell_call_output": true,
	"apply_patch_call": true, "apply_patch_call_output": true, "mcp_call": true, "mcp_list_tools": true,
	"mcp_approval_request": true, "mcp_approval_response": true, "custom_tool_call": true,
	"custom_tool_call_output": true, "tool_search_call": true, "tool_search_output": true,
}

// parseItem decodes and validates one input item (param names it in the
// request). Message content is normalized to an array of parts; an
// item_reference keeps only its id (the caller resolves it).
func parseItem(raw json.RawMessage, param string) (Item, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return Item{}, wire.Invalid(param, "Invalid type for '%s': expected an object.", param)
	}
	var w wireItem
	if err := json.Unmarshal(raw, &w); err != nil {
		return Item{}, wire.Invalid(param, "Invalid input item '%s': %s", param, wire.TypeErrorDetail(err, "malformed value"))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"id", w.ID, wire.MaxIDBytes}, {"call_id", w.CallID, wire.MaxIDBytes}, {"name", w.Name, wire.MaxIDBytes},
		{"namespace", w.Namespace, wire.MaxIDBytes}, {"status", w.Status, maxEnumBytes}, {"type", w.Type, wire.MaxIDBytes},
	} {
		if err := wire.CheckLength(param+"."+f.name, f.v, f.max); err != nil {
			return Item{}, err
		}
	}
	it := Item{Type: w.Type, ID: w.ID, param: param}
	switch {
	case w.Type == typeMessage || (w.Type == "" && w.Role != ""):
		it.Type = typeMessage
		it.Role = w.Role
		it.Status = w.Status
		switch w.Role {
		case "user", "system", "developer", "assistant":
		case "":
			return Item{}, wire.Invalid(param+".role", "Missing required parameter: '%s.role'.", param)
		default:
			return Item{}, wire.Invalid(param+".role", "Invalid value: '%s'. Supported values are: 'user', 'assistant', 'system' and 'developer'.", w.Role)
		}
		parts, err := parseContent(w.Content, param+".content", w.Role)
		if err != nil {
			return Item{}, err
		}
		it.Content = parts
	case w.Type == typeFunctionCall:
		if w.CallID == "" {
			return Item{}, wire.Invalid(param+".call_id", "Missing required parameter: '%s.call_id'.", param)
		}
		if w.Name == "" {
			return Item{}, wire.Invalid(param+".name", "Missing required parameter: '%s.name'.", param)
		}
		args, err := wire.ArgumentsText(w.Arguments, param+".arguments")
		if err != nil {
			return Item{}, err
		}
		it.CallID, it.Name, it.Namespace, it.Arguments, it.Status = w.CallID, w.Name, w.Namespace, args, w.Status
	case w.Type == typeCallOutput:
		if w.CallID == "" {
			return Item{}, wire.Invalid(param+".call_id", "Missing required parameter: '%s.call_id'.", param)
		}
		it.CallID, it.Status = w.CallID, w.Status
		if err := parseCallOutput(&it, w.Output, param+".output"); err != nil {
			return Item{}, err
		}
	case w.Type == typeReasoning:
		// Kept for listing and item_reference; never sent upstream.
		it.Status = w.Status
		for _, sp := range w.Summary {
			it.Summary = append(it.Summary, Part{Type: partSummaryText, Text: sp.Text})
		}
	case w.Type == typeItemRef:
		if w.ID == "" {
			return Item{}, wire.Invalid(param+".id", "Missing required parameter: '%s.id'.", param)
		}
	case w.Type == "":
		return Item{}, wire.Invalid(param+".type", "Missing required parameter: '%s.type' (or '%s.role' for a message).", param, param)
	case hostedItemTypes[w.Type]:
		return Item{}, wire.Invalid(param+".type", "Input items of type '%s' are not supported by this gateway: it does not run OpenAI's built-in or custom tools. Only 'message', 'function_call', 'function_call_output', 'reasoning' and 'item_reference' items are accepted.", w.Type)
	default:
		return Item{}, wire.Invalid(param+".type", "Invalid value: '%s'. Supported input item types are: 'message', 'function_call', 'function_call_output', 'reasoning' and 'item_reference'.", w.Type)
	}
	return it, nil
}

// parseContent converts message content: a string or an array of parts.
// Media parts are accepted in user messages only.
func parseContent(raw json.RawMessage, param, role string) ([]Part, error) {
	textType := partInputText
	if role == "assistant" {
		textType = partOutputText
	}
	if wire.IsNull(raw) {
		return []Part{}, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, wire.Invalid(param, "Invalid type for '%s': expected a string or an array of content parts.", param)
		}
		return []Part{{Type: textType, Text: s}}, nil
	case '[':
	default:
		return nil, wire.Invalid(param, "Invalid type for '%s': expected a string or an array of content parts.", param)
	}
	var wps []wirePart
	if err := json.Unmarshal(raw, &wps); err != nil {
		return nil, wire.Invalid(param, "Invalid content parts in '%s': %s", param, wire.TypeErrorDetail(err, "malformed value"))
	}
	parts := make([]Part, 0, len(wps))
	for j := range wps {
		wp := &wps[j]
		pparam := param + "[" + strconv.Itoa(j) + "]"
		switch wp.Type {
		case partInputText, partOutputText, "text":
			// Lenient: OpenAI rejects input_text in assistant messages,
			// clients replaying history send it anyway.
			parts = append(parts, Part{Type: textType, Text: wp.Text})
		case partRefusal:
			parts = append(parts, Part{Type: partRefusal, Text: wp.Refusal})
		case partInputImage, partInputFile:
			if role != "user" {
				return nil, wire.Invalid(pparam+".type", "Invalid value: '%s'. Images and files are only supported in user messages.", wp.Type)
			}
			p, err := parseMediaPart(wp, pparam)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		case "":
			return nil, wire.Invalid(pparam+".type", "Missing required parameter: '%s.type'.", pparam)
		default:
			return nil, wire.Invalid(pparam+".type", "Invalid value: '%s'. Supported values are: 'input_text', 'input_image', 'input_file', 'output_text' and 'refusal'.", wp.Type)
		}
	}
	return parts, nil
}

// parseMediaPart validates an input_image or input_file part. The payload
// is decoded later, when the conversation is converted.
func parseMediaPart(wp *wirePart, param string) (Part, error) {
	if wp.FileID != "" {
		// A Files API id, resolved when the conversation is converted.
		if len(wp.FileID) > wire.MaxFileIDBytes {
			return Part{}, wire.Invalid(param+".file_id", "Invalid file id in '%s.file_id': at most %d bytes.", param, wire.MaxFileIDBytes)
		}
		p := Part{Type: wp.Type, Detail: wp.Detail, FileID: wp.FileID}
		if wp.Type == partInputFile {
			p.Filename = wp.Filename
			if p.Filename == "" {
				p.Filename = wp.FileName
			}
		}
		return p, nil
	}
	p := Part{Type: wp.Type, Detail: wp.Detail}
	if wp.Type == partInputImage {
		u, err := wire.ImageURL(wp.ImageURL, param+".image_url", wire.ImageURLString)
		if err != nil {
			return Part{}, err
		}
		p.ImageURL = u
		return p, nil
	}
	p.Filename = wp.Filename
	if p.Filename == "" {
		p.Filename = wp.FileName
	}
	p.FileData, p.FileURL = wp.FileData, wp.FileURL
	if p.FileData == "" && p.FileURL == "" {
		return Part{}, wire.Invalid(param+".file_data", "Missing required parameter: '%s.file_data' (or '%s.file_url').", param, param)
	}
	return p, nil
}

// parseCallOutput reads a function_call_output's output: a string, an
// array of input_text/input_image/input_file parts, or, leniently, any
// other JSON value (kept as its text).
func parseCallOutput(it *Item, raw json.RawMessage, param string) error {
	raw = bytes.TrimSpace(raw)
	switch {
	case wire.IsNull(raw):
		return nil
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &it.Output); err != nil {
			return wire.Invalid(param, "Invalid type for '%s': expected a string or an array of content parts.", param)
		}
		return nil
	case raw[0] == '[':
		var wps []wirePart
		if err := json.Unmarshal(raw, &wps); err != nil {
			return wire.Invalid(param, "Invalid content parts in '%s': %s", param, wire.TypeErrorDetail(err, "malformed value"))
		}
		it.OutputParts = make([]Part, 0, len(wps))
		for j := range wps {
			wp := &wps[j]
			pparam := param + "[" + strconv.Itoa(j) + "]"
			switch wp.Type {
			case partInputText, partOutputText, "text":
				it.OutputParts = append(it.OutputParts, Part{Type: partInputText, Text: wp.Text})
			case partInputImage, partInputFile:
				p, err := parseMediaPart(wp, pparam)
				if err != nil {
					return err
				}
				it.OutputParts = append(it.OutputParts, p)
			default:
				return wire.Invalid(pparam+".type", "Invalid value: '%s'. Supported values are: 'input_text', 'input_image' and 'input_file'.", wp.Type)
			}
		}
		return nil
	default:
		it.Output = string(raw)
		return nil
	}
}
