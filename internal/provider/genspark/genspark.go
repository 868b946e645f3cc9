// Package genspark is spark's provider for Genspark (www.genspark.ai): it
// drives the web app's own ask endpoint with a logged-in account cookie and
// turns its event stream into llm events.
//
// Protocol (docs/genspark-upstream.md §1–§6): POST
// {BaseURL}/api/copilot/ask with a COPILOT_MOA_CHAT body, answered by an
// SSE-like stream of `data: <json>` lines (project_start, message_field,
// message_field_delta, message_result). Failure signals (rate limit, free
// quota, logged out, Cloudflare challenge or block, service unavailable,
// overload) arrive as whole bodies, as single lines or as a message_result;
// they become *gw.Error values with the matching gw.Code so the account pool
// can rest the account and fail over.
//
// What spark does differently from deanxv/genspark2api, on purpose:
//   - the whole conversation is sent, system messages included; genspark2api
//     cuts a new chat to the last user message, silently dropping context;
//   - the stream is always read incrementally with a bounded line reader
//     (16 MiB; longer lines are an error, not a silent stop), and JSON is
//     decoded tolerantly (key order, spacing, extra keys and odd field types
//     never abort a stream);
//   - failure signals are recognised by meaning, also inside the stream and
//     in multi-line HTML pages, not by byte-exact strings that went stale;
//   - a stream that ends before message_result, or a message_result without
//     any answer, is an error instead of an empty success;
//   - the reCAPTCHA token comes only from RECAPTCHA_PROXY_URL; if that
//     service fails the request fails (genspark2api posted the body `null`);
//   - file uploads check the PUT status; images keep their real MIME type;
//   - automatic chat bindings are scoped to (account, model, client key),
//     never shared between API keys, and never overwritten with an empty id;
//   - the -search variant shares the binding of its base model (genspark2api
//     looked bindings up with the suffix but stored them without);
//   - a message_field whose field_value holds the whole text so far emits
//     only the part not yet streamed, so snapshots never duplicate text;
//   - image and video jobs stop reading the task-status stream at
//     TASKS_STATUS_COMPLETE instead of waiting for the server to close it,
//     and answer with llm.EventImage events rather than Markdown text;
//   - HTTP goes through pooled keep-alive clients; no TLS fingerprint is
//     spoofed and no anti-bot token is forged.
package genspark

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider"
)

// Name is the provider's registry name.
const Name = "genspark"

// DefaultUserAgent is the User-Agent sent upstream when Config.UserAgent is
// empty: a plain desktop browser string.
const DefaultUserAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"

// DefaultMaxLineBytes bounds one line of the upstream stream.
const DefaultMaxLineBytes = 16 << 20

// Default bounds of the background and helper calls.
const (
	DefaultDeleteTimeout    = 30 * time.Second
	DefaultRecaptchaTimeout = 60 * time.Second
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultBindingsLimit    = 10000
)

// QuotaRetryAfter is how long an account rests after Genspark's daily free
// quota message.
const QuotaRetryAfter = 24 * time.Hour

// Config configures a Provider.
type Config struct {
	// BaseURL is the Genspark upstream (GENSPARK_BASE_URL), e.g.
	// https://www.genspark.ai. Required.
	BaseURL string
	// Clients hands out the pooled HTTP client of an account's proxy; nil
	// means direct connections.
	Clients *httpx.Clients
	// Logger receives operational logs; nil discards. Cookies, tokens and
	// prompts are never logged.
	Logger *slog.Logger
	// Catalog is the Genspark model catalog; nil means the built-in one.
	Catalog *catalog.Catalog
	// RecaptchaURL is the reCAPTCHA token service (RECAPTCHA_PROXY_URL);
	// empty disables tokens. A value without scheme means http://.
	RecaptchaURL string
	// ModelChatMap binds client model names to fixed upstream chat ids
	// (MODEL_CHAT_MAP), for every account.
	ModelChatMap map[string]string
	// AutoBind continues one upstream chat per (account, model, client key)
	// (AUTO_MODEL_CHAT_MAP_TYPE=1).
	AutoBind bool
	// AutoDelete deletes unbound upstream chats after the answer
	// (AUTO_DEL_CHAT=1).
	AutoDelete bool
	// Bindings stores automatic bindings; nil means an in-memory store of
	// DefaultBindingsLimit entries.
	Bindings Bindings
	// Debug logs one line per upstream event (type, field name, sizes; never
	// text) at debug level.
	Debug bool
	// UserAgent overrides DefaultUserAgent.
	UserAgent string
	// MaxLineBytes overrides DefaultMaxLineBytes.
	MaxLineBytes int
	// DeleteTimeout bounds one background chat deletion.
	DeleteTimeout time.Duration
	// RecaptchaTimeout bounds one token service call.
	RecaptchaTimeout time.Duration
	// IdleTimeout fails an answer stream that delivers no line for this
	// long (UPSTREAM_IDLE_TIMEOUT; default DefaultIdleTimeout).
	IdleTimeout time.Duration
}

