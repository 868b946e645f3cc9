package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/structured"
	"github.com/sparkgw/spark/internal/toolcall"
)

// generateRequest is the subset of GenerateContentRequest spark reads.
// Unknown fields are ignored (the SDKs add new ones often); safetySettings
// and cachedContent are accepted and ignored (web-app upstreams have no
// such settings).
type generateRequest struct {
	Model             string                `json:"model"` // countTokens' generateContentRequest
	Contents          []wireContent         `json:"contents"`
	SystemInstruction *wireContent          `json:"systemInstruction"`
	Tools             []wireTool            `json:"tools"`
	ToolConfig        *wireToolConfig       `json:"toolConfig"`
	GenerationConfig  *wireGenerationConfig `json:"generationConfig"`
}

type wireContent struct {
	Role  string     `json:"role"`
	Parts []wirePart `json:"parts"`
}

// wirePart is a Part: exactly one of its data fields is set.
type wirePart struct {
	Text                *string               `json:"text"`
	Thought             bool                  `json:"thought"`
	ThoughtSignature    string                `json:"thoughtSignature"` // accepted and ignored
	InlineData          *wireBlob             `json:"inlineData"`
	FileData            *wireFileData         `json:"fileData"`
	FunctionCall        *wireFunctionCall     `json:"functionCall"`
	FunctionResponse    *wireFunctionResponse `json:"functionResponse"`
	ExecutableCode      json.RawMessage       `json:"executableCode"`
	CodeExecutionResult json.RawMessage       `json:"codeExecutionResult"`
}

type wireBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type wireFileData struct {
	MimeType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

type wireFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type wireFunctionResponse struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type wireTool struct {
	FunctionDeclarations  []wireFunctionDeclaration `json:"functionDeclarations"`
	GoogleSearch          json.RawMessage           `json:"googleSearch"`
	GoogleSearchRetrieval json.RawMessage           `json:"googleSearchRetrieval"`
	CodeExecution         json.RawMessage           `json:"codeExecution"`
	URLContext            json.RawMessage           `json:"urlContext"`
	ComputerUse           json.RawMessage           `json:"computerUse"`
	FileSearch            json.RawMessage           `json:"fileSearch"`
	GoogleMaps            json.RawMessage           `json:"googleMaps"`
}

type wireFunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Parameters           json.RawMessage `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
}

type wireToolConfig struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
}

type wireGenerationConfig struct {
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	TopK               *float64        `json:"topK"`
	CandidateCount     *int            `json:"candidateCount"`
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	StopSequences      []string        `json:"stopSequences"`
	PresencePenalty    *float64        `json:"presencePenalty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	ResponseModalities []string        `json:"responseModalities"`
	ThinkingConfig     *struct {
		IncludeThoughts bool   `json:"includeThoughts"`
		ThinkingBudget  *int   `json:"thinkingBudget"`
		ThinkingLevel   string `json:"thinkingLevel"`
	} `json:"thinkingConfig"`
}

// Limits of a request, as the Gemini API sets them where it documents one.
const (
	// MaxStopSequences is the API's cap on stopSequences.
	MaxStopSequences = 5
	// MaxOutputTokens bounds maxOutputTokens (the largest output of
	// Google's models).
	MaxOutputTokens = 1 << 20
	// MaxThinkingBudget bounds thinkingBudget (Gemini 2.5 Pro's 32768).
	MaxThinkingBudget = 32768
	// MaxFunctionNameBytes is the API's cap on a function name.
	MaxFunctionNameBytes = 128
	// maxEnumBytes bounds enumerated strings before they are echoed.
	maxEnumBytes = 64
)

// params is a parsed request: the neutral request plus what only shapes
// the answer.
type params struct {
	req   llm.Request
	model string // as requested; once answered, the model the backend resolved it to (modelVersion)
	// thoughts answers reasoning as parts with thought: true
	// (thinkingConfig.includeThoughts).
	thoughts bool
}

