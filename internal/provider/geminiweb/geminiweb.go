// Package geminiweb is spark's provider for the Gemini web app
// (gemini.google.com): it drives the app's own StreamGenerate endpoint with a
// signed-in account cookie and turns its cumulative snapshots into llm
// events. It is written from docs/gemini-web-upstream.md (section
// numbers below refer to it).
//
// One exchange:
//
//  1. Session (docs/gemini-web-upstream.md §1.2): GET {BaseURL}/app is scraped for SNlM0e (the `at`
//     token), cfb2h (`bl`), FdrFJe (`f.sid`), TuX5cc (language) and qKIAYe
//     (upload channel), cached per account. The anonymous page (no SNlM0e)
//     means the cookie is signed out: gw.CodeLoggedOut.
//  2. Cookies (docs/gemini-web-upstream.md §1.1, §1.4): each account keeps a jar in memory into which
//     every Set-Cookie is merged (SIDCC family, rotated PSIDTS).
//     __Secure-1PSIDTS is rotated through {AccountsURL}/RotateCookies every
//     Config.RotateEvery, lazily before a Chat or from RotateDue; a new value
//     is handed to Config.Cookies so a restart keeps it.
//  3. Models (docs/gemini-web-upstream.md §6): the static table of the catalog (catalog.json)
//     plus each account's live list (otAQ7b), cached Config.ModelCacheTTL.
//  4. Files (docs/gemini-web-upstream.md §5) are uploaded to {UploadURL}/upload and referenced in the
//     request.
//  5. StreamGenerate (docs/gemini-web-upstream.md §2) with the G3 model header and inner array; the
//     conversation is flattened into one prompt (or continued in its
//     upstream chat with Config.ContinueChats).
//  6. The answer (docs/gemini-web-upstream.md §3) is read frame by frame; snapshots become deltas (see
//     Differ); thoughts become reasoning deltas; images become image events;
//     the served model ([39]/[42]) is checked against the requested one.
//
// Errors are *gw.Error with Provider "geminiweb"; messages never contain
// cookies, tokens or prompts. spark forges no anti-bot attestation, device
// binding or TLS fingerprint: when the upstream demands one the request
// fails with gw.CodeAttestation.
package geminiweb

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider"
)

// Name is the provider's registry name.
const Name = "geminiweb"

// Defaults of Config.
const (
	DefaultBaseURL       = "https://gemini.google.com"
	DefaultUploadURL     = "https://content-push.googleapis.com"
	DefaultAccountsURL   = "https://accounts.google.com"
	DefaultRotateEvery   = 10 * time.Minute
	RotateFloor          = 60 * time.Second
	DefaultModelCacheTTL = time.Hour
	DefaultSessionTTL    = time.Hour
	DefaultIdleTimeout   = 2 * time.Minute
	DefaultCallTimeout   = 30 * time.Second
	DefaultUploadTimeout = 2 * time.Minute
	DefaultDeleteTimeout = 30 * time.Second
	DefaultSaveTimeout   = 10 * time.Second
	DefaultBindingsLimit = 10000
	// DefaultUserAgent is a plain desktop Chrome User-Agent.
	DefaultUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/145.0.0.0 Safari/537.36"
)

// CookieSaver persists an account's rotated cookie (implemented by the
// account store). Implementations must be safe for concurrent use.
type CookieSaver interface {
	SaveCookie(ctx context.Context, accountID, cookie string) error
}

// MismatchEvent describes a served model that differs from the requested
// one.
type MismatchEvent struct {
	AccountID string
	Requested string // requested model (slug) and its hex
	Served    string // served model name and hex as the upstream reported them
	Generic   bool   // the client asked for a generic alias (gpt-4o, ...)
	Failed    bool   // the request failed with gw.CodeModelMismatch
}

