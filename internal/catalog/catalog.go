// Package catalog holds the model catalogs of spark's providers as data.
//
// Upstream web apps change their model lists about ten times a year, so the
// lists are not code: every provider has a built-in default, declared by
// its plugin (internal/provider/<name>/catalog.json, see [Defaults]), that a
// user extends or overrides without a rebuild through one override file:
//
//   - the path in the environment variable SPARK_MODELS_FILE (the file must
//     exist), else
//   - <DATA_DIR>/models.json when that file exists.
//
// # Default file (a provider's catalog.json)
//
//	{
//	  "provider": "<provider>",
//	  "moa": ["gpt-5.1-low", "claude-sonnet-4-5", "gemini-3-pro-preview"],
//	  "models": [
//	    {"id": "gpt-5.1", "kind": "chat", "display_name": "GPT-5.1",
//	     "description": "...", "internal_id": ""}
//	  ]
//	}
//
// # Override file (models.json)
//
// One section per provider, keyed by the provider name:
//
//	{
//	  "<provider>": {
//	    "replace": false,
//	    "remove": ["o3-pro"],
//	    "add": [
//	      {"id": "gpt-6", "kind": "chat", "display_name": "GPT-6"},
//	      {"id": "deepseek-r1", "kind": "chat", "internal_id": "deep-seek-r1"}
//	    ],
//	    "moa": ["gpt-6", "claude-sonnet-4-5"]
//	  }
//	}
//
// Sections are applied in this order: "replace": true drops every built-in
// model first; "remove" drops ids (ids that are not in the catalog are
// ignored, so an override keeps working when a later default no longer has
// the model); "add" appends entries, an entry whose id already exists
// replacing it in place. "moa" (the Mixture-of-Agents list of an upstream that
// has one, used for chat models outside the catalog) replaces the default list when present;
// an empty list disables the fallback. Entry fields: id (required, no
// whitespace), kind ("chat", "image" or "video"; empty means chat),
// display_name, description, internal_id (the upstream's own id when it
// differs from id). Unknown fields, unknown provider sections and duplicate
// ids in one "add" list are errors naming the file and the place; top-level
// keys starting with "_" or "$" are ignored, so a file may carry a
// "_comment" or "$schema".
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/sparkgw/spark/internal/llm"
)

// OverrideFileName is the override file looked up in the data directory
// when no models file is named (SPARK_MODELS_FILE, read by config).
const OverrideFileName = "models.json"

// Entry is one model of a catalog file.
type Entry struct {
	// ID is the name clients use.
	ID string `json:"id"`
	// Kind is chat, image or video; empty means chat.
	Kind llm.ModelKind `json:"kind,omitempty"`
	// DisplayName is a human name.
	DisplayName string `json:"display_name,omitempty"`
	// Description is a one-line description.
	Description string `json:"description,omitempty"`
	// InternalID is the upstream's own id when it differs from ID.
	InternalID string `json:"internal_id,omitempty"`
}

// Catalog is the resolved model list of one provider. It is immutable and
// safe for concurrent use.
type Catalog struct {
	provider string
	source   string
	models   []llm.ModelInfo
	byID     map[string]int
	moa      []string
	known    []string // providers an override file may have a section for
}

// defaultFile is the schema of a built-in catalog.
type defaultFile struct {
	Comment  string   `json:"_comment,omitempty"`
	Provider string   `json:"provider"`
	MoA      []string `json:"moa,omitempty"`
	Models   []Entry  `json:"models"`
}

// section is one provider's part of an override file.
type section struct {
	Replace bool      `json:"replace,omitempty"`
	Remove  []string  `json:"remove,omitempty"`
	Add     []Entry   `json:"add,omitempty"`
	MoA     *[]string `json:"moa,omitempty"`
}

// Defaults are the built-in catalogs of the known providers, by provider
// name: each provider's plugin declares its own (provider.Plugin.Catalog).
// Override files may have a section for each of them.
type Defaults map[string][]byte