// decodeRequest reads a JSON object body into v.
func decodeRequest[T any](h *Handler, w http.ResponseWriter, r *http.Request) (*T, error) {
	return wire.DecodeObject[T](w, r, h.opts.MaxBodyBytes, &bodyErrors, "Invalid JSON payload received. The request body must be a JSON object.")
}

// validate applies the API's limits to the top-level parameters; the
// contents and tools are checked as they are converted (buildRequest).
func (gr *generateRequest) validate() error {
	if len(gr.Contents) == 0 {
		return invalid("contents", "contents is not specified")
	}
	c := gr.GenerationConfig
	if c == nil {
		return nil
	}
	for _, f := range []struct {
		param  string
		v      *float64
		lo, hi float64
	}{
		{"generationConfig.temperature", c.Temperature, 0, 2},
		{"generationConfig.topP", c.TopP, 0, 1},
		{"generationConfig.topK", c.TopK, 0, math.MaxInt32},
		{"generationConfig.presencePenalty", c.PresencePenalty, -2, 2},
		{"generationConfig.frequencyPenalty", c.FrequencyPenalty, -2, 2},
	} {
		if f.v != nil && (math.IsNaN(*f.v) || *f.v < f.lo || *f.v > f.hi) {
			return invalid(f.param, "must be between %s and %s, got %s.", num(f.lo), num(f.hi), num(*f.v))
		}
	}
	if n := c.CandidateCount; n != nil && *n != 1 && *n != 0 {
		return invalid("generationConfig.candidateCount", "only one candidate can be generated by this gateway: candidateCount must be 1, got %d.", *n)
	}
	if n := c.MaxOutputTokens; n != nil && (*n < 1 || *n > MaxOutputTokens) {
		return invalid("generationConfig.maxOutputTokens", "must be between 1 and %d, got %d.", MaxOutputTokens, *n)
	}
	if len(c.StopSequences) > MaxStopSequences {
		return invalid("generationConfig.stopSequences", "at most %d stop sequences are allowed, got %d.", MaxStopSequences, len(c.StopSequences))
	}
	for i, s := range c.StopSequences {
		if len(s) > wire.MaxStopBytes {
			return invalid(fmt.Sprintf("generationConfig.stopSequences[%d]", i), "at most %d characters.", wire.MaxStopBytes)
		}
	}
	switch c.ResponseMimeType {
	case "", "text/plain", "application/json":
	default:
		return invalid("generationConfig.responseMimeType", "'%s' is not supported by this gateway: use text/plain or application/json.", wire.Truncate(c.ResponseMimeType, maxEnumBytes))
	}
	hasSchema, hasJSONSchema := !wire.IsNull(c.ResponseSchema), !wire.IsNull(c.ResponseJSONSchema)
	if hasSchema && hasJSONSchema {
		return invalid("generationConfig", "responseSchema and responseJsonSchema cannot both be set.")
	}
	if (hasSchema || hasJSONSchema) && c.ResponseMimeType != "application/json" {
		return invalid("generationConfig.responseMimeType", "a response schema needs responseMimeType 'application/json'.")
	}
	for i, m := range c.ResponseModalities {
		if !strings.EqualFold(m, "TEXT") {
			return invalid(fmt.Sprintf("generationConfig.responseModalities[%d]", i), "'%s' is not supported by this gateway: only TEXT answers (generate images with /v1/images/generations).", wire.Truncate(m, maxEnumBytes))
		}
	}
	if t := c.ThinkingConfig; t != nil {
		if b := t.ThinkingBudget; b != nil && (*b < -1 || *b > MaxThinkingBudget) {
			return invalid("generationConfig.thinkingConfig.thinkingBudget", "must be -1 (dynamic) or between 0 and %d, got %d.", MaxThinkingBudget, *b)
		}
		switch strings.ToUpper(t.ThinkingLevel) {
		case "", "THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH":
		default:
			return invalid("generationConfig.thinkingConfig.thinkingLevel", "'%s' is not one of MINIMAL, LOW, MEDIUM, HIGH.", wire.Truncate(t.ThinkingLevel, maxEnumBytes))
		}
	}
	return nil
}

