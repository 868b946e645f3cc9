// Package provider defines the one interface every upstream implements and
// the registry that resolves a client's model name to the provider serving
// it. Providers consume and produce only llm types and report failures as
// *gw.Error with upstream codes (rate-limited, logged out, ...), which the
// account pool turns into rest periods and failover.
//
// Each upstream is a plug-in: its package exports a Plugin that declares
// everything the rest of spark needs (name, accounts variable, credential
// rule, model catalog, media hosts, doctor, demo wiring), and the app keeps
// the one list of plugins (internal/app/providers.go). Adding an upstream
// is a new package here, its simulator, one entry in that list and its
// variables in config; nothing else names it (internal/archtest checks).
// ARCHITECTURE.md, "A provider", lists the files.
package provider

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// Provider is an upstream that answers chat requests with one account.
//
// Chat starts one upstream exchange. Errors known before the first event
// (bad cookie, limit, challenge) are returned by Chat or by the stream's
// first Recv as *gw.Error; the caller may then retry on another account.
// Cancelling ctx cancels the upstream request. Implementations are safe for
// concurrent use.
type Provider interface {
	// Name is the provider's registry name ("genspark", "geminiweb").
	Name() string
	// Models lists the models the provider serves, for /v1/models.
	Models(ctx context.Context) []llm.ModelInfo
	// Resolve reports how the provider serves a client model name.
	Resolve(model string) (Match, bool)
	// Chat starts an exchange for req with account acct.
	Chat(ctx context.Context, acct *gw.Account, req *llm.Request) (llm.Stream, error)
}

// Match is a provider's answer to a model name.
type Match struct {
	// Model is the catalog entry that serves the name.
	Model llm.ModelInfo
	// Fallback is true when the provider would serve the name only as a
	// catch-all (Genspark's Mixture-of-Agents for unknown models); exact
	// matches of other providers win over it.
	Fallback bool
	// Alias, when set, is the name the provider knows the client's model
	// by (an undated id, or a name of the provider's Aliases); the provider
	// must be asked for this name.
	Alias string
	// CatchAllID is, on a Fallback match, the catch-all's own id (Genspark's
	// "mixture-of-agents"), which answers echo: Model.ID is then the
	// client's name, the key accounts are bound under.
	CatchAllID string
}

// Echo returns the model name an answer to requested (the name the client
// sent, which resolved to m) reports: the catalog id of the model that
// serves it, never a string only the client chose. An exact name is its
// catalog id (so it echoes unchanged); an alias (gpt-4o on a Gemini
// provider, claude-gemini-3-flash) is the id of the model that serves it;
// a name only a catch-all takes (Genspark's Mixture-of-Agents) is the
// catch-all's own id (CatchAllID). The one exception is a dated Claude id
// (claude-sonnet-4-5-20250929) served by its undated catalog entry: it
// echoes the catalog id with that date, as the Anthropic API echoes the
// dated id it resolved (a "-latest" name echoes the undated id, the date
// being unknown). m without a catalog id echoes requested.
func (m Match) Echo(requested string) string {
	if m.Model.ID == "" {
		return requested
	}
	if m.Fallback && m.CatchAllID != "" {
		return m.CatchAllID
	}
	if m.Alias == "" || m.Fallback {
		return m.Model.ID
	}
	lower := strings.ToLower(requested)
	if date := releaseDate.FindString(lower); date != "" &&
		strings.TrimSuffix(lower, date) == m.Alias && strings.EqualFold(m.Alias, m.Model.ID) {
		return m.Model.ID + date
	}
	return m.Model.ID
}

// releaseDate matches a release date (not "-latest") at the end of a
// model id.
var releaseDate = regexp.MustCompile(`-20\d{6}$`)

// Registry resolves model names across the configured providers, in
// configuration order. It is safe for concurrent use; Set replaces the
// providers (an upstream whose first account was just added).
type Registry struct {
	list atomic.Pointer[[]Provider]
}

// NewRegistry returns a registry over providers, in priority order.
func NewRegistry(providers ...Provider) *Registry {
	r := &Registry{}
	r.Set(providers...)
	return r
}

