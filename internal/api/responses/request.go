package responses

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/structured"
	"github.com/sparkgw/spark/internal/toolcall"
)

// createRequest is the subset of CreateResponse spark reads. Unknown fields
// are ignored (clients add new ones monthly); include[], prompt_cache_key,
// safety_identifier, service_tier, top_logprobs, max_tool_calls,
// stream_options, client_metadata and the like are accepted and ignored.
type createRequest struct {
	Model              string            `json:"model"`
	Input              json.RawMessage   `json:"input"`
	Instructions       json.RawMessage   `json:"instructions"`
	PreviousResponseID string            `json:"previous_response_id"`
	Conversation       json.RawMessage   `json:"conversation"`
	Prompt             json.RawMessage   `json:"prompt"`
	Store              *bool             `json:"store"`
	Stream             bool              `json:"stream"`
	Background         *bool             `json:"background"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	MaxToolCalls       *int              `json:"max_tool_calls"`
	Temperature        *float64          `json:"temperature"`
	TopP               *float64          `json:"top_p"`
	Truncation         string            `json:"truncation"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls"`
	Metadata           json.RawMessage   `json:"metadata"`
	Reasoning          *reasoningParam   `json:"reasoning"`
	Text               json.RawMessage   `json:"text"`
	Tools              []json.RawMessage `json:"tools"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	User               string            `json:"user"`
}

type reasoningParam struct {
	Effort          string `json:"effort"`
	Summary         string `json:"summary"`
	GenerateSummary string `json:"generate_summary"` // deprecated spelling of summary
}

// params is a parsed create request: the neutral request, the conversation
// as items, and what the response object echoes.
type params struct {
	req        llm.Request
	stream     bool
	store      bool
	background bool
	prevID     string
	items      []Item // the whole input: inherited items, then the new ones
	names      *toolNames
	echo       echo
}

// echo holds the request fields the response object repeats.
type echo struct {
	instructions    json.RawMessage
	tools           []json.RawMessage
	toolChoice      json.RawMessage
	text            textEcho
	reasoning       reasoningEcho
	metadata        map[string]string
	temperature     *float64
	topP            *float64
	maxOutputTokens *int
	maxToolCalls    *int
	truncation      string
	user            string
}

type textEcho struct {
	Format    json.RawMessage `json:"format"`
	Verbosity string          `json:"verbosity,omitempty"`
}

type reasoningEcho struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

// decodeRequest reads the body of a create (or input_tokens) request: a
// JSON object (null is refused).
func (h *Handler) decodeRequest(w http.ResponseWriter, r *http.Request) (*createRequest, error) {
	return wire.DecodeObject[createRequest](w, r, h.opts.MaxBodyBytes, nil, "")
}

// validate applies the limits of the official API to the top-level
// parameters (ranges, lengths, enums of echoed values), so that what the
// real API refuses is refused here too, and nothing stored or echoed is
// unbounded. forCount relaxes what only generation needs (the model), for
// POST /v1/responses/input_tokens. The input, instructions and tools are
// checked as they are converted (buildRequest).
func (cr *createRequest) validate(forCount bool) error {
	if strings.TrimSpace(cr.Model) == "" && !forCount {
		return wire.Invalid("model", "Missing required parameter: 'model'.")
	}
	for _, c := range []struct {
		param, v string
		max      int
	}{
		{"model", cr.Model, wire.MaxModelBytes},
		{"previous_response_id", cr.PreviousResponseID, wire.MaxIDBytes},
		{"user", cr.User, wire.MaxUserBytes},
	} {
		if err := wire.CheckLength(c.param, c.v, c.max); err != nil {
			return err
		}
	}
	if err := wire.CheckRange("temperature", cr.Temperature, 0, 2); err != nil {
		return err
	}
	if err := wire.CheckRange("top_p", cr.TopP, 0, 1); err != nil {
		return err
	}
	if err := wire.CheckIntRange("max_output_tokens", cr.MaxOutputTokens, 1, math.MaxInt); err != nil {
		return err
	}
	if err := wire.CheckIntRange("max_tool_calls", cr.MaxToolCalls, 0, math.MaxInt); err != nil {
		return err
	}
	switch cr.Truncation {
	case "", "auto", "disabled":
	default:
		return wire.Invalid("truncation", "Invalid value: '%s'. Supported values are: 'auto' and 'disabled'.", wire.Truncate(cr.Truncation, 64))
	}
	if r := cr.Reasoning; r != nil {
		for _, c := range []struct{ param, v string }{
			{"reasoning.effort", r.Effort}, {"reasoning.summary", r.Summary}, {"reasoning.generate_summary", r.GenerateSummary},
		} {
			if err := wire.CheckLength(c.param, c.v, maxEnumBytes); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxEnumBytes bounds the enum-like strings the response echoes (reasoning
// effort and summary), whose values the gateway passes on without knowing
// them all.
const maxEnumBytes = 32

// buildRequest converts a validated cr. It loads the previous response
// when previous_response_id is set. forCount relaxes what only generation
// needs, for POST /v1/responses/input_tokens.
func (h *Handler) buildRequest(ctx context.Context, cr *createRequest, forCount bool) (*params, error) {
	p := &params{stream: cr.Stream, prevID: cr.PreviousResponseID}
	req := &p.req
	req.Model = cr.Model
	p.store = cr.Store == nil || *cr.Store
	p.background = cr.Background != nil && *cr.Background
	if !wire.IsNull(cr.Conversation) {
		return nil, wire.Invalid("conversation", "Conversations are not supported by this gateway; continue with 'previous_response_id' or send the whole conversation in 'input'.")
	}
	if !wire.IsNull(cr.Prompt) {
		return nil, wire.Invalid("prompt", "Stored prompts ('prompt') are not supported by this gateway; send 'instructions' and 'input' instead.")
	}

	var err error
	if p.echo.text, req.Output, err = parseText(cr.Text); err != nil {
		return nil, err
	}
	if p.echo.metadata, err = wire.DecodeMetadata(cr.Metadata); err != nil {
		return nil, err
	}
	if p.names, err = parseTools(cr.Tools, req); err != nil {
		return nil, err
	}
	if req.ToolChoice, err = parseToolChoice(cr.ToolChoice, req, p.names); err != nil {
		return nil, err
	}
	req.ParallelToolCalls = cr.ParallelToolCalls == nil || *cr.ParallelToolCalls

	// The conversation: the previous response's input and output, then the
	// new input. Its instructions are not carried over.
	var inherited []Item
	if cr.PreviousResponseID != "" {
		if inherited, err = h.inherited(ctx, cr.PreviousResponseID); err != nil {
			return nil, err
		}
	}
	newItems, err := parseInput(cr.Input, inherited)
	if err != nil {
		return nil, err
	}
	p.items = append(inherited, newItems...)

	var system []llm.Message
	p.echo.instructions = json.RawMessage("null")
	if !wire.IsNull(cr.Instructions) {
		p.echo.instructions = cr.Instructions
		if system, err = parseInstructions(cr.Instructions, p.names); err != nil {
			return nil, err
		}
	}
	conv, err := toMessages(p.items, p.names, wire.NewFileResolver(ctx, h.opts.Files, wire.Invalid))
	if err != nil {
		return nil, err
	}
	req.Messages = append(system, conv...)
	if !forCount {
		hasTurn := false
		for _, m := range req.Messages {
			hasTurn = hasTurn || m.Role != llm.RoleSystem
		}
		if !hasTurn {
			if wire.IsNull(cr.Input) && cr.PreviousResponseID == "" {
				return nil, wire.Invalid("input", "Missing required parameter: 'input'.")
			}
			return nil, wire.Invalid("input", "Invalid 'input': the conversation has no user, assistant or tool content.")
		}
	}

	if cr.MaxOutputTokens != nil {
		req.MaxTokens = *cr.MaxOutputTokens
	}
	req.Temperature, req.TopP = cr.Temperature, cr.TopP
	if r := cr.Reasoning; r != nil {
		summary := r.Summary
		if summary == "" {
			summary = r.GenerateSummary
		}
		req.ReasoningEffort = r.Effort
		req.Reasoning = r.Effort != "none" && (r.Effort != "" || (summary != "" && summary != "none"))
		if r.Effort != "" {
			p.echo.reasoning.Effort = &r.Effort
		}
		if summary != "" {
			p.echo.reasoning.Summary = &summary
		}
	}

	p.echo.tools = cr.Tools
	if p.echo.tools == nil {
		p.echo.tools = []json.RawMessage{}
	}
	p.echo.toolChoice = cr.ToolChoice
	if wire.IsNull(p.echo.toolChoice) {
		p.echo.toolChoice = json.RawMessage(`"auto"`)
	}
	p.echo.temperature, p.echo.topP = cr.Temperature, cr.TopP
	p.echo.maxOutputTokens, p.echo.maxToolCalls = cr.MaxOutputTokens, cr.MaxToolCalls
	p.echo.truncation = cr.Truncation
	if p.echo.truncation == "" {
		p.echo.truncation = "disabled"
	}
	p.echo.user = cr.User
	return p, nil
}

// inherited returns the conversation of the previous response: its input
// items (themselves including what it inherited) and its output items.
func (h *Handler) inherited(ctx context.Context, id string) ([]Item, error) {
	const param = "previous_response_id"
	sr, err := h.load(ctx, id)
	if err != nil {
		if gw.ErrorCode(err) == gw.CodeNotFound {
			e := wire.Invalid(param, "Previous response with id '%s' not found.", id)
			e.Cause = err
			return nil, e
		}
		return nil, err
	}
	var (
		input []json.RawMessage
		resp  struct {
			Output []json.RawMessage `json:"output"`
		}
	)
	if len(sr.InputItems) > 0 {
		if err := json.Unmarshal(sr.InputItems, &input); err != nil {
			return nil, gw.Wrap(gw.CodeInternal, err, "the stored previous response is unreadable")
		}
	}
	if err := json.Unmarshal(sr.Response, &resp); err != nil {
		return nil, gw.Wrap(gw.CodeInternal, err, "the stored previous response is unreadable")
	}
	items := make([]Item, 0, len(input)+len(resp.Output))
	for _, raw := range append(input, resp.Output...) {
		it, err := parseItem(raw, param)
		if err != nil {
			return nil, gw.Wrap(gw.CodeInternal, err, "the stored previous response is unreadable")
		}
		if it.Type == typeItemRef {
			continue
		}
		items = append(items, it)
	}
	return items, nil
}

// parseInput converts input (a string or an array of items) to items with
// ids. item_reference items are replaced by the item they name, looked up in
// the inherited conversation and earlier input; items whose id is already
// in the inherited conversation are dropped (a client replaying the previous
// response's output along with previous_response_id). An id may be
// referenced once: a reference is a few bytes and the item it copies may be
// megabytes (an inline image decoded again for every copy), so repeated
// references would turn a small body into unbounded work.
func parseInput(raw json.RawMessage, inherited []Item) ([]Item, error) {
	if wire.IsNull(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, wire.Invalid("input", "Invalid type for 'input': expected a string or an array of input items.")
		}
		return []Item{{Type: typeMessage, ID: newID("msg_"), Status: "completed", Role: "user",
			Content: []Part{{Type: partInputText, Text: s}}, param: "input"}}, nil
	case '[':
	default:
		return nil, wire.Invalid("input", "Invalid type for 'input': expected a string or an array of input items.")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(raw, &raws); err != nil {
		return nil, wire.Invalid("input", "Invalid type for 'input': expected a string or an array of input items.")
	}
	known := make(map[string]*Item, len(inherited))
	for i := range inherited {
		if id := inherited[i].ID; id != "" {
			known[id] = &inherited[i]
		}
	}
	out := make([]Item, 0, len(raws))
	first := map[string]int{}       // id → index in out of the first item with it
	referenced := map[string]bool{} // ids already referenced
	for i, r := range raws {
		param := "input[" + strconv.Itoa(i) + "]"
		it, err := parseItem(r, param)
		if err != nil {
			return nil, err
		}
		if it.Type == typeItemRef {
			if referenced[it.ID] {
				return nil, wire.Invalid(param+".id", "Duplicate item reference: the item with id '%s' is already referenced in 'input'.", it.ID)
			}
			referenced[it.ID] = true
			ref := known[it.ID]
			if ref == nil {
				if j, ok := first[it.ID]; ok {
					ref = &out[j]
				}
			}
			if ref == nil {
				return nil, wire.Invalid(param+".id", "Item with id '%s' not found: item references can only name items of the previous response ('previous_response_id') or earlier input items.", it.ID)
			}
			it = *ref
			it.param = param
			out = append(out, it)
			continue
		}
		if it.ID != "" && known[it.ID] != nil {
			continue
		}
		if it.ID == "" {
			switch it.Type {
			case typeMessage:
				it.ID = newID("msg_")
			case typeFunctionCall:
				it.ID = newID("fc_")
			case typeCallOutput:
				it.ID = newID("fco_")
			case typeReasoning:
				it.ID = newID("rs_")
			}
		}
		if it.Status == "" && it.Type != typeReasoning {
			it.Status = "completed"
		}
		if _, ok := first[it.ID]; !ok && it.ID != "" {
			first[it.ID] = len(out)
		}
		out = append(out, it)
	}
	return out, nil
}

// parseInstructions converts instructions: a string, or (as stored prompts
// produce) an array of input items. They become leading system messages.
func parseInstructions(raw json.RawMessage, names *toolNames) ([]llm.Message, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, wire.Invalid("instructions", "Invalid type for 'instructions': expected a string.")
		}
		if s == "" {
			return nil, nil
		}
		return []llm.Message{llm.TextMessage(llm.RoleSystem, s)}, nil
	}
	var raws []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &raws) != nil {
		return nil, wire.Invalid("instructions", "Invalid type for 'instructions': expected a string.")
	}
	items := make([]Item, 0, len(raws))
	for i, r := range raws {
		it, err := parseItem(r, "instructions["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return toMessages(items, names, nil)
}

// parseText reads text: its verbosity and format. text.format text asks
// for free text, json_object for a JSON object, json_schema for a JSON
// value valid against text.format.schema; the response echoes the format
// as given. A schema the structured-output emulator cannot use is refused
// here, naming the parameter.
func parseText(raw json.RawMessage) (textEcho, *llm.OutputFormat, error) {
	te := textEcho{Format: json.RawMessage(`{"type":"text"}`), Verbosity: "medium"}
	if wire.IsNull(raw) {
		return te, nil, nil
	}
	var t struct {
		Format    json.RawMessage `json:"format"`
		Verbosity string          `json:"verbosity"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return te, nil, wire.Invalid("text", "Invalid type for 'text': expected an object.")
	}
	switch t.Verbosity {
	case "":
	case "low", "medium", "high":
		te.Verbosity = t.Verbosity
	default:
		return te, nil, wire.Invalid("text.verbosity", "Invalid value: '%s'. Supported values are: 'low', 'medium' and 'high'.", wire.Truncate(t.Verbosity, 64))
	}
	if wire.IsNull(t.Format) {
		return te, nil, nil
	}
	var f struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	}
	if err := json.Unmarshal(t.Format, &f); err != nil {
		return te, nil, wire.Invalid("text.format", "Invalid type for 'text.format': expected an object.")
	}
	switch f.Type {
	case "text":
		te.Format = t.Format
		return te, nil, nil
	case "json_object":
		te.Format = t.Format
		return te, &llm.OutputFormat{Kind: llm.OutputJSONObject}, nil
	case "json_schema":
		if err := wire.CheckLength("text.format.name", f.Name, maxFormatNameBytes); err != nil {
			return te, nil, err
		}
		if err := wire.CheckLength("text.format.description", f.Description, maxFormatDescriptionBytes); err != nil {
			return te, nil, err
		}
		if wire.IsNull(f.Schema) {
			return te, nil, wire.Invalid("text.format.schema", "Missing required parameter: 'text.format.schema'.")
		}
		if err := structured.CheckSchema(f.Schema); err != nil {
			return te, nil, wire.Invalid("text.format.schema", "Invalid schema for text.format '%s': %v.", f.Name, err)
		}
		te.Format = t.Format
		return te, &llm.OutputFormat{Kind: llm.OutputJSONSchema, Name: f.Name, Description: f.Description,
			Schema: f.Schema, Strict: f.Strict != nil && *f.Strict}, nil
	case "":
		return te, nil, wire.Invalid("text.format.type", "Missing required parameter: 'text.format.type'.")
	default:
		return te, nil, wire.Invalid("text.format.type", "Invalid value: '%s'. Supported values are: 'text', 'json_object' and 'json_schema'.", f.Type)
	}
}

