package geminiweb

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// Limits on attachments (seed 001: up to 10 files, 25 MB each).
const (
	MaxFiles     = 10
	MaxFileBytes = 25 << 20
)

// DefaultPushID is the upload channel used when the app page names none.
const DefaultPushID = "feeds/mcudyrk2a4khkz"

// innerLen is the length of the StreamGenerate inner array (G3 browser
// captures send 97–102 slots, docs/gemini-web-upstream.md §2.4).
const innerLen = 97

// renderMessage renders a message's parts as text: text parts as they are,
// leftover tool calls and results as the tool protocol's blocks (spark's
// tool layer normally renders them already), media and reasoning not at
// all.
func renderMessage(m llm.Message) string {
	var b strings.Builder
	block := func(s string) {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	for _, p := range m.Parts {
		switch p.Type {
		case llm.PartText:
			b.WriteString(p.Text)
		case llm.PartToolCall:
			if tc := p.ToolCall; tc != nil {
				args := strings.TrimSpace(tc.Arguments)
				if args == "" {
					args = "{}"
				}
				name, _ := json.Marshal(tc.Name)
				block(`<tool_call>{"name": ` + string(name) + `, "arguments": ` + args + `}</tool_call>`)
			}
		case llm.PartToolResult:
			if tr := p.ToolResult; tr != nil {
				attrs := ""
				if tr.CallID != "" {
					attrs += ` id="` + strings.ReplaceAll(tr.CallID, `"`, "&quot;") + `"`
				}
				if tr.Name != "" {
					attrs += ` name="` + strings.ReplaceAll(tr.Name, `"`, "&quot;") + `"`
				}
				if tr.IsError {
					attrs += ` is_error="true"`
				}
				block("<tool_result" + attrs + ">\n" + tr.Content + "\n</tool_result>")
			}
		case llm.PartImage, llm.PartFile:
			if md := p.Media; md != nil && len(md.Data) == 0 && md.URL != "" {
				block("[attachment: " + md.URL + "]")
			}
		}
	}
	return b.String()
}

// roleLabel is the line prefix of a turn in the flattened prompt.
func roleLabel(r llm.Role) string {
	switch r {
	case llm.RoleSystem:
		return "System:"
	case llm.RoleAssistant:
		return "Assistant:"
	}
	return "User:" // user, and tool results (rendered as user text)
}

// flatten renders a conversation as one prompt: each turn starts on a line
// beginning `System:`, `User:` or `Assistant:`; the last user turn is the
// text after the last line beginning `User:` (the simulator and spark's
// tool layer rely on it). A lone user message is sent as its bare text.
func flatten(msgs []llm.Message) string {
	if len(msgs) == 1 && (msgs[0].Role == llm.RoleUser || msgs[0].Role == llm.RoleTool) {
		return renderMessage(msgs[0])
	}
	var b strings.Builder
	for _, m := range msgs {
		text := renderMessage(m)
		if strings.TrimSpace(text) == "" && !hasMedia(m) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(roleLabel(m.Role))
		if text != "" {
			b.WriteString(" " + text)
		}
	}
	return b.String()
}

func hasMedia(m llm.Message) bool {
	for _, p := range m.Parts {
		if (p.Type == llm.PartImage || p.Type == llm.PartFile) && p.Media != nil && len(p.Media.Data) > 0 {
			return true
		}
	}
	return false
}

// attachment is one file to upload.
type attachment struct {
	name, mime string
	data       []byte
	image      bool
	ref        string // upload reference once uploaded
}

// collectFiles gathers the inline media of msgs and enforces the limits.
func collectFiles(msgs []llm.Message) ([]*attachment, error) {
	var out []*attachment
	for _, m := range msgs {
		for _, p := range m.Parts {
			if p.Type != llm.PartImage && p.Type != llm.PartFile || p.Media == nil || len(p.Media.Data) == 0 {
				continue
			}
			md := p.Media
			a := &attachment{name: md.Name, mime: strings.TrimSpace(md.MIMEType), data: md.Data}
			if a.mime == "" {
				a.mime = http.DetectContentType(md.Data)
			}
			if mt, _, err := mime.ParseMediaType(a.mime); err == nil {
				a.image = strings.HasPrefix(mt, "image/")
			}
			if a.name == "" {
				a.name = defaultFileName(a.mime, len(out)+1)
			}
			if len(md.Data) > MaxFileBytes {
				return nil, &gw.Error{Code: gw.CodeTooLarge, Param: "messages", Provider: Name,
					Message: fmt.Sprintf("attachment %q is %.1f MB; Gemini accepts at most %d MB per file", a.name, float64(len(md.Data))/(1<<20), MaxFileBytes>>20)}
			}
			out = append(out, a)
		}
	}
	if len(out) > MaxFiles {
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "messages", Provider: Name,
			Message: fmt.Sprintf("Gemini accepts at most %d attachments per request, got %d", MaxFiles, len(out))}
	}
	return out, nil
}

