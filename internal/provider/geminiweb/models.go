package geminiweb

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/llm"
)

// Model families: what a silent downgrade changes (Pro → Flash → Flash-Lite).
const (
	famPro   = "pro"
	famFlash = "flash"
	famLite  = "flash-lite"
)

// Mode categories (docs/gemini-web-upstream.md §2.4 inner[79], header index 14).
const (
	modeFast     = 1
	modeThinking = 2
	modePro      = 3
	modeLite     = 6
)

// familyOfName derives a family from model names ("3.1 Pro", "Flash-Lite",
// "gemini-3-flash", "Fast"); "" when none says.
func familyOfName(names ...string) string {
	for _, n := range names {
		words := strings.FieldsFunc(strings.ToLower(n), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		})
		has := func(w string) bool { return slices.Contains(words, w) }
		switch {
		case has("lite"):
			return famLite
		case has("pro"):
			return famPro
		case has("flash"), has("fast"):
			return famFlash
		}
	}
	return ""
}

// familyOfMode maps a mode category to a family; "" for AUTO and unknown.
func familyOfMode(mode int) string {
	switch mode {
	case modeFast, modeThinking, 5:
		return famFlash
	case modePro:
		return famPro
	case modeLite:
		return famLite
	}
	return ""
}

// defaultMode is the mode category sent for a family.
func defaultMode(family string) int {
	switch family {
	case famPro:
		return modePro
	case famLite:
		return modeLite
	}
	return modeFast
}

// model is one entry of the provider's model index.
type model struct {
	info   llm.ModelInfo
	family string
	hexes  []string // InternalID first, then aliased hex ids (lower case)
	mode   int      // 0: derived from the family
	static bool
}

// alias is a static alias of the catalog (an entry whose internal_id is the
// id of another entry).
type alias struct {
	target  int // index into modelIndex.models
	generic bool
}

// modelIndex resolves client model names. It is immutable once built.
type modelIndex struct {
	models  []model
	bySlug  map[string]int
	byName  map[string]int
	byHex   map[string]int
	aliases map[string]alias
}

// staticTable reads the catalog: models and aliases.
type staticTable struct {
	models  []model
	aliases map[string]string // lower-case alias id → target slug
	generic map[string]bool
}

// loadStatic converts the catalog into models and aliases. Entries that are
// neither (no internal id) are skipped with a warning.
func loadStatic(cat *catalog.Catalog, log *slog.Logger) staticTable {
	all := cat.All()
	ids := map[string]bool{}
	for _, m := range all {
		ids[m.ID] = true
	}
	st := staticTable{aliases: map[string]string{}, generic: map[string]bool{}}
	for _, m := range all {
		if m.Kind != "" && m.Kind != llm.KindChat {
			continue
		}
		switch {
		case m.InternalID != "" && ids[m.InternalID] && m.InternalID != m.ID:
			id := strings.ToLower(m.ID)
			st.aliases[id] = m.InternalID
			// A name of another vendor's model means "a good model", not
			// this one: see the mismatch policy in stream.go.
			st.generic[id] = !strings.HasPrefix(id, "gemini")
		case m.InternalID == "":
			log.Warn("catalog entry without internal_id (the model hex) is ignored", "model", m.ID)
		default:
			m.OwnedBy = Name
			st.models = append(st.models, model{
				info:   m,
				family: familyOfName(m.ID, m.DisplayName),
				hexes:  []string{strings.ToLower(m.InternalID)},
				static: true,
			})
		}
	}
	return st
}