// Provider serves chat requests through Genspark. It is safe for concurrent
// use.
type Provider struct {
	cfg       Config
	log       *slog.Logger
	cat       *catalog.Catalog
	bindings  Bindings
	origin    string // scheme://host of BaseURL
	base      string // BaseURL without trailing slash
	recaptcha string // token endpoint, "" when disabled
	rcClient  *http.Client
	staticIDs map[string]bool
	bg        sync.WaitGroup
}

var _ provider.Provider = (*Provider)(nil)

// New returns a Provider for cfg.
func New(cfg Config) (*Provider, error) {
	p := &Provider{cfg: cfg, log: cfg.Logger, cat: cfg.Catalog, bindings: cfg.Bindings}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("provider", Name)
	u, err := url.Parse(strings.TrimSpace(cfg.BaseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("genspark: base URL %q: want an absolute http(s) URL", cfg.BaseURL)
	}
	p.origin = u.Scheme + "://" + u.Host
	p.base = strings.TrimRight(u.String(), "/")
	if p.cfg.Clients == nil {
		if p.cfg.Clients, err = httpx.NewClients(""); err != nil {
			return nil, fmt.Errorf("genspark: %w", err)
		}
	}
	if p.cat == nil {
		if p.cat, err = DefaultCatalog(); err != nil {
			return nil, fmt.Errorf("genspark: %w", err)
		}
	}
	if p.cat.Provider() != Name {
		return nil, fmt.Errorf("genspark: catalog is for provider %q", p.cat.Provider())
	}
	if p.cfg.UserAgent == "" {
		p.cfg.UserAgent = DefaultUserAgent
	}
	if p.cfg.MaxLineBytes <= 0 {
		p.cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if p.cfg.DeleteTimeout <= 0 {
		p.cfg.DeleteTimeout = DefaultDeleteTimeout
	}
	if p.cfg.RecaptchaTimeout <= 0 {
		p.cfg.RecaptchaTimeout = DefaultRecaptchaTimeout
	}
	if p.cfg.IdleTimeout <= 0 {
		p.cfg.IdleTimeout = DefaultIdleTimeout
	}
	if p.bindings == nil && cfg.AutoBind {
		p.bindings = NewMemoryBindings(DefaultBindingsLimit)
	}
	p.staticIDs = map[string]bool{}
	for model, id := range cfg.ModelChatMap {
		if strings.TrimSpace(model) == "" || strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("genspark: model chat map: empty model or chat id in %q=%q", model, id)
		}
		p.staticIDs[id] = true
		if _, ok := p.cat.Lookup(model); !ok {
			p.log.Warn("model chat map names a model outside the catalog", "model", model)
		}
	}
	if err := p.initRecaptcha(cfg.RecaptchaURL); err != nil {
		return nil, err
	}
	return p, nil
}

// Name returns "genspark".
func (p *Provider) Name() string { return Name }

// Models lists the catalog (chat, image and video models). The -search
// variants are not listed; they resolve anyway.
func (p *Provider) Models(context.Context) []llm.ModelInfo { return p.cat.All() }

// Resolve reports how Genspark serves model: catalog chat models (with or
// without the -search suffix) and image and video models are exact matches;
// any other name is served by Mixture-of-Agents as a fallback, unless the
// catalog's MoA list is empty.
func (p *Provider) Resolve(model string) (provider.Match, bool) {
	if strings.TrimSpace(model) == "" {
		return provider.Match{}, false
	}
	if m, ok := p.cat.Lookup(model); ok && (m.Kind == llm.KindImage || m.Kind == llm.KindVideo) {
		return provider.Match{Model: m}, true
	}
	r := p.route(model)
	if r.entry != nil {
		return provider.Match{Model: *r.entry}, true
	}
	if len(r.models) == 0 {
		return provider.Match{}, false
	}
	return mixtureOfAgents(model, r.models), true
}

// MixtureOfAgentsID is the id answers served by the Mixture-of-Agents
// catch-all report as their model (provider.Match.Echo), instead of the
// name the client sent.
const MixtureOfAgentsID = "mixture-of-agents"

// mixtureOfAgents is the catch-all match of a model name no catalog entry
// has: Genspark's Mixture-of-Agents over models.
func mixtureOfAgents(model string, models []string) provider.Match {
	return provider.Match{Fallback: true, CatchAllID: MixtureOfAgentsID, Model: llm.ModelInfo{
		ID:          model,
		DisplayName: "Mixture-of-Agents",
		InternalID:  strings.Join(models, ","),
		Description: "Genspark Mixture-of-Agents (" + strings.Join(models, ", ") + ")",
		OwnedBy:     Name,
		Kind:        llm.KindChat,
	}}
}

// Wait blocks until background work (chat deletions) has finished. Call it
// once no Chat call is in flight any more (tests, shutdown).
func (p *Provider) Wait() { p.bg.Wait() }

// Close waits for background work and releases nothing else; it exists so
// the provider can be shut down like other resources.
func (p *Provider) Close() error {
	p.Wait()
	return nil
}

// route is how one client model name is sent upstream.
type route struct {
	base   string         // client name without -search: the binding key
	search bool           // request_web_knowledge
	models []string       // extra_data.models
	entry  *llm.ModelInfo // catalog entry, nil for Mixture-of-Agents
}

// route applies docs/genspark-upstream.md §4.4, §4.5 and §5: strip -search (first occurrence, when
// the name ends with it), rewrite deepseek… to deep-seek…, send a catalog
// model as itself (or its internal id) and anything else as the MoA list.
func (p *Provider) route(model string) route {
	r := route{base: model}
	if strings.HasSuffix(model, "-search") {
		r.base = strings.Replace(model, "-search", "", 1)
		r.search = true
	}
	for _, name := range []string{r.base, upstreamName(r.base)} {
		if m, ok := p.cat.Chat(name); ok {
			r.entry = &m
			id := m.InternalID
			if id == "" {
				id = upstreamName(m.ID)
			}
			r.models = []string{id}
			return r
		}
	}
	r.models = p.cat.MoA()
	return r
}

// upstreamName applies Genspark's one chat alias: deepseek… → deep-seek….
func upstreamName(model string) string {
	if rest, ok := strings.CutPrefix(model, "deepseek"); ok {
		return "deep-seek" + rest
	}
	return model
}

// Chat starts one upstream exchange for req with acct. Failures known
// before the answer starts (HTTP status, upload, token service) are returned
// here; signals inside a 2xx body surface from the stream's first Recv.
// For a catalog image or video model Chat runs a generation job instead
// (docs/genspark-upstream.md §4.3): the last user message is the prompt and the answer is one
// EventImage per generated file (URL; video files too, with a video MIME
// type); req.Generation (n, aspect ratio or size, quality, duration,
// auto prompt) shapes the job.
func (p *Provider) Chat(ctx context.Context, acct *gw.Account, req *llm.Request) (llm.Stream, error) {
	if acct == nil {
		return nil, newErr(gw.CodeInternal, "no account given", nil)
	}
	if req == nil || strings.TrimSpace(req.Model) == "" {
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: "you must provide a model parameter", Param: "model", Provider: Name}
	}
	cookie := cookieHeader(acct.Cookie)
	if cookie == "" {
		return nil, newErr(gw.CodeLoggedOut, "Genspark account has no cookie", nil)
	}
	if m, ok := p.cat.Lookup(req.Model); ok && (m.Kind == llm.KindImage || m.Kind == llm.KindVideo) {
		return p.generate(ctx, acct, cookie, req, m)
	}
	r := p.route(req.Model)
	if len(r.models) == 0 {
		return nil, &gw.Error{Code: gw.CodeModelNotFound, Message: "The model `" + req.Model + "` is not served by Genspark (Mixture-of-Agents fallback disabled)", Param: "model", Provider: Name}
	}
	client, err := p.cfg.Clients.Get(acct.Proxy)
	if err != nil {
		return nil, newErr(gw.CodeInternal, "Genspark account proxy is invalid", nil) // the URL may hold credentials
	}
	up := &upstream{p: p, client: client, cookie: cookie}

	key := BindingKey{AccountID: acct.ID, Model: r.base, ClientKey: req.ClientKey}
	chatID, bound := p.boundChat(ctx, req.Model, r.base, key)

	msgs, err := up.messages(ctx, req.Messages)
	if err != nil {
		return nil, err
	}
	token, err := up.recaptchaToken(ctx)
	if err != nil {
		return nil, err
	}
	body := askBody{
		Type:               typeChat,
		CurrentQueryString: queryString(chatID, typeChat),
		Messages:           msgs,
		ActionParams:       struct{}{},
		ExtraData: askExtra{
			Models:              r.models,
			RequestWebKnowledge: r.search,
		},
		GRecaptchaToken: token,
	}
	sctx, cancel := context.WithCancel(ctx)
	resp, err := up.post(sctx, p.base+"/api/copilot/ask", "text/event-stream", body)
	if err != nil {
		cancel()
		return nil, err
	}
	if p.log.Enabled(ctx, slog.LevelDebug) { // acct.String() costs even when discarded
		p.log.DebugContext(ctx, "ask started", "account", acct.String(), "models", r.models,
			"search", r.search, "continued", chatID != "", "messages", len(msgs))
	}

	onDone := func(projectID string) {
		p.afterAnswer(ctx, acct, cookie, key, chatID, bound, projectID)
	}
	return newStream(sctx, resp.Body, cancel, p.parseOptions(), onDone), nil
}