// defaultFileName names an attachment the client did not name.
func defaultFileName(mimeType string, n int) string {
	ext := ".bin"
	if mt, _, err := mime.ParseMediaType(mimeType); err == nil {
		switch mt {
		case "image/jpeg":
			ext = ".jpg"
		case "text/plain":
			ext = ".txt"
		default:
			if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
				ext = exts[0]
			}
		}
	}
	base := "file"
	if strings.HasPrefix(mimeType, "image/") {
		base = "image"
	}
	return base + strconv.Itoa(n) + ext
}

// upload sends one file to {UploadURL}/upload (docs/gemini-web-upstream.md §5) and returns its
// reference. The upload service is another site: no cookies are sent.
func (p *Provider) upload(ctx context.Context, hc *http.Client, s *session, a *attachment) (string, error) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+escapeQuotes(a.name)+`"`)
	h.Set("Content-Type", a.mime)
	if _, err := mw.CreatePart(h); err != nil {
		return "", gw.Wrap(gw.CodeInternal, err, "building the upload failed")
	}
	first := bytes.Clone(head.Bytes())
	head.Reset()
	if err := mw.Close(); err != nil {
		return "", gw.Wrap(gw.CodeInternal, err, "building the upload failed")
	}
	last := bytes.Clone(head.Bytes())
	body := io.MultiReader(bytes.NewReader(first), bytes.NewReader(a.data), bytes.NewReader(last))
	ctx, cancel := context.WithTimeout(ctx, p.cfg.UploadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.uploadURL+"/upload", body)
	if err != nil {
		return "", gw.Wrap(gw.CodeInternal, err, "building the upload failed")
	}
	req.ContentLength = int64(len(first) + len(a.data) + len(last))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Push-ID", s.page.PushID)
	req.Header.Set("X-Tenant-Id", "bard-storage")
	p.setBrowserHeaders(req.Header)
	resp, err := hc.Do(req)
	if err != nil {
		return "", transportError(ctx, err, "upload")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return "", redirectError(resp, "upload")
		}
		return "", errorForStatus(resp, "upload")
	}
	ref, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return "", transportError(ctx, err, "upload")
	}
	r := strings.TrimSpace(string(ref))
	if r == "" || strings.ContainsAny(r, " \n<") {
		return "", newErr(gw.CodeProtocolChanged, "Gemini's upload service answered without a file reference: the protocol probably changed; update spark")
	}
	return r, nil
}

func escapeQuotes(s string) string {
	return strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "").Replace(s)
}

// chatMeta is the continuation of an upstream chat (docs/gemini-web-upstream.md §3.5).
type chatMeta struct {
	cid, rid, rcid, token string
	turn                  int
}

// genRequest is one StreamGenerate call.
type genRequest struct {
	prompt  string
	files   []*attachment
	meta    *chatMeta // nil: a new chat
	sel     selection
	reqUUID string // upper case
}