// num formats a number for an error message.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// buildRequest converts a validated gr for model to neutral form (and
// refuses what only the conversion finds wrong); files resolves the
// fileData parts that name files of the gateway's Files API.
func buildRequest(gr *generateRequest, model string, files fileRefs) (*params, error) {
	p := &params{model: model}
	req := &p.req
	req.Model = model
	if si := gr.SystemInstruction; si != nil {
		var parts []llm.Part
		for i, part := range si.Parts {
			param := fmt.Sprintf("systemInstruction.parts[%d]", i)
			if part.Text == nil {
				return nil, invalid(param, "system instructions hold text parts only.")
			}
			if *part.Text != "" {
				parts = append(parts, llm.Part{Type: llm.PartText, Text: *part.Text})
			}
		}
		if len(parts) > 0 {
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleSystem, Parts: parts})
		}
	}
	c := converter{files: files}
	for i := range gr.Contents {
		if err := c.content(&gr.Contents[i], fmt.Sprintf("contents[%d]", i)); err != nil {
			return nil, err
		}
	}
	req.Messages = append(req.Messages, c.out...)
	if err := parseTools(gr, req); err != nil {
		return nil, err
	}
	if g := gr.GenerationConfig; g != nil {
		req.Temperature, req.TopP = g.Temperature, g.TopP
		if g.MaxOutputTokens != nil {
			req.MaxTokens = *g.MaxOutputTokens
		}
		for _, s := range g.StopSequences {
			if s != "" {
				req.Stop = append(req.Stop, s)
			}
		}
		if t := g.ThinkingConfig; t != nil {
			off := t.ThinkingBudget != nil && *t.ThinkingBudget == 0
			req.Reasoning = !off
			p.thoughts = t.IncludeThoughts && !off
			req.ReasoningEffort = effort(t.ThinkingLevel, t.ThinkingBudget)
		}
		out, err := outputFormat(g)
		if err != nil {
			return nil, err
		}
		req.Output = out
	}
	return p, nil
}

// effort maps a thinking level or budget to the neutral effort hint.
func effort(level string, budget *int) string {
	switch strings.ToUpper(level) {
	case "MINIMAL", "LOW":
		return "low"
	case "MEDIUM":
		return "medium"
	case "HIGH":
		return "high"
	}
	if budget != nil {
		switch b := *budget; {
		case b < 0:
			return ""
		case b <= 1024:
			return "low"
		case b <= 8192:
			return "medium"
		default:
			return "high"
		}
	}
	return ""
}

// outputFormat maps responseMimeType application/json and a schema to the
// structured-output request.
func outputFormat(g *wireGenerationConfig) (*llm.OutputFormat, error) {
	if g.ResponseMimeType != "application/json" {
		return nil, nil
	}
	var (
		schema json.RawMessage
		err    error
		param  string
	)
	switch {
	case !wire.IsNull(g.ResponseSchema):
		param = "generationConfig.responseSchema"
		schema, err = openAPISchema(g.ResponseSchema)
	case !wire.IsNull(g.ResponseJSONSchema):
		param = "generationConfig.responseJsonSchema"
		schema, err = jsonSchema(g.ResponseJSONSchema)
	default:
		return &llm.OutputFormat{Kind: llm.OutputJSONObject}, nil
	}
	if err == nil {
		err = structured.CheckSchema(schema)
	}
	if err != nil {
		return nil, invalid(param, "invalid schema: %v", err)
	}
	return &llm.OutputFormat{Kind: llm.OutputJSONSchema, Schema: schema}, nil
}

// converter turns Gemini contents into neutral messages.
type converter struct {
	files fileRefs
	out   []llm.Message
	// calls are the function calls of the latest model turn (consecutive
	// model contents make one turn), which functionResponse parts answer:
	// by id, or by name in order when the client sent no ids.
	calls    []pendingCall
	lastRole string
	seq      int // numbers the ids given to calls that came without one
}

type pendingCall struct {
	id, name string
	answered bool
}

