package genspark

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/url"
	"path"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// Body discriminators of generation asks (docs/genspark-upstream.md §1.4, §1.5).
const (
	typeImage = "COPILOT_MOA_IMAGE"
	typeVideo = "COPILOT_MOA_VIDEO"
)

// Video defaults: chat requests carry no aspect ratio or duration.
const (
	defaultVideoAspect   = "16:9"
	defaultVideoDuration = 5
)

// MaxGenerations bounds llm.GenerationOptions.N: one request sends at most
// this many generation asks (one task each).
const MaxGenerations = 4

// maxVideoDuration bounds a requested video length in seconds.
const maxVideoDuration = 60

// maxGenerationBody bounds a generation ask body, read whole (docs/genspark-upstream.md §2.6).
const maxGenerationBody = 16 << 20

// genBody is the ask body of an image or video job.
type genBody struct {
	Type               string       `json:"type"`
	CurrentQueryString string       `json:"current_query_string"`
	Messages           []genMessage `json:"messages"`
	UserSInput         string       `json:"user_s_input"`
	ActionParams       struct{}     `json:"action_params"`
	ExtraData          any          `json:"extra_data"`
	GRecaptchaToken    string       `json:"g_recaptcha_token,omitempty"`
}

// genMessage is the one user message of a generation ask: no is_prompt
// or session_state.
type genMessage struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

type imageExtra struct {
	ModelConfigs   []imageConfig `json:"model_configs"`
	LLMModel       string        `json:"llm_model"`
	ImageModelMap  struct{}      `json:"imageModelMap"`
	WritingContent *string       `json:"writingContent"`
}

type imageConfig struct {
	Model                 string  `json:"model"`
	AspectRatio           string  `json:"aspect_ratio"`
	UsePersonalizedModels bool    `json:"use_personalized_models"`
	FashionProfileID      *string `json:"fashion_profile_id"`
	HD                    bool    `json:"hd"`
	ReflectionEnabled     bool    `json:"reflection_enabled"`
	Style                 string  `json:"style"`
}

type videoExtra struct {
	ModelConfigs  []videoConfig `json:"model_configs"`
	ImageModelMap struct{}      `json:"imageModelMap"`
}

type videoConfig struct {
	Model             string `json:"model"`
	AspectRatio       string `json:"aspect_ratio"`
	ReflectionEnabled bool   `json:"reflection_enabled"`
	Duration          int    `json:"duration"`
}

// generation describes one image or video job.
type generation struct {
	kind      llm.ModelKind
	typ       string
	statusURL string // task-status endpoint
	noun      string // "image" or "video", for messages
}

// generate runs an image or video job for a chat request (docs/genspark-upstream.md §4.3): the last
// user message is the prompt (its first image, if any, the reference or
// first frame), the answer is one EventImage per generated file.
// req.Generation, when set, chooses the aspect ratio (or the OpenAI size it
// is mapped from), high definition, prompt optimisation
// (reflection_enabled), a video's duration, and how many files to make: N
// files are N asks of one task each, sent one after the other, whose tasks
// are then awaited on one task-status stream. The asks are sent here, so
// their failure signals surface from Chat; the task-status wait happens in
// the stream's first Recv.
func (p *Provider) generate(ctx context.Context, acct *gw.Account, cookie string, req *llm.Request, m llm.ModelInfo) (llm.Stream, error) {
	g := generation{kind: m.Kind, typ: typeImage, statusURL: p.base + "/api/ig_tasks_status", noun: "image"}
	if m.Kind == llm.KindVideo {
		g = generation{kind: m.Kind, typ: typeVideo, statusURL: p.base + "/api/vg_tasks_status", noun: "video"}
	}
	prompt := strings.TrimSpace(req.LastUserText())
	if prompt == "" {
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: g.noun + " generation needs a text prompt in the last user message", Param: "messages", Provider: Name}
	}
	opts := req.Generation
	if opts == nil {
		opts = &llm.GenerationOptions{}
	}
	aspect, err := aspectRatio(opts, g.kind)
	if err != nil {
		return nil, err
	}
	var content any = prompt
	if ref := referenceImage(req); ref != nil {
		dataURL := "data:" + mediaType(ref) + ";base64," + base64.StdEncoding.EncodeToString(ref.Data)
		content = []contentPart{{Type: "image_url", ImageURL: &imageURL{URL: dataURL}}, textPart(prompt)}
	}
	model := m.InternalID
	if model == "" {
		model = m.ID
	}
	body := genBody{
		Type:               g.typ,
		CurrentQueryString: "type=" + g.typ,
		Messages:           []genMessage{{Role: "user", Content: content}},
		UserSInput:         prompt,
	}
	if g.kind == llm.KindVideo {
		duration := opts.Duration
		if duration <= 0 {
			duration = defaultVideoDuration
		}
		body.ExtraData = videoExtra{ModelConfigs: []videoConfig{{
			Model: model, AspectRatio: aspect, Duration: min(duration, maxVideoDuration),
			ReflectionEnabled: opts.AutoPrompt,
		}}}
	} else {
		body.ExtraData = imageExtra{LLMModel: "gpt-4o", ModelConfigs: []imageConfig{{
			Model: model, AspectRatio: aspect, Style: "auto",
			HD: opts.HighDefinition(), ReflectionEnabled: opts.AutoPrompt,
		}}}
	}
	client, err := p.cfg.Clients.Get(acct.Proxy)
	if err != nil {
		return nil, newErr(gw.CodeInternal, "Genspark account proxy is invalid", nil) // the URL may hold credentials
	}
	up := &upstream{p: p, client: client, cookie: cookie}
	sctx, cancel := context.WithCancel(ctx)
	var tasks, projects []string
	for range min(opts.Count(), MaxGenerations) {
		projectID, ids, err := up.startGeneration(sctx, body, g)
		if err != nil {
			cancel()
			// Jobs already started by this request produce files nobody
			// will see; their chats are deleted like a finished job's.
			p.deleteProjects(acct, cookie, projects)
			return nil, err
		}
		if projectID != "" {
			projects = append(projects, projectID)
		}
		tasks = append(tasks, ids...)
	}
	p.log.DebugContext(ctx, "generation started", "account", acct.String(), "kind", g.kind, "tasks", len(tasks))
	return &genStream{ctx: sctx, cancel: cancel, up: up, g: g, tasks: tasks, projectIDs: projects, acct: acct}, nil
}

