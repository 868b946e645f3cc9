package genspark

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// typeChat is the body discriminator of a chat ask (docs/genspark-upstream.md §1.3).
const typeChat = "COPILOT_MOA_CHAT"

// maxErrorBody bounds how much of an error body is read for classification.
const maxErrorBody = 1 << 20

// askBody is the /api/copilot/ask chat body (docs/genspark-upstream.md §1.3).
type askBody struct {
	Type               string       `json:"type"`
	CurrentQueryString string       `json:"current_query_string"`
	Messages           []askMessage `json:"messages"`
	ActionParams       struct{}     `json:"action_params"`
	ExtraData          askExtra     `json:"extra_data"`
	GRecaptchaToken    string       `json:"g_recaptcha_token,omitempty"`
}

// askExtra is extra_data of a chat ask.
type askExtra struct {
	Models              []string `json:"models"`
	RunWithAnotherModel bool     `json:"run_with_another_model"`
	WritingContent      *string  `json:"writingContent"` // always null
	RequestWebKnowledge bool     `json:"request_web_knowledge"`
}

// askMessage is one message of a chat ask: exactly these four keys.
type askMessage struct {
	Role         string    `json:"role"`
	Content      any       `json:"content"` // string or []contentPart
	IsPrompt     bool      `json:"is_prompt"`
	SessionState *struct{} `json:"session_state"` // always null
}