// content converts one Content and appends the result to c.out.
func (c *converter) content(ct *wireContent, param string) error {
	role := ct.Role
	switch role {
	case "", "user", "function", "tool":
		role = "user"
	case "model":
	default:
		return invalid(param+".role", "Please use a valid role: user, model (got '%s').", wire.Truncate(ct.Role, maxEnumBytes))
	}
	if len(ct.Parts) == 0 {
		return invalid(param+".parts", "contents.parts must not be empty.")
	}
	if role == "model" && c.lastRole != "model" {
		c.calls = nil
	}
	c.lastRole = role
	if role == "model" {
		return c.model(ct.Parts, param)
	}
	return c.user(ct.Parts, param)
}

// partKind checks that a part sets exactly one data field and names it.
func partKind(p *wirePart, param string) (string, error) {
	var kinds []string
	if p.Text != nil {
		kinds = append(kinds, "text")
	}
	if p.InlineData != nil {
		kinds = append(kinds, "inlineData")
	}
	if p.FileData != nil {
		kinds = append(kinds, "fileData")
	}
	if p.FunctionCall != nil {
		kinds = append(kinds, "functionCall")
	}
	if p.FunctionResponse != nil {
		kinds = append(kinds, "functionResponse")
	}
	if !wire.IsNull(p.ExecutableCode) {
		kinds = append(kinds, "executableCode")
	}
	if !wire.IsNull(p.CodeExecutionResult) {
		kinds = append(kinds, "codeExecutionResult")
	}
	switch len(kinds) {
	case 0:
		if p.ThoughtSignature != "" {
			return "signature", nil // a bare signature part carries nothing
		}
		return "", invalid(param, "Unable to submit request because it has an empty part: a part needs text, inlineData, fileData, functionCall or functionResponse.")
	case 1:
		return kinds[0], nil
	}
	return "", invalid(param, "a part holds exactly one kind of data, got %s.", strings.Join(kinds, " and "))
}

// model converts a model turn: text and function calls (thoughts are
// never sent upstream).
func (c *converter) model(parts []wirePart, param string) error {
	msg := llm.Message{Role: llm.RoleAssistant}
	for i := range parts {
		p := &parts[i]
		pparam := fmt.Sprintf("%s.parts[%d]", param, i)
		kind, err := partKind(p, pparam)
		if err != nil {
			return err
		}
		switch kind {
		case "text":
			if !p.Thought && *p.Text != "" {
				msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartText, Text: *p.Text})
			}
		case "functionCall":
			fc := p.FunctionCall
			fparam := pparam + ".functionCall"
			if err := checkFunctionName(fc.Name, fparam+".name"); err != nil {
				return err
			}
			if len(fc.ID) > wire.MaxIDBytes {
				return invalid(fparam+".id", "at most %d characters.", wire.MaxIDBytes)
			}
			args, err := argsText(fc.Args, fparam+".args")
			if err != nil {
				return err
			}
			id := fc.ID
			if id == "" {
				c.seq++
				id = "call_" + strconv.Itoa(c.seq)
			}
			c.calls = append(c.calls, pendingCall{id: id, name: fc.Name})
			msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartToolCall,
				ToolCall: &llm.ToolCall{ID: id, Name: fc.Name, Arguments: args}})
		case "inlineData", "fileData":
			part, err := c.media(p, pparam)
			if err != nil {
				return err
			}
			msg.Parts = append(msg.Parts, part)
		case "signature", "executableCode", "codeExecutionResult":
			// Records only Google's code execution could replay.
		default:
			return invalid(pparam, "a model turn cannot hold %s parts.", kind)
		}
	}
	if len(msg.Parts) > 0 {
		c.out = append(c.out, msg)
	}
	return nil
}