// Bounds of a text format's name and description (the schema is bounded
// by the structured-output emulator).
const (
	maxFormatNameBytes        = 256
	maxFormatDescriptionBytes = 64 << 10
)

// toolRef names a function: its namespace ("" for a top-level function
// tool) and its name.
type toolRef struct{ namespace, name string }

// toolNames maps the functions of namespace tools (Codex sends
// {"type":"namespace","name":"multi_agent_v1","tools":[...]}) to the flat
// tool names the model sees, and back. A namespaced function keeps its own
// name unless another tool has it, then it is exposed as "namespace.name".
type toolNames struct {
	byExposed map[string]toolRef
	byRef     map[toolRef]string
}

// exposed returns the name the model knows the function (namespace, name)
// by.
func (n *toolNames) exposed(namespace, name string) string {
	if namespace == "" || n == nil {
		return name
	}
	if e, ok := n.byRef[toolRef{namespace, name}]; ok {
		return e
	}
	return name
}

// ref returns the namespace and name of the tool the model called by
// exposed name.
func (n *toolNames) ref(exposed string) toolRef {
	if n != nil {
		if r, ok := n.byExposed[exposed]; ok {
			return r
		}
	}
	return toolRef{name: exposed}
}

// add registers a tool and returns its exposed name.
func (n *toolNames) add(r toolRef) string {
	e := r.name
	if _, taken := n.byExposed[e]; taken && r.namespace != "" {
		e = r.namespace + "." + r.name
	}
	if _, taken := n.byExposed[e]; !taken {
		n.byExposed[e] = r
		n.byRef[r] = e
	}
	return e
}