// Providers lists the providers that have a built-in catalog.
func (d Defaults) Providers() []string {
	out := make([]string, 0, len(d))
	for name := range d {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Default returns the built-in catalog of provider.
func (d Defaults) Default(provider string) (*Catalog, error) {
	data, ok := d[provider]
	if !ok {
		return nil, fmt.Errorf("catalog: no built-in catalog for provider %q (known: %s)",
			provider, strings.Join(d.Providers(), ", "))
	}
	var df defaultFile
	name := "built-in catalog of " + provider
	if err := decodeStrict(data, &df); err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", name, describeJSONError(data, err))
	}
	if df.Provider != provider {
		return nil, fmt.Errorf("catalog: %s: provider is %q, want %q", name, df.Provider, provider)
	}
	c := &Catalog{provider: provider, source: "built-in", byID: map[string]int{}, known: d.Providers()}
	if df.MoA != nil {
		c.moa = slices.Clone(df.MoA)
	}
	for i, e := range df.Models {
		mi, err := c.info(e)
		if err != nil {
			return nil, fmt.Errorf("catalog: %s: models[%d]: %w", name, i, err)
		}
		if _, dup := c.byID[mi.ID]; dup {
			return nil, fmt.Errorf("catalog: %s: models[%d]: duplicate id %q", name, i, mi.ID)
		}
		c.put(mi)
	}
	if err := checkMoA(c.moa); err != nil {
		return nil, fmt.Errorf("catalog: %s: moa: %w", name, err)
	}
	return c, nil
}

// OverridePath returns the override file that Load uses: modelsFile when
// set (SPARK_MODELS_FILE), else <dataDir>/models.json when it exists, else
// "". required reports that the file was named explicitly and must exist.
func OverridePath(dataDir, modelsFile string) (path string, required bool) {
	if p := strings.TrimSpace(modelsFile); p != "" {
		return p, true
	}
	if dataDir == "" {
		return "", false
	}
	p := filepath.Join(dataDir, OverrideFileName)
	if _, err := os.Stat(p); err == nil {
		return p, false
	} else if !errors.Is(err, fs.ErrNotExist) {
		// Unreadable for another reason: let LoadFile report it.
		return p, false
	}
	return "", false
}

// Load returns provider's built-in catalog with the user's override file
// applied: modelsFile (SPARK_MODELS_FILE) when set, else models.json in
// dataDir when it exists.
func (d Defaults) Load(provider, dataDir, modelsFile string) (*Catalog, error) {
	path, required := OverridePath(dataDir, modelsFile)
	if path == "" {
		return d.Default(provider)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && required {
		return nil, fmt.Errorf("catalog: models file %s does not exist", path)
	}
	return d.LoadFile(provider, path)
}

// LoadFile returns provider's built-in catalog with the override file at
// path applied; an empty path means no override.
func (d Defaults) LoadFile(provider, path string) (*Catalog, error) {
	c, err := d.Default(provider)
	if err != nil || path == "" {
		return c, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: reading override file: %w", err)
	}
	if err := c.apply(path, data); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse returns provider's built-in catalog with the override document data
// applied; name labels the document in errors.
func (d Defaults) Parse(provider, name string, data []byte) (*Catalog, error) {
	c, err := d.Default(provider)
	if err != nil {
		return nil, err
	}
	if err := c.apply(name, data); err != nil {
		return nil, err
	}
	return c, nil
}

// apply validates a whole override document and applies provider's section.
func (c *Catalog) apply(name string, data []byte) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("catalog: override file %s: %s", name, fmt.Sprintf(format, args...))
	}
	var top map[string]json.RawMessage
	if err := decodeStrict(data, &top); err != nil {
		return fail("%v", describeJSONError(data, err))
	}
	if top == nil {
		return fail("want a JSON object with one section per provider, got null")
	}
	known := c.known
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var mine *section
	for _, k := range keys {
		if strings.HasPrefix(k, "_") || strings.HasPrefix(k, "$") {
			continue
		}
		if !slices.Contains(known, k) {
			return fail("unknown provider section %q (known: %s)", k, strings.Join(known, ", "))
		}
		var s section
		if err := decodeStrict(top[k], &s); err != nil {
			return fail("section %q: %v", k, describeJSONError(top[k], err))
		}
		if err := validateSection(&s); err != nil {
			return fail("section %q: %v", k, err)
		}
		if k == c.provider {
			mine = &s
		}
	}
	if mine == nil {
		return nil
	}
	if mine.Replace {
		c.models, c.byID = nil, map[string]int{}
	}
	for _, id := range mine.Remove {
		c.remove(id)
	}
	for _, e := range mine.Add {
		mi, _ := c.info(e) // validated above
		if i, ok := c.byID[mi.ID]; ok {
			c.models[i] = mi
		} else {
			c.put(mi)
		}
	}
	if mine.MoA != nil {
		c.moa = slices.Clone(*mine.MoA)
	}
	c.source = "built-in + " + name
	return nil
}

// validateSection checks a section without applying it.
func validateSection(s *section) error {
	seen := map[string]bool{}
	for i, e := range s.Add {
		if err := checkEntry(e); err != nil {
			return fmt.Errorf("add[%d]: %w", i, err)
		}
		if seen[e.ID] {
			return fmt.Errorf("add[%d]: duplicate id %q", i, e.ID)
		}
		seen[e.ID] = true
	}
	for i, id := range s.Remove {
		if err := checkID(id); err != nil {
			return fmt.Errorf("remove[%d]: %w", i, err)
		}
	}
	if s.MoA != nil {
		if err := checkMoA(*s.MoA); err != nil {
			return fmt.Errorf("moa: %w", err)
		}
	}
	return nil
}

func checkMoA(ids []string) error {
	for i, id := range ids {
		if err := checkID(id); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return errors.New("empty id")
	}
	if strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("id %q contains whitespace", id)
	}
	return nil
}