// buildIndex joins the static table with discovered models (in discovery
// order). A discovered model whose slug is a static one adds its hex ids to
// the static entry; others are listed after the static ones.
func buildIndex(st staticTable, discovered []model, log *slog.Logger) *modelIndex {
	ix := &modelIndex{
		bySlug:  map[string]int{},
		byName:  map[string]int{},
		byHex:   map[string]int{},
		aliases: map[string]alias{},
	}
	add := func(m model) {
		key := strings.ToLower(m.info.ID)
		if i, ok := ix.bySlug[key]; ok {
			for _, h := range m.hexes {
				if !slices.Contains(ix.models[i].hexes, h) {
					ix.models[i].hexes = append(ix.models[i].hexes, h)
				}
			}
			return
		}
		m.hexes = slices.Clone(m.hexes)
		ix.bySlug[key] = len(ix.models)
		ix.models = append(ix.models, m)
	}
	for _, m := range st.models {
		add(m)
	}
	for _, m := range discovered {
		add(m)
	}
	for i, m := range ix.models {
		for _, n := range []string{m.info.DisplayName, "gemini " + m.info.DisplayName} {
			if k := strings.ToLower(strings.TrimSpace(n)); k != "" && k != "gemini" {
				if _, dup := ix.byName[k]; !dup {
					ix.byName[k] = i
				}
			}
		}
		for _, h := range m.hexes {
			if _, dup := ix.byHex[h]; !dup {
				ix.byHex[h] = i
			}
		}
	}
	for id, target := range st.aliases {
		i, ok := ix.bySlug[strings.ToLower(target)]
		if !ok {
			log.Warn("catalog alias points to no model", "alias", id, "target", target)
			continue
		}
		if _, taken := ix.bySlug[id]; taken {
			continue
		}
		ix.aliases[id] = alias{target: i, generic: st.generic[id]}
	}
	return ix
}

// resolve returns the model a client name selects: slug, static alias,
// display name (with or without "Gemini "), or hex id; all case-insensitive.
// generic reports a generic alias (gpt-4o, ...).
func (ix *modelIndex) resolve(name string) (m model, generic, ok bool) {
	k := strings.ToLower(strings.TrimSpace(name))
	if k == "" {
		return model{}, false, false
	}
	if i, ok := ix.bySlug[k]; ok {
		return ix.models[i], false, true
	}
	if a, ok := ix.aliases[k]; ok {
		return ix.models[a.target], a.generic, true
	}
	if i, ok := ix.byName[k]; ok {
		return ix.models[i], false, true
	}
	if i, ok := ix.byHex[k]; ok {
		return ix.models[i], false, true
	}
	return model{}, false, false
}

// familyOfHex returns the family of a known hex id.
func (ix *modelIndex) familyOfHex(hex string) string {
	if i, ok := ix.byHex[strings.ToLower(hex)]; ok {
		return ix.models[i].family
	}
	return ""
}

// list returns the listed models (aliases are resolved, not listed).
func (ix *modelIndex) list() []llm.ModelInfo {
	out := make([]llm.ModelInfo, len(ix.models))
	for i, m := range ix.models {
		out[i] = m.info
		if (m.info.Kind == llm.KindChat || m.info.Kind == "") && strings.HasPrefix(m.info.ID, "gemini-") {
			out[i].ClaudeID = "claude-" + m.info.ID // ClaudeAliases maps it back
		}
	}
	return out
}

// ---- live discovery (otAQ7b, docs/gemini-web-upstream.md §6.1) ----

// accountModels is one account's discovered model list.
type accountModels struct {
	status   int     // [14] account status (1000 or 0 = OK)
	models   []model // the account's own entries
	defaults string  // hex of the default entry
	capacity int     // capacity slot value (docs/gemini-web-upstream.md §6.1 derivation)
	capField int     // 12 or 13
}

// Account status codes of otAQ7b [14] (docs/gemini-web-upstream.md §4).
const (
	statusOK              = 1000
	statusUnauthenticated = 1016
)