// wireTool is the lenient decoding of a tools[] entry.
type wireTool struct {
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Parameters  json.RawMessage   `json:"parameters"`
	Tools       []json.RawMessage `json:"tools"`    // namespace
	Function    *wireFunction     `json:"function"` // Chat Completions nesting, tolerated
}

type wireFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// isWebSearch reports whether typ is OpenAI's web search tool. spark drops
// it: the upstream web apps browse on their own when a question needs it,
// so n8n workflows with "Web Search" switched on keep working, with the
// answer as plain text (no web_search_call item).
func isWebSearch(typ string) bool {
	return typ == "web_search" || typ == "web_search_preview" || strings.HasPrefix(typ, "web_search_preview_") ||
		strings.HasPrefix(typ, "web_search_2")
}

// parseTools converts function tools (flat, and the functions of namespace
// tools) to req.Tools. Hosted tools other than web search and custom tools
// are refused with a 400 naming the tool.
func parseTools(raws []json.RawMessage, req *llm.Request) (*toolNames, error) {
	names := &toolNames{byExposed: map[string]toolRef{}, byRef: map[toolRef]string{}}
	for i, raw := range raws {
		param := "tools[" + strconv.Itoa(i) + "]"
		var t wireTool
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, wire.Invalid(param, "Invalid type for '%s': expected an object.", param)
		}
		switch {
		case t.Type == "function":
			if err := addFunction(&t, "", param, req, names); err != nil {
				return nil, err
			}
		case t.Type == "namespace":
			if t.Name == "" {
				return nil, wire.Invalid(param+".name", "Missing required parameter: '%s.name'.", param)
			}
			if err := wire.CheckToolName(param+".name", t.Name); err != nil {
				return nil, err
			}
			for j, inner := range t.Tools {
				iparam := param + ".tools[" + strconv.Itoa(j) + "]"
				var it wireTool
				if err := json.Unmarshal(inner, &it); err != nil {
					return nil, wire.Invalid(iparam, "Invalid type for '%s': expected an object.", iparam)
				}
				if it.Type != "function" && it.Type != "" {
					return nil, wire.Invalid(iparam+".type", "Tool '%s' in namespace '%s' has type '%s'; only function tools are supported by this gateway.", it.Name, t.Name, it.Type)
				}
				if err := addFunction(&it, t.Name, iparam, req, names); err != nil {
					return nil, err
				}
			}
		case isWebSearch(t.Type):
			// Dropped; see isWebSearch.
		case t.Type == "custom":
			return nil, wire.Invalid(param+".type", "Custom tools ('%s') are not supported by this gateway; declare a function tool ({\"type\":\"function\",\"name\",\"parameters\"}) instead.", t.Name)
		case t.Type == "":
			return nil, wire.Invalid(param+".type", "Missing required parameter: '%s.type'.", param)
		default:
			return nil, wire.Invalid(param+".type", "The built-in tool '%s' (%s) is not supported by this gateway: spark answers through consumer AI web apps, which cannot run OpenAI's hosted tools. Remove it from 'tools' (in n8n, switch that built-in tool off) or declare a function tool instead.", t.Type, param)
		}
	}
	return names, nil
}

