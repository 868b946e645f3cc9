package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/sse"
)

// Video request bounds (the seed's table, seed 000).
const (
	defaultVideoAspect   = "16:9"
	defaultVideoDuration = 5
	maxVideoDuration     = 60
)

// videoAspects are the aspect ratios a video request may ask for.
var videoAspects = []string{"9:16", "16:9", "3:4", "1:1", "4:3"}

// videoParams is the body of POST /v1/videos/generations.
type videoParams struct {
	Model       string          `json:"model"`
	Prompt      string          `json:"prompt"`
	AspectRatio string          `json:"aspect_ratio"`
	Duration    json.RawMessage `json:"duration"`
	AutoPrompt  *bool           `json:"auto_prompt"`
	Image       string          `json:"image"`
	Stream      bool            `json:"stream"`
}

// videos serves POST /v1/videos/generations: one video job of a catalog
// video model, waited for at most VideoTimeout. A client that sent
// `stream: true` or `Accept: text/event-stream` gets an SSE response at
// once: comment keepalives (": keepalive") every KeepAlive while the video
// is made, then one `data: {"created":...,"data":[{"url":...}]}` event (or
// `data: {"error":{...}}`), then `data: [DONE]`.
func (h *Handler) videos(w http.ResponseWriter, r *http.Request) error {
	var p videoParams
	if err := decodeJSON(w, r, h.opts.MaxJSONBytes, &p); err != nil {
		return err
	}
	req, err := h.videoRequest(r, &p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.VideoTimeout)
	defer cancel()
	if p.Stream || strings.Contains(strings.ToLower(r.Header.Get("Accept")), "text/event-stream") {
		h.streamVideo(ctx, cancel, w, r, req)
		return nil
	}
	resp, err := h.makeVideo(ctx, r, req)
	if err != nil {
		return err
	}
	writeJSON(w, resp)
	return nil
}

// videoRequest validates a video request and builds its llm request.
func (h *Handler) videoRequest(r *http.Request, p *videoParams) (*llm.Request, error) {
	ctx := r.Context()
	name := strings.TrimSpace(p.Model)
	if err := checkModelName(name); err != nil {
		return nil, err
	}
	if err := h.videoModel(ctx, name); err != nil {
		return nil, err
	}
	prompt := strings.TrimSpace(p.Prompt)
	if prompt == "" {
		return nil, invalid("prompt", "prompt is required.")
	}
	if n := utf8.RuneCountInString(prompt); n > DefaultMaxPromptSize {
		return nil, invalid("prompt", "prompt is %d characters long; the limit is %d.", n, DefaultMaxPromptSize)
	}
	aspect := strings.TrimSpace(p.AspectRatio)
	if aspect == "" {
		aspect = defaultVideoAspect
	}
	if !slices.Contains(videoAspects, aspect) {
		return nil, invalid("aspect_ratio", "aspect_ratio must be one of %s.", strings.Join(videoAspects, ", "))
	}
	duration, err := parseDuration(p.Duration)
	if err != nil {
		return nil, err
	}
	gen := &llm.GenerationOptions{N: 1, AspectRatio: aspect, Duration: duration}
	if p.AutoPrompt != nil {
		gen.AutoPrompt = *p.AutoPrompt
	}
	var frames []*llm.Media
	if img := strings.TrimSpace(p.Image); img != "" {
		m, err := h.videoImage(ctx, img)
		if err != nil {
			return nil, err
		}
		frames = append(frames, m)
	}
	return h.request(r, name, promptParts(frames, prompt), gen), nil
}

// videoModel checks, without any upstream call, that name is a video
// model: listed, or another name the gateway resolves to one (not through
// a catch-all). Anything else is a 400 model_not_found listing the video
// models.
func (h *Handler) videoModel(ctx context.Context, name string) error {
	models := h.b.Models(ctx)
	valid := modelsOf(models, llm.KindVideo)
	if name == "" {
		return invalid("model", "Missing required parameter: 'model'. Video models: %s.", strings.Join(valid, ", "))
	}
	m, ok := findModel(models, name)
	if !ok {
		match, err := h.b.Resolve(ctx, name)
		if err != nil || match.Fallback {
			return unknownModel(name, "does not exist", "/v1/videos", valid)
		}
		m = match.Model
	}
	if m.Kind != llm.KindVideo {
		return unknownModel(name, "is not a video model", "/v1/videos", valid)
	}
	return nil
}

// parseDuration reads duration: a positive integer (a JSON number or a
// numeric string) up to maxVideoDuration; absent means the default.
func parseDuration(raw json.RawMessage) (int, error) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return defaultVideoDuration, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int(f)) || f < 1 || f > maxVideoDuration {
		return 0, invalid("duration", "duration must be a whole number of seconds between 1 and %d.", maxVideoDuration)
	}
	return int(f), nil
}