// parseUserStatus reads an otAQ7b body.
func parseUserStatus(body any) (*accountModels, error) {
	if _, ok := body.([]any); !ok {
		return nil, fmt.Errorf("otAQ7b body is not an array")
	}
	am := &accountModels{}
	am.status, _ = num(at(body, 14))
	am.capacity, am.capField = capacityOf(nums(at(body, 16)), nums(at(body, 17)))
	for _, e := range arr(at(body, 15)) {
		hex := strings.ToLower(str(at(e, 0)))
		if hex == "" {
			continue
		}
		label := str(at(e, 1))
		name := str(at(e, 11))
		if name == "" {
			name = strings.TrimPrefix(str(at(e, 19)), "Gemini ")
		}
		if name == "" {
			name = label
		}
		slug := slugOf(name)
		if slug == "" {
			continue
		}
		desc := str(at(e, 2))
		if desc == "" {
			desc = str(at(e, 12))
		}
		mode, _ := num(at(e, 8))
		fam := familyOfMode(mode)
		if fam == "" {
			fam = familyOfName(label, name)
		}
		hexes := []string{hex}
		for _, a := range arr(at(e, 6)) {
			if s := strings.ToLower(str(a)); s != "" && !slices.Contains(hexes, s) {
				hexes = append(hexes, s)
			}
		}
		if def, _ := at(e, 7).(bool); def && am.defaults == "" {
			am.defaults = hex
		}
		am.models = append(am.models, model{
			info: llm.ModelInfo{
				ID: slug, DisplayName: name, InternalID: hex, Description: desc,
				OwnedBy: Name, Kind: llm.KindChat,
			},
			family: fam, hexes: hexes, mode: mode,
		})
	}
	return am, nil
}

// capacityOf derives the capacity slot from tier and capability flags
// (HanaokaYuzu compute_capacity, docs/gemini-web-upstream.md §6.1): value and field number (12 or 13).
func capacityOf(tiers, caps []int) (int, int) {
	switch {
	case slices.Contains(tiers, 21):
		return 1, 13
	case slices.Contains(tiers, 22):
		return 2, 13
	case slices.Contains(caps, 115):
		return 4, 12
	case slices.Contains(tiers, 16) || slices.Contains(caps, 106):
		return 3, 12
	case slices.Contains(tiers, 8) || slices.Contains(caps, 19):
		return 2, 12
	}
	return 1, 12
}

// slugOf builds a client slug from a versioned name: "3.1 Flash-Lite" →
// gemini-3.1-flash-lite (n0madic's rule, docs/gemini-web-upstream.md §6.1).
func slugOf(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.':
			b.WriteRune(r)
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return ""
	}
	s = strings.TrimPrefix(s, "gemini-")
	return "gemini-" + s
}

// selection is what one request sends for its model.
type selection struct {
	requested string          // the model's slug, for messages
	hex       string          // header index 4
	accepted  map[string]bool // served hex ids that count as the requested model
	family    string
	mode      int
	thinking  int // 1 standard, 2 extended
	capacity  int
	capField  int
}

// selectModel picks what to send for m on an account: the account's own
// entry of the model when discovery knows it (by hex or alias, slug, then
// family), else the static hex.
func selectModel(m model, am *accountModels, thinking int) selection {
	sel := selection{
		requested: m.info.ID,
		family:    m.family,
		mode:      m.mode,
		thinking:  thinking,
		capacity:  1,
		capField:  12,
		accepted:  map[string]bool{},
	}
	if len(m.hexes) > 0 {
		sel.hex = m.hexes[0]
	}
	for _, h := range m.hexes {
		sel.accepted[h] = true
	}
	if am != nil {
		sel.capacity, sel.capField = am.capacity, am.capField
		pick := -1
		for i, a := range am.models {
			if slices.ContainsFunc(a.hexes, func(h string) bool { return sel.accepted[h] }) {
				pick = i
				break
			}
		}
		if pick < 0 {
			pick = slices.IndexFunc(am.models, func(a model) bool { return a.info.ID == m.info.ID })
		}
		if pick < 0 && m.family != "" {
			pick = slices.IndexFunc(am.models, func(a model) bool { return a.family == m.family })
		}
		if pick >= 0 {
			a := am.models[pick]
			sel.hex = a.info.InternalID
			for _, h := range a.hexes {
				sel.accepted[h] = true
			}
			if a.family != "" {
				sel.family = a.family
			}
			if a.mode != 0 {
				sel.mode = a.mode
			}
		}
	}
	if sel.mode == 0 {
		sel.mode = defaultMode(sel.family)
	}
	return sel
}