// innerArray builds the G3 inner f.req array (docs/gemini-web-upstream.md §2.4).
func (g *genRequest) innerArray(lang string) []any {
	in := make([]any, innerLen)
	var files any
	if len(g.files) > 0 {
		list := make([]any, len(g.files))
		for i, f := range g.files {
			kind := 3
			if f.image {
				kind = 1
			}
			// Browser shape (zexadev, Aug 2026).
			list[i] = []any{[]any{f.ref, kind, nil, f.mime}, f.name, nil, nil, nil, nil, nil, nil, []any{0}}
		}
		files = list
	}
	in[0] = []any{g.prompt, 0, nil, files, nil, nil, 0}
	in[1] = []any{lang}
	turn := 0
	if m := g.meta; m != nil {
		in[2] = []any{m.cid, m.rid, m.rcid, nil, nil, nil, nil, nil, nil, m.token}
		turn = m.turn
	} else {
		in[2] = []any{"", "", "", nil, nil, nil, nil, nil, nil, ""}
	}
	in[6] = []any{0}
	in[7] = 1
	in[10] = 1
	in[11] = 0
	in[17] = []any{[]any{turn}}
	in[18] = 0
	in[27] = 1
	in[30] = []any{4}
	in[41] = []any{1}
	in[53] = 0
	in[59] = g.reqUUID
	in[61] = []any{}
	in[68] = 1
	in[79] = g.sel.mode
	in[80] = g.sel.thinking
	in[91] = 0
	extended := 0
	if g.sel.thinking == 2 {
		extended = 1
	}
	in[96] = extended
	return in
}

// fReq encodes the form field f.req: [null, "<inner JSON>"].
func (g *genRequest) fReq(lang string) (string, error) {
	inner, err := marshalNoEscape(g.innerArray(lang))
	if err != nil {
		return "", err
	}
	return marshalNoEscape([]any{nil, inner})
}

// modelHeader is x-goog-ext-525001261-jspb in the G3 layout (docs/gemini-web-upstream.md §2.2): hex at
// 4, capability flags at 8, capacity at 11 (12 for capacity field 13, which
// shifts the rest by one), mode at 14, thinking at 15, client UUID at 16.
func modelHeader(sel selection, clientUUID string) string {
	h := []any{1, nil, nil, nil, sel.hex, nil, nil, 0, []any{4, 5, 6, 8}, nil, nil}
	if sel.capField == 13 {
		h = append(h, nil)
	}
	h = append(h, sel.capacity, nil, nil, sel.mode, sel.thinking, clientUUID)
	s, _ := marshalNoEscape(h)
	return s
}

// newUUID returns a random version 4 UUID (lower case).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// thinkingLevel maps the client's reasoning effort to the header's
// thinking level: extended (2) for high efforts, standard (1) otherwise.
func thinkingLevel(req *llm.Request) int {
	switch strings.ToLower(strings.TrimSpace(req.ReasoningEffort)) {
	case "high", "xhigh", "max", "extended":
		return 2
	}
	return 1
}

// ---- chat continuation (bindings) ----

// bindingKey identifies a conversation state on one account for one client
// key and model family: the digest of the rendered history.
func bindingKey(acctID, clientKey, family string, msgs []llm.Message, answer *string) [32]byte {
	h := sha256.New()
	for _, s := range []string{acctID, clientKey, family} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	write := func(role llm.Role, text string) {
		h.Write([]byte(role))
		h.Write([]byte{0x1f})
		h.Write([]byte(strings.TrimSpace(text)))
		h.Write([]byte{0x1e})
	}
	for _, m := range msgs {
		write(m.Role, renderMessage(m))
	}
	if answer != nil {
		write(llm.RoleAssistant, *answer)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// splitHistory returns the messages up to and including the last assistant
// message, and the tail after it; ok is false when there is no assistant
// message or no tail.
func splitHistory(msgs []llm.Message) (history, tail []llm.Message, ok bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == llm.RoleAssistant {
			if i == len(msgs)-1 {
				return nil, nil, false
			}
			return msgs[:i+1], msgs[i+1:], true
		}
	}
	return nil, nil, false
}
