package media

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// isOpenAIImageModel reports whether name is one of OpenAI's own image
// model names (dall-e-2, dall-e-3, gpt-image-1, gpt-image-2, ...), which
// clients send by default: when no catalog lists it, spark serves it with
// its default image model.
func isOpenAIImageModel(name string) bool {
	return strings.HasPrefix(name, "dall-e") || strings.HasPrefix(name, "gpt-image") || name == "chatgpt-image-latest"
}

// maxGenerationBody bounds a generation's JSON body: a prompt of at most
// DefaultMaxPromptSize characters and a few fields.
const maxGenerationBody = 1 << 20

// Response formats.
const (
	formatURL = "url"
	formatB64 = "b64_json"
)

// imageParams are the fields of a generation or edit that spark uses.
type imageParams struct {
	Prompt         string `json:"prompt"`
	Model          string `json:"model"`
	N              *int   `json:"n"`
	Size           string `json:"size"`
	Quality        string `json:"quality"`
	Style          string `json:"style"`
	ResponseFormat string `json:"response_format"`
	Stream         bool   `json:"stream"`
}

// imageJob is a validated image request.
type imageJob struct {
	prompt string
	model  llm.ModelInfo // Kind image: task flow; else chat flow
	n      int
	format string
	gen    llm.GenerationOptions
	images []*llm.Media // edit inputs
	edit   bool
}

func (h *Handler) generations(w http.ResponseWriter, r *http.Request) error {
	var p imageParams
	if err := decodeJSON(w, r, min(h.opts.MaxJSONBytes, maxGenerationBody), &p); err != nil {
		return err
	}
	job, err := h.validate(r.Context(), &p)
	if err != nil {
		return err
	}
	return h.run(w, r, job)
}

// OpenAI's bounds of n on the image endpoints.
const maxOpenAIImages = 10

// maxEnumBytes bounds the enumerated string fields (size, quality, style,
// response_format) before they are parsed or quoted in an error.
const maxEnumBytes = 64

// Values of quality and style the OpenAI image API accepts.
var (
	imageQualities = []string{"standard", "hd", "low", "medium", "high", "auto"}
	imageStyles    = []string{"vivid", "natural"}
)

// validate checks the common fields and resolves the model, in this order:
// bounds on the client's strings, prompt, stream, n, response_format, size,
// quality, style, then the model (a 400 model_not_found before any
// upstream call).
func (h *Handler) validate(ctx context.Context, p *imageParams) (*imageJob, error) {
	for _, f := range []struct{ param, value string }{
		{"size", p.Size}, {"quality", p.Quality}, {"style", p.Style}, {"response_format", p.ResponseFormat},
	} {
		if err := wire.CheckLength(f.param, f.value, maxEnumBytes); err != nil {
			return nil, err
		}
	}
	model := strings.TrimSpace(p.Model)
	if err := checkModelName(model); err != nil {
		return nil, err
	}
	job := &imageJob{prompt: strings.TrimSpace(p.Prompt), n: 1}
	if job.prompt == "" {
		return nil, invalid("prompt", "prompt is required.")
	}
	if n := utf8.RuneCountInString(job.prompt); n > DefaultMaxPromptSize {
		return nil, invalid("prompt", "prompt is %d characters long; the limit is %d.", n, DefaultMaxPromptSize)
	}
	if p.Stream {
		return nil, invalid("stream", "Streaming image generation is not supported; omit stream.")
	}
	if p.N != nil {
		job.n = *p.N
	}
	switch {
	case job.n < 1:
		return nil, invalid("n", "Invalid 'n': integer below minimum value. Expected a value >= 1, but got %d instead.", job.n)
	case job.n > maxOpenAIImages:
		return nil, invalid("n", "Invalid 'n': integer above maximum value. Expected a value <= %d, but got %d instead.", maxOpenAIImages, job.n)
	case job.n > h.opts.MaxImages:
		return nil, invalid("n", "n must be between 1 and %d on this gateway.", h.opts.MaxImages)
	}
	switch f := strings.TrimSpace(p.ResponseFormat); f {
	case "", formatURL:
		job.format = formatURL
	case formatB64:
		job.format = formatB64
	default:
		return nil, invalid("response_format", "response_format must be url or b64_json, not %q.", f)
	}
	ratio, ok := llm.AspectRatioForSize(p.Size)
	if !ok {
		return nil, invalid("size", "size %q is not supported: use auto, WIDTHxHEIGHT (1024x1024, 1792x1024, 1024x1792, 1536x1024, 1024x1536, ...) or an aspect ratio (%s).",
			p.Size, strings.Join(llm.AspectRatios, ", "))
	}
	quality, style := strings.ToLower(strings.TrimSpace(p.Quality)), strings.ToLower(strings.TrimSpace(p.Style))
	if quality != "" && !slices.Contains(imageQualities, quality) {
		return nil, invalid("quality", "Invalid value for 'quality': %q. Supported values are: '%s'.", p.Quality, strings.Join(imageQualities, "', '"))
	}
	if style != "" && !slices.Contains(imageStyles, style) {
		return nil, invalid("style", "Invalid value for 'style': %q. Supported values are: '%s'.", p.Style, strings.Join(imageStyles, "', '"))
	}
	job.gen = llm.GenerationOptions{N: job.n, AspectRatio: ratio, Size: strings.TrimSpace(p.Size), Quality: quality, Style: style}
	m, err := h.imageModel(ctx, model)
	if err != nil {
		return nil, err
	}
	job.model = m
	return job, nil
}