// startGeneration sends one generation ask (with a fresh reCAPTCHA token)
// and returns its project id and task ids.
func (up *upstream) startGeneration(ctx context.Context, body genBody, g generation) (projectID string, tasks []string, err error) {
	if body.GRecaptchaToken, err = up.recaptchaToken(ctx); err != nil {
		return "", nil, err
	}
	resp, err := up.post(ctx, up.p.base+"/api/copilot/ask", "*/*", body)
	if err != nil {
		return "", nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxGenerationBody))
	resp.Body.Close()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return "", nil, ctxErr(cerr)
		}
		return "", nil, newErr(gw.CodeTransient, msgClosedEarly, err)
	}
	if sig := detectBody(raw); sig != nil {
		return "", nil, sig
	}
	projectID, tasks = taskIDs(raw, g.kind)
	if len(tasks) == 0 {
		// genspark2api: "No valid task IDs received"; its maintainer ties it
		// to a failed reCAPTCHA v3 check.
		return "", nil, newErr(gw.CodeUpstream, "Genspark started no "+g.noun+" generation task", excerptErr(raw))
	}
	return projectID, tasks, nil
}

// aspectRatio is the model_configs aspect_ratio of a job: the requested
// ratio, else the one of the requested OpenAI size, else auto for images
// and 16:9 for videos (which have no auto).
func aspectRatio(opts *llm.GenerationOptions, kind llm.ModelKind) (string, error) {
	ratio := strings.TrimSpace(opts.AspectRatio)
	if ratio == "" && strings.TrimSpace(opts.Size) != "" {
		r, ok := llm.AspectRatioForSize(opts.Size)
		if !ok {
			return "", &gw.Error{Code: gw.CodeInvalidRequest, Param: "size", Provider: Name,
				Message: "size `" + opts.Size + "` is not WIDTHxHEIGHT, auto, or an aspect ratio such as 16:9"}
		}
		ratio = r
	}
	if kind == llm.KindVideo && (ratio == "" || ratio == "auto") {
		return defaultVideoAspect, nil
	}
	if ratio == "" {
		return "auto", nil
	}
	return ratio, nil
}

// deleteProjects deletes the chats of generation jobs in the background
// when AutoDelete is on, except statically bound ones.
func (p *Provider) deleteProjects(acct *gw.Account, cookie string, projects []string) {
	if !p.cfg.AutoDelete {
		return
	}
	for _, id := range projects {
		if id != "" && !p.staticIDs[id] {
			p.deleteLater(acct, cookie, id)
		}
	}
}

// referenceImage returns the first inline image of the last user message.
func referenceImage(req *llm.Request) *llm.Media {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role != llm.RoleUser {
			continue
		}
		for _, part := range req.Messages[i].Parts {
			if part.Media != nil && len(part.Media.Data) > 0 && strings.HasPrefix(mediaType(part.Media), "image/") {
				return part.Media
			}
		}
		return nil
	}
	return nil
}

