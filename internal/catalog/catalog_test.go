package catalog_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// defaults are the real providers' built-in catalogs.
var defaults = catalog.Defaults{
	genspark.Name:  genspark.Plugin().Catalog,
	geminiweb.Name: geminiweb.Plugin().Catalog,
}

func TestDefaultGenspark(t *testing.T) {
	c, err := defaults.Default("genspark")
	if err != nil {
		t.Fatal(err)
	}
	// Seed 000 models that are not struck out, and the docs/genspark-upstream.md §5 lists.
	chat := []string{
		"gpt-5.1", "gpt-5.1-low", "gpt-5.1-high", "gpt-5-pro", "gpt-5.2", "gpt-5.2-pro", "o3-pro",
		"claude-sonnet-4-5", "claude-sonnet-4-6", "claude-opus-4-5", "claude-opus-4-6", "claude-opus-4-1",
		"claude-4-5-haiku", "gemini-2.5-pro", "gemini-3-pro-preview", "gemini-3-flash-preview",
		"gemini-3.1-pro-preview", "grok-4-0709",
	}
	image := []string{
		"fal-ai/nano-banana", "fal-ai/bytedance/seedream/v4", "gpt-image-1", "flux-pro/ultra",
		"flux-pro/kontext/pro", "imagen4", "nano-banana-pro", "nano-banana-2",
		"fal-ai/bytedance/seedream/v5/lite", "fal-ai/flux-2", "fal-ai/flux-2-pro", "fal-ai/z-image/turbo",
		"fal-ai/gpt-image-1.5", "recraft-v3", "ideogram/V_3", "qwen-image", "fal-ai/recraft-clarity-upscale",
		"fal-bria-rmbg", "fal-ai/image-editing/text-removal",
	}
	video := []string{
		"sora-2", "sora-2-pro", "gemini/veo3", "gemini/veo3/fast", "kling/v2.5-turbo/pro",
		"fal-ai/bytedance/seedance/v1/pro", "minimax/hailuo-02/standard", "pixverse/v5",
		"fal-ai/bytedance/seedance/v1/lite", "gemini/veo2", "wan/v2.2", "hunyuan", "vidu/start-end-to-video",
		"runway/gen4_turbo", "gemini/veo3.1", "gemini/veo3.1/reference-to-video",
		"gemini/veo3.1/first-last-frame-to-video", "kling/v3", "kling/v2.6/standard/motion-control",
		"kling/o3/image-to-video", "kling/o3/reference-to-video", "fal-ai/bytedance/seedance/v1.5/pro",
		"xai/grok-imagine-video", "minimax/hailuo-2.3/standard", "official/pixverse/v5",
		"fal-ai/bytedance/seedance/v1/pro/fast", "fal-ai/sync-lipsync/v2", "wan/v2.6", "vidu/q3",
		"fal-ai/bytedance-upscaler/upscale/video",
	}
	tests := []struct {
		ids    []string
		lookup func(string) (llm.ModelInfo, bool)
		kind   llm.ModelKind
	}{
		{chat, c.Chat, llm.KindChat},
		{image, c.Image, llm.KindImage},
		{video, c.Video, llm.KindVideo},
	}
	for _, tt := range tests {
		for _, id := range tt.ids {
			m, ok := tt.lookup(id)
			if !ok {
				t.Errorf("%s model %q missing", tt.kind, id)
				continue
			}
			if m.Kind != tt.kind || m.OwnedBy != "genspark" || m.ID != id || m.DisplayName == "" {
				t.Errorf("%q: got %+v", id, m)
			}
		}
	}
	for _, struck := range []string{"gpt-4.1", "o1", "deep-seek-r1", "claude-3-7-sonnet", "gemini-2.0-flash"} {
		if _, ok := c.Lookup(struck); ok {
			t.Errorf("struck-out model %q is listed", struck)
		}
	}
	if _, ok := c.Chat("sora-2"); ok {
		t.Error("Chat(sora-2) found a video model")
	}
	if got, want := c.MoA(), []string{"gpt-5.1-low", "claude-sonnet-4-5", "gemini-3-pro-preview"}; !slices.Equal(got, want) {
		t.Errorf("MoA = %v, want %v", got, want)
	}
	if m, _ := c.Image("dall-e-3"); m.InternalID != "dalle-3" {
		t.Errorf("dall-e-3 internal id = %q", m.InternalID)
	}
	if n := len(c.All()); n != len(chat)+len(image)+1+len(video) {
		t.Errorf("All() has %d models", n)
	}
	if c.Source() != "built-in" || c.Provider() != "genspark" {
		t.Errorf("Source %q Provider %q", c.Source(), c.Provider())
	}
}