// imageModel resolves the model of an image request without any upstream
// call: a listed image model (task flow); a listed chat model of
// ImageChatProviders, or another name of one (a Gemini alias or display
// name), for the chat flow; the default image model for none or for an
// unlisted OpenAI image name. Anything else (a video model, another
// provider's chat model, a name only a catch-all would take, a name nothing
// serves) is a 400 model_not_found listing the valid ids.
func (h *Handler) imageModel(ctx context.Context, name string) (llm.ModelInfo, error) {
	models := h.b.Models(ctx)
	if name != "" {
		if m, ok := findModel(models, name); ok {
			return h.imageModelOf(models, name, m)
		}
		if !isOpenAIImageModel(name) {
			match, err := h.b.Resolve(ctx, name)
			if err != nil || match.Fallback {
				return llm.ModelInfo{}, h.unknownImageModel(models, name, "does not exist")
			}
			m := match.Model
			m.ID = name // the gateway resolves the client's name again
			return h.imageModelOf(models, name, m)
		}
	}
	if def := h.opts.DefaultImageModel; def != "" {
		if m, ok := findModel(models, def); ok {
			return m, nil
		}
		return llm.ModelInfo{ID: def, Kind: llm.KindChat}, nil
	}
	if ids := modelsOf(models, llm.KindImage); len(ids) > 0 {
		m, _ := findModel(models, ids[0])
		return m, nil
	}
	return llm.ModelInfo{}, invalid("model", "No image model is configured; name a model that can generate images.")
}

// imageModelOf accepts m, the model the client named name, when it can
// draw: an image model, or a chat model of ImageChatProviders.
func (h *Handler) imageModelOf(models []llm.ModelInfo, name string, m llm.ModelInfo) (llm.ModelInfo, error) {
	switch {
	case m.Kind == llm.KindImage:
		return m, nil
	case m.Kind == llm.KindVideo:
		return llm.ModelInfo{}, h.unknownImageModel(models, name, "is a video model (use /v1/videos/generations)")
	case slices.Contains(h.opts.ImageChatProviders, m.OwnedBy):
		return m, nil
	default:
		return llm.ModelInfo{}, h.unknownImageModel(models, name, "cannot generate images")
	}
}