// taskIDs reads the project id and the task ids of a generation ask body
// (docs/genspark-upstream.md §2.6): the content string of the event that mentions task_id holds JSON
// with generated_images or generated_videos.
func taskIDs(body []byte, kind llm.ModelKind) (projectID string, ids []string) {
	for _, line := range bytes.Split(body, []byte("\n")) {
		ev, ok := DecodeEvent(line)
		if !ok {
			continue
		}
		if ev.Type == "project_start" && ev.ID != "" {
			projectID = ev.ID
		}
		if !strings.Contains(ev.Content, "task_id") {
			continue
		}
		var c struct {
			Images []struct {
				TaskID string `json:"task_id"`
			} `json:"generated_images"`
			Videos []struct {
				TaskID string `json:"task_id"`
			} `json:"generated_videos"`
		}
		if json.Unmarshal([]byte(ev.Content), &c) != nil {
			continue
		}
		list := c.Images
		if kind == llm.KindVideo {
			list = c.Videos
		}
		for _, t := range list {
			if t.TaskID != "" {
				ids = append(ids, t.TaskID)
			}
		}
	}
	return projectID, ids
}

// genStream waits for the tasks of one generation job and delivers the
// results.
type genStream struct {
	ctx        context.Context
	cancel     context.CancelFunc
	up         *upstream
	g          generation
	tasks      []string
	projectIDs []string
	acct       *gw.Account

	started bool
	queue   []llm.Event
	err     error
	closed  bool
}

// Recv implements llm.Stream.
func (s *genStream) Recv() (llm.Event, error) {
	if s.closed {
		return llm.Event{}, newErr(gw.CodeCanceled, "stream closed", nil)
	}
	if !s.started {
		s.started = true
		urls, err := s.wait()
		s.cancel()
		if err != nil {
			s.err = err
		} else {
			for _, u := range urls {
				s.queue = append(s.queue, llm.Event{Type: llm.EventImage, Media: &llm.Media{URL: u, MIMEType: mimeFromURL(u, s.g.kind)}})
			}
			s.queue = append(s.queue, llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop})
			s.err = io.EOF
			s.up.p.deleteProjects(s.acct, s.up.cookie, s.projectIDs)
		}
	}
	if len(s.queue) > 0 {
		ev := s.queue[0]
		s.queue = s.queue[1:]
		return ev, nil
	}
	return llm.Event{}, s.err
}

var _ llm.BufferedStream = (*genStream)(nil)

// Buffered implements llm.BufferedStream: true while results of the
// finished job are queued.
func (s *genStream) Buffered() bool { return !s.closed && len(s.queue) > 0 }

// Close implements llm.Stream.
func (s *genStream) Close() error {
	s.closed = true
	s.cancel()
	return nil
}

// wait reads the task-status stream (docs/genspark-upstream.md §1.6) until TASKS_STATUS_COMPLETE and
// returns the first URL of every successful task.
func (s *genStream) wait() ([]string, error) {
	resp, err := s.up.post(s.ctx, s.g.statusURL, "*/*", map[string][]string{"task_ids": s.tasks})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), s.up.p.cfg.MaxLineBytes)
	for sc.Scan() {
		payload, _ := cutData(bytes.TrimSpace(sc.Bytes()))
		if len(payload) == 0 {
			continue
		}
		ev, ok := DecodeEvent(payload)
		if !ok {
			if sig := detectBody(payload); sig != nil {
				return nil, sig
			}
			continue
		}
		if sig := detectJSON(&ev, false); sig != nil {
			return nil, sig
		}
		if ev.Type != "TASKS_STATUS_COMPLETE" {
			continue
		}
		urls := completedURLs(&ev, s.tasks, s.g.kind)
		if len(urls) == 0 {
			return nil, newErr(gw.CodeUpstream, "Genspark "+s.g.noun+" generation failed", nil)
		}
		return urls, nil
	}
	if cerr := s.ctx.Err(); cerr != nil {
		return nil, ctxErr(cerr)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, newErr(gw.CodeUpstream, "Genspark sent a task status line that is too long", nil)
	} else if err != nil {
		return nil, newErr(gw.CodeTransient, "Genspark closed the task status stream before the "+s.g.noun+" was ready", err)
	}
	return nil, newErr(gw.CodeTransient, "Genspark closed the task status stream before the "+s.g.noun+" was ready", nil)
}

// completedURLs picks, for each requested task with status SUCCESS, the
// first of its image_urls or video_urls.
func completedURLs(ev *UpstreamEvent, tasks []string, kind llm.ModelKind) []string {
	final := objectFields(ev.Fields["final_status"])
	key := "image_urls"
	if kind == llm.KindVideo {
		key = "video_urls"
	}
	var out []string
	for _, id := range tasks {
		st := objectFields(final[id])
		if status, _ := jsonString(st["status"]); status != "SUCCESS" {
			continue
		}
		var urls []json.RawMessage
		if json.Unmarshal(st[key], &urls) != nil || len(urls) == 0 {
			continue
		}
		if u, ok := jsonString(urls[0]); ok && u != "" {
			out = append(out, u)
		}
	}
	return out
}

// mimeFromURL guesses a generated file's type from its URL path.
func mimeFromURL(raw string, kind llm.ModelKind) string {
	if u, err := url.Parse(raw); err == nil {
		if t := mime.TypeByExtension(path.Ext(u.Path)); t != "" {
			return t
		}
	}
	if kind == llm.KindVideo {
		return "video/mp4"
	}
	return ""
}