func checkEntry(e Entry) error {
	if err := checkID(e.ID); err != nil {
		return err
	}
	switch e.Kind {
	case "", llm.KindChat, llm.KindImage, llm.KindVideo:
	default:
		return fmt.Errorf("model %q: kind %q is not one of chat, image, video", e.ID, e.Kind)
	}
	if e.InternalID != "" {
		if err := checkID(e.InternalID); err != nil {
			return fmt.Errorf("model %q: internal_id: %w", e.ID, err)
		}
	}
	return nil
}

// info converts a validated entry to the catalog's ModelInfo.
func (c *Catalog) info(e Entry) (llm.ModelInfo, error) {
	if err := checkEntry(e); err != nil {
		return llm.ModelInfo{}, err
	}
	kind := e.Kind
	if kind == "" {
		kind = llm.KindChat
	}
	name := e.DisplayName
	if name == "" {
		name = e.ID
	}
	return llm.ModelInfo{
		ID:          e.ID,
		DisplayName: name,
		InternalID:  e.InternalID,
		Description: e.Description,
		OwnedBy:     c.provider,
		Kind:        kind,
	}, nil
}

func (c *Catalog) put(mi llm.ModelInfo) {
	c.byID[mi.ID] = len(c.models)
	c.models = append(c.models, mi)
}

func (c *Catalog) remove(id string) {
	i, ok := c.byID[id]
	if !ok {
		return
	}
	c.models = slices.Delete(c.models, i, i+1)
	c.byID = make(map[string]int, len(c.models))
	for j, m := range c.models {
		c.byID[m.ID] = j
	}
}

// Provider returns the provider the catalog belongs to.
func (c *Catalog) Provider() string { return c.provider }

// Source describes where the catalog came from ("built-in", or
// "built-in + <override file>"), for start-up logs.
func (c *Catalog) Source() string { return c.source }

// Lookup returns the model with the given id, whatever its kind.
func (c *Catalog) Lookup(id string) (llm.ModelInfo, bool) {
	i, ok := c.byID[id]
	if !ok {
		return llm.ModelInfo{}, false
	}
	return c.models[i], true
}

func (c *Catalog) kind(id string, k llm.ModelKind) (llm.ModelInfo, bool) {
	m, ok := c.Lookup(id)
	if !ok || m.Kind != k {
		return llm.ModelInfo{}, false
	}
	return m, true
}

// Chat returns the chat model with the given id.
func (c *Catalog) Chat(id string) (llm.ModelInfo, bool) { return c.kind(id, llm.KindChat) }

// Image returns the image model with the given id.
func (c *Catalog) Image(id string) (llm.ModelInfo, bool) { return c.kind(id, llm.KindImage) }

// Video returns the video model with the given id.
func (c *Catalog) Video(id string) (llm.ModelInfo, bool) { return c.kind(id, llm.KindVideo) }

// All returns every model, in catalog order (a fresh slice).
func (c *Catalog) All() []llm.ModelInfo { return slices.Clone(c.models) }

// MoA returns the Mixture-of-Agents model list (a fresh slice); empty when
// the provider has none or the user disabled it.
func (c *Catalog) MoA() []string { return slices.Clone(c.moa) }

// decodeStrict decodes one JSON value, rejecting unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// describeJSONError adds a line:column position to JSON syntax and type
// errors.
func describeJSONError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64 = -1
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}