// Config configures a Provider.
type Config struct {
	// BaseURL is the Gemini web app (GEMINI_BASE_URL).
	BaseURL string
	// UploadURL is the upload service (GEMINI_UPLOAD_URL).
	UploadURL string
	// AccountsURL is Google accounts, for cookie rotation (GOOGLE_ACCOUNTS_URL).
	AccountsURL string
	// Clients hands out the pooled HTTP client of an account's proxy; nil
	// means direct connections.
	Clients *httpx.Clients
	// Logger receives operational logs; nil discards. Cookies, tokens and
	// prompts are never logged.
	Logger *slog.Logger
	// Catalog is the static model table; nil means the built-in one.
	Catalog *catalog.Catalog
	// Cookies persists rotated cookies; nil keeps them in memory only.
	Cookies CookieSaver
	// AutoDelete deletes the upstream chat after a completed answer
	// (AUTO_DEL_CHAT), in the background.
	AutoDelete bool
	// ContinueChats continues the upstream chat when a request's history
	// is exactly an earlier exchange of the same account, client key and
	// model family, sending only the new turn (ignored with AutoDelete).
	ContinueChats bool
	// RotateEvery is the __Secure-1PSIDTS rotation interval per account
	// (default 10 min, at least 60 s).
	RotateEvery time.Duration
	// Claim, when set, is asked before each rotation whether this
	// process is the one to rotate the account (job) in the coming period;
	// a process that is not leaves it to the one that is and receives its
	// cookie through the store. Several replicas set it so one account
	// is not rotated by two at once (each would end with a different
	// value); nil: always.
	Claim func(ctx context.Context, job string, period time.Duration) bool
	// ModelCacheTTL is how long an account's discovered model list is used
	// (default 1 h).
	ModelCacheTTL time.Duration
	// SessionTTL is how long a scraped app page is used (default 1 h).
	SessionTTL time.Duration
	// IdleTimeout fails a stream that sends nothing for this long
	// (default 2 min).
	IdleTimeout time.Duration
	// CallTimeout bounds the page scrape, rpcs and rotation (default 30 s).
	CallTimeout time.Duration
	// UploadTimeout bounds one upload (default 2 min).
	UploadTimeout time.Duration
	// DeleteTimeout bounds one background chat deletion (default 30 s).
	DeleteTimeout time.Duration
	// SaveTimeout bounds one CookieSaver call (default 10 s).
	SaveTimeout time.Duration
	// MaxFrameBytes bounds one response frame (default DefaultMaxFrame).
	MaxFrameBytes int
	// UserAgent overrides DefaultUserAgent.
	UserAgent string
	// OnMismatch, when set, is called for every served-model mismatch (a
	// metrics hook); it must not block.
	OnMismatch func(MismatchEvent)
	// Now is the clock of rotation and cache schedules; nil is time.Now.
	Now func() time.Time
}

// Stats are the provider's counters.
type Stats struct {
	ModelMismatches uint64 // served model differed from the requested one
	Retractions     uint64 // snapshots that rewrote text already sent
	Rotations       uint64 // successful __Secure-1PSIDTS rotations
	ChatsDeleted    uint64 // upstream chats deleted (AUTO_DEL_CHAT)
}

// Provider serves chat requests through the Gemini web app. It is safe for
// concurrent use.
type Provider struct {
	cfg            Config
	log            *slog.Logger
	base           string // BaseURL without trailing slash
	origin         string // scheme://host of BaseURL
	uploadURL      string
	accounts       string // AccountsURL without trailing slash
	accountsOrigin string
	static         staticTable
	reqID          atomic.Int64

	mu         sync.Mutex
	states     map[string]*account
	discovered []model     // union of every account's discovery, first seen first
	index      *modelIndex // static + discovered
	bindings   map[[32]byte]*list.Element
	bindOrder  *list.List // of *bindingEntry, most recent first

	mismatches  atomic.Uint64
	retractions atomic.Uint64
	rotations   atomic.Uint64
	deleted     atomic.Uint64

	bgMu   sync.Mutex
	bg     sync.WaitGroup
	closed bool
}

var _ provider.Provider = (*Provider)(nil)

type bindingEntry struct {
	key  [32]byte
	meta chatMeta
}

