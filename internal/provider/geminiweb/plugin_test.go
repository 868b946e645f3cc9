package geminiweb_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/sparkgw/spark/internal/provider/geminiweb"
)

func TestAliases(t *testing.T) {
	p, err := geminiweb.New(geminiweb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for model, want := range map[string][]string{
		"claude-gemini-3-pro":       {"3-pro", "gemini-3-pro", "gemini-3-flash"},
		"claude-opus-4-5-20251101":  {"gemini-3-pro"},
		"claude-3-5-haiku-20241022": {"gemini-3-flash"},
		"claude-sonnet-4-5":         {"gemini-3-flash"},
		"gemini-3-flash-image":      {"gemini-3-flash"},
		"Gemini-3-Pro-Image":        {"gemini-3-pro"},
		"gemini-2.5-pro":            {"gemini-3-pro"},
		"gemini-3.1-pro-preview":    {"gemini-3-pro"},
		"gemini-3.8-flash":          {"gemini-3-flash"},
		"gemini-3.5-flash-lite":     {"gemini-3.1-flash-lite"},
		"gemini-embedding-001":      nil,
		"gpt-5.1":                   nil,
		"flux-image":                nil,
	} {
		if got := p.Aliases(model); !slices.Equal(got, want) {
			t.Errorf("Aliases(%q) = %q, want %q", model, got, want)
		}
	}
}

func TestPluginImages(t *testing.T) {
	im := geminiweb.Plugin().Images
	for host, want := range map[string]bool{
		"lh3.googleusercontent.com": true, "google.com": true, "work.fife.usercontent.google.com": true,
		"googleusercontent.com.evil.com": false, "evilgoogle.com": false, "www.genspark.ai": false,
	} {
		if got := im.CookieHost(host); got != want {
			t.Errorf("CookieHost(%q) = %v", host, got)
		}
	}
	if got := im.Cookie("__Secure-1PSID=p; __Host-1PLSID=h; NID=n"); got != "__Secure-1PSID=p; NID=n" {
		t.Errorf("image cookie %q keeps host-only cookies", got)
	}
	for raw, want := range map[string]string{
		"https://lh3.googleusercontent.com/gg-dl/abc=s1024-rj": "https://lh3.googleusercontent.com/gg-dl/abc=s512",
		"https://example.com/other/abc=s1024":                  "",
	} {
		u, _ := url.Parse(raw)
		out, ok := im.Resize(u, "512")
		if (want == "") == ok || ok && out.String() != want {
			t.Errorf("Resize(%s) = %v, %v; want %q", raw, out, ok, want)
		}
	}
}
