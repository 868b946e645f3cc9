package responses

import (
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/llm"
)

// toMessages converts a conversation of items to llm messages:
//
//   - user messages keep text, image and file parts; system and developer
//     messages become llm.RoleSystem; assistant messages keep their text
//     (refusals included);
//   - function_call items become tool-call parts of an assistant message,
//     joining the assistant message right before them (text + calls of one
//     turn travel together);
//   - function_call_output items become llm.RoleTool messages; images and
//     files in an output follow the run of tool messages as a user message,
//     since a tool result carries text only;
//   - reasoning items are dropped (spark's upstreams cannot take thinking
//     back).
//
// names maps a call's (namespace, name) to the tool name the model sees;
// files resolves the file ids of image and file parts (nil refuses them).
func toMessages(items []Item, names *toolNames, files *wire.FileResolver) ([]llm.Message, error) {
	out := make([]llm.Message, 0, len(items))
	callNames := map[string]string{} // call id → function name, for tool results
	var media []llm.Part             // attachments of the current run of tool outputs
	flush := func() {
		if len(media) == 0 {
			return
		}
		parts := append([]llm.Part{{Type: llm.PartText, Text: "Attachments returned by the tool calls above:"}}, media...)
		out = append(out, llm.Message{Role: llm.RoleUser, Parts: parts})
		media = nil
	}
	for i := range items {
		it := &items[i]
		if it.Type != typeCallOutput {
			flush()
		}
		switch it.Type {
		case typeMessage:
			msg, err := messageOf(it, files)
			if err != nil {
				return nil, err
			}
			if len(msg.Parts) > 0 {
				out = append(out, msg)
			}
		case typeFunctionCall:
			name := names.exposed(it.Namespace, it.Name)
			callNames[it.CallID] = name
			part := llm.Part{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: it.CallID, Name: name, Arguments: it.Arguments}}
			if n := len(out); n > 0 && out[n-1].Role == llm.RoleAssistant {
				out[n-1].Parts = append(out[n-1].Parts, part)
			} else {
				out = append(out, llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{part}})
			}
		case typeCallOutput:
			text := it.Output
			if it.OutputParts != nil {
				var b strings.Builder
				for j := range it.OutputParts {
					p := &it.OutputParts[j]
					if p.Type == partInputText {
						b.WriteString(p.Text)
						continue
					}
					mp, err := mediaPart(p, it.param+".output", j, files)
					if err != nil {
						return nil, err
					}
					media = append(media, mp)
				}
				text = b.String()
			}
			out = append(out, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult,
				ToolResult: &llm.ToolResult{CallID: it.CallID, Name: callNames[it.CallID], Content: text}}}})
		}
	}
	flush()
	return out, nil
}

// messageOf converts one message item.
func messageOf(it *Item, files *wire.FileResolver) (llm.Message, error) {
	var msg llm.Message
	switch it.Role {
	case "system", "developer":
		msg.Role = llm.RoleSystem
	case "assistant":
		msg.Role = llm.RoleAssistant
	default:
		msg.Role = llm.RoleUser
	}
	for j := range it.Content {
		p := &it.Content[j]
		switch p.Type {
		case partInputText, partOutputText, partRefusal:
			if p.Text != "" {
				msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartText, Text: p.Text})
			}
		case partInputImage, partInputFile:
			mp, err := mediaPart(p, it.param+".content", j, files)
			if err != nil {
				return msg, err
			}
			msg.Parts = append(msg.Parts, mp)
		}
	}
	return msg, nil
}

// mediaPart converts input_image or input_file part j of param: data URLs
// and base64 become bytes, http(s) URLs are kept for the gateway to fetch,
// file ids are read through files.
func mediaPart(p *Part, param string, j int, files *wire.FileResolver) (llm.Part, error) {
	if p.FileID != "" {
		return fileIDPart(p, param+"["+strconv.Itoa(j)+"].file_id", files)
	}
	if p.Type == partInputImage {
		m, err := wire.MediaFromURL(p.ImageURL, param+".image_url", true)
		if err != nil {
			return llm.Part{}, err
		}
		return llm.Part{Type: llm.PartImage, Media: m}, nil
	}
	var (
		m   *llm.Media
		err error
	)
	if p.FileData != "" {
		m, err = wire.MediaFromBase64OrDataURL(p.FileData, param+".file_data")
	} else {
		m, err = wire.MediaFromURL(p.FileURL, param+".file_url", false)
	}
	if err != nil {
		return llm.Part{}, err
	}
	m.Name = p.Filename
	if m.Name == "" && m.URL != "" {
		if u, perr := url.Parse(m.URL); perr == nil {
			m.Name = path.Base(u.Path)
			if m.Name == "/" || m.Name == "." {
				m.Name = ""
			}
		}
	}
	if m.URL == "" && (m.MIMEType == "" || m.MIMEType == "application/octet-stream") {
		if t := mime.TypeByExtension(path.Ext(m.Name)); t != "" {
			m.MIMEType, _, _ = strings.Cut(t, ";")
		}
	}
	if m.URL == "" && m.MIMEType == "" {
		m.MIMEType = "application/octet-stream"
	}
	return llm.Part{Type: llm.PartFile, Media: m}, nil
}

// fileIDPart converts an input_image or input_file part that names a file
// of the Files API; param is where the id was given.
func fileIDPart(p *Part, param string, files *wire.FileResolver) (llm.Part, error) {
	if !files.Enabled() {
		what, field := "images", "image_url"
		if p.Type == partInputFile {
			what, field = "files", "file_data"
		}
		return llm.Part{}, wire.Invalid(param, "File ids are not supported by this gateway (it has no Files API); send the %s inline as '%s' (a base64 data URL) or by URL.", what, field)
	}
	m, err := files.Media(p.FileID, param)
	if err != nil {
		return llm.Part{}, err
	}
	if p.Type == partInputImage {
		mt, ok := wire.ImageMediaType(m.MIMEType)
		if !ok {
			return llm.Part{}, wire.Invalid(param, "The file '%s' is not an image (%s): input_image takes %s.", p.FileID, m.MIMEType, strings.Join(wire.ImageMediaTypes, ", "))
		}
		m.MIMEType = mt
		return llm.Part{Type: llm.PartImage, Media: m}, nil
	}
	if p.Filename != "" {
		m.Name = p.Filename
	}
	return llm.Part{Type: llm.PartFile, Media: m}, nil
}