// contentPart is one element of an array content.
type contentPart struct {
	Type        string       `json:"type"`
	Text        *string      `json:"text,omitempty"`
	ImageURL    *imageURL    `json:"image_url,omitempty"`
	PrivateFile *privateFile `json:"private_file,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

// privateFile is the part an uploaded file becomes (docs/genspark-upstream.md §1.8).
type privateFile struct {
	Name              string `json:"name"`
	Type              string `json:"type"`
	Size              int    `json:"size"`
	Ext               string `json:"ext"`
	PrivateStorageURL string `json:"private_storage_url"`
}

// queryString is current_query_string: a new chat or the continued one.
func queryString(chatID, typ string) string {
	if chatID == "" {
		return "type=" + typ
	}
	return "id=" + url.QueryEscape(chatID) + "&type=" + typ
}

// upstream performs the HTTP calls of one exchange with one account.
type upstream struct {
	p      *Provider
	client *http.Client
	cookie string
}

// headers sets the common Genspark headers (docs/genspark-upstream.md §1.1).
func (u *upstream) headers(h http.Header, accept string) {
	h.Set("Content-Type", "application/json")
	h.Set("Accept", accept)
	h.Set("Origin", u.p.origin)
	h.Set("Referer", u.p.origin+"/")
	h.Set("Cookie", u.cookie)
	h.Set("User-Agent", u.p.cfg.UserAgent)
}

// post sends a JSON body and returns the 2xx response; other statuses are
// classified into errors.
func (u *upstream) post(ctx context.Context, endpoint, accept string, body any) (*http.Response, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, newErr(gw.CodeInternal, "encoding the Genspark request failed", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, &buf)
	if err != nil {
		return nil, newErr(gw.CodeInternal, "building the Genspark request failed", err)
	}
	u.headers(req.Header, accept)
	return u.do(req, "Genspark")
}

// do sends req and returns a 2xx response, or a classified error (the body
// is then closed).
func (u *upstream) do(req *http.Request, what string) (*http.Response, error) {
	resp, err := u.client.Do(req)
	if err != nil {
		if cerr := req.Context().Err(); cerr != nil {
			return nil, ctxErr(cerr)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// UPSTREAM_HEADER_TIMEOUT, a dial or TLS handshake timeout.
			return nil, newErr(gw.CodeUpstreamTimeout, what+" did not answer in time", redactURL(err))
		}
		return nil, newErr(gw.CodeTransient, what+" request failed", redactURL(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if rerr != nil && req.Context().Err() != nil {
		return nil, ctxErr(req.Context().Err())
	}
	return nil, statusError(resp.StatusCode, body, what)
}

// deleteProject deletes an upstream chat (docs/genspark-upstream.md §1.7).
func (u *upstream) deleteProject(ctx context.Context, projectID string) error {
	endpoint := u.p.base + "/api/project/delete?project_id=" + url.QueryEscape(projectID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return fmt.Errorf("building delete request: %w", err)
	}
	u.headers(req.Header, "application/json")
	resp, err := u.do(req, "Genspark chat deletion")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return nil
}

// messages converts the conversation (docs/genspark-upstream.md §4.1, §4.2). Unlike genspark2api the
// whole history is kept, system messages included: genspark2api cuts a new
// upstream chat down to the last user message, which silently drops the
// client's context. Reasoning parts are dropped; tool calls and results that
// reach the provider unrendered become text; images are inlined as data
// URLs and other files are uploaded.
func (u *upstream) messages(ctx context.Context, in []llm.Message) ([]askMessage, error) {
	out := make([]askMessage, 0, len(in))
	for i, m := range in {
		role, err := wireRole(m.Role)
		if err != nil {
			return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: fmt.Sprintf("messages[%d]: %v", i, err), Param: "messages", Provider: Name}
		}
		var parts []contentPart
		var texts []string
		media := false
		for _, part := range m.Parts {
			switch part.Type {
			case llm.PartText:
				texts = append(texts, part.Text)
				parts = append(parts, textPart(part.Text))
			case llm.PartReasoning:
				// Dropped from history.
			case llm.PartToolCall:
				t := renderToolCall(part.ToolCall)
				texts = append(texts, t)
				parts = append(parts, textPart(t))
			case llm.PartToolResult:
				t := renderToolResult(part.ToolResult)
				texts = append(texts, t)
				parts = append(parts, textPart(t))
			case llm.PartImage, llm.PartFile:
				cp, err := u.mediaPart(ctx, i, part)
				if err != nil {
					return nil, err
				}
				media = true
				parts = append(parts, cp)
			default:
				return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: fmt.Sprintf("messages[%d]: unsupported content part %q", i, part.Type), Param: "messages", Provider: Name}
			}
		}
		if len(parts) == 0 {
			continue // e.g. an assistant turn that held only reasoning
		}
		am := askMessage{Role: role}
		if media {
			am.Content = parts
		} else {
			am.Content = strings.Join(texts, "\n")
		}
		out = append(out, am)
	}
	if len(out) == 0 {
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: "messages must contain at least one message with content", Param: "messages", Provider: Name}
	}
	// Genspark refuses an ask without a user message
	// (docs/genspark-upstream.md §1.3) with an error the pool takes for the
	// account's failure. Refused here, a client's system- or assistant-only
	// conversation cannot rest every account.
	if !slices.ContainsFunc(out, func(m askMessage) bool { return m.Role == string(llm.RoleUser) }) {
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: "messages must contain at least one user message", Param: "messages", Provider: Name}
	}
	return out, nil
}

func wireRole(r llm.Role) (string, error) {
	switch r {
	case llm.RoleSystem, llm.RoleUser, llm.RoleAssistant:
		return string(r), nil
	case llm.RoleTool:
		return string(llm.RoleUser), nil // tool results are told to the model as user text
	}
	return "", fmt.Errorf("unsupported role %q", r)
}

func textPart(s string) contentPart { return contentPart{Type: "text", Text: &s} }

func renderToolCall(tc *llm.ToolCall) string {
	if tc == nil {
		return "[called a tool]"
	}
	args := tc.Arguments
	if strings.TrimSpace(args) == "" {
		args = "{}"
	}
	return "[called tool " + tc.Name + " with " + args + "]"
}

func renderToolResult(tr *llm.ToolResult) string {
	if tr == nil {
		return "Tool result: "
	}
	content := tr.Content
	if tr.IsError {
		content = "Error: " + content
	}
	return "Tool result (" + tr.CallID + "): " + content
}

// mediaPart turns an image into an inline data URL part and any other file
// into an uploaded private_file part.
func (u *upstream) mediaPart(ctx context.Context, i int, part llm.Part) (contentPart, error) {
	m := part.Media
	if m == nil || len(m.Data) == 0 {
		msg := fmt.Sprintf("messages[%d]: attachment has no data", i)
		if m != nil && m.URL != "" {
			msg = fmt.Sprintf("messages[%d]: attachment URL was not fetched; Genspark needs inline data", i)
		}
		return contentPart{}, &gw.Error{Code: gw.CodeInvalidRequest, Message: msg, Param: "messages", Provider: Name}
	}
	mt := mediaType(m)
	if strings.HasPrefix(mt, "image/") {
		// genspark2api labels every image image/jpeg; the real type is kept.
		url := "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(m.Data)
		return contentPart{Type: "image_url", ImageURL: &imageURL{URL: url}}, nil
	}
	pf, err := u.upload(ctx, m, mt)
	if err != nil {
		return contentPart{}, err
	}
	return contentPart{Type: "private_file", PrivateFile: pf}, nil
}

// mediaType returns m's MIME type without parameters, sniffed when absent.
func mediaType(m *llm.Media) string {
	t := m.MIMEType
	if t == "" {
		t = http.DetectContentType(m.Data)
	}
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt
	}
	return strings.ToLower(strings.TrimSpace(strings.Split(t, ";")[0]))
}

// upload stores a file through Genspark's upload slot (docs/genspark-upstream.md §1.8): get a slot,
// PUT the bytes (the status is checked), describe the stored file.
func (u *upstream) upload(ctx context.Context, m *llm.Media, mt string) (*privateFile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.p.base+"/api/get_upload_personal_image_url", nil)
	if err != nil {
		return nil, newErr(gw.CodeInternal, "building the upload slot request failed", err)
	}
	u.headers(req.Header, "*/*")
	resp, err := u.do(req, "Genspark upload slot")
	if err != nil {
		return nil, err
	}
	var slot struct {
		Data struct {
			UploadImageURL    string `json:"upload_image_url"`
			PrivateStorageURL string `json:"private_storage_url"`
		} `json:"data"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, ctxErr(cerr)
		}
		return nil, newErr(gw.CodeTransient, "reading the Genspark upload slot failed", err)
	}
	if sig := detectBody(body); sig != nil {
		return nil, sig
	}
	if err := json.Unmarshal(body, &slot); err != nil || slot.Data.UploadImageURL == "" || slot.Data.PrivateStorageURL == "" {
		return nil, newErr(gw.CodeProtocolChanged, "Genspark upload slot answer lacks upload_image_url or private_storage_url", excerptErr(body))
	}
	target, err := url.Parse(slot.Data.UploadImageURL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
		return nil, newErr(gw.CodeProtocolChanged, "Genspark upload slot URL is not an http(s) URL", nil)
	}
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, target.String(), bytes.NewReader(m.Data))
	if err != nil {
		return nil, newErr(gw.CodeInternal, "building the file upload failed", err)
	}
	put.Header.Set("Accept", "*/*")
	put.Header.Set("x-ms-blob-type", "BlockBlob")
	put.Header.Set("Content-Type", "application/octet-stream")
	put.Header.Set("Origin", u.p.origin)
	put.Header.Set("Sec-Fetch-Dest", "empty")
	put.Header.Set("Sec-Fetch-Mode", "cors")
	put.Header.Set("Sec-Fetch-Site", "cross-site")
	put.Header.Set("User-Agent", u.p.cfg.UserAgent)
	presp, err := u.client.Do(put)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, ctxErr(cerr)
		}
		return nil, newErr(gw.CodeTransient, "file upload to Genspark storage failed", redactURL(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(presp.Body, maxErrorBody))
	presp.Body.Close()
	if presp.StatusCode < 200 || presp.StatusCode >= 300 {
		return nil, newErr(gw.CodeUpstream, fmt.Sprintf("file upload to Genspark storage failed: HTTP %d", presp.StatusCode), nil)
	}
	name := m.Name
	if name == "" {
		name = "file"
	}
	ext := strings.TrimPrefix(path.Ext(name), ".")
	if ext == "" {
		_, ext, _ = strings.Cut(mt, "/")
	}
	return &privateFile{Name: name, Type: mt, Size: len(m.Data), Ext: ext, PrivateStorageURL: slot.Data.PrivateStorageURL}, nil
}

// redactURL drops the query of the URL inside a transport error: upload
// targets carry signed capability tokens there.
func redactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return &url.Error{Op: ue.Op, URL: "[url]", Err: ue.Err}
	}
	if u.RawQuery != "" {
		u.RawQuery = "[redacted]"
	}
	u.User = nil
	return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
}
