package accounts

import (
	"fmt"
	"net/http"

	"github.com/sparkgw/spark/internal/dashapi"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/store"
)

// modelAccount is an account serving a model, as GET /api/models names it.
type modelAccount struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	State string `json:"state"`
}

// modelJSON is one model of GET /api/models.
type modelJSON struct {
	ID           string         `json:"id"`
	DisplayName  string         `json:"display_name"`
	Kind         string         `json:"kind"`
	Provider     string         `json:"provider"`
	ProviderName string         `json:"provider_name"`
	Aliases      []string       `json:"aliases"`
	Accounts     []modelAccount `json:"accounts"`
}

// models is GET /api/models: the models the caller's accounts and the
// shared ones serve (every account's for an admin), by provider in the
// app's order and then catalog order, each with its display name, the
// other names it answers to, and the accounts that serve it.
func (h *Handler) models(w http.ResponseWriter, r *http.Request) {
	c, err := h.caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	recs, err := h.opts.Store.ListAccounts(r.Context(), store.AccountFilter{})
	if err != nil {
		h.fail(w, r, fmt.Errorf("accounts: list: %w", err))
		return
	}
	now := h.now()
	byProvider := map[string][]*modelJSON{}
	index := map[string]*modelJSON{} // by provider + "\x00" + model id
	for _, a := range recs {
		if !c.canSee(a) || h.opts.Catalog == nil {
			continue
		}
		for _, m := range h.opts.Catalog.AccountModels(r.Context(), a) {
			k := a.Provider + "\x00" + m.ID
			mj := index[k]
			if mj == nil {
				mj = h.modelJSON(a.Provider, m)
				index[k] = mj
				byProvider[a.Provider] = append(byProvider[a.Provider], mj)
			}
			mj.Accounts = append(mj.Accounts, modelAccount{ID: a.ID, Label: a.Label, State: string(a.EffectiveState(now))})
		}
	}
	out := []*modelJSON{}
	seen := map[string]bool{}
	for _, p := range h.opts.Providers {
		out = append(out, byProvider[p.Name]...)
		seen[p.Name] = true
	}
	for _, name := range sortedIDs(byProvider) {
		if !seen[name] {
			out = append(out, byProvider[name]...)
		}
	}
	dashapi.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (h *Handler) modelJSON(provider string, m llm.ModelInfo) *modelJSON {
	mj := &modelJSON{ID: m.ID, DisplayName: m.DisplayName, Kind: string(m.Kind), Provider: provider,
		ProviderName: provider, Aliases: []string{}, Accounts: []modelAccount{}}
	if mj.DisplayName == "" {
		mj.DisplayName = m.ID
	}
	if mj.Kind == "" {
		mj.Kind = string(llm.KindChat)
	}
	for _, p := range h.opts.Providers {
		if p.Name == provider && p.DisplayName != "" {
			mj.ProviderName = p.DisplayName
		}
	}
	if m.ClaudeID != "" && m.ClaudeID != m.ID {
		mj.Aliases = append(mj.Aliases, m.ClaudeID)
	}
	return mj
}