// imageModelIDs lists the models an image request may name: the image
// models, then the listed chat models of ImageChatProviders.
func (h *Handler) imageModelIDs(models []llm.ModelInfo) []string {
	ids := modelsOf(models, llm.KindImage)
	for _, m := range models {
		if m.Kind != llm.KindImage && m.Kind != llm.KindVideo && slices.Contains(h.opts.ImageChatProviders, m.OwnedBy) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// unknownImageModel is the 400 model_not_found of an image request naming
// a model that cannot serve it; why says what is wrong with it.
func (h *Handler) unknownImageModel(models []llm.ModelInfo, name, why string) error {
	return unknownModel(name, why, "/v1/images", h.imageModelIDs(models))
}

// unknownModel is a 400 model_not_found (OpenAI's code) about model, naming
// the endpoint's valid ids.
func unknownModel(name, why, endpoint string, valid []string) error {
	list := strings.Join(valid, ", ")
	if list == "" {
		list = "none is configured"
	}
	return &gw.Error{Code: gw.CodeUnknownModel, Param: "model",
		Message: fmt.Sprintf("The model `%s` %s. Valid models for %s: %s.", name, why, endpoint, list)}
}

// run generates the images of job and writes the response.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, job *imageJob) error {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.ImageTimeout)
	defer cancel()
	var (
		images []llm.Media
		err    error
	)
	if job.model.Kind == llm.KindImage {
		images, err = h.taskImages(ctx, r, job)
	} else {
		images, err = h.chatImages(ctx, r, job)
	}
	if err != nil {
		return err
	}
	resp := imagesResponse{Created: h.opts.Now().Unix()}
	for _, m := range images {
		d := imageData{RevisedPrompt: job.prompt}
		if job.format == formatB64 {
			data := m.Data
			if data == nil {
				if data, _, err = h.opts.Fetcher.ReadAll(ctx, m.URL, m.Account, ""); err != nil {
					return err
				}
			}
			d.B64JSON = base64.StdEncoding.EncodeToString(data)
		} else {
			d.URL = h.resultURL(r, &m)
		}
		resp.Data = append(resp.Data, d)
	}
	writeJSON(w, resp)
	return nil
}

// resultURL is what a client gets for a generated file: a signed proxy
// URL, or a data URL for inline bytes.
func (h *Handler) resultURL(r *http.Request, m *llm.Media) string {
	if m.URL == "" {
		mt := m.MIMEType
		if mt == "" {
			mt = http.DetectContentType(m.Data)
		}
		return "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(m.Data)
	}
	return h.opts.Signer.URL(r, m.URL, m.Account)
}

// request builds the llm request of one ask: parts as the one user
// message.
func (h *Handler) request(r *http.Request, model string, parts []llm.Part, gen *llm.GenerationOptions) *llm.Request {
	return &llm.Request{
		Model:             model,
		Messages:          []llm.Message{{Role: llm.RoleUser, Parts: parts}},
		ParallelToolCalls: true,
		ClientKey:         reqctx.KeyID(r.Context()),
		Generation:        gen,
	}
}

// promptParts returns the input images, then the prompt.
func promptParts(images []*llm.Media, prompt string) []llm.Part {
	parts := make([]llm.Part, 0, len(images)+1)
	for _, im := range images {
		parts = append(parts, llm.Part{Type: llm.PartImage, Media: im})
	}
	return append(parts, llm.Part{Type: llm.PartText, Text: prompt})
}

// taskImages runs the upstream image task flow once for all n images.
func (h *Handler) taskImages(ctx context.Context, r *http.Request, job *imageJob) ([]llm.Media, error) {
	gen := job.gen
	a, err := h.collect(ctx, h.request(r, job.model.ID, promptParts(job.images, job.prompt), &gen))
	if err != nil {
		return nil, err
	}
	if len(a.Images) == 0 {
		return nil, noImage(job.model.ID, 1)
	}
	return a.Images[:min(len(a.Images), job.n)], nil
}

// chatImages asks a chat model to draw until n images arrived, repeating
// an ask answered with text only at most ImageRetries times in all.
func (h *Handler) chatImages(ctx context.Context, r *http.Request, job *imageJob) ([]llm.Media, error) {
	tmpl := h.opts.ImagePrompt
	if job.edit {
		tmpl = h.opts.EditPrompt
	}
	prompt := strings.ReplaceAll(tmpl, "%s", job.prompt)
	var images []llm.Media
	attempts, textOnly := 0, 0
	for len(images) < job.n {
		attempts++
		gen := job.gen
		a, err := h.collect(ctx, h.request(r, job.model.ID, promptParts(job.images, prompt), &gen))
		if err != nil {
			if len(images) > 0 && ctx.Err() == nil {
				h.log.WarnContext(ctx, "media: an image ask failed; returning the images already made",
					"request_id", reqctx.RequestID(ctx), "images", len(images), "error", err)
				break
			}
			return nil, err
		}
		if len(a.Images) == 0 {
			textOnly++
			h.log.InfoContext(ctx, "media: the model answered with text instead of an image",
				"request_id", reqctx.RequestID(ctx), "model", job.model.ID, "attempt", attempts)
			if textOnly > h.opts.ImageRetries {
				break
			}
			continue
		}
		images = append(images, a.Images...)
	}
	if len(images) == 0 {
		return nil, noImage(job.model.ID, attempts)
	}
	return images[:min(len(images), job.n)], nil
}

func noImage(model string, attempts int) *gw.Error {
	msg := fmt.Sprintf("The model `%s` did not return an image", model)
	if attempts > 1 {
		msg += fmt.Sprintf(" (it answered with text %d times)", attempts)
	}
	return &gw.Error{Code: gw.CodeUpstream, Message: msg + "; image generation is best-effort, retry later."}
}

// edits serves POST /v1/images/edits (multipart/form-data).
func (h *Handler) edits(w http.ResponseWriter, r *http.Request) error {
	form, err := h.readEditForm(w, r)
	if err != nil {
		return err
	}
	p := imageParams{
		Prompt:         form.fields["prompt"],
		Model:          form.fields["model"],
		Size:           form.fields["size"],
		Quality:        form.fields["quality"],
		Style:          form.fields["style"],
		ResponseFormat: form.fields["response_format"],
		Stream:         form.fields["stream"] == "true",
	}
	if v, ok := form.fields["n"]; ok && strings.TrimSpace(v) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return invalid("n", "n must be an integer.")
		}
		p.N = &n
	}
	if len(form.images) == 0 {
		return invalid("image", "image is required: send the image to edit as a file field `image` (or several as `image[]`).")
	}
	job, err := h.validate(r.Context(), &p)
	if err != nil {
		return err
	}
	job.images, job.edit = form.images, true
	if form.mask {
		w.Header().Set("X-Spark-Warning", "mask ignored: the upstream edits the whole image as the prompt says")
		h.log.InfoContext(r.Context(), "media: edit mask ignored", "request_id", reqctx.RequestID(r.Context()))
	}
	return h.run(w, r, job)
}