// boundChat returns the upstream chat to continue: the static map first
// (exact client name, then without -search), then the automatic binding.
// bound reports an automatic binding.
func (p *Provider) boundChat(ctx context.Context, model, base string, key BindingKey) (chatID string, bound bool) {
	if id, ok := p.cfg.ModelChatMap[model]; ok {
		return id, false
	}
	if id, ok := p.cfg.ModelChatMap[base]; ok {
		return id, false
	}
	if !p.cfg.AutoBind || p.bindings == nil {
		return "", false
	}
	id, ok, err := p.bindings.Get(ctx, key)
	if err != nil {
		p.log.WarnContext(ctx, "chat binding lookup failed; starting a new chat", "err", err)
		return "", false
	}
	if !ok || id == "" {
		return "", false
	}
	return id, true
}

// afterAnswer runs once after a complete answer. usedID is the chat that
// was continued ("" for a new one) and auto reports that it came from an
// automatic binding (else from the static map). It stores the automatic
// binding and deletes the chat when AutoDelete is on and the chat is bound
// neither statically nor automatically.
func (p *Provider) afterAnswer(ctx context.Context, acct *gw.Account, cookie string, key BindingKey, usedID string, auto bool, projectID string) {
	if projectID == "" {
		return
	}
	static := usedID != "" && !auto
	isBound := p.staticIDs[projectID] || (auto && projectID == usedID)
	if p.cfg.AutoBind && p.bindings != nil && !static && !isBound {
		if err := p.bindings.Set(ctx, key, projectID); err != nil {
			p.log.WarnContext(ctx, "storing chat binding failed", "err", err)
		} else {
			isBound = true
		}
	}
	if p.cfg.AutoDelete && !isBound {
		p.deleteLater(acct, cookie, projectID)
	}
}