// New returns a Provider for cfg.
func New(cfg Config) (*Provider, error) {
	p := &Provider{cfg: cfg, log: cfg.Logger, states: map[string]*account{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("provider", Name)
	var err error
	if p.base, p.origin, err = parseBase("base URL", cfg.BaseURL, DefaultBaseURL); err != nil {
		return nil, err
	}
	if p.uploadURL, _, err = parseBase("upload URL", cfg.UploadURL, DefaultUploadURL); err != nil {
		return nil, err
	}
	if p.accounts, p.accountsOrigin, err = parseBase("accounts URL", cfg.AccountsURL, DefaultAccountsURL); err != nil {
		return nil, err
	}
	if p.cfg.Clients == nil {
		if p.cfg.Clients, err = httpx.NewClients(""); err != nil {
			return nil, fmt.Errorf("geminiweb: %w", err)
		}
	}
	cat := cfg.Catalog
	if cat == nil {
		if cat, err = DefaultCatalog(); err != nil {
			return nil, fmt.Errorf("geminiweb: %w", err)
		}
	}
	if cat.Provider() != Name {
		return nil, fmt.Errorf("geminiweb: catalog is for provider %q", cat.Provider())
	}
	p.static = loadStatic(cat, p.log)
	p.index = buildIndex(p.static, nil, p.log)
	if len(p.index.models) == 0 {
		return nil, fmt.Errorf("geminiweb: the model catalog (%s) has no usable model", cat.Source())
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.cfg.RotateEvery, DefaultRotateEvery)
	p.cfg.RotateEvery = max(p.cfg.RotateEvery, RotateFloor)
	def(&p.cfg.ModelCacheTTL, DefaultModelCacheTTL)
	def(&p.cfg.SessionTTL, DefaultSessionTTL)
	def(&p.cfg.IdleTimeout, DefaultIdleTimeout)
	def(&p.cfg.CallTimeout, DefaultCallTimeout)
	def(&p.cfg.UploadTimeout, DefaultUploadTimeout)
	def(&p.cfg.DeleteTimeout, DefaultDeleteTimeout)
	def(&p.cfg.SaveTimeout, DefaultSaveTimeout)
	if p.cfg.MaxFrameBytes <= 0 {
		p.cfg.MaxFrameBytes = DefaultMaxFrame
	}
	if p.cfg.UserAgent == "" {
		p.cfg.UserAgent = DefaultUserAgent
	}
	if p.cfg.Now == nil {
		p.cfg.Now = time.Now
	}
	if p.cfg.AutoDelete {
		p.cfg.ContinueChats = false // deleted chats cannot be continued
	}
	p.bindings = map[[32]byte]*list.Element{}
	p.bindOrder = list.New()
	// _reqid: random 5-digit start, +100000 per request (HanaokaYuzu, docs/gemini-web-upstream.md §2.1).
	p.reqID.Store(int64(10000 + rand.IntN(90000)))
	return p, nil
}

// parseBase validates an absolute http(s) URL (def when empty) and returns
// it without trailing slash, and its origin.
func parseBase(what, raw, def string) (string, string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("geminiweb: %s %q: want an absolute http(s) URL", what, raw)
	}
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimRight(u.String(), "/"), u.Scheme + "://" + u.Host, nil
}

func (p *Provider) now() time.Time { return p.cfg.Now() }

func (p *Provider) nextReqID() int64 { return p.reqID.Add(100000) }

// Name implements provider.Provider.
func (p *Provider) Name() string { return Name }

// Models implements provider.Provider: the static table and every model
// discovered on any account so far (aliases are resolved, not listed).
func (p *Provider) Models(context.Context) []llm.ModelInfo {
	return p.idx().list()
}

// Resolve implements provider.Provider. It accepts a model's slug
// (gemini-3-flash), display name ("3 Flash", case-insensitive), internal
// hex id, or a static alias of the catalog (gpt-4o, ...).
func (p *Provider) Resolve(name string) (provider.Match, bool) {
	m, _, ok := p.idx().resolve(name)
	if !ok {
		return provider.Match{}, false
	}
	return provider.Match{Model: m.info}, true
}

func (p *Provider) idx() *modelIndex {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.index
}

// addDiscovered merges an account's discovered models into the index.
func (p *Provider) addDiscovered(ms []model) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := false
	for _, m := range ms {
		i := -1
		for j, d := range p.discovered {
			if d.info.ID == m.info.ID {
				i = j
				break
			}
		}
		if i < 0 {
			p.discovered = append(p.discovered, m)
			changed = true
			continue
		}
		for _, h := range m.hexes {
			if !containsStr(p.discovered[i].hexes, h) {
				p.discovered[i].hexes = append(p.discovered[i].hexes, h)
				changed = true
			}
		}
	}
	if changed {
		p.index = buildIndex(p.static, p.discovered, p.log)
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Stats returns the provider's counters.
func (p *Provider) Stats() Stats {
	return Stats{
		ModelMismatches: p.mismatches.Load(),
		Retractions:     p.retractions.Load(),
		Rotations:       p.rotations.Load(),
		ChatsDeleted:    p.deleted.Load(),
	}
}

// Wait blocks until background work (chat deletions) has finished.
func (p *Provider) Wait() { p.bg.Wait() }

// Close stops accepting background work and waits for what is running.
func (p *Provider) Close() error {
	p.bgMu.Lock()
	p.closed = true
	p.bgMu.Unlock()
	p.bg.Wait()
	return nil
}

// goBackground runs f in a tracked goroutine unless the provider is closed.
func (p *Provider) goBackground(f func()) bool {
	p.bgMu.Lock()
	defer p.bgMu.Unlock()
	if p.closed {
		return false
	}
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		f()
	}()
	return true
}

// ---- bindings ----

func (p *Provider) lookupBinding(k [32]byte) (chatMeta, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.bindings[k]
	if !ok {
		return chatMeta{}, false
	}
	p.bindOrder.MoveToFront(el)
	return el.Value.(*bindingEntry).meta, true
}

func (p *Provider) storeBinding(k [32]byte, m chatMeta) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.bindings[k]; ok {
		el.Value.(*bindingEntry).meta = m
		p.bindOrder.MoveToFront(el)
		return
	}
	p.bindings[k] = p.bindOrder.PushFront(&bindingEntry{key: k, meta: m})
	for p.bindOrder.Len() > DefaultBindingsLimit {
		old := p.bindOrder.Back()
		p.bindOrder.Remove(old)
		delete(p.bindings, old.Value.(*bindingEntry).key)
	}
}