// editForm is a parsed edit request.
type editForm struct {
	fields map[string]string
	images []*llm.Media
	mask   bool
}

// Bounds of an edit's multipart form beyond the files' own.
const (
	// maxFormParts bounds the parts of one form: the files and a few
	// dozen fields (openai-node sends about fifteen).
	maxFormParts = 100
	// maxFormFieldsBytes is the room left in the body for the text fields
	// and the part headers, on top of MaxTotalFileBytes.
	maxFormFieldsBytes = 8 << 20
)

// editBodyLimit bounds an edit's multipart body: every file together
// (MaxTotalFileBytes) and maxFormFieldsBytes of other fields and framing.
func (h *Handler) editBodyLimit() int64 {
	return h.opts.MaxTotalFileBytes + maxFormFieldsBytes
}

// readEditForm streams the multipart body: image files (image, image[],
// image[N]) are read up to MaxFileBytes each, at most MaxFiles of them and
// MaxTotalFileBytes in all; text fields up to 256 KiB; at most
// maxFormParts parts, each with a header of at most wire.MaxPartHeaderBytes
// and a file name of at most wire.MaxFileNameBytes. The body is bounded by
// MaxTotalFileBytes plus 8 MiB (a 413 beyond). Once a limit is broken
// nothing more is kept, but the rest of the body is read (up to that
// bound) so that the client reads the 400.
func (h *Handler) readEditForm(w http.ResponseWriter, r *http.Request) (*editForm, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, invalid("", "/v1/images/edits expects a multipart/form-data body with the fields image (file), prompt, and optionally model, n, size, response_format.")
	}
	total := h.editBodyLimit()
	r.Body = http.MaxBytesReader(w, r.Body, total)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, invalid("", "could not read the multipart body: %v", err)
	}
	form := &editForm{fields: map[string]string{}}
	var first error // the first limit broken; reading goes on, keeping nothing
	files, parts := 0, 0
	var fileBytes int64
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bodyError(err, total)
		}
		parts++
		if first == nil {
			first = wire.CheckPart(part, parts, maxFormParts)
		}
		if first != nil {
			part.Close()
			continue
		}
		name := part.FormName()
		switch {
		case name == "image" || name == "image[]" || strings.HasPrefix(name, "image["):
			files++
			if files > h.opts.MaxFiles {
				first = invalid("image", "Too many images: at most %d files per request.", h.opts.MaxFiles)
				break
			}
			room := min(h.opts.MaxFileBytes, h.opts.MaxTotalFileBytes-fileBytes)
			data, err := io.ReadAll(io.LimitReader(part, room+1))
			if err != nil {
				return nil, bodyError(err, total)
			}
			switch {
			case int64(len(data)) > h.opts.MaxFileBytes:
				first = invalid("image", "Image file %s is larger than the %s limit per file.", fileLabel(part.FileName(), files), sizeLabel(h.opts.MaxFileBytes))
			case int64(len(data)) > room:
				first = invalid("image", "The images are larger than the %s limit per request.", sizeLabel(h.opts.MaxTotalFileBytes))
			default:
				fileBytes += int64(len(data))
				m, ierr := imageMedia(data, part.FileName())
				if ierr != nil {
					first = ierr
					break
				}
				form.images = append(form.images, m)
			}
		case name == "mask":
			form.mask = true
		case part.FileName() == "" && name != "":
			data, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return nil, bodyError(err, total)
			}
			if len(data) > maxFieldBytes {
				first = invalid(name, "Field %s is longer than %d bytes.", name, maxFieldBytes)
				break
			}
			if first = wire.CheckFormText(name, data); first != nil {
				break
			}
			form.fields[name] = string(data)
		}
		// Whatever was not read (skipped files, the tail of a file past
		// its limit) is discarded by NextPart, bounded by MaxBytesReader.
		part.Close()
	}
	if first != nil {
		return nil, first
	}
	return form, nil
}