// deleteLater deletes an upstream project in the background (docs/genspark-upstream.md §1.7),
// detached from the client's context and bounded by DeleteTimeout.
func (p *Provider) deleteLater(acct *gw.Account, cookie, projectID string) {
	client, err := p.cfg.Clients.Get(acct.Proxy)
	if err != nil {
		p.log.Warn("chat deletion skipped: invalid proxy", "account", acct.String())
		return
	}
	label := acct.String()
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DeleteTimeout)
		defer cancel()
		up := &upstream{p: p, client: client, cookie: cookie}
		if err := up.deleteProject(ctx, projectID); err != nil {
			p.log.Warn("deleting Genspark chat failed", "account", label, "err", err)
			return
		}
		p.log.Debug("deleted Genspark chat", "account", label)
	}()
}

func (p *Provider) parseOptions() ParseOptions {
	return ParseOptions{MaxLineBytes: p.cfg.MaxLineBytes, Logger: p.log, Debug: p.cfg.Debug, IdleTimeout: p.cfg.IdleTimeout}
}

// newErr builds an error of this provider.
func newErr(code gw.Code, msg string, cause error) *gw.Error {
	return &gw.Error{Code: code, Message: msg, Provider: Name, Cause: cause}
}

// ctxErr turns a context failure into the matching provider error.
func ctxErr(err error) *gw.Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return newErr(gw.CodeUpstreamTimeout, "Genspark timed out", err)
	}
	return newErr(gw.CodeCanceled, "request canceled by the client", err)
}

// cookieHeader returns the Cookie header for an account entry, normalised
// by Credential (a bare session id gets its name,
// docs/genspark-upstream.md §1.1); an entry that does not have the shape
// is sent trimmed, for the upstream to refuse.
func cookieHeader(c string) string {
	if n, err := Credential.Normalize(c); err == nil {
		return n
	}
	return strings.TrimSpace(c)
}
