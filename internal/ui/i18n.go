package ui

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The dashboard's languages: English and Simplified Chinese.
const (
	LangEnglish = "en"
	LangChinese = "zh-CN"
)

// Cookies the language and theme switches set (in the browser) and the
// server reads to render the page in them from the first byte.
const (
	LangCookie  = "spark_lang"
	ThemeCookie = "spark_theme"
)

//go:embed i18n/*.json
var catalogFS embed.FS

// catalogs holds each language's messages by key.
var catalogs = mustLoadCatalogs()

func mustLoadCatalogs() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, lang := range []string{LangEnglish, LangChinese} {
		b, err := catalogFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			panic(fmt.Sprintf("ui: catalog %s: %v", lang, err))
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("ui: catalog %s: %v", lang, err))
		}
		out[lang] = m
	}
	return out
}

// translate returns key's message in lang, else in English, else the key.
func translate(lang, key string) string {
	if s, ok := catalogs[lang][key]; ok {
		return s
	}
	if s, ok := catalogs[LangEnglish][key]; ok {
		return s
	}
	return key
}

// catalogFor is the whole catalog of lang, handed to the page's scripts.
func catalogFor(lang string) map[string]string { return catalogs[lang] }

// language is the page's language: the switch's cookie, else the first of
// the browser's languages that is Chinese or English, else English.
func language(r *http.Request) string {
	if c, err := r.Cookie(LangCookie); err == nil {
		switch c.Value {
		case LangEnglish, LangChinese:
			return c.Value
		}
	}
	al := r.Header.Get("Accept-Language")
	if len(al) > 256 {
		al = al[:256]
	}
	for part := range strings.SplitSeq(al, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(tag)
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			return LangChinese
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return LangEnglish
		}
	}
	return LangEnglish
}

// theme is the dark-mode switch's choice from its cookie: "dark", "light",
// or "" when it was never switched (the page follows the browser's
// preference).
func theme(r *http.Request) string {
	if c, err := r.Cookie(ThemeCookie); err == nil && (c.Value == "dark" || c.Value == "light") {
		return c.Value
	}
	return ""
}