// Set replaces the providers, in priority order; requests already
// resolved keep the provider they got.
func (r *Registry) Set(providers ...Provider) {
	list := slices.Clone(providers)
	r.list.Store(&list)
}

// Providers returns the configured providers (the caller must not modify
// the slice).
func (r *Registry) Providers() []Provider { return *r.list.Load() }

// Get returns the provider with the given name.
func (r *Registry) Get(name string) (Provider, bool) {
	for _, p := range r.Providers() {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// Resolve returns the provider serving model: an exact match of any provider
// first, then a fallback match. It fails with CodeInvalidRequest listing the
// known ids when nothing serves the name.
func (r *Registry) Resolve(ctx context.Context, model string) (Provider, Match, error) {
	if strings.TrimSpace(model) == "" {
		return nil, Match{}, &gw.Error{Code: gw.CodeInvalidRequest, Message: "you must provide a model parameter", Param: "model"}
	}
	if p, m := r.resolve(model); p != nil {
		return p, m, nil
	}
	return nil, Match{}, r.unknownModel(ctx, model)
}

// resolve finds the provider for model: an exact match, then one for the
// model without its release date, then one for a name a provider serves
// it under (Aliaser), then the first catch-all (nil when none serves it).
func (r *Registry) resolve(model string) (Provider, Match) {
	list := r.Providers() // one snapshot for the whole resolution
	p, m, fallback := exact(list, model)
	if p != nil {
		return p, m
	}
	if undated := dateSuffix.ReplaceAllString(strings.ToLower(model), ""); undated != strings.ToLower(model) {
		if p, m, _ := exact(list, undated); p != nil {
			m.Alias = undated
			return p, m
		}
	}
	for _, cand := range list {
		a, ok := cand.(Aliaser)
		if !ok {
			continue
		}
		for _, alias := range a.Aliases(model) {
			if m, ok := cand.Resolve(alias); ok && !m.Fallback {
				m.Alias = alias
				return cand, m
			}
		}
	}
	if fallback >= 0 {
		p := list[fallback]
		m, _ := p.Resolve(model)
		return p, m
	}
	return nil, Match{}
}

// unknownModel is the error for a model no provider serves, listing the
// chat models that exist.
func (r *Registry) unknownModel(ctx context.Context, model string) error {
	var ids []string
	for _, m := range r.Models(ctx) {
		if m.Kind == llm.KindChat || m.Kind == "" {
			ids = append(ids, m.ID)
		}
	}
	return &gw.Error{
		Code:    gw.CodeInvalidRequest, // 400 as the Gemini seed answers; GET /v1/models/{id} keeps 404
		Param:   "model",
		Message: "The model `" + model + "` does not exist or you do not have access to it. Valid models: " + strings.Join(ids, ", "),
	}
}

// exact returns the first provider that serves model by name (not as a
// catch-all), or the index of the first that serves it as a catch-all
// (-1 when none does).
func exact(list []Provider, model string) (p Provider, m Match, fallback int) {
	fallback = -1
	for i, cand := range list {
		cm, ok := cand.Resolve(model)
		if !ok {
			continue
		}
		if !cm.Fallback {
			return cand, cm, fallback
		}
		if fallback < 0 {
			fallback = i
		}
	}
	return nil, Match{}, fallback
}

// dateSuffix matches the release date Anthropic appends to model ids
// (Claude Code sends dated ids such as claude-sonnet-4-5-20250929).
var dateSuffix = regexp.MustCompile(`-(20\d{6}|latest)$`)

// Aliaser is implemented by providers that serve names of another model
// family under their own models (a Claude name for Claude Code).
type Aliaser interface {
	// Aliases lists, in order of preference, the provider's own model
	// names that may serve model; nil when none.
	Aliases(model string) []string
}

// Models lists every provider's models, first provider first, without
// duplicate ids.
func (r *Registry) Models(ctx context.Context) []llm.ModelInfo {
	var out []llm.ModelInfo
	seen := map[string]bool{}
	for _, p := range r.Providers() {
		for _, m := range p.Models(ctx) {
			if !seen[m.ID] {
				seen[m.ID] = true
				out = append(out, m)
			}
		}
	}
	return out
}