// addFunction converts one function tool.
func addFunction(t *wireTool, namespace, param string, req *llm.Request, names *toolNames) error {
	name, desc, schema := t.Name, t.Description, t.Parameters
	if name == "" && t.Function != nil {
		name, desc, schema = t.Function.Name, t.Function.Description, t.Function.Parameters
	}
	if name == "" {
		return wire.Invalid(param+".name", "Missing required parameter: '%s.name'.", param)
	}
	if err := wire.CheckToolName(param+".name", name); err != nil {
		return err
	}
	if _, dup := names.byRef[toolRef{namespace, name}]; dup {
		// A second definition of the same function is dropped (the first
		// one wins, as for calls): kept, each copy of a 12-byte
		// {"name":"a"} in a namespace cost the backend the namespaced
		// name again, up to 129 bytes.
		return nil
	}
	tool := llm.Tool{Name: names.add(toolRef{namespace, name}), Description: desc}
	if !wire.IsNull(schema) {
		if schema[0] != '{' {
			return wire.Invalid(param+".parameters", "Invalid type for '%s.parameters': expected an object.", param)
		}
		if err := toolcall.CheckParameters(schema); err != nil {
			return wire.Invalid(param+".parameters", "Invalid schema for function '%s': %v.", name, err)
		}
		tool.Parameters = schema
	}
	req.Tools = append(req.Tools, tool)
	return nil
}