func (p *Provider) dropBinding(k [32]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.bindings[k]; ok {
		p.bindOrder.Remove(el)
		delete(p.bindings, k)
	}
}

// deleteChat deletes an upstream chat (GzXR5e) in the background.
func (p *Provider) deleteChat(acct gw.Account, st *account, s *session, cid string) {
	p.goBackground(func() {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DeleteTimeout)
		defer cancel()
		payload, _ := marshalNoEscape([]any{cid})
		if _, err := p.batch(ctx, &acct, st, s, "GzXR5e", payload); err != nil {
			p.log.Warn("deleting the upstream chat failed", "account", acct.ID, "err", err)
			return
		}
		p.deleted.Add(1)
	})
}

// Serves reports whether the account can serve the model name: false only
// when the account's discovered model list is known and holds no model of
// that family (a free account asked for a paid-only model). The account
// pool calls it to pick candidates, so it never does I/O.
func (p *Provider) Serves(accountID, name string) bool {
	m, _, ok := p.idx().resolve(name)
	if !ok || m.family == "" {
		return true
	}
	p.mu.Lock()
	st := p.states[accountID]
	p.mu.Unlock()
	if st == nil {
		return true
	}
	st.mu.Lock()
	am := st.models
	st.mu.Unlock()
	if am == nil || len(am.models) == 0 {
		return true
	}
	for _, own := range am.models {
		if own.family == m.family {
			return true
		}
	}
	return false
}