// user converts a user turn: text and media collect into user messages,
// each functionResponse becomes a RoleTool message at its position.
func (c *converter) user(parts []wirePart, param string) error {
	var cur []llm.Part
	flush := func() {
		if len(cur) > 0 {
			c.out = append(c.out, llm.Message{Role: llm.RoleUser, Parts: cur})
			cur = nil
		}
	}
	for i := range parts {
		p := &parts[i]
		pparam := fmt.Sprintf("%s.parts[%d]", param, i)
		kind, err := partKind(p, pparam)
		if err != nil {
			return err
		}
		switch kind {
		case "text":
			if *p.Text != "" {
				cur = append(cur, llm.Part{Type: llm.PartText, Text: *p.Text})
			}
		case "inlineData", "fileData":
			part, err := c.media(p, pparam)
			if err != nil {
				return err
			}
			cur = append(cur, part)
		case "functionResponse":
			flush()
			tr, err := c.functionResponse(p.FunctionResponse, pparam+".functionResponse")
			if err != nil {
				return err
			}
			c.out = append(c.out, llm.Message{Role: llm.RoleTool,
				Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: tr}}})
		case "signature":
		default:
			return invalid(pparam, "a user turn cannot hold %s parts.", kind)
		}
	}
	flush()
	return nil
}