func fileLabel(name string, index int) string {
	if name != "" {
		return strconv.Quote(name)
	}
	return "#" + strconv.Itoa(index)
}

// bodyError words a failure to read the multipart body: 413 over limit,
// the reader's own *gw.Error (the server's 408 for a body that did not
// arrive in time), else 400.
func bodyError(err error, limit int64) error {
	var (
		tooLarge *http.MaxBytesError
		readErr  *gw.Error
	)
	if errors.As(err, &readErr) {
		return readErr
	}
	if errors.As(err, &tooLarge) {
		return &gw.Error{Code: gw.CodeTooLarge, Cause: err,
			Message: fmt.Sprintf("Request body too large: the limit is %d bytes.", limit)}
	}
	return &gw.Error{Code: gw.CodeInvalidRequest, Cause: err, Message: "could not read the multipart body"}
}

// imageMedia checks that data is an image the upstreams take and returns
// it as media with its sniffed type.
// The sniffed type wins over what clients declare (often
// application/octet-stream).
func imageMedia(data []byte, name string) (*llm.Media, error) {
	mt := http.DetectContentType(data)
	switch mt {
	case "image/png", "image/jpeg", "image/webp", "image/gif":
	default:
		return nil, invalid("image", "Image %s is not a PNG, JPEG, WEBP or GIF file (detected %s).", fileLabel(name, 0), mt)
	}
	return &llm.Media{MIMEType: mt, Name: name, Data: data}, nil
}