// videoImage reads the first frame: a data URL, raw base64, or an http(s)
// URL (fetched through the gateway's guarded MediaFetcher, or handed to
// the backend to fetch when none is configured).
func (h *Handler) videoImage(ctx context.Context, img string) (*llm.Media, error) {
	lower := strings.ToLower(img)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		if h.opts.MediaFetcher == nil {
			return &llm.Media{URL: img}, nil
		}
		data, _, err := h.opts.MediaFetcher.Fetch(ctx, img)
		if err != nil {
			if e := gw.AsError(err); e.Code == gw.CodeInvalidRequest && e.Param == "" {
				e2 := *e
				e2.Param = "image"
				return nil, &e2
			}
			return nil, err
		}
		if int64(len(data)) > h.opts.MaxFileBytes {
			return nil, invalid("image", "image is larger than the %s limit.", sizeLabel(h.opts.MaxFileBytes))
		}
		return imageMedia(data, "")
	}
	b64 := img
	if strings.HasPrefix(lower, "data:") {
		d, err := wire.SplitDataURL(img)
		if err != nil || !d.Base64 {
			return nil, invalid("image", "image must be base64, a base64 data URL (data:image/png;base64,...) or an http(s) URL.")
		}
		if _, ok := wire.ImageMediaType(d.MediaType); d.MediaType != "" && !ok {
			return nil, invalid("image", "Invalid MIME type %q in 'image': only image types are supported (%s).", d.MediaType, strings.Join(wire.ImageMediaTypes, ", "))
		}
		b64 = d.Data
	}
	if int64(len(b64)) > (h.opts.MaxFileBytes/3+1)*4+16 {
		return nil, invalid("image", "image is larger than the %s limit.", sizeLabel(h.opts.MaxFileBytes))
	}
	data, ok := wire.DecodeBase64AnyPadding(b64)
	if !ok {
		return nil, invalid("image", "image must be base64, a base64 data URL (data:image/png;base64,...) or an http(s) URL.")
	}
	if int64(len(data)) > h.opts.MaxFileBytes {
		return nil, invalid("image", "image is larger than the %s limit.", sizeLabel(h.opts.MaxFileBytes))
	}
	return imageMedia(data, "")
}

// makeVideo runs the job and builds the response.
func (h *Handler) makeVideo(ctx context.Context, r *http.Request, req *llm.Request) (*imagesResponse, error) {
	a, err := h.collect(ctx, req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
			return nil, &gw.Error{Code: gw.CodeUpstreamTimeout, Cause: err,
				Message: "The video was not ready within " + h.opts.VideoTimeout.String() + "."}
		}
		return nil, err
	}
	if len(a.Images) == 0 {
		return nil, &gw.Error{Code: gw.CodeUpstream, Message: "The model `" + req.Model + "` did not return a video."}
	}
	resp := &imagesResponse{Created: h.opts.Now().Unix()}
	for i := range a.Images {
		resp.Data = append(resp.Data, imageData{URL: h.resultURL(r, &a.Images[i])})
	}
	return resp, nil
}

// streamVideo answers over SSE with keepalives while the job runs.
func (h *Handler) streamVideo(ctx context.Context, cancel context.CancelFunc, w http.ResponseWriter, r *http.Request, req *llm.Request) {
	type result struct {
		resp *imagesResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := h.makeVideo(ctx, r, req)
		done <- result{resp, err}
	}()
	sw := sse.NewWriter(w)
	// The first frame goes out at once so the client (and any proxy) sees
	// the response start.
	if err := sw.Comment("keepalive"); err != nil {
		cancel()
		<-done
		return
	}
	tick := time.NewTicker(h.opts.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := sw.Comment("keepalive"); err != nil {
				// The client went away: stop the job and wait for it, so
				// nothing uses the request after the handler returned.
				cancel()
				<-done
				return
			}
		case res := <-done:
			var body []byte
			if res.err != nil {
				wire.LogFailure(h.log, "media", r, res.err)
				body = errorJSON(res.err)
			} else {
				body, _ = json.Marshal(res.resp)
			}
			_ = sw.WriteData(body)
			_ = sw.WriteData([]byte("[DONE]"))
			return
		}
	}
}

// errorJSON renders err's OpenAI error envelope as one line.
func errorJSON(err error) []byte {
	rec := &bufferWriter{h: http.Header{}}
	openai.WriteError(rec, err)
	return bytes.TrimSpace(rec.buf.Bytes())
}

// bufferWriter is a ResponseWriter that keeps the body.
type bufferWriter struct {
	h   http.Header
	buf bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.h }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(int)             {}