func TestDefaultUnknownProvider(t *testing.T) {
	_, err := defaults.Default("nope")
	if err == nil || !strings.Contains(err.Error(), "genspark") {
		t.Fatalf("err = %v, want one listing known providers", err)
	}
}

func TestOverride(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, c *catalog.Catalog)
	}{
		{
			name: "add and replace in place",
			doc: `{"_comment":"x","$schema":"y","genspark":{"add":[
				{"id":"gpt-6","display_name":"GPT-6"},
				{"id":"gpt-5.1","kind":"image","internal_id":"gpt51-img"},
				{"id":"my-video","kind":"video"}]}}`,
			check: func(t *testing.T, c *catalog.Catalog) {
				m, ok := c.Chat("gpt-6")
				if !ok || m.Kind != llm.KindChat || m.DisplayName != "GPT-6" || m.OwnedBy != "genspark" {
					t.Errorf("gpt-6 = %+v %v", m, ok)
				}
				if _, ok := c.Chat("gpt-5.1"); ok {
					t.Error("gpt-5.1 still a chat model")
				}
				if m, ok := c.Image("gpt-5.1"); !ok || m.InternalID != "gpt51-img" {
					t.Errorf("gpt-5.1 image = %+v %v", m, ok)
				}
				if m, ok := c.Video("my-video"); !ok || m.DisplayName != "my-video" {
					t.Errorf("my-video = %+v %v", m, ok)
				}
				all := c.All()
				if all[0].ID != "gpt-5.1" || all[len(all)-1].ID != "my-video" {
					t.Errorf("order: first %q last %q", all[0].ID, all[len(all)-1].ID)
				}
				if !strings.Contains(c.Source(), "models.json") {
					t.Errorf("Source = %q", c.Source())
				}
			},
		},
		{
			name: "remove, unknown removals ignored",
			doc:  `{"genspark":{"remove":["o3-pro","sora-2","no-such-model"]}}`,
			check: func(t *testing.T, c *catalog.Catalog) {
				for _, id := range []string{"o3-pro", "sora-2"} {
					if _, ok := c.Lookup(id); ok {
						t.Errorf("%s not removed", id)
					}
				}
				if _, ok := c.Chat("gpt-5.2"); !ok {
					t.Error("gpt-5.2 lost")
				}
			},
		},
		{
			name: "replace drops defaults",
			doc:  `{"genspark":{"replace":true,"add":[{"id":"only"}]}}`,
			check: func(t *testing.T, c *catalog.Catalog) {
				if all := c.All(); len(all) != 1 || all[0].ID != "only" {
					t.Errorf("All = %+v", all)
				}
				if len(c.MoA()) != 3 {
					t.Errorf("MoA changed: %v", c.MoA())
				}
			},
		},
		{
			name: "moa replaced",
			doc:  `{"genspark":{"moa":["a","b"]}}`,
			check: func(t *testing.T, c *catalog.Catalog) {
				if !slices.Equal(c.MoA(), []string{"a", "b"}) {
					t.Errorf("MoA = %v", c.MoA())
				}
			},
		},
		{
			name: "moa disabled",
			doc:  `{"genspark":{"moa":[]}}`,
			check: func(t *testing.T, c *catalog.Catalog) {
				if len(c.MoA()) != 0 {
					t.Errorf("MoA = %v", c.MoA())
				}
			},
		},
		{
			name: "moa null keeps default",
			doc:  `{"genspark":{"moa":null}}`,
			check: func(t *testing.T, c *catalog.Catalog) {
				if len(c.MoA()) != 3 {
					t.Errorf("MoA = %v", c.MoA())
				}
			},
		},
		{
			name: "empty document",
			doc:  `{}`,
			check: func(t *testing.T, c *catalog.Catalog) {
				if _, ok := c.Chat("gpt-5.1"); !ok {
					t.Error("defaults lost")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "models.json")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := defaults.LoadFile("genspark", path)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestOverrideErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error
	}{
		{"syntax", "{\n  \"genspark\": {\"add\": [}\n}", []string{"line 2", "invalid character"}},
		{"not an object", `[1]`, []string{"cannot unmarshal"}},
		{"null", `null`, []string{"null"}},
		{"trailing", `{} {}`, []string{"trailing"}},
		{"unknown provider", `{"gensprak":{}}`, []string{`"gensprak"`, "genspark"}},
		{"unknown section field", `{"genspark":{"ad":[]}}`, []string{`"genspark"`, `unknown field "ad"`}},
		{"unknown entry field", `{"genspark":{"add":[{"id":"x","kindd":"chat"}]}}`, []string{`unknown field "kindd"`}},
		{"bad kind", `{"genspark":{"add":[{"id":"x"},{"id":"y","kind":"audio"}]}}`, []string{"add[1]", `"audio"`}},
		{"empty id", `{"genspark":{"add":[{"kind":"chat"}]}}`, []string{"add[0]", "empty id"}},
		{"space in id", `{"genspark":{"remove":["a b"]}}`, []string{"remove[0]", "whitespace"}},
		{"duplicate add", `{"genspark":{"add":[{"id":"x"},{"id":"x"}]}}`, []string{"add[1]", "duplicate"}},
		{"bad moa", `{"genspark":{"moa":["ok",""]}}`, []string{"moa", "[1]"}},
		{"wrong type", `{"genspark":{"replace":"yes"}}`, []string{"replace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "models.json")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := defaults.LoadFile("genspark", path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append(tt.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestLoadLookup(t *testing.T) {
	dataDir := t.TempDir()
	envFile := filepath.Join(t.TempDir(), "env-models.json")
	write := func(path, doc string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("no override", func(t *testing.T) {
		c, err := defaults.Load("genspark", dataDir, "")
		if err != nil || c.Source() != "built-in" {
			t.Fatalf("Load = %v, %v", c, err)
		}
	})
	t.Run("data dir file", func(t *testing.T) {
		write(filepath.Join(dataDir, "models.json"), `{"genspark":{"add":[{"id":"from-data-dir"}]}}`)
		c, err := defaults.Load("genspark", dataDir, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Chat("from-data-dir"); !ok {
			t.Error("data dir override not applied")
		}
	})
	t.Run("named file wins over data dir", func(t *testing.T) {
		write(envFile, `{"genspark":{"add":[{"id":"from-env"}]}}`)
		c, err := defaults.Load("genspark", dataDir, envFile)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Chat("from-env"); !ok {
			t.Error("env override not applied")
		}
		if _, ok := c.Chat("from-data-dir"); ok {
			t.Error("data dir override applied although env is set")
		}
	})
	t.Run("named file missing", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing.json")
		_, err := defaults.Load("genspark", dataDir, missing)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad data dir file", func(t *testing.T) {
		dir := t.TempDir()
		write(filepath.Join(dir, "models.json"), `{"genspark":`)
		_, err := defaults.Load("genspark", dir, "")
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "models.json")) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestAllIsACopy(t *testing.T) {
	c, err := defaults.Default("genspark")
	if err != nil {
		t.Fatal(err)
	}
	all := c.All()
	all[0].ID = "mutated"
	moa := c.MoA()
	moa[0] = "mutated"
	if c.All()[0].ID == "mutated" || c.MoA()[0] == "mutated" {
		t.Error("catalog mutated through a returned slice")
	}
}
