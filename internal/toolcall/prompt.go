package toolcall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/sparkgw/spark/internal/llm"
)

// renderSystem writes the tool section of the system prompt: the output
// protocol with one example, the rules for the request's tool choice, and
// the catalogue of offered tools.
func renderSystem(tools []toolInfo, choice llm.ToolChoice, parallel bool) string {
	var b strings.Builder
	b.WriteString("# Tools\n\n")
	b.WriteString("You can call the tools listed under \"Available tools\". The caller runs a tool and sends you its result in a later message.\n\n")
	b.WriteString("## How to call a tool\n\n")
	b.WriteString("Write one block per call, exactly in this form:\n")
	b.WriteString(`<tool_call>{"name": "TOOL_NAME", "arguments": {...}}</tool_call>` + "\n\n")
	b.WriteString("Example:\n")
	b.WriteString(exampleCall(tools[0]) + "\n\n")
	b.WriteString("Rules:\n")
	b.WriteString(`- "name" is one of the available tools. "arguments" is a JSON object (valid JSON, double quotes, no comments) that follows the tool's parameters schema and has every required property.` + "\n")
	b.WriteString("- Write the block as plain text, not inside a code block.\n")
	if choice.Mode != llm.ToolChoiceNamed {
		if parallel {
			b.WriteString("- To call several tools at once, write one block per call, one after another.\n")
		} else {
			b.WriteString("- Call at most one tool per answer.\n")
		}
	}
	b.WriteString("- After your last block, stop writing. The results come in the next message as <tool_result id=\"...\" name=\"...\">...</tool_result> blocks. Never write a <tool_result> block yourself and never guess a tool's result.\n")
	switch choice.Mode {
	case llm.ToolChoiceRequired:
		b.WriteString("- You must call at least one tool in this answer.\n")
	case llm.ToolChoiceNamed:
		b.WriteString("- You must call the tool " + llm.QuoteJSON(choice.Name) + " in this answer, exactly once, and no other tool.\n")
	default:
		b.WriteString("- Call a tool only when it is needed. When no tool is needed, answer normally in plain text without any <tool_call> block.\n")
	}
	b.WriteString("\n## Available tools\n")
	size := 0
	for _, t := range tools {
		size += len(t.Name) + len(t.Description) + len(t.Parameters) + 40
	}
	b.Grow(size)
	for _, t := range tools {
		b.WriteString("\n### ")
		b.WriteString(t.Name)
		b.WriteByte('\n')
		if d := strings.TrimSpace(t.Description); d != "" {
			b.WriteString(d)
			b.WriteByte('\n')
		}
		b.WriteString("Parameters (JSON Schema): ")
		b.WriteString(compactSchema(t.Parameters))
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// historyNote is the system prompt section when tools are not offered but
// the conversation holds earlier calls and results.
const historyNote = "# Tools\n\n" +
	"Earlier messages show tool calls as <tool_call> blocks and their results as <tool_result> blocks. " +
	"No tools are available now: answer in plain text and do not write <tool_call> blocks."

// exampleCall writes a call of t with placeholder values for (up to three
// of) its required properties.
func exampleCall(t toolInfo) string {
	args := "{}"
	if root, ok := schemaRoot(t.Parameters); ok {
		props, _ := root["properties"].(map[string]any)
		req, _ := root["required"].([]any)
		var parts []string
		for _, r := range req {
			name, ok := r.(string)
			if !ok || len(parts) == 3 {
				continue
			}
			parts = append(parts, llm.QuoteJSON(name)+": "+placeholder(props[name]))
		}
		if len(parts) > 0 {
			args = "{" + strings.Join(parts, ", ") + "}"
		}
	}
	return `<tool_call>{"name": ` + llm.QuoteJSON(t.Name) + `, "arguments": ` + args + `}</tool_call>`
}

// schemaRoot decodes a parameters schema's top-level object.
func schemaRoot(raw json.RawMessage) (map[string]any, bool) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// render shows a JSON value compactly.
func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// placeholder is an example value for a property schema.
func placeholder(sch any) string {
	m, _ := sch.(map[string]any)
	if e, ok := m["enum"].([]any); ok && len(e) > 0 {
		return render(e[0])
	}
	t, _ := m["type"].(string)
	if ts, ok := m["type"].([]any); ok && len(ts) > 0 {
		t, _ = ts[0].(string)
	}
	switch t {
	case "integer", "number":
		return "1"
	case "boolean":
		return "true"
	case "array":
		return "[]"
	case "object":
		return "{}"
	}
	return `"..."`
}

// compactCache remembers compactSchema's results: clients resend the same
// tool definitions with every request, and compacting them again cost most
// of the tool prompt's rendering (json.Compact scans every byte). It keeps
// at most compactCacheBytes of schemas and is emptied when full.
var compactCache = struct {
	sync.Mutex
	m     map[string]string
	bytes int
}{m: map[string]string{}}

const compactCacheBytes = 4 << 20

// compactSchema renders a parameters schema on one line.
func compactSchema(raw json.RawMessage) string {
	compactCache.Lock()
	s, ok := compactCache.m[string(raw)]
	compactCache.Unlock()
	if ok {
		return s
	}
	s = compactSchemaUncached(raw)
	if n := len(raw) + len(s); n <= compactCacheBytes/64 {
		compactCache.Lock()
		if compactCache.bytes+n > compactCacheBytes {
			clear(compactCache.m)
			compactCache.bytes = 0
		}
		compactCache.m[string(raw)] = s
		compactCache.bytes += n
		compactCache.Unlock()
	}
	return s
}

func compactSchemaUncached(raw json.RawMessage) string {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(raw)) == 0 || json.Compact(&buf, raw) != nil {
		return `{"type":"object","properties":{}}`
	}
	return buf.String()
}

// callBlock renders a call the way the protocol asks the model to write it.
func callBlock(tc *llm.ToolCall) string {
	args := strings.TrimSpace(tc.Arguments)
	var buf bytes.Buffer
	switch {
	case args == "":
		args = "{}"
	case json.Compact(&buf, []byte(args)) == nil:
		args = buf.String()
	default:
		args = llm.QuoteJSON(args) // not JSON: show it as the string it is
	}
	return `<tool_call>{"name": ` + llm.QuoteJSON(tc.Name) + `, "arguments": ` + args + `}</tool_call>`
}

// resultBlock renders a tool result for the model.
func resultBlock(tr *llm.ToolResult, name string) string {
	var b strings.Builder
	b.WriteString("<tool_result")
	if tr.CallID != "" {
		b.WriteString(` id="` + attr(tr.CallID) + `"`)
	}
	if name != "" {
		b.WriteString(` name="` + attr(name) + `"`)
	}
	if tr.IsError {
		b.WriteString(` is_error="true"`)
	}
	b.WriteString(">\n" + tr.Content + "\n</tool_result>")
	return b.String()
}

// rewriteHistory returns msgs with tool calls and tool results written as
// protocol text: assistant calls become <tool_call> blocks inside the
// assistant's text, tool results become <tool_result> blocks in user
// messages (consecutive tool messages are merged into one). Text the client
// wrote is never changed; separators are added to the generated blocks only.
// msgs is not modified.
func rewriteHistory(msgs []llm.Message) []llm.Message {
	names := map[string]string{}
	for _, m := range msgs {
		for _, p := range m.Parts {
			if p.Type == llm.PartToolCall && p.ToolCall != nil && p.ToolCall.ID != "" {
				names[p.ToolCall.ID] = p.ToolCall.Name
			}
		}
	}
	out := make([]llm.Message, 0, len(msgs))
	mergeable := false // the last message of out is a rewritten tool message
	lastGen := false   // ... and its last part is a generated block
	for _, m := range msgs {
		if !hasToolParts(m) {
			if m.Role == llm.RoleTool { // a tool message without a result part
				m = llm.Message{Role: llm.RoleUser, Name: m.Name, Parts: m.Parts}
			}
			out = append(out, m)
			mergeable = false
			continue
		}
		var j joiner
		if m.Role == llm.RoleTool && mergeable {
			j.parts, j.lastGen = out[len(out)-1].Parts, lastGen
			out = out[:len(out)-1]
		}
		for _, p := range m.Parts {
			switch {
			case p.Type == llm.PartToolCall && p.ToolCall != nil:
				j.add(llm.Part{Type: llm.PartText, Text: callBlock(p.ToolCall)}, true)
			case p.Type == llm.PartToolResult && p.ToolResult != nil:
				name := p.ToolResult.Name
				if name == "" {
					name = names[p.ToolResult.CallID]
				}
				j.add(llm.Part{Type: llm.PartText, Text: resultBlock(p.ToolResult, name)}, true)
			default:
				j.add(p, false)
			}
		}
		role := m.Role
		if role == llm.RoleTool {
			role = llm.RoleUser // upstreams know no tool role; the simulators read user messages
		}
		out = append(out, llm.Message{Role: role, Name: m.Name, Parts: j.parts})
		mergeable, lastGen = m.Role == llm.RoleTool, j.lastGen
	}
	return out
}

// joiner collects message parts and puts a newline between a generated
// block and adjacent text, changing only the generated part.
type joiner struct {
	parts   []llm.Part
	lastGen bool // the last part is generated
}

func (j *joiner) add(p llm.Part, generated bool) {
	if n := len(j.parts); n > 0 && p.Type == llm.PartText && j.parts[n-1].Type == llm.PartText && (generated || j.lastGen) {
		prev := j.parts[n-1].Text
		if prev != "" && p.Text != "" && !strings.HasSuffix(prev, "\n") && !strings.HasPrefix(p.Text, "\n") {
			if j.lastGen {
				j.parts[n-1].Text += "\n" // j.parts is always spark's own slice
			} else {
				p.Text = "\n" + p.Text
			}
		}
	}
	j.parts = append(j.parts, p)
	j.lastGen = generated
}

// hasToolParts reports whether m holds a tool call or a tool result.
func hasToolParts(m llm.Message) bool {
	for _, p := range m.Parts {
		if p.Type == llm.PartToolCall || p.Type == llm.PartToolResult {
			return true
		}
	}
	return false
}

var attrEscaper = strings.NewReplacer(`&`, "&amp;", `"`, "&quot;", `<`, "&lt;", `>`, "&gt;")

func attr(s string) string { return attrEscaper.Replace(s) }