// functionResponse converts a function's result: it answers the call of
// the latest model turn with its id, or (no id) the first unanswered call
// of its name.
func (c *converter) functionResponse(fr *wireFunctionResponse, param string) (*llm.ToolResult, error) {
	if err := checkFunctionName(fr.Name, param+".name"); err != nil {
		return nil, err
	}
	if len(fr.ID) > wire.MaxIDBytes {
		return nil, invalid(param+".id", "at most %d characters.", wire.MaxIDBytes)
	}
	var call *pendingCall
	for i := range c.calls {
		pc := &c.calls[i]
		if pc.answered {
			continue
		}
		if (fr.ID != "" && pc.id == fr.ID) || (fr.ID == "" && pc.name == fr.Name) {
			call = pc
			break
		}
	}
	if call == nil {
		return nil, invalid(param, "Please ensure that function response turn comes immediately after a function call turn: no unanswered functionCall %s in the previous model turn.", describeCall(fr))
	}
	call.answered = true
	tr := &llm.ToolResult{CallID: call.id, Name: fr.Name}
	if wire.IsNull(fr.Response) {
		return tr, nil
	}
	resp := bytes.TrimSpace(fr.Response)
	if resp[0] != '{' {
		return nil, invalid(param+".response", "must be a JSON object.")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(resp, &fields); err != nil {
		return nil, invalid(param+".response", "must be a JSON object.")
	}
	// The conventional {"output": ...} and {"error": ...} shapes become the
	// result text; anything else is passed as its JSON.
	if len(fields) == 1 {
		for k, v := range fields {
			var s string
			if (k == "output" || k == "error") && json.Unmarshal(v, &s) == nil {
				tr.Content, tr.IsError = s, k == "error"
				return tr, nil
			}
			if k == "error" {
				tr.IsError = true
			}
		}
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, resp)
	tr.Content = buf.String()
	return tr, nil
}

// describeCall names a function response's call for an error message.
func describeCall(fr *wireFunctionResponse) string {
	if fr.ID != "" {
		return fmt.Sprintf("with id '%s'", wire.Truncate(fr.ID, 64))
	}
	return fmt.Sprintf("named '%s'", wire.Truncate(fr.Name, 64))
}

// checkFunctionName checks a function's name: required, at most
// MaxFunctionNameBytes, starting with a letter or an underscore, then
// letters, digits, underscores, dots, colons and dashes (the API's rule).
func checkFunctionName(name, param string) error {
	if name == "" {
		return invalid(param, "function name is not specified.")
	}
	if len(name) > MaxFunctionNameBytes {
		return invalid(param, "Invalid function name: at most %d characters.", MaxFunctionNameBytes)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		letter := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch == '_'
		if i == 0 && !letter || !(letter || ch >= '0' && ch <= '9' || ch == '.' || ch == ':' || ch == '-') {
			return invalid(param, "Invalid function name. Must start with a letter or an underscore. Must be alphanumeric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-).")
		}
	}
	return nil
}

// argsText returns function call args as compact JSON object text.
func argsText(raw json.RawMessage, param string) (string, error) {
	if wire.IsNull(raw) {
		return "{}", nil
	}
	var buf bytes.Buffer
	if t := bytes.TrimSpace(raw); t[0] != '{' || json.Compact(&buf, t) != nil {
		return "", invalid(param, "must be a JSON object.")
	}
	return buf.String(), nil
}

// media converts an inlineData or fileData part.
func (c *converter) media(p *wirePart, param string) (llm.Part, error) {
	var m *llm.Media
	if b := p.InlineData; b != nil {
		bparam := param + ".inlineData"
		mt := strings.ToLower(strings.TrimSpace(b.MimeType))
		if mt == "" {
			return llm.Part{}, invalid(bparam+".mimeType", "mimeType is not specified.")
		}
		if _, _, err := mime.ParseMediaType(mt); err != nil || len(mt) > maxEnumBytes {
			return llm.Part{}, invalid(bparam+".mimeType", "invalid MIME type.")
		}
		data, err := wire.DecodeBase64Limit(b.Data, wire.MaxInlineMediaBytes)
		if err != nil {
			if errors.Is(err, wire.ErrBase64) {
				return llm.Part{}, invalid(bparam+".data", "Invalid value (bytes): invalid base64 data.")
			}
			return llm.Part{}, invalid(bparam+".data", "inline data is too large: at most %d bytes.", wire.MaxInlineMediaBytes)
		}
		if len(data) == 0 {
			return llm.Part{}, invalid(bparam+".data", "inline data is empty.")
		}
		m = &llm.Media{MIMEType: mt, Data: data}
	} else {
		var err error
		if m, err = c.files.media(p.FileData, param+".fileData"); err != nil {
			return llm.Part{}, err
		}
	}
	switch {
	case strings.HasPrefix(m.MIMEType, "image/"):
		return llm.Part{Type: llm.PartImage, Media: m}, nil
	case m.Data != nil && strings.HasPrefix(m.MIMEType, "text/"):
		return llm.Part{Type: llm.PartText, Text: string(m.Data)}, nil
	}
	if m.Name == "" {
		m.Name = "file"
		if exts, _ := mime.ExtensionsByType(m.MIMEType); len(exts) > 0 {
			m.Name += exts[0]
		}
	}
	return llm.Part{Type: llm.PartFile, Media: m}, nil
}

// fileRefs resolves fileData URIs: data: URLs, http(s) URLs, and the
// files clients uploaded through the gateway's Files API.
type fileRefs struct {
	// files reads the gateway's Files API files (nil refuses them).
	files *wire.FileResolver
	// base is the gateway's external base URL (reqctx.BaseURL), which
	// absolute URIs of its files start with ("" when unknown).
	base string
}

// newFileRefs returns the fileData resolver of the request whose context
// is ctx.
func (h *Handler) newFileRefs(ctx context.Context) fileRefs {
	return fileRefs{files: wire.NewFileResolver(ctx, h.opts.Files, invalid), base: reqctx.BaseURL(ctx)}
}

// media resolves a fileData URI:
//
//   - a data: URL: its inline bytes;
//   - a file of the gateway's Files API (POST /v1/files), named by its id
//     ("file-..."), its resource name ("files/file-...") or its URI on the
//     gateway ("<base>/v1beta/files/file-..." or "<base>/v1/files/file-...",
//     under the route prefix if any): its content, read for the request's
//     owner (another owner's id is unknown: a 400);
//   - another http(s) URL, which the gateway fetches through its guarded
//     fetcher.
//
// Files of another service's Files API (an http(s) URL with such a path on
// another host) and other schemes (gs://) are refused: spark does not hold
// those files.
//
// A mimeType given with a file id or a data: URL is taken as the content's
// type, over the one the file was stored with (as inlineData's mimeType
// is): the client says how its bytes are to be read, which matters most
// for a file stored as application/octet-stream.
func (f fileRefs) media(fd *wireFileData, param string) (*llm.Media, error) {
	u := strings.TrimSpace(fd.FileURI)
	mt := strings.ToLower(strings.TrimSpace(fd.MimeType))
	uparam := param + ".fileUri"
	if u == "" {
		return nil, invalid(uparam, "fileUri is not specified.")
	}
	if len(mt) > maxEnumBytes {
		return nil, invalid(param+".mimeType", "invalid MIME type.")
	}
	if wire.HasPrefixFold(u, "data:") {
		m, err := wire.ParseDataURL(u)
		if err != nil {
			return nil, invalid(uparam, "invalid data URL.")
		}
		if mt != "" {
			m.MIMEType = mt
		}
		if m.MIMEType == "" {
			m.MIMEType = http.DetectContentType(m.Data)
		}
		return m, nil
	}
	id, kind := f.fileID(u)
	switch kind {
	case ownFile:
		if mt != "" {
			var err error
			if mt, _, err = mime.ParseMediaType(mt); err != nil {
				return nil, invalid(param+".mimeType", "invalid MIME type.")
			}
		}
		m, err := f.files.Media(id, uparam)
		if err != nil {
			return nil, err
		}
		if mt != "" {
			m.MIMEType = mt
		}
		return m, nil
	case ownURL:
		return nil, invalid(uparam, "the URI names no file of this gateway's Files API: name the file as files/{id} or %s/v1beta/files/{id}.", f.base)
	case foreignFile:
		return nil, invalid(uparam, "the file is in another service's Files API, which this gateway cannot read: upload it to this gateway (POST /v1/files) and name it as files/{id}, or send the content as inlineData, a data: URL or an https URL.")
	}
	if !wire.IsHTTPURL(u) {
		return nil, invalid(uparam, "unsupported file URI: this gateway resolves data: URLs, its own Files API files (files/{id}) and http(s) URLs.")
	}
	return &llm.Media{URL: u, MIMEType: mt}, nil
}

// Kinds of fileData URI, as fileID tells them apart.
const (
	notAFile    = iota // not a Files API reference: a URL to fetch or refuse
	ownFile            // a file of the gateway's Files API
	ownURL             // a Files API URL on the gateway naming no file
	foreignFile        // a file of another service's Files API
)

// fileID returns the Files API id the fileData URI u names, and whether
// the file is the gateway's (ownFile), another service's (foreignFile) or
// u names no Files API file (notAFile); a URL on the gateway with a Files
// API path that is not a file's (like .../files/{id}/content) is ownURL.
func (f fileRefs) fileID(u string) (string, int) {
	if strings.HasPrefix(u, "file-") {
		return u, ownFile
	}
	if id, ok := strings.CutPrefix(u, "files/"); ok {
		return id, ownFile
	}
	if !wire.IsHTTPURL(u) || !strings.Contains(u, "/v1beta/files/") && !strings.Contains(u, "/v1/files/") {
		return "", notAFile
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "", notAFile
	}
	rest, ok := f.onGateway(pu)
	if !ok {
		return "", foreignFile
	}
	for _, api := range []string{"/v1beta/files/", "/v1/files/"} {
		if i := strings.LastIndex(rest, api); i >= 0 && !strings.Contains(rest[i+len(api):], "/") {
			return rest[i+len(api):], ownFile
		}
	}
	return "", ownURL
}

// onGateway reports whether pu is a URL on the gateway's base URL, and
// returns its path after the base's.
func (f fileRefs) onGateway(pu *url.URL) (string, bool) {
	if f.base == "" {
		return "", false
	}
	bu, err := url.Parse(f.base)
	if err != nil || !strings.EqualFold(pu.Scheme, bu.Scheme) || !strings.EqualFold(pu.Host, bu.Host) {
		return "", false
	}
	rest, ok := strings.CutPrefix(pu.Path, strings.TrimRight(bu.Path, "/"))
	return rest, ok && strings.HasPrefix(rest, "/")
}

// parseTools converts tools and toolConfig. Only function declarations can
// run here; Google's built-in tools (googleSearch, codeExecution,
// urlContext, ...) are refused.
func parseTools(gr *generateRequest, req *llm.Request) error {
	seen := map[string]bool{}
	for i := range gr.Tools {
		t := &gr.Tools[i]
		tparam := fmt.Sprintf("tools[%d]", i)
		for _, b := range []struct {
			name string
			raw  json.RawMessage
		}{{"googleSearch", t.GoogleSearch}, {"googleSearchRetrieval", t.GoogleSearchRetrieval}, {"codeExecution", t.CodeExecution},
			{"urlContext", t.URLContext}, {"computerUse", t.ComputerUse}, {"fileSearch", t.FileSearch}, {"googleMaps", t.GoogleMaps}} {
			if !wire.IsNull(b.raw) {
				return invalid(tparam+"."+b.name, "Google's built-in %s tool cannot run on this gateway: declare your own functions (functionDeclarations) instead.", b.name)
			}
		}
		for j := range t.FunctionDeclarations {
			fd := &t.FunctionDeclarations[j]
			fparam := fmt.Sprintf("%s.functionDeclarations[%d]", tparam, j)
			if err := checkFunctionName(fd.Name, fparam+".name"); err != nil {
				return err
			}
			if seen[fd.Name] {
				return invalid(fparam+".name", "Duplicate function declaration found: %s", fd.Name)
			}
			seen[fd.Name] = true
			var (
				schema json.RawMessage
				err    error
				sparam string
			)
			switch {
			case !wire.IsNull(fd.Parameters) && !wire.IsNull(fd.ParametersJSONSchema):
				return invalid(fparam, "parameters and parametersJsonSchema cannot both be set.")
			case !wire.IsNull(fd.Parameters):
				sparam = fparam + ".parameters"
				schema, err = openAPISchema(fd.Parameters)
			case !wire.IsNull(fd.ParametersJSONSchema):
				sparam = fparam + ".parametersJsonSchema"
				schema, err = jsonSchema(fd.ParametersJSONSchema)
			}
			if err == nil && schema != nil {
				err = toolcall.CheckParameters(schema)
			}
			if err != nil {
				return invalid(sparam, "invalid schema: %v", err)
			}
			req.Tools = append(req.Tools, llm.Tool{Name: fd.Name, Description: fd.Description, Parameters: schema})
		}
	}
	req.ParallelToolCalls = true
	req.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceAuto}
	tc := gr.ToolConfig
	if tc == nil || tc.FunctionCallingConfig == nil {
		return nil
	}
	fc := tc.FunctionCallingConfig
	const param = "toolConfig.functionCallingConfig"
	mode := strings.ToUpper(fc.Mode)
	if len(fc.AllowedFunctionNames) > 0 && mode != "ANY" {
		return invalid(param+".allowedFunctionNames", "allowedFunctionNames should only be set when the mode is ANY.")
	}
	switch mode {
	case "", "MODE_UNSPECIFIED", "AUTO", "VALIDATED":
		return nil
	case "NONE":
		req.ToolChoice.Mode = llm.ToolChoiceNone
		return nil
	case "ANY":
	default:
		return invalid(param+".mode", "'%s' is not one of AUTO, ANY, NONE, VALIDATED.", wire.Truncate(fc.Mode, maxEnumBytes))
	}
	if len(req.Tools) == 0 {
		return invalid(param+".mode", "mode ANY needs at least one function declaration in tools.")
	}
	req.ToolChoice.Mode = llm.ToolChoiceRequired
	if len(fc.AllowedFunctionNames) == 0 {
		return nil
	}
	allowed := map[string]bool{}
	for i, n := range fc.AllowedFunctionNames {
		if !seen[n] {
			return invalid(fmt.Sprintf("%s.allowedFunctionNames[%d]", param, i), "no function named '%s' is declared in tools.", wire.Truncate(n, 128))
		}
		allowed[n] = true
	}
	if len(allowed) == 1 {
		req.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceNamed, Name: fc.AllowedFunctionNames[0]}
		return nil
	}
	kept := req.Tools[:0]
	for _, t := range req.Tools {
		if allowed[t.Name] {
			kept = append(kept, t)
		}
	}
	req.Tools = kept
	return nil
}

// errNotFound is the error of an unknown model.
func errModelNotFound(name string) *gw.Error {
	return &gw.Error{Code: gw.CodeModelNotFound, Message: "models/" + wire.Truncate(name, 128) + " is not found for API version v1beta, or is not supported for generateContent."}
}