// toolChoiceObject is the lenient decoding of an object tool_choice.
type toolChoiceObject struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Namespace    string          `json:"namespace"`
	Mode         string          `json:"mode"`
	Tools        []choiceTool    `json:"tools"`
	AllowedTools *allowedTools   `json:"allowed_tools"` // Chat Completions nesting, tolerated
	Function     *wireFunction   `json:"function"`
	ServerLabel  json.RawMessage `json:"server_label"`
}

type allowedTools struct {
	Mode  string       `json:"mode"`
	Tools []choiceTool `json:"tools"`
}

type choiceTool struct {
	Type      string        `json:"type"`
	Name      string        `json:"name"`
	Namespace string        `json:"namespace"`
	Function  *wireFunction `json:"function"`
}

// parseToolChoice converts tool_choice. An allowed_tools choice narrows
// req.Tools to the allowed functions.
func parseToolChoice(raw json.RawMessage, req *llm.Request, names *toolNames) (llm.ToolChoice, error) {
	const param = "tool_choice"
	tc := llm.ToolChoice{Mode: llm.ToolChoiceAuto}
	if wire.IsNull(raw) {
		return tc, nil
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "auto", "":
		case "none":
			tc.Mode = llm.ToolChoiceNone
		case "required":
			tc.Mode = llm.ToolChoiceRequired
		default:
			return tc, wire.Invalid(param, "Invalid value for 'tool_choice': '%s'. Supported values are: 'none', 'auto' and 'required'.", s)
		}
	} else {
		var o toolChoiceObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return tc, wire.Invalid(param, "Invalid type for 'tool_choice': expected a string or an object.")
		}
		switch {
		case o.Type == "allowed_tools":
			mode, list := o.Mode, o.Tools
			if o.AllowedTools != nil {
				mode, list = o.AllowedTools.Mode, o.AllowedTools.Tools
			}
			allowed := map[string]bool{}
			for _, t := range list {
				name := t.Name
				if name == "" && t.Function != nil {
					name = t.Function.Name
				}
				allowed[names.exposed(t.Namespace, name)] = true
			}
			kept := req.Tools[:0]
			for _, t := range req.Tools {
				if allowed[t.Name] {
					kept = append(kept, t)
				}
			}
			req.Tools = kept
			switch mode {
			case "required":
				tc.Mode = llm.ToolChoiceRequired
			case "auto", "":
			default:
				return tc, wire.Invalid(param+".mode", "Invalid value: '%s'. Supported values are: 'auto' and 'required'.", mode)
			}
		case o.Type == "function":
			name := o.Name
			if name == "" && o.Function != nil {
				name = o.Function.Name
			}
			if name == "" {
				return tc, wire.Invalid(param+".name", "Missing required parameter: 'tool_choice.name'.")
			}
			tc = llm.ToolChoice{Mode: llm.ToolChoiceNamed, Name: names.exposed(o.Namespace, name)}
		case isWebSearch(o.Type):
			// Web search tools are dropped; forcing one means "answer".
		case o.Type == "custom":
			return tc, wire.Invalid(param+".type", "Custom tools are not supported by this gateway.")
		case o.Type == "":
			return tc, wire.Invalid(param+".type", "Missing required parameter: 'tool_choice.type'.")
		default:
			return tc, wire.Invalid(param+".type", "The built-in tool '%s' is not supported by this gateway; 'tool_choice' can only name function tools.", o.Type)
		}
	}
	switch tc.Mode {
	case llm.ToolChoiceRequired:
		if len(req.Tools) == 0 {
			return tc, wire.Invalid(param, "Invalid value for 'tool_choice': 'required' needs at least one function tool in 'tools'.")
		}
	case llm.ToolChoiceNamed:
		found := false
		for _, t := range req.Tools {
			found = found || t.Name == tc.Name
		}
		if !found {
			return tc, wire.Invalid(param, "Invalid value for 'tool_choice': no function named '%s' was declared in 'tools'.", tc.Name)
		}
	}
	return tc, nil
}
